"""``/api/tasks/queue/...``: how many tasks wait in each queue, when workers last polled, and
queueing a type's tasks again."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from orchestration.api import wire
from orchestration.api.renderers import ConductorView, text
from orchestration.conductor import queues as conductor_queues
from orchestration.selectors import queues
from orchestration.services import polling


class QueueSizesView(ConductorView):
    """GET /api/tasks/queue/sizes?taskType=a&taskType=b (deprecated in Conductor): task type ->
    number of tasks waiting in its plain (domain-less) queue."""

    def get(self, request: Request) -> Response:
        names: list[str] = []
        for value in request.query_params.getlist("taskType"):
            # Spring binds ``taskType=a,b`` to a list of two, like repeated parameters.
            names.extend(part.strip() for part in value.split(",") if part.strip())
        return Response(queues.queue_sizes(queue_names=names))


class QueueSizeView(ConductorView):
    """GET /api/tasks/queue/size?taskType=&domain=&isolationGroupId=&executionNamespace= -> int."""

    def get(self, request: Request) -> Response:
        queue_name = conductor_queues.full_queue_name(
            task_type=wire.query_required(request, "taskType"),
            domain=wire.query_str(request, "domain"),
            isolation_group_id=wire.query_str(request, "isolationGroupId"),
            execution_namespace=wire.query_str(request, "executionNamespace"),
        )
        return Response(queues.queue_size(queue_name=queue_name))


class QueueAllView(ConductorView):
    """GET /api/tasks/queue/all: queue name -> size, sorted by name."""

    def get(self, request: Request) -> Response:
        return Response(queues.all_queue_sizes())


class QueueAllVerboseView(ConductorView):
    """GET /api/tasks/queue/all/verbose: queue -> shard -> {size, uacked}. One shard ("a", as
    Conductor's SQL backends answer); Baton never holds a worker task's message unacked."""

    def get(self, request: Request) -> Response:
        sizes = queues.all_queue_sizes()
        return Response({name: {"a": {"size": size, "uacked": 0}} for name, size in sizes.items()})


class PollDataView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(queues.poll_data(task_type=wire.query_required(request, "taskType")))


class PollDataAllView(ConductorView):
    def get(self, request: Request) -> Response:
        return Response(queues.poll_data())


class RequeueView(ConductorView):
    """POST /api/tasks/queue/requeue/{taskType}: text count of the tasks queued again."""

    def post(self, request: Request, task_type: str) -> HttpResponse:
        return text(str(polling.requeue_pending(task_type)))
