"""conductor-python, unchanged, against a live Baton with authentication on.

Every call here is the SDK's own (its clients, its models, its worker runtime), configured the
way its documentation says: a ``Configuration`` with the server's ``/api`` URL and an
``AuthenticationSettings`` key id + secret, which the SDK trades for a token at ``/api/token``.
Each test checks what the server did (statuses, outputs, task states), not just that the call
returned. Set-up that an SDK user would do by hand (a worker role key) comes from the fixture.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from conductor.client.configuration.configuration import Configuration
from conductor.client.configuration.settings.authentication_settings import AuthenticationSettings
from conductor.client.http.models.rerun_workflow_request import RerunWorkflowRequest
from conductor.client.http.models.skip_task_request import SkipTaskRequest
from conductor.client.http.models.start_workflow_request import StartWorkflowRequest
from conductor.client.http.models.task import Task
from conductor.client.http.models.task_def import TaskDef
from conductor.client.http.models.task_result import TaskResult
from conductor.client.http.models.task_result_status import TaskResultStatus
from conductor.client.http.models.workflow import Workflow
from conductor.client.http.models.workflow_def import WorkflowDef
from conductor.client.http.models.workflow_task import WorkflowTask
from conductor.client.http.rest import ApiException
from conductor.client.metadata_client import MetadataClient
from conductor.client.orkes_clients import OrkesClients
from conductor.client.task_client import TaskClient
from conductor.client.workflow.executor.workflow_executor import WorkflowExecutor
from conductor.client.workflow_client import WorkflowClient

from .live import LiveBaton, unique_name

pytestmark = [
    pytest.mark.compat,
    # The SDK calls its own deprecated model properties (owner_app...) when serializing.
    pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning"),
]

T = TypeVar("T")

OWNER = "compat@baton.local"
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.2
TERMINAL = {"COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"}


# --- SDK set-up ----------------------------------------------------------------------------------


def sdk_configuration(
    live: LiveBaton, key_id: str | None = None, key_secret: str | None = None
) -> Configuration:
    return Configuration(
        server_api_url=live.api_url,
        authentication_settings=AuthenticationSettings(
            key_id=key_id or live.key_id, key_secret=key_secret or live.key_secret
        ),
    )


@pytest.fixture(scope="module")
def clients(live_baton: LiveBaton) -> OrkesClients:
    return OrkesClients(configuration=sdk_configuration(live_baton))


@pytest.fixture(scope="module")
def metadata(clients: OrkesClients) -> MetadataClient:
    return clients.get_metadata_client()


@pytest.fixture(scope="module")
def workflows(clients: OrkesClients) -> WorkflowClient:
    return clients.get_workflow_client()


@pytest.fixture(scope="module")
def tasks(clients: OrkesClients) -> TaskClient:
    return clients.get_task_client()


@pytest.fixture(scope="module")
def executor(clients: OrkesClients) -> WorkflowExecutor:
    return clients.get_workflow_executor()


# --- helpers ---------------------------------------------------------------------------------


def eventually(predicate: Callable[[], T | None], *, what: str, timeout: float = WAIT_SECONDS) -> T:
    """``predicate()`` polled until it returns something truthy, which is returned."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(POLL_SECONDS)


def task_def(name: str, **overrides: Any) -> TaskDef:
    fields: dict[str, Any] = {
        "name": name,
        "description": "compat suite task",
        "retry_count": 0,
        "retry_logic": "FIXED",
        "retry_delay_seconds": 0,
        "timeout_seconds": 120,
        "timeout_policy": "TIME_OUT_WF",
        "response_timeout_seconds": 60,
        "owner_email": OWNER,
    }
    fields.update(overrides)
    return TaskDef(**fields)


def simple(task_type: str, ref: str, inputs: dict[str, Any] | None = None) -> WorkflowTask:
    return WorkflowTask(name=task_type, task_reference_name=ref, type="SIMPLE", input_parameters=inputs or {})


