"""Who may call what: the role table for every API path.

Roles are ordered, each including the ones before it:

    READ_ONLY  reads definitions, executions, queues, searches
    WORKER     + polls tasks and reports their results (update, update-v2, ack, logs, by-ref
               updates, signals)
    OPERATOR   + starts and controls workflows (start, terminate, pause/resume, rerun,
               restart, retry, skip, decide, bulk operations, requeue)
    ADMIN      + everything else: definition and event-handler writes, /api/admin, and any
               route this table does not name

The table is matched on (method, path) rather than on views so it covers routes added later
without touching them, and it fails closed: a path no rule matches needs ADMIN. Rules are tried
in order and the first match wins, so literal paths come before the patterns they would also
match (``/api/tasks/queue/requeue/{type}`` before ``/api/tasks/{workflowId}/{ref}/{status}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestration.models import Role

# Returned by required_role for the few paths anyone may call.
PUBLIC = "PUBLIC"

RANK: dict[str, int] = {Role.READ_ONLY: 0, Role.WORKER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}

READ = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
POST = frozenset({"POST"})
ANY = READ | WRITE

# One path segment; also what orchestration.api.routing uses.
SEG = "[^/]+"


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    role: str

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and self.pattern.match(path) is not None


def _rule(methods: frozenset[str], path: str, role: str) -> Rule:
    # ``path`` is relative to the site root, without slashes at either end; a trailing slash
    # is accepted as the routes accept it.
    return Rule(methods, re.compile(rf"^/{path}/?$"), role)


RULES: tuple[Rule, ...] = (
    # --- public ----------------------------------------------------------------------------
    _rule(READ, "health", PUBLIC),
    _rule(READ, "api/health", PUBLIC),
    # The token endpoint authenticates its callers itself, with the key id and secret.
    _rule(POST, "api/token", PUBLIC),
    # --- reads that change state: polling claims tasks -----------------------------------
    _rule(READ, f"api/tasks/poll/batch/{SEG}", Role.WORKER),
    _rule(READ, f"api/tasks/poll/{SEG}", Role.WORKER),
    # --- reads -----------------------------------------------------------------------------
    _rule(READ, "api/token/userInfo", Role.READ_ONLY),
    _rule(READ, "api/version", Role.READ_ONLY),
    # The OpenAPI document and its Swagger UI page (with the page's assets): a browser opens
    # them with the admin session, which counts as READ_ONLY for staff.
    _rule(READ, "api/(?:schema|docs)(?:/.*)?", Role.READ_ONLY),
    _rule(READ, "api/(?:metadata|workflow|tasks|event|queue)(?:/.*)?", Role.READ_ONLY),
    # Reads sent as POST (the body carries the question, nothing is stored).
    _rule(POST, "api/metadata/workflow/validate", Role.READ_ONLY),
    _rule(POST, "api/workflow/bulk/search", Role.READ_ONLY),
    _rule(POST, f"api/workflow/{SEG}/correlated", Role.READ_ONLY),
    # --- operator: before the worker's by-ref pattern, which would match it too ---------------
    _rule(WRITE, f"api/tasks/queue/requeue/{SEG}", Role.OPERATOR),
    # --- worker ----------------------------------------------------------------------------
    _rule(POST, "api/tasks", Role.WORKER),
    _rule(POST, "api/tasks/update-v2", Role.WORKER),
    _rule(POST, f"api/tasks/{SEG}/ack", Role.WORKER),
    _rule(POST, f"api/tasks/{SEG}/log", Role.WORKER),
    # Signals to WAIT tasks: /{workflowId}/{status}/signal[/sync].
    _rule(POST, f"api/tasks/{SEG}/{SEG}/signal(?:/sync)?", Role.WORKER),
    # By-reference updates: /{workflowId}/{taskRefName}/{status}[/sync].
    _rule(POST, f"api/tasks/{SEG}/{SEG}/{SEG}(?:/sync)?", Role.WORKER),
    # The internal event queue's task completions.
    _rule(POST, f"api/queue/update/{SEG}/task/{SEG}/{SEG}", Role.WORKER),
    _rule(POST, f"api/queue/update/{SEG}/{SEG}/{SEG}", Role.WORKER),
    # --- operator --------------------------------------------------------------------------
    _rule(
        WRITE,
        "api/workflow/bulk/(?:pause|resume|restart|retry|terminate|remove|terminate-remove)",
        Role.OPERATOR,
    ),
    _rule(WRITE, f"api/workflow/decide/{SEG}", Role.OPERATOR),
    _rule(WRITE, f"api/workflow/execute/{SEG}(?:/{SEG})?", Role.OPERATOR),
    _rule(POST, "api/workflow/test", Role.OPERATOR),
    _rule(
        WRITE,
        f"api/workflow/{SEG}/(?:remove|terminate-remove|pause|resume|rerun|restart|retry"
        f"|resetcallbacks|upgrade|variables|state)",
        Role.OPERATOR,
    ),
    _rule(WRITE, f"api/workflow/{SEG}/(?:skiptask|jump)/{SEG}", Role.OPERATOR),
    # Start (POST /api/workflow, POST /api/workflow/{name}) and terminate (DELETE /{id}).
    _rule(WRITE, f"api/workflow(?:/{SEG})?", Role.OPERATOR),
    # --- everything else (definition and event-handler writes, /api/admin...) needs ADMIN ---
)


def required_role(method: str, path: str) -> str:
    """The least role that may call ``method path`` (PUBLIC for anyone); ADMIN when no rule
    names the path, so a new route is closed until it is added here."""
    method = method.upper()
    for rule in RULES:
        if rule.matches(method, path):
            return rule.role
    return Role.ADMIN


def allows(have: str, need: str) -> bool:
    if need == PUBLIC:
        return True
    return have in RANK and RANK[have] >= RANK[need]


def roles_below(role: str) -> list[str]:
    return [r for r, rank in RANK.items() if rank < RANK[role]]
