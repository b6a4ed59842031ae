"""How a DO_WHILE iteration's task is named.

Every task a loop schedules in iteration N >= 1 gets the reference name of its definition node
plus ``__N`` (``fetch`` becomes ``fetch__3``); iteration 0, outside any loop, keeps the bare
name. Going back, Conductor cuts a loop task's name at its first ``__``. Baton drops only the
trailing ``__<digits>`` groups instead: the same answer for every name a loop generates (nested
loops included, ``fetch__1__2``), without mangling a node whose own name holds ``__``
(``fetch__rows``); and a task outside loops (iteration 0) keeps its name even when it looks
like an iteration (``step__1``).
"""

from __future__ import annotations

import re

LOOP_SEPARATOR = "__"

_LOOP_SUFFIX = re.compile(r"(?:__\d+)+\Z")


def loop_ref(ref: str, iteration: int) -> str:
    """The reference name of node ``ref``'s task in loop ``iteration`` (0: outside loops)."""
    return f"{ref}{LOOP_SEPARATOR}{iteration}" if iteration > 0 else ref


def base_ref(ref: str, iteration: int) -> str:
    """The definition node's reference name of a task named ``ref`` in loop ``iteration``."""
    return _LOOP_SUFFIX.sub("", ref) if iteration > 0 else ref