def workflow_def(
    name: str,
    tasks: list[WorkflowTask],
    outputs: dict[str, Any] | None = None,
    *,
    version: int = 1,
    **extra: Any,
) -> WorkflowDef:
    fields: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": "compat suite workflow",
        "tasks": tasks,
        "output_parameters": outputs or {},
        "schema_version": 2,
        "owner_email": OWNER,
        "timeout_seconds": 0,
        "restartable": True,
    }
    fields.update(extra)
    return WorkflowDef(**fields)


def register_simple_workflow(metadata: MetadataClient, purpose: str, refs: int = 1) -> tuple[str, list[str]]:
    """A workflow of ``refs`` SIMPLE tasks (refs t1, t2...), each of its own new task type and
    fed the previous task's output; the workflow's output is the last task's. Returns (workflow
    name, task types)."""
    types = [unique_name(f"{purpose}_t{i + 1}") for i in range(refs)]
    for task_type in types:
        metadata.register_task_def(task_def(task_type))
    steps = []
    for i, task_type in enumerate(types):
        source = "${workflow.input}" if i == 0 else f"${{t{i}.output}}"
        steps.append(simple(task_type, f"t{i + 1}", {"from": source, "step": i + 1}))
    name = unique_name(purpose)
    metadata.register_workflow_def(
        workflow_def(name, steps, {"last": f"${{t{refs}.output}}", "input": "${workflow.input}"}),
        overwrite=True,
    )
    return name, types


def start(workflows: WorkflowClient, name: str, input: dict[str, Any] | None = None, **fields: Any) -> str:
    request = StartWorkflowRequest(name=name, version=1, input=input or {}, **fields)
    workflow_id = workflows.start_workflow(request)
    assert isinstance(workflow_id, str) and workflow_id, workflow_id
    return workflow_id


def wait_status(
    workflows: WorkflowClient, workflow_id: str, *statuses: str, timeout: float = WAIT_SECONDS
) -> Workflow:
    def check() -> Workflow | None:
        wf = workflows.get_workflow(workflow_id, include_tasks=True)
        return wf if wf.status in statuses else None

    return eventually(check, what=f"workflow {workflow_id} to be {'/'.join(statuses)}", timeout=timeout)


def nothing_polled(task: Task | None) -> bool:
    """What the SDK's ``poll_task`` gives for Conductor's "no task" (HTTP 204, empty body): it
    deserializes the empty body into a Task whose fields are all None."""
    return task is None or task.task_id is None


def poll_one(tasks: TaskClient, task_type: str, worker_id: str = "compat-manual") -> Task:
    """Poll ``task_type`` until the server hands out a task (bounded)."""

    def attempt() -> Task | None:
        task = tasks.poll_task(task_type, worker_id=worker_id)
        return task if task is not None and task.task_id else None

    return eventually(attempt, what=f"a {task_type} task to poll")


def complete(tasks: TaskClient, task: Task, output: dict[str, Any], worker_id: str = "compat-manual") -> None:
    tasks.update_task(
        TaskResult(
            workflow_instance_id=task.workflow_instance_id,
            task_id=task.task_id,
            status=TaskResultStatus.COMPLETED,
            output_data=output,
            worker_id=worker_id,
        )
    )


def by_ref(wf: Workflow) -> dict[str, list[Task]]:
    found: dict[str, list[Task]] = {}
    for task in wf.tasks or []:
        found.setdefault(task.reference_task_name, []).append(task)
    return found


def statuses(wf: Workflow) -> list[tuple[str, str]]:
    return [(t.reference_task_name, t.status) for t in wf.tasks or []]


def api_status(call: Callable[[], object]) -> int:
    """The HTTP status of the ApiException ``call`` raises (fails if it does not raise)."""
    with pytest.raises(ApiException) as raised:
        call()
    return int(raised.value.status)


# --- authentication ------------------------------------------------------------------------------


