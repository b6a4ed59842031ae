"""Resolving ``${...}`` expressions in task inputs and workflow outputs against a running workflow.

Conductor resolves each ``${path}`` with Jayway JSONPath against a document
``{"workflow": {...}, "<taskRef>": {...}}``. The syntax (scanner, path grammar, compiled paths)
is ``definitions.expressions``, which definition checks use too; this module builds that
document lazily from a workflow's state, resolves whole values (a lone expression keeps its
type, expressions inside text are interpolated) and renders interpolated values as Java's
``toString`` does.

Pure Python: no Django, no ORM, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from orchestration.conductor.java_text import java_string
from orchestration.conductor.loop_refs import base_ref
from orchestration.definitions.expressions import (
    MISSING,
    CompiledPath,
    compiled_or_error,
    expression_spans,
)

if TYPE_CHECKING:
    from orchestration.engine.state import TaskState, WorkflowState

_KEEP: Any = object()  # leave the ${...} text as written (secrets, CPEWF_TASK_ID without a task)


# -- evaluation context ------------------------------------------------------------------------

class ExpressionContext:
    """The document ``{"workflow": {...}, "<taskRef>": {...}}``, built lazily per root key."""

    __slots__ = ("current_task_id", "_workflow", "_doc", "_workflow_doc", "_latest", "_task_docs")

    def __init__(self, workflow: WorkflowState | None, current_task_id: str | None = None) -> None:
        self.current_task_id = current_task_id
        self._workflow = workflow
        self._doc: Any = None
        self._workflow_doc: dict[str, Any] | None = None
        self._latest: dict[str, TaskState] | None = None
        self._task_docs: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_document(cls, doc: Any, current_task_id: str | None = None) -> ExpressionContext:
        ctx = cls(None, current_task_id)
        ctx._doc = doc
        return ctx

    def root(self, name: str) -> Any:
        """The root entry ``name``, or ``MISSING``."""
        if self._doc is not None or self._workflow is None:
            doc = self._doc
            return doc.get(name, MISSING) if isinstance(doc, Mapping) else MISSING
        if name == "workflow":
            return self._workflow_doc or self._build_workflow_doc()
        doc = self._task_docs.get(name)
        if doc is not None:
            return doc
        task = self._tasks_by_key().get(name)
        if task is None:
            return MISSING
        doc = self._task_docs[name] = self._build_task_doc(task)
        return doc

    def document(self) -> Any:
        """The whole document (for paths such as ``$..x`` that do not start with a root key)."""
        if self._doc is None:
            if self._workflow is None:
                return {}
            doc = {"workflow": self.root("workflow")}
            for key in self._tasks_by_key():
                doc[key] = self.root(key)
            self._doc = doc
        return self._doc

    def _build_workflow_doc(self) -> dict[str, Any]:
        wf = self._workflow
        assert wf is not None
        raw = wf.definition.raw
        schema_version = raw.get("schemaVersion") if isinstance(raw, Mapping) else None
        # Conductor offers exactly these keys; createTime and taskToDomain are not among them.
        self._workflow_doc = {
            "input": wf.input, "output": wf.output, "status": wf.status, "workflowId": wf.workflow_id,
            "parentWorkflowId": wf.parent_workflow_id, "parentWorkflowTaskId": wf.parent_workflow_task_id,
            "workflowType": wf.name, "version": wf.version, "correlationId": wf.correlation_id,
            "reasonForIncompletion": wf.reason_for_incompletion,
            "schemaVersion": 2 if schema_version is None else schema_version, "variables": wf.variables,
        }  # fmt: skip
        return self._workflow_doc

    def _tasks_by_key(self) -> dict[str, TaskState]:
        # Loop iterations ("ref__3") are visible under their node's ref; the highest seq wins,
        # so the latest attempt of the latest iteration is what "${ref.output}" reads.
        if self._latest is None:
            latest: dict[str, TaskState] = {}
            assert self._workflow is not None
            for task in self._workflow.tasks:
                key = base_ref(task.ref, task.iteration)
                current = latest.get(key)
                if current is None or task.seq >= current.seq:
                    latest[key] = task
            self._latest = latest
        return self._latest

    def _build_task_doc(self, task: TaskState) -> dict[str, Any]:
        wf = self._workflow
        assert wf is not None
        doc = {
            "input": task.input, "output": task.output, "taskType": task.task_type,
            "referenceTaskName": task.ref, "retryCount": task.retry_count, "correlationId": wf.correlation_id,
            "pollCount": task.poll_count, "taskDefName": task.task_def_name or task.task_type,
            "scheduledTime": task.scheduled_time, "startTime": task.start_time, "endTime": task.end_time,
            "workflowInstanceId": wf.workflow_id, "taskId": task.task_id,
            "reasonForIncompletion": task.reason_for_incompletion,
            "callbackAfterSeconds": task.callback_after_seconds, "workerId": task.worker_id,
            "iteration": task.iteration,
        }  # fmt: skip
        if task.status is not None:  # Conductor omits a null status
            doc["status"] = task.status
        return doc


# -- resolution --------------------------------------------------------------------------------


def _clone(value: Any) -> Any:
    # Whole-expression results are copied so that a task input never aliases workflow state.
    if isinstance(value, Mapping):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clone(v) for v in value]
    return value


_BLANK: Any = object()
_TASK_ID: Any = object()


@lru_cache(maxsize=4096)
def _plan(path: str) -> Any:
    """What an expression's text means, decided once per distinct text."""
    if not path or path.isspace():
        return _BLANK  # "${}" and "${  }" give ""
    if path == "CPEWF_TASK_ID":
        return _TASK_ID
    if path.startswith("workflow.secrets."):
        return _KEEP  # secrets are substituted only when a task is handed to its executor
    return compiled_or_error(path)


