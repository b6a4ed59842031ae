"""``make bench``: Baton's cost per task transition against raw Celery on the same workers.

Run ``.venv/bin/python -m bench --help`` for the options; ``bench/__main__.py`` says what is
measured and how.
"""