def test_wrong_secret_is_refused(live_baton: LiveBaton) -> None:
    bad = OrkesClients(configuration=sdk_configuration(live_baton, key_secret="not-the-secret"))
    assert api_status(lambda: bad.get_metadata_client().get_all_task_defs()) == 401


def test_worker_role_polls_but_cannot_write_metadata(
    live_baton: LiveBaton, metadata: MetadataClient, worker_key: tuple[str, str]
) -> None:
    key_id, secret = worker_key
    worker_clients = OrkesClients(configuration=sdk_configuration(live_baton, key_id, secret))
    name = unique_name("forbidden")
    assert api_status(lambda: worker_clients.get_metadata_client().register_task_def(task_def(name))) == 403
    assert api_status(lambda: metadata.get_task_def(name)) == 404  # nothing was stored
    # ...while the worker's own calls work: an empty queue polls to nothing (204, as Conductor).
    empty = unique_name("empty")
    assert nothing_polled(worker_clients.get_task_client().poll_task(empty, worker_id="compat"))
    assert live_baton.call("GET", f"/tasks/poll/{empty}") == (204, None)


# --- metadata ------------------------------------------------------------------------------------


def test_task_def_register_get_update_delete(metadata: MetadataClient) -> None:
    name = unique_name("taskdef")
    metadata.register_task_def(task_def(name, retry_count=2, retry_delay_seconds=5, input_keys=["a", "b"]))

    got = metadata.get_task_def(name)
    assert got.name == name
    assert got.retry_count == 2 and got.retry_delay_seconds == 5
    assert got.response_timeout_seconds == 60 and got.timeout_seconds == 120
    assert got.input_keys == ["a", "b"] and got.owner_email == OWNER
    assert name in {d.name for d in metadata.get_all_task_defs()}

    metadata.update_task_def(task_def(name, retry_count=4, description="updated"))
    got = metadata.get_task_def(name)
    assert (got.retry_count, got.description) == (4, "updated")

    metadata.unregister_task_def(name)
    assert api_status(lambda: metadata.get_task_def(name)) == 404
    assert name not in {d.name for d in metadata.get_all_task_defs()}


def test_workflow_def_register_get_update_delete(metadata: MetadataClient) -> None:
    task_type = unique_name("wfdef_t")
    metadata.register_task_def(task_def(task_type))
    name = unique_name("wfdef")
    metadata.register_workflow_def(workflow_def(name, [simple(task_type, "only")], {"x": "${only.output.x}"}))

    got = metadata.get_workflow_def(name)
    assert (got.name, got.version, got.schema_version) == (name, 1, 2)
    assert [(t.name, t.task_reference_name, t.type) for t in got.tasks] == [(task_type, "only", "SIMPLE")]
    assert got.output_parameters == {"x": "${only.output.x}"}

    # update_workflow_def is PUT /metadata/workflow: create-or-replace, here a version 2.
    metadata.update_workflow_def(
        workflow_def(
            name, [simple(task_type, "only"), simple(task_type, "again")], version=2, description="v2"
        )
    )
    latest = metadata.get_workflow_def(name)
    assert (latest.version, latest.description, len(latest.tasks)) == (2, "v2", 2)
    assert metadata.get_workflow_def(name, version=1).version == 1
    assert {(d.name, d.version) for d in metadata.get_all_workflow_defs() if d.name == name} == {
        (name, 1),
        (name, 2),
    }

    metadata.unregister_workflow_def(name, 1)
    assert api_status(lambda: metadata.get_workflow_def(name, version=1)) == 404
    assert metadata.get_workflow_def(name).version == 2


# --- starting and reading workflows --------------------------------------------------------------