def _evaluate(path: str, ctx: ExpressionContext) -> Any:
    plan = _plan(path)
    if plan.__class__ is CompiledPath:
        try:
            return plan.find_in(ctx)
        except Exception:  # evaluation never fails a workflow: Jayway runs with SUPPRESS_EXCEPTIONS
            return None
    if plan is _TASK_ID:  # Conductor leaves the text in place when there is no task id
        return _KEEP if ctx.current_task_id is None else ctx.current_task_id
    if plan is _BLANK:
        return ""
    return _KEEP if plan is _KEEP else None  # an unreadable path: Conductor logs it, uses null


def _resolve_text(text: str, ctx: ExpressionContext, depth: int) -> Any:
    # Fast path for the usual "${a.b.c}": one expression, no other braces.
    if depth == 0 and text[:2] == "${" and text.find("{", 2) == -1 and text.find("}") == len(text) - 1:
        value = _evaluate(text[2:-1], ctx)
        return text if value is _KEEP else _clone(value)
    spans = expression_spans(text)
    if not spans:
        return text.replace("$${", "${")
    values = []
    for start, end in spans:
        inner = text[start + 2 : end - 1]
        if "${" in inner:  # nested expressions resolve first, always as text
            inner = _resolve_text(inner, ctx, depth + 1)
        values.append(_evaluate(inner, ctx))
    if depth == 0 and len(spans) == 1 and spans[0] == (0, len(text)):
        value = values[0]
        return text if value is _KEEP else _clone(value)  # a lone expression keeps its type
    parts, pos = [], 0
    for (start, end), value in zip(spans, values, strict=True):
        parts.append(text[pos:start])
        parts.append(text[start:end] if value is _KEEP else java_string(value))
        pos = end
    parts.append(text[pos:])
    return "".join(parts).replace("$${", "${")


def resolve(value: Any, ctx: ExpressionContext) -> Any:
    """A resolved copy of ``value``; the input is never mutated."""
    cls = value.__class__
    if cls is str:
        return _resolve_text(value, ctx, 0) if "${" in value else value
    if cls is dict or isinstance(value, Mapping):
        return {k: resolve(v, ctx) for k, v in value.items()}
    if cls is list or isinstance(value, list | tuple):
        return [resolve(v, ctx) for v in value]
    if isinstance(value, str):
        return _resolve_text(str(value), ctx, 0) if "${" in value else value
    return value


def resolve_input(params: Mapping[str, Any] | None, ctx: ExpressionContext) -> dict[str, Any]:
    """Resolve an inputParameters/outputParameters map into a new dict."""
    if not params:
        return {}
    return {k: resolve(v, ctx) for k, v in params.items()}
