"""The official JavaScript SDK (@io-orkes/conductor-javascript, pinned in js/package.json and
js/package-lock.json), unchanged, serving a task for a live Baton with authentication on.

The set-up (definitions, the start) is plain HTTP so that only the SDK under test is involved;
js/worker.js then does what a JavaScript worker does: trades a WORKER key for a token, polls
the task type with the SDK's TaskHandler, completes the task, and reads the workflow back.
``npm ci`` installs the SDK into js/node_modules the first time (and again when the lock file
changes); without node and npm on PATH the test is skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .live import LiveBaton, unique_name, wait_for_exit

pytestmark = [pytest.mark.compat]

JS_DIR = Path(__file__).resolve().parent / "js"
SDK_PACKAGE = "@io-orkes/conductor-javascript"
MIN_NODE_MAJOR = 18  # the SDK's "engines"
NPM_TIMEOUT_SECONDS = 300
WORKER_TIMEOUT_SECONDS = 45
# Written into node_modules after a successful ``npm ci``: the lock file it installed.
STAMP = JS_DIR / "node_modules" / ".baton-installed-lock.sha256"


def pinned_version() -> str:
    return str(json.loads((JS_DIR / "package.json").read_text())["dependencies"][SDK_PACKAGE])


def same_version(found: str, pinned: str) -> bool:
    # The published package.json of 3.1.0 says "v3.1.0".
    return found.removeprefix("v") == pinned.removeprefix("v")


def lock_digest() -> str:
    return hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def node() -> str:
    """The ``node`` executable, with the pinned SDK installed next to worker.js."""
    node_bin, npm_bin = shutil.which("node"), shutil.which("npm")
    if node_bin is None or npm_bin is None:
        pytest.skip("the JavaScript SDK suite needs node and npm on PATH")
    version = subprocess.run(
        [node_bin, "--version"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < MIN_NODE_MAJOR:
        pytest.skip(f"the JavaScript SDK needs node >= {MIN_NODE_MAJOR}, found {version or 'unknown'}")

    digest = lock_digest()
    if not STAMP.exists() or STAMP.read_text().strip() != digest:
        try:
            done = subprocess.run(
                [npm_bin, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=JS_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"npm ci in {JS_DIR} did not finish within {NPM_TIMEOUT_SECONDS}s")
        if done.returncode != 0:
            pytest.fail(f"npm ci in {JS_DIR} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        STAMP.write_text(digest + "\n")
    installed = json.loads((JS_DIR / "node_modules" / SDK_PACKAGE / "package.json").read_text())["version"]
    assert same_version(installed, pinned_version()), (
        f"installed {SDK_PACKAGE} {installed}, pinned {pinned_version()}"
    )
    return node_bin


def must(result: tuple[int, Any], *ok: int) -> Any:
    status, body = result
    assert status in (ok or (200,)), (status, body)
    return body


def wait_for_workflow(live: LiveBaton, workflow_id: str, timeout: float = 30.0) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        wf = must(live.call("GET", f"/workflow/{workflow_id}", params={"includeTasks": "true"}))
        return wf if wf["status"] in {"COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED"} else None

    return live.wait_for(finished, timeout=timeout, what=f"workflow {workflow_id} to finish")


def test_js_worker_completes_a_workflow(
    node: str, live_baton: LiveBaton, worker_key: tuple[str, str]
) -> None:
    task_type, name = unique_name("js_greet"), unique_name("js_workflow")
    must(
        live_baton.call(
            "POST",
            "/metadata/taskdefs",
            [{"name": task_type, "retryCount": 0, "timeoutSeconds": 120, "responseTimeoutSeconds": 60,
              "ownerEmail": "compat@baton.local"}],
        ),
        200, 204,
    )  # fmt: skip
    must(
        live_baton.call(
            "POST",
            "/metadata/workflow",
            {
                "name": name, "version": 1, "schemaVersion": 2, "ownerEmail": "compat@baton.local",
                "tasks": [{"name": task_type, "taskReferenceName": "greet_ref", "type": "SIMPLE",
                           "inputParameters": {"name": "${workflow.input.name}"}}],
                "outputParameters": {"greeting": "${greet_ref.output.greeting}", "sdk": "${greet_ref.output.sdk}"},
            },
        ),
        200, 204,
    )  # fmt: skip
    workflow_id = must(
        live_baton.call("POST", "/workflow", {"name": name, "version": 1, "input": {"name": "Ada"}})
    )
    assert isinstance(workflow_id, str) and workflow_id

    key_id, secret = worker_key
    env = live_baton.client_env(
        {
            "CONDUCTOR_AUTH_KEY": key_id,
            "CONDUCTOR_AUTH_SECRET": secret,
            "BATON_JS_TASK_TYPE": task_type,
            "BATON_JS_WORKFLOW_ID": workflow_id,
            "BATON_JS_TIMEOUT_MS": str(WORKER_TIMEOUT_SECONDS * 1000),
        }
    )
    started = time.monotonic()
    with live_baton.process("sdk-js-worker", [node, str(JS_DIR / "worker.js")], env=env) as worker:
        code = wait_for_exit(worker, WORKER_TIMEOUT_SECONDS + 15)
        log = worker.log()
    assert code == 0, f"worker.js exited {code} after {time.monotonic() - started:.1f}s:\n{log}"
    lines = [line for line in log.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, log
    reported = json.loads(lines[0].removeprefix("RESULT "))

    wf = wait_for_workflow(live_baton, workflow_id)
    assert wf["status"] == "COMPLETED", wf
    (task,) = wf["tasks"]
    assert task["status"] == "COMPLETED" and task["taskId"] == reported["taskId"]
    assert task["workerId"] == reported["workerId"] and task["workerId"]
    out = task["outputData"]
    assert out["greeting"] == "Hello, Ada!"
    assert (out["sdk"], out["taskId"]) == ("conductor-javascript", task["taskId"])
    assert same_version(out["sdkVersion"], pinned_version())
    assert out["node"].startswith("v")
    assert wf["output"] == {"greeting": "Hello, Ada!", "sdk": "conductor-javascript"}
    # What the SDK's own workflow client read back once its update was accepted.
    assert reported["workflowStatus"] in {"RUNNING", "COMPLETED"}
    assert same_version(reported["sdkVersion"], pinned_version())
