"""Routes of one area of Conductor's API, included by orchestration.api.urls before the core
routes (so literal segments here win over the core's variables).

``/api/tasks`` beyond poll, update, get and ack. Django matches on the path alone (Spring also
on the method), so the variable-first patterns refuse a first segment ``poll``: ``GET
/api/tasks/poll/batch/{type}`` and ``/poll/{type}`` must reach the core's poll routes, not
``/{workflowId}/{taskRefName}/{status}`` or ``/{taskId}/log``.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

from orchestration.api import views_external_storage as storage
from orchestration.api import views_queues as queues
from orchestration.api import views_signals as signals
from orchestration.api import views_tasks as tasks
from orchestration.api.routing import SEGMENT, route

# A path segment that is not the literal ``poll``.
_ID = rf"(?!poll/){SEGMENT}"

urlpatterns: list[URLPattern | URLResolver] = [
    route("api/tasks/update-v2", tasks.UpdateV2View.as_view(), "task-update-v2"),
    route("api/tasks/(?:externalstoragelocation|external-storage-location)",
          storage.TaskExternalStorageLocationView.as_view(), "task-external-storage"),
    route("api/tasks/queue/sizes", queues.QueueSizesView.as_view(), "task-queue-sizes"),
    route("api/tasks/queue/size", queues.QueueSizeView.as_view(), "task-queue-size"),
    route("api/tasks/queue/all/verbose", queues.QueueAllVerboseView.as_view(), "task-queue-all-verbose"),
    route("api/tasks/queue/all", queues.QueueAllView.as_view(), "task-queue-all"),
    route("api/tasks/queue/polldata/all", queues.PollDataAllView.as_view(), "task-polldata-all"),
    route("api/tasks/queue/polldata", queues.PollDataView.as_view(), "task-polldata"),
    route(f"api/tasks/queue/requeue/(?P<task_type>{SEGMENT})", queues.RequeueView.as_view(), "task-requeue"),
    # Four segments: the signal form (literal ``signal/sync``) before the by-reference form.
    route(f"api/tasks/(?P<workflow_id>{_ID})/(?P<status>{SEGMENT})/signal/sync",
          signals.SignalSyncView.as_view(), "task-signal-sync"),
    route(f"api/tasks/(?P<workflow_id>{_ID})/(?P<ref>{SEGMENT})/(?P<status>{SEGMENT})/sync",
          tasks.UpdateByRefSyncView.as_view(), "task-update-by-ref-sync"),
    # Three segments: ``signal`` before ``{status}``.
    route(f"api/tasks/(?P<workflow_id>{_ID})/(?P<status>{SEGMENT})/signal",
          signals.SignalView.as_view(), "task-signal"),
    route(f"api/tasks/(?P<workflow_id>{_ID})/(?P<ref>{SEGMENT})/(?P<status>{SEGMENT})",
          tasks.UpdateByRefView.as_view(), "task-update-by-ref"),
    # Two segments.
    route(f"api/tasks/(?P<task_id>{_ID})/log", tasks.TaskLogView.as_view(), "task-log"),
]
