"""Keys are handled one at a time, in the order they arrive, each to the end: an App mixin.

Why: Textual hands a key to the focused widget, which handles printable characters itself (an Input
inserts them at once), while bound keys (Backspace, the arrows, Home, Tab, Enter...) bubble back up to
the app, whose queue only then runs the binding. Keys that arrive in one burst, as they do over SSH, are
all forwarded before the first bound one comes back, so a Backspace lands after the characters typed
behind it and a Tab after the characters meant for the next field: `abcdefghijkl`, 12 Backspaces and
`myrun-rank16` in one read came out `abcdefgmyrun`. Any per-keystroke work (Configure re-validates the
form) widens the window. Textual's own issue: Textualize/textual#6605.

The fix here is a barrier: a key (or a paste) is dispatched only after the one before it has been
handled by the widget it went to, by that widget's ancestors and by the bindings. Behind each key the app
posts a `KeyHandled` marker to the same widget; it follows the key through the same queues (bubbling),
so its arrival at the app means the key's journey is over; once what that asked of the app is done too
(a focus change is queued on the app), the next held key goes. A marker that
never comes back (its widget was removed on the way) releases the barrier after `KEY_RELEASE_SECONDS`.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Generic, TypeVar

from textual import events
from textual.app import App
from textual.message import Message
from textual.timer import Timer

KEY_RELEASE_SECONDS = 0.5
"""A key still unhandled after this long no longer holds the keys behind it (its marker was lost with
a widget removed on the way). Legitimate handling takes milliseconds; a handler that blocks the event
loop delays this timer as well, so it cannot cut in while a key is truly being handled."""


ReturnType = TypeVar("ReturnType")


class KeyHandled(Message):
    """A marker posted behind a key: when it reaches the app, the key before it has been handled."""

    def __init__(self, serial: int) -> None:
        super().__init__()
        self.serial = serial
        """The number of the key it follows."""


class InOrderKeys(App[ReturnType], Generic[ReturnType]):
    """An App whose keys and pastes are handled strictly in arrival order (see the module docstring).

    Subclass it instead of `App`: `class MyApp(InOrderKeys[None])`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_input: deque[events.Key | events.Paste] = deque()
        self._input_serial = 0
        self._input_in_flight: float | None = None
        """When the key in flight was dispatched (monotonic), or None when none is."""
        self._release_timer: Timer | None = None

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if self._input_in_flight is not None:
                self._held_input.append(event)
                self._arm_release_timer()
                return
            await self._dispatch_input(event)
            return
        await super().on_event(event)

    async def _on_message(self, message: Message) -> None:
        # KeyHandled is a Message, not an Event: it arrives here, not in on_event.
        if isinstance(message, KeyHandled):
            # Once more through the app's queue: what the key's handling asked of the app (a focus
            # change is a `call_later`, as when Enter opens a Select's list) is done before the next key.
            self.call_later(self._input_handled, message.serial)
            return
        await super()._on_message(message)

    async def _dispatch_input(self, event: events.Key | events.Paste) -> None:
        """Hand one key or paste to Textual as usual, then send its marker after it."""
        self._input_serial += 1
        serial = self._input_serial
        self._input_in_flight = time.monotonic()
        await super().on_event(event)  # priority bindings, else forwarded to the focused widget
        if serial != self._input_serial or self._input_in_flight is None:
            return  # released meanwhile (a priority binding that waited long enough for the timer)
        target = self.focused or (self.screen if self._screen_stack else None)
        if target is None or not target.post_message(KeyHandled(serial)):
            await self._input_handled(serial)

    async def _input_handled(self, serial: int) -> None:
        """The key numbered `serial` is handled: dispatch the held ones, one at a time."""
        if serial != self._input_serial:
            return  # the marker of a key already released by the timer
        self._input_in_flight = None
        while self._held_input and self._input_in_flight is None:
            await self._dispatch_input(self._held_input.popleft())

    def _arm_release_timer(self) -> None:
        if self._release_timer is None:
            self._release_timer = self.set_timer(KEY_RELEASE_SECONDS, self._release_if_stuck)

    async def _release_if_stuck(self) -> None:
        self._release_timer = None
        started = self._input_in_flight
        if started is None:
            return
        if time.monotonic() - started >= KEY_RELEASE_SECONDS:
            await self._input_handled(self._input_serial)
        if self._held_input:
            self._arm_release_timer()


__all__ = ["KEY_RELEASE_SECONDS", "InOrderKeys", "KeyHandled"]
