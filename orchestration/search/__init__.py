"""Search over executions: Conductor's ``/search`` family of endpoints, for workflows and tasks.

Conductor hands search to an index (Elasticsearch, or the SQL ``workflow_index`` /
``task_index`` tables that the PostgreSQL backend fills with summaries). Baton has no second
copy: it searches the execution tables themselves, so a result is never stale and there is
nothing to keep in sync. This package is the search language; the reads are
``orchestration.selectors.search`` and the summaries ``orchestration.documents.summaries``.

* ``query``     the query language (``status IN (FAILED) AND startTime > 1700000000000``), the
                ``sort`` and ``freeText`` parameters: text in, plain values out; no Django.
* ``fields``    which names a query may use on workflows and tasks, and how a parsed query
                becomes a Django ``Q`` (the only place that knows column names).
"""
