"""Register Conductor definitions from JSON files or folders (TaskDefs first, then workflows).

A file may hold one WorkflowDef, one TaskDef, or a list of either. Existing definitions with
the same name (and version) are overwritten, so the command can be run on every start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from orchestration.definitions.validation import DefinitionError
from orchestration.services.definitions import task_defs_register, workflow_def_register


def _documents(paths: list[str]) -> list[Any]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(path.rglob("*.json")))
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder")
    docs: list[Any] = []
    for file in files:
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError as error:
            raise CommandError(f"{file}: not valid JSON ({error})") from error
        docs.extend(data if isinstance(data, list) else [data])
    return docs


class Command(BaseCommand):
    help = "Register Conductor task and workflow definitions from JSON files or folders."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        docs = [d for d in _documents(options["paths"]) if isinstance(d, dict)]
        workflows = [d for d in docs if "tasks" in d]
        task_defs = [d for d in docs if "tasks" not in d and "name" in d]
        try:
            if task_defs:
                task_defs_register(defs=task_defs, actor="load_definitions")
            for wf in workflows:
                workflow_def_register(data=wf, overwrite=True, actor="load_definitions")
        except DefinitionError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"registered {len(task_defs)} task definitions and {len(workflows)} workflow definitions")
