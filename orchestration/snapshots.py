"""Frozen workflow definitions by key: each run keeps the definition it started with as a
snapshot row, keyed by the hash of its JSON. Snapshots never change, so each is parsed once
per process and kept in a bounded cache that the decider, the documents and the API share.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from orchestration.bounded_cache import BoundedCache
from orchestration.definitions.model import WorkflowDefinition
from orchestration.models import DefinitionSnapshot

_definitions: BoundedCache[str, WorkflowDefinition] = BoundedCache(256)


def snapshot_key(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def remember_definition(key: str, definition: WorkflowDefinition) -> None:
    _definitions.put(key, definition)


def definition_for(key: str) -> WorkflowDefinition:
    """The parsed frozen definition; parsed once per process (snapshots never change)."""
    cached = _definitions.get(key)
    if cached is not None:
        return cached
    data = DefinitionSnapshot.objects.values_list("data", flat=True).get(pk=key)
    definition = WorkflowDefinition.from_json(data)
    remember_definition(key, definition)
    return definition
