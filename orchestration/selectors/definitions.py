"""Reads of task and workflow definitions, as stored (the JSON a client registered plus the
times Baton added); ``orchestration.documents.definitions`` prints them as Conductor does.

Listings that Conductor describes as "no definition bodies" read the columns and the two
timestamps inside the stored JSON, never whole definitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from orchestration.bounded_cache import BoundedCache
from orchestration.conductor.java_text import java_string
from orchestration.errors import NotFound
from orchestration.models import DefinitionSnapshot, TaskDef, WorkflowDef

# WorkflowClassifier's tokens: an untagged definition is a plain "workflow"; definitions compiled
# by Conductor Agents carry an agent stamp in their metadata.
CLASSIFIER_WORKFLOW = "workflow"
CLASSIFIER_AGENT = "agent"


def classifier_of(metadata: Any) -> str:
    """The classifier Conductor derives from a WorkflowDef's ``metadata`` map: an explicit
    non-blank ``classifier`` wins, then the agent stamp, else ``workflow``. Never None."""
    if not isinstance(metadata, Mapping) or not metadata:
        return CLASSIFIER_WORKFLOW
    explicit = metadata.get("classifier")
    if isinstance(explicit, str) and explicit.strip():
        return explicit
    if metadata.get("agent_sdk") is not None or metadata.get("agentDef") is not None:
        return CLASSIFIER_AGENT
    return CLASSIFIER_WORKFLOW


# --- task definitions ---------------------------------------------------------------------------


def task_defs() -> list[dict[str, Any]]:
    """Every TaskDef, by name."""
    return list(TaskDef.objects.order_by("name").values_list("data", flat=True))


def task_def(*, name: str) -> dict[str, Any]:
    data = TaskDef.objects.filter(name=name).values_list("data", flat=True).first()
    if data is None:
        raise NotFound(f"No such taskType found by name: {name}")
    return data


# --- workflow definitions -----------------------------------------------------------------------


def find_workflow_def(*, name: str, version: int | None = None) -> dict[str, Any] | None:
    """One version of a WorkflowDef, the latest when ``version`` is None; None when unknown."""
    qs = WorkflowDef.objects.filter(name=name)
    qs = qs.filter(version=version) if version is not None else qs.order_by("-version")
    return qs.values_list("data", flat=True).first()


def workflow_def(*, name: str, version: int | None = None) -> dict[str, Any]:
    """As ``find_workflow_def``, 404 when unknown."""
    data = find_workflow_def(name=name, version=version)
    if data is None:
        raise NotFound(f"No such workflow found by name: {name}, version: {java_string(version)}")
    return data


def workflow_defs(*, classifier: str | None = None) -> list[dict[str, Any]]:
    """Every version of every WorkflowDef, optionally only those of one classifier (compared
    case-insensitively, as Conductor does; a blank classifier means no filter)."""
    rows = WorkflowDef.objects.order_by("name", "version").values_list("data", flat=True)
    wanted = (classifier or "").strip().lower()
    if not wanted:
        return list(rows)
    return [data for data in rows if classifier_of(data.get("metadata")).lower() == wanted]


def latest_workflow_defs() -> list[dict[str, Any]]:
    """The highest version of each WorkflowDef name, by name."""
    top = WorkflowDef.objects.filter(name=OuterRef("name")).order_by("-version").values("version")[:1]
    rows = WorkflowDef.objects.filter(version=Subquery(top)).order_by("name")
    return list(rows.values_list("data", flat=True))


def workflow_names() -> list[str]:
    return list(WorkflowDef.objects.order_by("name").values_list("name", flat=True).distinct())


def _summaries(queryset: QuerySet[WorkflowDef]) -> list[dict[str, Any]]:
    # WorkflowDefSummary: name, version, createTime, updateTime (Long: omitted when null). The
    # times are the definition's own, as GET /metadata/workflow/{name} shows them.
    rows = queryset.order_by("name", "version").values("name", "version", "data__createTime", "data__updateTime")
    out = []
    for row in rows:
        summary: dict[str, Any] = {"name": row["name"], "version": row["version"]}
        for field in ("createTime", "updateTime"):
            value = row[f"data__{field}"]
            if value is not None:
                summary[field] = value
        out.append(summary)
    return out


def workflow_names_and_versions() -> dict[str, list[dict[str, Any]]]:
    """name -> its versions' summaries, ascending."""
    result: dict[str, list[dict[str, Any]]] = {}
    for summary in _summaries(WorkflowDef.objects.all()):
        result.setdefault(summary["name"], []).append(summary)
    return result


def workflow_versions(*, name: str) -> list[dict[str, Any]]:
    """One workflow's version summaries, ascending; [] for an unknown name (as Conductor)."""
    return _summaries(WorkflowDef.objects.filter(name=name))


def workflow_definitions_summary() -> list[dict[str, Any]]:
    """Name, version and creation time of every WorkflowDef, newest version first (web pages)."""
    return list(WorkflowDef.objects.order_by("name", "-version").values("name", "version", "create_time"))


# --- frozen snapshots ---------------------------------------------------------------------------

# Snapshots never change, so their classifier is cached per process (bounded); a page of
# summaries reads the missing ones in one query, only their ``metadata``.
_classifiers: BoundedCache[str, str] = BoundedCache(4096)


def snapshot_classifiers(*, snapshot_keys: Iterable[str]) -> dict[str, str]:
    """Snapshot key -> the classifier of the definition frozen under it."""
    wanted = set(snapshot_keys)
    found = {key: value for key in wanted if (value := _classifiers.get(key)) is not None}
    missing = wanted - found.keys()
    if missing:
        rows = DefinitionSnapshot.objects.filter(key__in=missing).values_list("key", "data__metadata")
        fetched = {key: classifier_of(metadata) for key, metadata in rows}
        found.update(fetched)
        _classifiers.update(fetched)
    return found
