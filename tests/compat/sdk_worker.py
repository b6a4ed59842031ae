"""Workers served by conductor-python's own worker runtime (``TaskHandler``), unchanged, as a
user of the SDK would write them. The compat suite runs this as a separate program:

    python -m tests.compat.sdk_worker --greet TASK_TYPE --shout TASK_TYPE [--fail TASK_TYPE]

It reads the server and key from CONDUCTOR_SERVER_URL, CONDUCTOR_AUTH_KEY and
CONDUCTOR_AUTH_SECRET, as every Conductor SDK does, and runs until it is killed.

Two styles of worker function, both supported by the SDK: ``greet`` takes the task's input
fields as keyword arguments and returns a dict (the SDK completes the task with it); ``shout``
takes the raw ``Task`` and returns a ``TaskResult`` it fills in itself. ``fail`` raises, which the
SDK reports as a FAILED task with the exception's message. Nothing here imports Django or Baton.
"""

# No ``from __future__ import annotations`` here: the SDK maps task input to a worker function's
# parameters by their annotations at run time, and string annotations would defeat it.
import argparse
import os
import signal
import sys
from types import FrameType

from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.http.models.task import Task
from conductor.client.http.models.task_result import TaskResult
from conductor.client.http.models.task_result_status import TaskResultStatus
from conductor.client.worker.worker import Worker

SDK_NAME = "conductor-python"


def greet(name: str) -> dict[str, object]:
    return {"greeting": f"Hello, {name}!", "sdk": SDK_NAME, "workerPid": os.getpid()}


def shout(task: Task) -> TaskResult:
    result = TaskResult(
        task_id=task.task_id,
        workflow_instance_id=task.workflow_instance_id,
        worker_id=f"sdk-shout-{os.getpid()}",
    )
    text = str((task.input_data or {}).get("text", ""))
    result.status = TaskResultStatus.COMPLETED
    result.output_data = {"shouted": text.upper(), "sdk": SDK_NAME}
    result.log(f"shouted {len(text)} characters")
    return result


def fail(reason: str) -> dict[str, object]:
    raise RuntimeError(reason or "failing on purpose")


def _term_with_parent() -> None:
    """Get SIGTERM (not the SIGKILL the test harness arranged) if the test process dies, so
    the handler below can stop the SDK's worker processes too instead of orphaning them."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--greet", action="append", default=[], help="task type served by greet")
    parser.add_argument("--shout", action="append", default=[], help="task type served by shout")
    parser.add_argument("--fail", action="append", default=[], help="task type served by fail")
    args = parser.parse_args(argv)

    configuration = Configuration()  # CONDUCTOR_SERVER_URL / CONDUCTOR_AUTH_KEY / CONDUCTOR_AUTH_SECRET
    workers: list[Worker] = []
    for types, function in ((args.greet, greet), (args.shout, shout), (args.fail, fail)):
        for task_type in types:
            workers.append(
                Worker(task_definition_name=task_type, execute_function=function, poll_interval=100)
            )
    if not workers:
        parser.error("no task types given")

    handler = TaskHandler(workers=workers, configuration=configuration, scan_for_annotated_workers=False)

    def stop(signum: int, _frame: FrameType | None) -> None:
        try:
            handler.stop_processes()  # bounded: terminate, join 5 s, kill
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    _term_with_parent()
    handler.start_processes()
    print(f"sdk-worker: polling {[w.get_task_definition_name() for w in workers]}", flush=True)
    handler.join_processes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