def test_start_both_ways_and_get_with_tasks(metadata: MetadataClient, workflows: WorkflowClient) -> None:
    name, (task_type,) = register_simple_workflow(metadata, "start")
    correlation = f"corr-{uuid.uuid4().hex[:8]}"

    by_request = start(workflows, name, {"who": "request"}, correlation_id=correlation, priority=3)
    by_name = workflows.start_workflow_by_name(name, {"who": "name"}, version=1, correlationId=correlation)
    assert isinstance(by_name, str) and by_name and by_name != by_request

    for workflow_id, who in ((by_request, "request"), (by_name, "name")):
        wf = workflows.get_workflow(workflow_id, include_tasks=True)
        assert wf.workflow_id == workflow_id
        assert wf.status == "RUNNING"
        assert (wf.workflow_name, wf.workflow_version) == (name, 1)
        assert wf.input == {"who": who}
        assert wf.correlation_id == correlation
        assert [(t.reference_task_name, t.task_def_name, t.task_type, t.status) for t in wf.tasks] == [
            ("t1", task_type, task_type, "SCHEDULED")
        ]
        assert wf.tasks[0].input_data == {"from": {"who": who}, "step": 1}
        assert wf.tasks[0].workflow_instance_id == workflow_id
    assert workflows.get_workflow(by_request, include_tasks=True).priority == 3

    status = workflows.get_workflow_status(by_request, include_output=True, include_variables=True)
    assert (status.workflow_id, status.status, status.correlation_id) == (by_request, "RUNNING", correlation)

    assert api_status(lambda: workflows.get_workflow(str(uuid.uuid4()))) == 404
    assert api_status(lambda: start(workflows, unique_name("no_such_workflow"))) == 404


def test_task_handler_workers_complete_workflows(
    live_baton: LiveBaton, metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient,
    worker_key: tuple[str, str],
) -> None:  # fmt: skip
    """SIMPLE tasks served by the SDK's own worker runtime (TaskHandler, one process per worker,
    batch poll + update-v2), running as its own program with a WORKER key."""
    greet_type, shout_type = unique_name("greet"), unique_name("shout")
    for task_type in (greet_type, shout_type):
        metadata.register_task_def(task_def(task_type))
    name = unique_name("sdk_workers")
    metadata.register_workflow_def(
        workflow_def(
            name,
            [
                simple(greet_type, "greet_ref", {"name": "${workflow.input.name}"}),
                simple(shout_type, "shout_ref", {"text": "${greet_ref.output.greeting}"}),
            ],
            {
                "greeting": "${greet_ref.output.greeting}",
                "shouted": "${shout_ref.output.shouted}",
                "sdk": "${shout_ref.output.sdk}",
            },
        )
    )
    names = ["Ada", "Grace", "Linus"]
    key_id, secret = worker_key
    env = live_baton.client_env({"CONDUCTOR_AUTH_KEY": key_id, "CONDUCTOR_AUTH_SECRET": secret})
    argv = [sys.executable, "-m", "tests.compat.sdk_worker", "--greet", greet_type, "--shout", shout_type]
    with live_baton.process("sdk-python-worker", argv, env=env) as worker:
        ids = {who: start(workflows, name, {"name": who}) for who in names}
        for who, workflow_id in ids.items():
            wf = wait_status(workflows, workflow_id, *TERMINAL, timeout=60)
            assert wf.status == "COMPLETED", (statuses(wf), wf.reason_for_incompletion, worker.log())
            assert wf.output == {
                "greeting": f"Hello, {who}!",
                "shouted": f"HELLO, {who.upper()}!",
                "sdk": "conductor-python",
            }
            greet_task, shout_task = wf.tasks
            assert (greet_task.status, shout_task.status) == ("COMPLETED", "COMPLETED")
            assert greet_task.output_data["workerPid"] > 0
            assert greet_task.worker_id  # the SDK reports who ran it
            assert shout_task.worker_id.startswith("sdk-shout-")
            assert shout_task.input_data == {"text": f"Hello, {who}!"}
        assert worker.alive(), worker.log()


