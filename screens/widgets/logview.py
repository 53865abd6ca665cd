"""A log whose lines wrap to its width: train.log's lines read whole in a pane 40 columns wide.

Textual's `Log` never wraps: at 80x24 each line was cut at the pane's edge and only a horizontal scrollbar
said there was more. `RichLog(wrap=True)` wraps each line at the width it had when written and keeps the
result, so a wider or narrower terminal would show lines wrapped for another width; this one keeps the
lines as text and wraps them again when its width changes (a resize, a view that shows the pane).

It follows its end until the user scrolls away from it. Asking the scroll position instead
(`is_vertical_scroll_end`) stopped the following after `v` or a terminal resize: a new height or width
moves the end away from a pane that sat at it, though nobody scrolled (a review saw train.log reach step
110 while the pane stayed at step 82).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.scrollbar import ScrollDown, ScrollTo, ScrollUp
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
        self.following = True
        """Whether new lines scroll the pane to its end: false only once the user scrolls up or home,
        true again when they go back to the end (End, or scrolling down onto it)."""

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> None:
        """Append `lines` (one render for the batch), scrolling to the end when `scroll_end` (None: when
        the pane is following); before the first size is known they are only kept (the first resize
        wraps them)."""
        batch = list(lines)
        if not batch:
            return
        self.kept.extend(batch)
        if scroll_end is None:
            scroll_end = self.following
        if self._wrapped_width:
            self.write(_as_text(batch), width=self._text_width(), scroll_end=scroll_end)

    def follow(self) -> None:
        """Scroll to the end and keep following it."""
        self.following = True
        self.scroll_end(animate=False)

    # the user's scrolling, the only thing that starts or stops the following
    def action_scroll_up(self) -> None:
        self.following = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.following = False
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.following = False
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self.following = True
        super().action_scroll_end()

    def action_scroll_down(self) -> None:
        super().action_scroll_down()
        self._follow_at_end()

    def action_page_down(self) -> None:
        super().action_page_down()
        self._follow_at_end()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.following = False
        super()._on_mouse_scroll_up(event)

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        super()._on_mouse_scroll_down(event)
        self._follow_at_end()

    def _on_scroll_to(self, message: ScrollTo) -> None:
        """The scrollbar dragged: following where it was let go at the end."""
        super()._on_scroll_to(message)
        if message.y is not None:
            self.following = message.y >= self.max_scroll_y

    def _on_scroll_up(self, event: ScrollUp) -> None:
        self.following = False
        super()._on_scroll_up(event)

    def _on_scroll_down(self, event: ScrollDown) -> None:
        super()._on_scroll_down(event)
        self._follow_at_end()

    def _follow_at_end(self) -> None:
        """Following again once a scroll down is headed for the end (scrolls may be animated: the
        target, not the position now, says where it goes)."""
        if self.scroll_target_y >= self.max_scroll_y:
            self.following = True

    def clear(self) -> WrappedLog:
        """Forget every line (a new log: followed from its end)."""
        self.kept.clear()
        self.following = True
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
        if width <= 0:
            return
        if width == self._wrapped_width:
            if self.following:  # a new height: the end moved
                self.scroll_end(animate=False)
            return
        self._wrapped_width = width
        super().clear()
        if self.kept:
            self.write(_as_text(list(self.kept)), width=self._text_width(), scroll_end=self.following)


def _as_text(lines: list[str]) -> Text:
    """The lines as one Text: a word longer than the width folds instead of being cut."""
    return Text("\n".join(lines), overflow="fold", end="")
