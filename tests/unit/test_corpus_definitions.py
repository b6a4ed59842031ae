"""Every definition in the shared corpus that Conductor accepts must validate with zero errors.

The corpus (/work/shared/corpus, see its README) holds Conductor's own JSON: workflow definitions
(one per file or a list), task definitions, start requests with an inline ``workflowDef``, full
workflow executions (whose ``workflowDefinition`` snapshot is a definition too), event handlers and
plain payloads. Documents are classified by shape; event handlers and payloads are not this
module's business. One test per file keeps failures readable.

Set ``BATON_CORPUS_DIR`` to use another copy; without a corpus the tests skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestration.definitions.validation import (
    FieldError,
    validate_start_request,
    validate_task_def,
    validate_workflow_def,
)

CORPUS_DIR = Path(
    os.environ.get("BATON_CORPUS_DIR") or Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
)

# Documents Conductor itself would refuse to register, keyed by (path relative to the corpus,
# document label): (the errors Baton must report, why, with the Conductor source at b54f0d4ee that
# rejects them). If Baton stops reporting exactly these errors, the entry is stale.
_SCHEMA_V1 = "workflowDef schemaVersion: 2 is only supported"
_HTTP_NO_REQUEST = (
    "inputParameters.http_request or inputParameters.uri field is required for taskType: HTTP taskName: get_from_es"
)
_WHY_SCHEMA_V1 = "schemaVersion 1: WorkflowDef.java:67-68, @Min(2)/@Max(2) on schemaVersion"
_WHY_HTTP = (
    "HTTP task get_es_1 has no http_request/uri/method input and no inline taskDefinition: "
    "WorkflowTaskTypeConstraint.java:408-452 isHttpTaskValid (it would pass only with a registered TaskDef "
    "get_from_es whose inputTemplate has http_request)"
)
CONDUCTOR_REJECTS: dict[tuple[str, str], tuple[list[str], str]] = {
    # Not loaded by KitchenSinkInitializer (only kitchensink.json and sub_flow_1.json are).
    ("conductor-oss/rest/src/main/resources/kitchensink/wf1.json", "$"): ([_SCHEMA_V1], _WHY_SCHEMA_V1),
    # Executions that ExecutionDAOFacadeTest/TestDeciderService deserialize, never register: their
    # definition snapshots predate today's rules.
    ("conductor-oss/core/src/test/resources/completed.json", "$.workflowDefinition"): (
        [_SCHEMA_V1, _HTTP_NO_REQUEST],
        f"{_WHY_SCHEMA_V1}; {_WHY_HTTP}",
    ),
    ("conductor-oss/core/src/test/resources/test.json", "$.workflowDefinition"): ([_HTTP_NO_REQUEST], _WHY_HTTP),
}

# Fields only a TaskDef has (a WorkflowDef or request never carries them at top level).
_TASK_DEF_KEYS = frozenset({"retryCount", "retryLogic", "responseTimeoutSeconds", "timeoutPolicy", "inputKeys"})

Doc = tuple[str, str, Any]  # (label, kind, document)


def classify(value: Any, label: str = "$") -> Iterator[Doc]:
    """Yield (label, kind, doc) for every definition-like document in a parsed file."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from classify(item, f"{label}[{i}]")
        return
    if not isinstance(value, dict):
        return
    if "workflowId" in value and isinstance(value.get("workflowDefinition"), dict):
        yield f"{label}.workflowDefinition", "workflow", value["workflowDefinition"]
    elif "workflowDef" in value:
        yield label, "start", value
    elif isinstance(value.get("tasks"), list) and "workflowId" not in value:
        yield label, "workflow", value
    elif "name" in value and _TASK_DEF_KEYS & value.keys() and "tasks" not in value:
        yield label, "task", value


def _validate(kind: str, doc: Any) -> list[FieldError]:
    if kind == "workflow":
        return validate_workflow_def(doc)
    if kind == "start":
        return validate_start_request(doc)
    return validate_task_def(doc)


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    # An empty file (test-harness input.json) is not a document.
    return json.loads(text) if text.strip() else None


def _corpus_files() -> list[Any]:
    if not CORPUS_DIR.is_dir():
        reason = f"corpus not found at {CORPUS_DIR} (set BATON_CORPUS_DIR)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    files = sorted(CORPUS_DIR.rglob("*.json"))
    return [pytest.param(p, id=str(p.relative_to(CORPUS_DIR))) for p in files]


@pytest.mark.parametrize("path", _corpus_files())
def test_corpus_file_validates(path: Path) -> None:
    rel = str(path.relative_to(CORPUS_DIR))
    failures = []
    for label, kind, doc in classify(_load(path)):
        errors = _validate(kind, doc)
        if (rel, label) in CONDUCTOR_REJECTS:
            expected, _why = CONDUCTOR_REJECTS[(rel, label)]
            assert [e.message for e in errors] == expected, f"stale CONDUCTOR_REJECTS entry {rel} {label}"
            continue
        failures += [f"{label} ({kind}) {e.path}: {e.message}" for e in errors]
    assert not failures, "\n".join(failures)


def test_corpus_has_the_expected_documents() -> None:
    """Guards the classifier: a shape change must not silently turn the tests above into no-ops."""
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"corpus not found at {CORPUS_DIR} (set BATON_CORPUS_DIR)")
    counts = {"workflow": 0, "start": 0, "task": 0}
    for path in CORPUS_DIR.rglob("*.json"):
        for _label, kind, _doc in classify(_load(path)):
            counts[kind] += 1
    # README: ~142 workflow definitions, a few task definitions, the kitchen-sink start requests.
    assert counts["workflow"] >= 130, counts
    assert counts["start"] >= 2, counts
    assert counts["task"] >= 2, counts