def test_task_handler_reports_a_worker_exception(
    live_baton: LiveBaton, metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient
) -> None:
    """A worker function that raises: the SDK reports FAILED with the message as the reason and
    the traceback as task logs; with retryCount 0 the workflow fails."""
    fail_type = unique_name("fail")
    metadata.register_task_def(task_def(fail_type))
    name = unique_name("sdk_fail")
    metadata.register_workflow_def(
        workflow_def(name, [simple(fail_type, "fail_ref", {"reason": "${workflow.input.reason}"})])
    )
    argv = [sys.executable, "-m", "tests.compat.sdk_worker", "--fail", fail_type]
    with live_baton.process("sdk-python-worker", argv) as worker:
        workflow_id = start(workflows, name, {"reason": "compat: worker raised"})
        wf = wait_status(workflows, workflow_id, *TERMINAL, timeout=60)
        assert worker.alive(), worker.log()
    assert wf.status == "FAILED", statuses(wf)
    (task,) = wf.tasks
    assert task.status == "FAILED"
    assert task.reason_for_incompletion == "compat: worker raised"
    assert "compat: worker raised" in (wf.reason_for_incompletion or "")
    assert wf.failed_reference_task_names == {"fail_ref"}  # a set[str] in the SDK's model
    logs = tasks.get_task_logs(task.task_id)
    assert any("RuntimeError: compat: worker raised" in entry.log for entry in logs), [e.log for e in logs]


def test_manual_poll_get_and_update(
    metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient
) -> None:
    name, (task_type,) = register_simple_workflow(metadata, "manual")
    assert nothing_polled(tasks.poll_task(task_type, worker_id="compat-manual"))  # nothing scheduled yet

    workflow_id = start(workflows, name, {"n": 7})
    task = poll_one(tasks, task_type)
    assert task.workflow_instance_id == workflow_id
    assert task.reference_task_name == "t1" and task.status == "IN_PROGRESS"
    assert task.input_data == {"from": {"n": 7}, "step": 1}
    assert task.poll_count >= 1

    got = tasks.get_task(task.task_id)
    assert (got.task_id, got.status, got.worker_id) == (task.task_id, "IN_PROGRESS", "compat-manual")
    assert nothing_polled(tasks.poll_task(task_type, worker_id="compat-manual"))  # handed out once

    complete(tasks, task, {"answer": 42})
    wf = wait_status(workflows, workflow_id, *TERMINAL)
    assert wf.status == "COMPLETED"
    assert wf.output == {"last": {"answer": 42}, "input": {"n": 7}}
    assert tasks.get_task(task.task_id).output_data == {"answer": 42}


def test_batch_poll(metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient) -> None:
    name, (task_type,) = register_simple_workflow(metadata, "batch")
    ids = {start(workflows, name, {"i": i}) for i in range(3)}
    polled: list[Task] = []

    def poll_all() -> bool:
        polled.extend(
            tasks.batch_poll_tasks(task_type, worker_id="compat-batch", count=5, timeout_in_millisecond=200)
        )
        return len(polled) >= 3

    eventually(poll_all, what="three tasks from batch polls")
    assert {t.workflow_instance_id for t in polled} == ids
    assert all(t.status == "IN_PROGRESS" for t in polled)
    for task in polled:
        complete(tasks, task, {"i": task.input_data["from"]["i"]}, worker_id="compat-batch")
    for workflow_id in ids:
        assert wait_status(workflows, workflow_id, *TERMINAL).status == "COMPLETED"


def test_queue_size_and_poll_data(
    metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient
) -> None:
    name, (task_type,) = register_simple_workflow(metadata, "queue")
    for i in range(2):
        start(workflows, name, {"i": i})
    eventually(lambda: tasks.get_queue_size_for_task(task_type) == 2, what=f"{task_type} queue size 2")
    task = poll_one(tasks, task_type, worker_id="compat-queue")
    assert tasks.get_queue_size_for_task(task_type) == 1
    poll_data = tasks.get_task_poll_data(task_type)
    assert [(p.queue_name, p.worker_id) for p in poll_data] == [(task_type, "compat-queue")]
    assert poll_data[0].last_poll_time > 0
    complete(tasks, task, {})


