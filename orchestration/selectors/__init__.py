"""Reads. The API views, the web pages and the services that need a read call these instead of
building querysets themselves; each returns plain values (rows as dicts, or small dataclasses)
and takes keyword-only arguments. One module per thing read:

* ``workflows``   one workflow's row and tasks, its status, the latest ones;
* ``tasks``       task rows and their workflows' info, a workflow's tasks page, pending tasks;
* ``definitions`` task and workflow definitions, their names, versions and classifiers;
* ``queues``      queue sizes and the workers' last polls;
* ``events``      event handlers;
* ``search``      the search endpoints' pages and the lookups by name and correlation id;
* ``server``      what the server tells about itself (version, configuration).

Turning the values into Conductor's JSON is ``orchestration.documents``' work.
"""
