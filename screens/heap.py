"""Garbage collection kept out of the way of keystrokes: the app's `HeapKeeper`.

Why: CPython's full (generation 2) collection walks every object the interpreter tracks, and the app's
heap holds a quarter of a million or more once Configure has imported pydantic's models, `datasets` and a
tokenizer for its preview. Measured under Pilot on a 2-core machine (tests/measure_budgets.py), a full
collection took 130-240 ms and came every few seconds while keys were typed and choice lists opened:
every keystroke figure's maximum over the 50 ms budget (issue 17 item 9) was one of them.

What it does: once the user has paused (no key, paste or mouse event for `IDLE_SECONDS`), it collects
and then `gc.freeze()`s every object still alive. Frozen objects are never walked again, so the
collections Python starts on its own while the next keys are handled walk only what was made since: a
few milliseconds. A frozen object that later becomes part of unreachable cycle is not reclaimed by those
collections; a full pass (everything unfrozen, collected, frozen again) reclaims them, in a longer pause
and at most every `FULL_SECONDS`. Quitting unfreezes everything (tests run many apps in one process).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

IDLE_SECONDS = 0.3
"""A pause in the input this long lets the keeper collect: often enough that little is left unfrozen
between two passes, so that each takes a few milliseconds (a key arriving during one waits that long)."""
FREEZE_SECONDS = 30.0
"""Without input (following a live run), collect and freeze this often, so what the screens keep
making does not pile up unfrozen."""
FULL_SECONDS = 600.0
"""The full pass (everything unfrozen and walked: a pause of a fifth of a second) runs at most this often,
and only after the input has been quiet for `FULL_IDLE_SECONDS`."""
FULL_IDLE_SECONDS = 5.0


class HeapKeeper:
    """Decides when to collect; the app calls `touch` on input and `tick` about once a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        now = clock()
        self._last_input = now
        self._last_freeze: float | None = None
        """When the last collection and freeze ran (None: not yet)."""
        self._last_full = now
        self._input_since_freeze = True
        self.quick_passes = 0
        """Collections of what was not frozen yet, so far."""
        self.full_passes = 0
        """Collections of everything, so far."""

    def touch(self) -> None:
        """Input arrived (a key, a paste, the mouse)."""
        self._last_input = self.clock()
        self._input_since_freeze = True

    def tick(self) -> None:
        """Collect and freeze if the input has paused long enough and there is something to do."""
        now = self.clock()
        idle = now - self._last_input
        if idle >= FULL_IDLE_SECONDS and now - self._last_full >= FULL_SECONDS:
            self._last_full = now
            gc.unfreeze()
            self._collect_and_freeze(now)
            self.full_passes += 1
            return
        if idle < IDLE_SECONDS:
            return
        stale = self._last_freeze is None or now - self._last_freeze >= FREEZE_SECONDS
        if self._input_since_freeze or stale:
            self._collect_and_freeze(now)
            self.quick_passes += 1

    def _collect_and_freeze(self, now: float) -> None:
        gc.collect()  # walks only what is not frozen, except in the full pass
        gc.freeze()
        self._last_freeze = now
        self._input_since_freeze = False

    @staticmethod
    def release() -> None:
        """Unfreeze everything (the app is quitting: what it leaves behind can be collected)."""
        gc.unfreeze()


__all__ = ["FREEZE_SECONDS", "FULL_IDLE_SECONDS", "FULL_SECONDS", "IDLE_SECONDS", "HeapKeeper"]
