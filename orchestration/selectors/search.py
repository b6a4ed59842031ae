"""Search reads: a page of executions and its ``totalHits``, plus the lookups by name and
correlation id that Conductor's workflow API offers next to search. The query language and the
fields a query may name are ``orchestration.search``'s.

Paging is ``OFFSET start LIMIT size`` in a total order: the requested sort keys, then the id,
so pages never overlap or skip rows that tie on the sort keys.

``totalHits`` (a bounded count): a page shorter than ``size`` ends the result, so its total is
known without counting; otherwise the matches are counted up to ``SEARCH_COUNT_LIMIT``
(``settings.BATON``, default 100,000) and, beyond it, the total reported is that limit (or the
end of the page asked for, if further). An exact count of a million matches would read a million
index entries on every page turn; the bounded one costs the same at any table size. Conductor's
Elasticsearch 7 backend behaves alike (ES reports at most 10,000 hits unless told otherwise).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Expression, F, Q, QuerySet

from orchestration.models import Task, Workflow, WorkflowStatus
from orchestration.search.fields import (
    TASK,
    WORKFLOW,
    Catalog,
    compile_query,
    compile_sort,
    task_free_text,
    workflow_free_text,
)
from orchestration.search.query import parse_free_text, parse_query, parse_sort
from orchestration.selectors.tasks import TASK_ROW_FIELDS
from orchestration.selectors.workflows import WORKFLOW_ROW_FIELDS

DEFAULT_COUNT_LIMIT = 100_000
# Conductor's index-backed correlation lookup reads at most 1,000 workflows per correlation id.
CORRELATED_LIMIT = 1_000
# What /running/{name} considers running: Conductor's "pending" set (not yet terminal).
PENDING_STATUSES = (WorkflowStatus.RUNNING, WorkflowStatus.PAUSED)


@dataclass(frozen=True)
class Page:
    total: int
    rows: list[dict[str, Any]]


def count_limit() -> int:
    return int(settings.BATON.get("SEARCH_COUNT_LIMIT") or DEFAULT_COUNT_LIMIT)


def _total(qs: QuerySet[Any], *, start: int, size: int, got: int) -> int:
    if size > 0 and (0 < got < size or (got == 0 and start == 0)):
        return start + got  # the page ends the result: nothing to count
    limit = count_limit()
    # SELECT COUNT(*) FROM (SELECT id ... LIMIT limit + 1): the cost is bounded by the limit.
    counted = qs.order_by().values("pk")[: limit + 1].count()
    return counted if counted <= limit else max(limit, start + got)


def _ordering(sort: str | None, catalog: Catalog, default: Sequence[Any]) -> tuple[list[Any], dict[str, Expression]]:
    order, annotations = compile_sort(parse_sort(sort), catalog)
    if not order:
        order = list(default)
    # The id breaks ties, in the direction of the last key, so that paging is deterministic.
    if not any(getattr(getattr(o, "expression", None), "name", None) in ("id", "pk") for o in order):
        last_descending = bool(getattr(order[-1], "descending", False))
        order.append(F("id").desc() if last_descending else F("id").asc())
    return order, annotations


def _page(qs: QuerySet[Any], order: list[Any], fields: Iterable[str], *, start: int, size: int) -> Page:
    rows = list(qs.order_by(*order).values(*fields)[start : start + size]) if size > 0 else []
    return Page(_total(qs, start=start, size=size, got=len(rows)), rows)


# --- workflows ---------------------------------------------------------------------------------


def _matching_tasks(query: str | None, free_text: str | None) -> QuerySet[Task]:
    condition, annotations = compile_query(parse_query(query), TASK)
    tasks = Task.objects.annotate(**annotations) if annotations else Task.objects.all()
    tasks = tasks.filter(condition)
    text = parse_free_text(free_text)
    return tasks.filter(task_free_text(text)) if text is not None else tasks


def matching_workflows(*, query: str | None, free_text: str | None, by_tasks: bool = False) -> QuerySet[Workflow]:
    """The query behind ``search_workflows`` (a queryset, so that its plan can be inspected):
    workflows matching a query over workflow fields, or (``by_tasks``) over task fields: a
    workflow matches when one of its tasks does."""
    if by_tasks:
        if parse_query(query) is None and parse_free_text(free_text) is None:
            # No task condition: every workflow (rather than a semi-join with every task row).
            return Workflow.objects.all()
        return Workflow.objects.filter(pk__in=_matching_tasks(query, free_text).values("workflow_id"))
    condition, annotations = compile_query(parse_query(query), WORKFLOW)
    qs = Workflow.objects.annotate(**annotations) if annotations else Workflow.objects.all()
    qs = qs.filter(condition)
    text = parse_free_text(free_text)
    return qs.filter(workflow_free_text(text)) if text is not None else qs


def search_workflows(
    *,
    query: str | None,
    free_text: str | None,
    sort: str | None,
    start: int,
    size: int,
    fields: Iterable[str],
    by_tasks: bool = False,
    top_level_only: bool = False,
) -> Page:
    """A page of workflow rows (the given ``fields``), newest first unless ``sort`` says
    otherwise.

    ``by_tasks`` (Conductor's search-by-tasks): the query and freeText apply to tasks, the page
    is of the distinct workflows owning a match, sorted and counted as workflows. Conductor pages
    through matching *tasks* and then maps them to workflows, so a page can hold fewer workflows
    than ``size`` and ``totalHits`` counts tasks; Baton's page and total are of workflows.
    """
    qs = matching_workflows(query=query, free_text=free_text, by_tasks=by_tasks)
    if top_level_only:
        qs = qs.filter(Q(parent_workflow_id__isnull=True) | Q(parent_workflow_id=""))
    order, annotations = _ordering(sort, WORKFLOW, (F("create_time").desc(),))
    if annotations:
        qs = qs.annotate(**annotations)
    return _page(qs, order, fields, start=start, size=size)


# --- tasks -------------------------------------------------------------------------------------


def search_tasks(*, query: str | None, free_text: str | None, sort: str | None, start: int, size: int,
                 fields: Iterable[str]) -> Page:
    """A page of task rows (every attempt is a task, as in Conductor's index), most recently
    updated first unless ``sort`` says otherwise."""
    qs = _matching_tasks(query, free_text)
    order, annotations = _ordering(sort, TASK, (F("update_time").desc(),))
    if annotations:
        qs = qs.annotate(**annotations)
    return _page(qs, order, fields, start=start, size=size)


# --- by name and correlation id ----------------------------------------------------------------


def running_workflow_ids(*, name: str, version: int, start_time: int | None, end_time: int | None) -> list[str]:
    """Conductor's ``GET /workflow/running/{name}``, both of its readings:

    * without a time range (``startTime`` or ``endTime`` absent or 0): the ids of every workflow
      of that name that is not yet terminal (RUNNING or PAUSED), *whatever its version*: Conductor
      ignores ``version`` here (its DAOs read the pending set of the name);
    * with both: the ids of the workflows of that name *and version*, in any status, started
      within [startTime, endTime] (inclusive).
    """
    qs = Workflow.objects.filter(name=name)
    if start_time and end_time:
        qs = qs.filter(version=version, create_time__gte=start_time, create_time__lte=end_time)
    else:
        qs = qs.filter(status__in=PENDING_STATUSES)
    return list(qs.order_by("create_time", "id").values_list("id", flat=True))


def _tasks_by_workflow(workflow_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if workflow_ids:
        rows = Task.objects.filter(workflow_id__in=workflow_ids).order_by("seq").values(*TASK_ROW_FIELDS)
        for row in rows:
            grouped[row["workflow_id"]].append(row)
    return grouped


def correlated_workflows(
    *, name: str, correlation_ids: Sequence[str], include_closed: bool, include_tasks: bool
) -> dict[str, list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    """Per correlation id, the (workflow row, task rows) of the workflows of ``name`` carrying
    it, oldest first; only RUNNING ones (PAUSED excluded, as in Conductor) unless
    ``include_closed``. Task rows are read only when ``include_tasks``."""
    wanted = list(dict.fromkeys(correlation_ids))
    result: dict[str, list[tuple[dict[str, Any], list[dict[str, Any]]]]] = {cid: [] for cid in wanted}
    if not wanted:
        return result
    qs = Workflow.objects.filter(name=name, correlation_id__in=wanted)
    if not include_closed:
        qs = qs.filter(status=WorkflowStatus.RUNNING)
    rows: list[dict[str, Any]] = []
    per_id: dict[str, int] = defaultdict(int)
    for row in qs.order_by("create_time", "id").values(*WORKFLOW_ROW_FIELDS):
        if per_id[row["correlation_id"]] < CORRELATED_LIMIT:
            per_id[row["correlation_id"]] += 1
            rows.append(row)
    tasks = _tasks_by_workflow([r["id"] for r in rows]) if include_tasks else {}
    for row in rows:
        result[row["correlation_id"]].append((row, tasks.get(row["id"], [])))
    return result