def test_task_logs(metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient) -> None:
    name, (task_type,) = register_simple_workflow(metadata, "logs")
    start(workflows, name)
    task = poll_one(tasks, task_type)
    tasks.add_task_log(task.task_id, "first line from the SDK")
    tasks.add_task_log(task.task_id, "second line")
    logs = tasks.get_task_logs(task.task_id)
    assert [entry.log for entry in logs] == ["first line from the SDK", "second line"]
    assert all(entry.task_id == task.task_id and entry.created_time > 0 for entry in logs)


def test_update_task_by_ref_name(
    metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient
) -> None:
    name, _types = register_simple_workflow(metadata, "byref", refs=2)
    workflow_id = start(workflows, name, {"k": "v"})
    # No worker_id: with one, conductor-python 2.0.0 itself raises TypeError before sending
    # (OrkesTaskClient passes ``workerid``, which TaskResourceApi.update_task1 does not accept).
    tasks.update_task_by_ref_name(workflow_id, "t1", "COMPLETED", {"done": 1})
    wf = eventually(
        lambda: (w := workflows.get_workflow(workflow_id, include_tasks=True)) and len(w.tasks) == 2 and w,
        what="t2 to be scheduled",
    )
    t1, t2 = wf.tasks
    assert (t1.status, t1.output_data) == ("COMPLETED", {"result": {"done": 1}})
    assert t2.status == "SCHEDULED" and t2.input_data == {"from": {"result": {"done": 1}}, "step": 2}


# --- controlling workflows -----------------------------------------------------------------------


def test_pause_and_resume(metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient) -> None:
    name, (first, second) = register_simple_workflow(metadata, "pause", refs=2)
    workflow_id = start(workflows, name)
    task = poll_one(tasks, first)

    workflows.pause_workflow(workflow_id)
    assert workflows.get_workflow(workflow_id).status == "PAUSED"
    # A paused workflow takes its running task's result but schedules nothing after it.
    complete(tasks, task, {"step": "one"})
    # Decide now rather than wait for whatever would decide it: a decide that honoured no
    # pause would schedule t2 here.
    workflows.workflowResourceApi.decide(workflow_id)
    wf = workflows.get_workflow(workflow_id, include_tasks=True)
    assert wf.status == "PAUSED" and statuses(wf) == [("t1", "COMPLETED")]
    assert nothing_polled(tasks.poll_task(second, worker_id="compat-manual"))

    workflows.resume_workflow(workflow_id)
    assert workflows.get_workflow(workflow_id).status == "RUNNING"
    task2 = poll_one(tasks, second)
    assert task2.input_data == {"from": {"step": "one"}, "step": 2}
    complete(tasks, task2, {"step": "two"})
    wf = wait_status(workflows, workflow_id, *TERMINAL)
    assert wf.status == "COMPLETED" and wf.output["last"] == {"step": "two"}


def test_terminate_then_restart(
    metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient
) -> None:
    name, (task_type,) = register_simple_workflow(metadata, "restart")
    workflow_id = start(workflows, name, {"run": 1})

    workflows.terminate_workflow(workflow_id, reason="compat: stop it")
    wf = workflows.get_workflow(workflow_id, include_tasks=True)
    assert wf.status == "TERMINATED"
    assert wf.reason_for_incompletion == "compat: stop it"
    assert statuses(wf) == [("t1", "CANCELED")]
    assert nothing_polled(tasks.poll_task(task_type, worker_id="compat-manual"))

    workflows.restart_workflow(workflow_id)
    wf = wait_status(workflows, workflow_id, "RUNNING")
    assert statuses(wf) == [("t1", "SCHEDULED")]
    assert wf.input == {"run": 1}
    task = poll_one(tasks, task_type)
    assert task.workflow_instance_id == workflow_id
    complete(tasks, task, {"restarted": True})
    wf = wait_status(workflows, workflow_id, *TERMINAL)
    assert wf.status == "COMPLETED" and wf.output["last"] == {"restarted": True}


