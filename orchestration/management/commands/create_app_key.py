"""Create an application key and print its id and secret (the only time the secret is shown).

    python manage.py create_app_key --name "billing workers" --role WORKER
    python manage.py create_app_key --name ci --role ADMIN --if-missing --json

``--if-missing`` makes the command idempotent for scripts: when an active key with that name
exists it prints the existing key id and creates nothing (the secret cannot be shown again).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orchestration.models import ApplicationKey, Role
from orchestration.security import keys


class Command(BaseCommand):
    help = "Create an application key for POST /api/token; prints keyId and keySecret once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument("--role", default=Role.WORKER, choices=Role.values, help="Default: WORKER.")
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing (print the existing key id) when an active key with this name exists.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        if options["if_missing"]:
            existing = ApplicationKey.objects.filter(name=name, active=True).order_by("create_time").first()
            if existing is not None:
                self._print(options["json"], existing.key_id, None, existing.role, created=False)
                return
        new = keys.create_key(name, options["role"])
        self._print(options["json"], new.key.key_id, new.secret, new.key.role, created=True)

    def _print(self, as_json: bool, key_id: str, secret: str | None, role: str, *, created: bool) -> None:
        if as_json:
            body: dict[str, Any] = {"keyId": key_id, "role": role, "created": created}
            if secret is not None:
                body["keySecret"] = secret
            self.stdout.write(json.dumps(body))
            return
        if not created:
            self.stdout.write(f"keyId:     {key_id}  (exists, role {role}; its secret cannot be shown again)")
            return
        self.stdout.write(f"keyId:     {key_id}\nkeySecret: {secret}\nrole:      {role}")
        self.stderr.write("Copy the secret now: only its hash is stored.")
