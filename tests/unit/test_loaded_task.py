"""A task loaded for a decide keeps its JSON columns as text until something reads them
(engine.state.LoadedTask): the decide of a long workflow must not decode every earlier task."""

from __future__ import annotations

import json

from orchestration.engine.state import LoadedTask, RawJSON, TaskState
from orchestration.models import TASK_FIELDS
from orchestration.services.store import task_from_row


def _row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {name: 0 for name in TASK_FIELDS}
    row.update(
        id="t-1", ref="a", task_type="SIMPLE", task_def_name="a", status="COMPLETED", retried=False,
        executed=True, reason_for_incompletion=None, worker_id=None, domain=None, queue_name="a",
        retried_task_id=None, dispatch_at=None, timeout_at=None,
        input=json.dumps({"n": 1}), output=json.dumps({"result": [1, 2]}), extra=json.dumps({}),
    )  # fmt: skip
    row.update(overrides)
    return row


def test_json_columns_are_decoded_when_read_and_only_then() -> None:
    task = task_from_row(_row(extra="not json at all"))  # never read below: never decoded
    assert isinstance(task, LoadedTask) and isinstance(task, TaskState)
    assert type(TaskState.__dict__["output"].__get__(task)) is RawJSON  # still the text
    assert task.output == {"result": [1, 2]}
    assert task.input["n"] == 1
    assert type(TaskState.__dict__["output"].__get__(task)) is dict  # decoded once, kept
    assert not task.dirty  # reading is not a change


def test_writes_are_tracked_and_win_over_the_text() -> None:
    task = task_from_row(_row())
    task.output = {"replaced": True}
    assert task.output == {"replaced": True}
    assert task.dirty == {"output"}


def test_rows_the_orm_decoded_already_are_taken_as_they_are() -> None:
    task = task_from_row(_row(input={"n": 2}, output={}, extra={"k": "v"}))
    assert task.input == {"n": 2} and task.output == {} and task.extra == {"k": "v"}
