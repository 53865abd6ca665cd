"""Multi-line text boxes: a TextArea that leaves the mode keys alone, and Chat's question box."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

MODE_KEYS = frozenset({"f2", "f3", "f4", "f5", "f6"})
"""The app's mode keys, which work everywhere (TextArea binds F5-F7 to select a word, a line, all)."""


def _without_mode_keys(bindings: list[BindingType]) -> list[BindingType]:
    kept: list[BindingType] = []
    for binding in bindings:
        if not isinstance(binding, Binding):
            kept.append(binding)
            continue
        keys = [key.strip() for key in binding.key.split(",")]
        left = [key for key in keys if key not in MODE_KEYS]
        if left:
            kept.append(replace(binding, key=",".join(left)))
    return kept


def fill(area: TextArea, text: str) -> None:
    """Replace the area's text with `text`, the cursor after it: setting `text` alone leaves the cursor at
    the start, so what the user types next went before the text filled in (Try the rewards' Ctrl+R put
    typing before `<thinking>`)."""
    area.text = text
    area.move_cursor(area.document.end)


class TextBox(TextArea, inherit_bindings=False):
    """A TextArea whose F5 and F6 switch modes, as everywhere else, instead of selecting text."""

    BINDINGS: ClassVar[list[BindingType]] = _without_mode_keys(TextArea.BINDINGS)


class QuestionBox(TextBox):
    """Chat's question: several lines, pasted text arrives whole; Enter sends, and a new line is the
    screen's `chat.newline` key (Ctrl+J: every terminal sends it apart from Enter)."""

    @dataclass
    class Submitted(Message):
        """Enter was pressed in the box: ask `value`."""

        box: QuestionBox
        value: str

        @property
        def control(self) -> QuestionBox:
            return self.box

    @property
    def value(self) -> str:
        """The question as typed (the text)."""
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.text = text

    async def _on_key(self, event: events.Key) -> None:
        # TextArea's own handler inserts a newline for Enter; here Enter sends. Preventing the default
        # stops the handler lookup before TextArea's (Textual calls each class's `_on_key` in turn).
        if event.key == "enter" and not self.read_only:
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))

    def new_line(self) -> None:
        """Insert a line break at the cursor."""
        start, end = self.selection
        self._replace_via_keyboard("\n", start, end)


__all__ = ["QuestionBox", "TextBox"]