def test_retry_failed_workflow(
    metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient
) -> None:
    name, (task_type,) = register_simple_workflow(metadata, "retry")  # retryCount 0
    workflow_id = start(workflows, name)
    task = poll_one(tasks, task_type)
    tasks.update_task(
        TaskResult(
            workflow_instance_id=workflow_id,
            task_id=task.task_id,
            status=TaskResultStatus.FAILED,
            reason_for_incompletion="compat: broken on purpose",
            worker_id="compat-manual",
        )
    )
    wf = wait_status(workflows, workflow_id, *TERMINAL)
    assert wf.status == "FAILED", statuses(wf)
    assert "compat: broken on purpose" in (wf.reason_for_incompletion or "")
    assert statuses(wf) == [("t1", "FAILED")]

    workflows.retry_workflow(workflow_id)
    wf = wait_status(workflows, workflow_id, "RUNNING")
    assert statuses(wf) == [("t1", "FAILED"), ("t1", "SCHEDULED")]
    assert wf.tasks[1].retry_count == 1 and wf.tasks[1].retried_task_id == task.task_id
    retried = poll_one(tasks, task_type)
    assert retried.task_id != task.task_id
    complete(tasks, retried, {"second": "time lucky"})
    wf = wait_status(workflows, workflow_id, *TERMINAL)
    assert wf.status == "COMPLETED" and wf.output["last"] == {"second": "time lucky"}


def test_rerun_from_a_task(metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient) -> None:
    name, (first, second) = register_simple_workflow(metadata, "rerun", refs=2)
    workflow_id = start(workflows, name, {"attempt": 1})
    complete(tasks, poll_one(tasks, first), {"one": 1})
    task2 = poll_one(tasks, second)
    complete(tasks, task2, {"two": "first run"})
    wf = wait_status(workflows, workflow_id, *TERMINAL)
    assert wf.status == "COMPLETED" and wf.output["last"] == {"two": "first run"}

    rerun_id = workflows.rerun_workflow(
        workflow_id, RerunWorkflowRequest(re_run_from_task_id=task2.task_id, task_input={"extra": "input"})
    )
    assert rerun_id == workflow_id
    wf = wait_status(workflows, workflow_id, "RUNNING")
    refs = by_ref(wf)
    assert [t.status for t in refs["t1"]] == ["COMPLETED"]  # kept from the first run
    assert refs["t2"][-1].status == "SCHEDULED"
    again = poll_one(tasks, second)
    assert again.input_data.get("extra") == "input"
    complete(tasks, again, {"two": "second run"})
    wf = wait_status(workflows, workflow_id, *TERMINAL)
    assert wf.status == "COMPLETED" and wf.output["last"] == {"two": "second run"}


def test_skip_task(metadata: MetadataClient, workflows: WorkflowClient, tasks: TaskClient) -> None:
    name, (first, _second) = register_simple_workflow(metadata, "skip", refs=2)
    workflow_id = start(workflows, name)
    task1 = poll_one(tasks, first)
    # As in Conductor, only a task not yet scheduled can be skipped: t1 is, so 409 CONFLICT.
    assert api_status(lambda: workflows.skip_task_from_workflow(workflow_id, "t1", SkipTaskRequest())) == 409

    # conductor-python sends the SkipTaskRequest as one query parameter holding a Python repr
    # (``?skipTaskRequest={'taskOutput': ...}``), which neither Spring nor Baton can bind to the
    # request's fields: against Conductor too the skipped task gets no input or output. So only
    # the skip itself is checked here.
    workflows.skip_task_from_workflow(workflow_id, "t2", SkipTaskRequest(task_output={"lost": "on the wire"}))
    wf = workflows.get_workflow(workflow_id, include_tasks=True)
    # (Order not asserted: Conductor gives the skipped task no sequence number, so where it
    # lands in the list is an accident of the store.)
    assert sorted(statuses(wf)) == [("t1", "IN_PROGRESS"), ("t2", "SKIPPED")]

    complete(tasks, task1, {"one": 1})
    wf = wait_status(workflows, workflow_id, *TERMINAL)
    assert wf.status == "COMPLETED", statuses(wf)
    assert sorted(statuses(wf)) == [("t1", "COMPLETED"), ("t2", "SKIPPED")]
    assert by_ref(wf)["t2"][0].output_data == {}
    assert wf.output["last"] == {}


