"""Frozen workflow definitions by key: each run keeps the definition it started with as a
snapshot row, keyed by the hash of its JSON. Snapshots never change, so each is parsed once
per process and kept in a bounded cache that the decider, the documents and the API share.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from orchestration.definitions.model import WorkflowDefinition
from orchestration.models import DefinitionSnapshot

_SNAPSHOT_CACHE_SIZE = 256
_snapshot_cache: OrderedDict[str, WorkflowDefinition] = OrderedDict()
_snapshot_lock = threading.Lock()


def snapshot_key(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def remember_definition(key: str, definition: WorkflowDefinition) -> None:
    with _snapshot_lock:
        _snapshot_cache[key] = definition
        _snapshot_cache.move_to_end(key)
        while len(_snapshot_cache) > _SNAPSHOT_CACHE_SIZE:
            _snapshot_cache.popitem(last=False)


def definition_for(key: str) -> WorkflowDefinition:
    """The parsed frozen definition; parsed once per process (snapshots never change)."""
    with _snapshot_lock:
        cached = _snapshot_cache.get(key)
        if cached is not None:
            _snapshot_cache.move_to_end(key)
            return cached
    data = DefinitionSnapshot.objects.values_list("data", flat=True).get(pk=key)
    definition = WorkflowDefinition.from_json(data)
    remember_definition(key, definition)
    return definition
