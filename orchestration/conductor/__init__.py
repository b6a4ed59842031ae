"""Conductor's own conventions for naming and printing things, each written once.

How Java prints a value, which JSON value fits a Java field, how a loop iteration's task is
named, what a task queue is called and how long a task waited in it: small rules that the
engine, the definitions, the services, the API and the workers all need to agree on. The
modules here are plain Python over plain values; they import nothing from Django or from the
rest of ``orchestration``, so any layer can use them without an import cycle.
"""
