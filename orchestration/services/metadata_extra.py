"""The rest of Conductor's metadata API (validate, names, versions, latest versions, the
classifier filter; reference §1.1) and its admin endpoints (§1.5).

Listings that Conductor describes as "no definition bodies" read the columns and the two
timestamps inside the stored JSON, never whole definitions.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata as package_metadata
from typing import Any
from urllib.parse import urlparse

import django
from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery

from orchestration import dispatch
from orchestration.clock import now_ms
from orchestration.definitions.validation import validate_workflow_def
from orchestration.engine.state import TERMINAL_WORKFLOW
from orchestration.models import TASK_FIELDS, DecideRequest, Task, Workflow, WorkflowDef
from orchestration.services.definitions import registered_task_def
from orchestration.services.errors import BadRequest, DefinitionError, NotFound
from orchestration.services.workflows import redispatch_grace_ms, request_decide, workflow_decide

# --- metadata ----------------------------------------------------------------------------------

# WorkflowClassifier's tokens: an untagged definition is a plain "workflow"; definitions compiled
# by Conductor Agents carry an agent stamp in their metadata.
CLASSIFIER_WORKFLOW = "workflow"
CLASSIFIER_AGENT = "agent"


def classifier_of(data: Mapping[str, Any]) -> str:
    """The classifier Conductor derives from a WorkflowDef's ``metadata`` map: an explicit
    non-blank ``classifier`` wins, then the agent stamp, else ``workflow``. Never None."""
    meta = data.get("metadata")
    if not isinstance(meta, Mapping) or not meta:
        return CLASSIFIER_WORKFLOW
    explicit = meta.get("classifier")
    if isinstance(explicit, str) and explicit.strip():
        return explicit
    if meta.get("agent_sdk") is not None or meta.get("agentDef") is not None:
        return CLASSIFIER_AGENT
    return CLASSIFIER_WORKFLOW


def workflow_def_validate(*, data: Any) -> None:
    """POST /metadata/workflow/validate: the registration rules, nothing stored."""
    errors = validate_workflow_def(
        data, owner_email_mandatory=bool(settings.BATON["OWNER_EMAIL_MANDATORY"]), task_def_lookup=registered_task_def
    )
    if errors:
        raise DefinitionError(errors)


def workflow_defs(*, classifier: str | None = None) -> list[dict[str, Any]]:
    """Every version of every WorkflowDef, optionally only those of one classifier (compared
    case-insensitively, as Conductor does; a blank classifier means no filter)."""
    rows = WorkflowDef.objects.order_by("name", "version").values_list("data", flat=True)
    wanted = (classifier or "").strip().lower()
    if not wanted:
        return list(rows)
    return [data for data in rows if classifier_of(data).lower() == wanted]


def workflow_names() -> list[str]:
    return list(WorkflowDef.objects.order_by("name").values_list("name", flat=True).distinct())


def _summaries(queryset: Any) -> list[dict[str, Any]]:
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


def workflow_defs_latest() -> list[dict[str, Any]]:
    """The highest version of each WorkflowDef name, by name."""
    top = WorkflowDef.objects.filter(name=OuterRef("name")).order_by("-version").values("version")[:1]
    rows = WorkflowDef.objects.filter(version=Subquery(top)).order_by("name")
    return list(rows.values_list("data", flat=True))


# --- admin -------------------------------------------------------------------------------------

PENDING_STATUSES = ("SCHEDULED", "IN_PROGRESS")


def server_version() -> str:
    try:
        return package_metadata.version("baton")
    except package_metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def server_config() -> dict[str, Any]:
    """GET /admin/config. Conductor dumps its JVM system properties; Baton answers an explicit
    allow-list, so a secret added to settings later can never leak through this endpoint (no
    database or broker URL: they may carry passwords; only their kind)."""
    baton = settings.BATON
    return {
        "version": server_version(),
        "python.version": platform.python_version(),
        "django.version": django.get_version(),
        "database.vendor": connection.vendor,
        "broker.transport": urlparse(str(settings.CELERY_BROKER_URL)).scheme,
        "broker.embedded": bool(getattr(settings, "USES_EMBEDDED_REDIS", False)),
        "instanceId": str(baton.get("INSTANCE_ID") or ""),
        "ownerEmailMandatory": bool(baton.get("OWNER_EMAIL_MANDATORY")),
        "sweepIntervalSeconds": baton.get("SWEEP_INTERVAL_SECONDS"),
        "redispatchAfterSeconds": baton.get("REDISPATCH_AFTER_SECONDS"),
        "workerModules": list(baton.get("WORKER_MODULES") or ()),
        "externalPayloadStorage": False,
        "eventQueues": False,
    }


def pending_tasks(*, task_type: str, start: int = 0, count: int = 100) -> list[dict[str, Any]]:
    """Task rows (``id``, ``workflow_id`` and ``models.TASK_FIELDS``) of the open (SCHEDULED or
    IN_PROGRESS) tasks whose taskDefName is ``task_type``: Conductor's "pending tasks of a type"
    reads its in-progress index, which is keyed by taskDefName. Oldest first."""
    if start < 0:
        raise BadRequest(f"start must be >= 0, got {start}")
    if count < 0:
        raise BadRequest(f"count must be >= 0, got {count}")
    rows = (
        Task.objects.filter(task_def_name=task_type, status__in=PENDING_STATUSES)
        .order_by("scheduled_time", "id")
        .values("id", "workflow_id", *TASK_FIELDS)
    )
    return list(rows[start : start + count])


def _workflow_status(workflow_id: str) -> str:
    status = Workflow.objects.filter(pk=workflow_id).values_list("status", flat=True).first()
    if status is None:
        raise NotFound(f"No such workflow found by id: {workflow_id}")
    return status


def requeue_sweep(*, workflow_id: str) -> bool:
    """Queue a decide for the workflow; True when this call queued it, False when a request
    was already pending (Conductor's pushIfNotExists on its decider queue)."""
    _workflow_status(workflow_id)
    already = DecideRequest.objects.filter(workflow_id=workflow_id).exists()
    request_decide(workflow_id)
    return not already


def verify_and_repair(*, workflow_id: str) -> bool:
    """Re-evaluate a running workflow now and re-publish the messages of its due SCHEDULED tasks
    (a lost message would otherwise wait for the sweeper). True when something was done; a
    terminal workflow needs nothing (False), as in Conductor's repair service."""
    if _workflow_status(workflow_id) in TERMINAL_WORKFLOW:
        return False
    decided = workflow_decide(workflow_id=workflow_id, actor="admin", wait=True)
    now = now_ms()
    with transaction.atomic():
        rows = list(
            Task.objects.select_for_update()
            .filter(workflow_id=workflow_id, status="SCHEDULED", dispatch_at__lte=now)
            .values_list("id", "queue_name", "task_type")
        )
        if rows:
            # As the sweeper does: the next automatic re-publish waits a full grace period.
            Task.objects.filter(pk__in=[r[0] for r in rows], status="SCHEDULED").update(
                dispatch_at=now + redispatch_grace_ms()
            )
            transaction.on_commit(lambda: dispatch.publish_tasks(rows))
    return decided or bool(rows)