def test_delete_workflow(metadata: MetadataClient, workflows: WorkflowClient) -> None:
    name, _types = register_simple_workflow(metadata, "delete")
    workflow_id = start(workflows, name)
    workflows.terminate_workflow(workflow_id, reason="compat: about to delete")
    workflows.delete_workflow(workflow_id, archive_workflow=False)
    assert api_status(lambda: workflows.get_workflow(workflow_id)) == 404


# --- search, correlation, synchronous execution -------------------------------------------------


def test_search(metadata: MetadataClient, workflows: WorkflowClient) -> None:
    name, _types = register_simple_workflow(metadata, "search")
    other, _ = register_simple_workflow(metadata, "search_other")
    ids = {start(workflows, name, {"i": i}) for i in range(3)}
    start(workflows, other)

    def found() -> Any:
        result = workflows.search(start=0, size=10, free_text="*", query=f"workflowType IN ({name})")
        return result if {s.workflow_id for s in result.results or []} == ids else None

    result = eventually(found, what=f"search to find the three {name} runs")
    assert {(s.workflow_type, s.version, s.status) for s in result.results} == {(name, 1, "RUNNING")}

    terminated = sorted(ids)[0]
    workflows.terminate_workflow(terminated, reason="compat")
    narrowed = eventually(
        lambda: [
            s.workflow_id
            for s in workflows.search(query=f"workflowType IN ({name}) AND status IN (TERMINATED)").results
            or []
        ],
        what="search by status",
    )
    assert narrowed == [terminated]


def test_get_by_correlation_ids(metadata: MetadataClient, workflows: WorkflowClient) -> None:
    name, _types = register_simple_workflow(metadata, "correlated")
    a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    ids_a = {start(workflows, name, correlation_id=a) for _ in range(2)}
    id_b = start(workflows, name, correlation_id=b)
    workflows.terminate_workflow(id_b, reason="compat")

    running = workflows.get_by_correlation_ids(name, [a, b], include_completed=False, include_tasks=False)
    assert {w.workflow_id for w in running[a]} == ids_a
    assert running.get(b, []) == []
    everything = workflows.get_by_correlation_ids(name, [a, b], include_completed=True, include_tasks=True)
    assert [w.workflow_id for w in everything[b]] == [id_b]
    assert all(w.tasks for w in everything[a])


def set_variable_workflow(metadata: MetadataClient) -> str:
    name = unique_name("sync")
    metadata.register_workflow_def(
        workflow_def(
            name,
            [
                WorkflowTask(
                    name="remember",
                    task_reference_name="remember_ref",
                    type="SET_VARIABLE",
                    input_parameters={"who": "${workflow.input.who}"},
                )
            ],
            {"greeted": "${workflow.variables.who}"},
        )
    )
    return name


def test_execute_workflow_synchronously(metadata: MetadataClient, workflows: WorkflowClient) -> None:
    name = set_variable_workflow(metadata)
    run = workflows.execute_workflow(
        StartWorkflowRequest(name=name, version=1, input={"who": "Ada"}),
        request_id=str(uuid.uuid4()),
        wait_for_seconds=10,
    )
    assert run.status == "COMPLETED"
    assert run.output == {"greeted": "Ada"}
    assert run.variables == {"who": "Ada"}
    assert workflows.get_workflow(run.workflow_id).status == "COMPLETED"


def test_executor_execute_by_name(metadata: MetadataClient, executor: WorkflowExecutor) -> None:
    name = set_variable_workflow(metadata)
    run = executor.execute(name=name, version=1, workflow_input={"who": "Grace"}, wait_for_seconds=10)
    assert (run.status, run.output) == ("COMPLETED", {"greeted": "Grace"})
