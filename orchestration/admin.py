"""Baton's Django admin: a read-mostly window on definitions and executions.

- Definitions (TaskDef, WorkflowDef) can be added, edited and deleted, but only through the
  definition services, so Conductor's validation applies (``admin_definitions``).
- Executions are read-only; the one action, "Decide now", goes through the workflow service
  (``admin_workflows``, ``admin_tasks``).
The full operations console is a separate piece of work; this is the fallback view on the data.
"""

from __future__ import annotations

from django.contrib import admin

from orchestration import admin_security  # noqa: F401  (registers ApplicationKeyAdmin)
from orchestration.admin_definitions import DefinitionSnapshotAdmin, TaskDefAdmin, WorkflowDefAdmin
from orchestration.admin_tasks import HistoryAdmin, PollDataAdmin, TaskAdmin, TaskLogAdmin
from orchestration.admin_workflows import DecideRequestAdmin, WorkflowAdmin
from orchestration.models import (
    DecideRequest,
    DefinitionSnapshot,
    History,
    PollData,
    Task,
    TaskDef,
    TaskLog,
    Workflow,
    WorkflowDef,
)

admin.site.site_header = "Baton administration"
admin.site.site_title = "Baton admin"

admin.site.register(TaskDef, TaskDefAdmin)
admin.site.register(WorkflowDef, WorkflowDefAdmin)
admin.site.register(DefinitionSnapshot, DefinitionSnapshotAdmin)
admin.site.register(Workflow, WorkflowAdmin)
admin.site.register(Task, TaskAdmin)
admin.site.register(TaskLog, TaskLogAdmin)
admin.site.register(History, HistoryAdmin)
admin.site.register(DecideRequest, DecideRequestAdmin)
admin.site.register(PollData, PollDataAdmin)
