"""A log whose lines wrap to its width: train.log's lines read whole in a pane 40 columns wide.

Textual's `Log` never wraps: at 80x24 each line was cut at the pane's edge and only a horizontal scrollbar
said there was more. `RichLog(wrap=True)` wraps each line at the width it had when written and keeps the
result, so a wider or narrower terminal would show lines wrapped for another width; this one keeps the
lines as text and wraps them again when its width changes (a resize, a view that shows the pane).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.widgets import RichLog

ROWS_PER_LINE = 4
"""Rows kept per line kept, on average: the rows held are capped at `max_lines` times this (a line of
train.log is cut at 400 characters by the follower: ten rows at 40 columns, most take one or two)."""


class WrappedLog(RichLog):
    """The last `max_lines` lines of a log, each wrapped whole to the width (no horizontal scrolling)."""

    DEFAULT_CSS = """
    WrappedLog {
        overflow-x: hidden;
        /* the wrap width never changes when the vertical scrollbar comes or goes */
        scrollbar-gutter: stable;
    }
    """

    def __init__(self, max_lines: int, *, id: str | None = None, classes: str | None = None) -> None:
        """An empty log keeping the last `max_lines` lines."""
        super().__init__(
            max_lines=max_lines * ROWS_PER_LINE,
            wrap=True,
            markup=False,
            highlight=False,
            auto_scroll=False,
            id=id,
            classes=classes,
        )
        self.kept: deque[str] = deque(maxlen=max_lines)
        """The lines as written: wrapped again at a new width."""
        self._wrapped_width = 0

    def write_lines(self, lines: Iterable[str], scroll_end: bool = False) -> None:
        """Append `lines` (one render for the batch), scrolling to the end when `scroll_end`; before the
        first size is known they are only kept (the first resize wraps them)."""
        batch = list(lines)
        if not batch:
            return
        self.kept.extend(batch)
        if self._wrapped_width:
            self.write(_as_text(batch), width=self._text_width(), scroll_end=scroll_end)

    def clear(self) -> WrappedLog:
        """Forget every line."""
        self.kept.clear()
        super().clear()
        return self

    def _text_width(self) -> int:
        """The columns a line wraps to: the width less the vertical scrollbar's (always reserved)."""
        return max(1, self._wrapped_width - self.styles.scrollbar_size_vertical)

    def _on_resize(self, event: events.Resize) -> None:
        """Wrap the kept lines again at a new width. The width is passed to each write: the one RichLog
        measures when the size first becomes known can be a layout pass out of date (lines written
        while the pane was hidden at 80x24 wrapped at 72 columns in a pane of 40)."""
        width = event.size.width
        if width == self._wrapped_width or width <= 0:
            return
        at_end = not self._wrapped_width or self.is_vertical_scroll_end
        self._wrapped_width = width
        super().clear()
        if self.kept:
            self.write(_as_text(list(self.kept)), width=self._text_width(), scroll_end=at_end)


def _as_text(lines: list[str]) -> Text:
    """The lines as one Text: a word longer than the width folds instead of being cut."""
    return Text("\n".join(lines), overflow="fold", end="")
