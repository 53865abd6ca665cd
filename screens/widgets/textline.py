"""A line of text that repaints without a layout pass (Static.update always re-lays out the screen), or,
for a message that must be read whole (why a run failed, what is wrong with a config), a few lines that
wrap to the width and grow only when the number of lines changes."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.reactive import reactive
from textual.widget import Widget

ELLIPSIS = "…"


class TextLine(Widget):
    """A fixed-height line of text for values that change several times a second (step, rate, state).

    Its size never depends on the text, so a change repaints this widget alone; on a Monitor following a
    fast run that is the difference between a few percent of a core and three times that.

    With `wrap=True` the text wraps at word boundaries (a path or another long word folds) into as many
    lines as it needs, up to `max_lines` (the last one then ends with `…`): the widget sets its own
    height, so a layout pass happens only when the count of lines changes, not at every update.
    """

    DEFAULT_CSS = """
    TextLine {
        height: 1;
        width: 1fr;
    }
    """

    text: reactive[str | Text] = reactive("", layout=False)
    """What the line shows (plain text or Rich Text)."""

    def __init__(
        self,
        text: str | Text = "",
        *,
        wrap: bool = False,
        max_lines: int = 4,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """A line showing `text`.

        Args:
            text: What it shows first.
            wrap: Wrap to the width and grow to the lines needed, instead of one line cut with `…`.
            max_lines: With `wrap`, the most lines it grows to.
            id: The widget id.
            classes: CSS classes.
        """
        super().__init__(id=id, classes=classes)
        self.wrap = wrap
        self.max_lines = max(1, max_lines)
        self.set_reactive(TextLine.text, text)

    def render(self) -> Text:
        text = self.text
        line = text.copy() if isinstance(text, Text) else Text(text)
        if self.wrap and self.content_size.width > 0:
            return Text("\n").join(self.wrapped(self.content_size.width))
        line.no_wrap = True
        line.overflow = "ellipsis"
        return line

    def wrapped(self, width: int) -> list[Text]:
        """The text as it shows in `width` cells with `wrap`: at most `max_lines` lines, the last one
        ending with `…` when some of the text did not fit."""
        text = self.text
        line = text.copy() if isinstance(text, Text) else Text(text)
        line.end = ""
        lines = list(line.wrap(self.app.console, max(1, width), overflow="fold"))
        for row in lines:
            row.rstrip()
        if len(lines) > self.max_lines:
            lines = lines[: self.max_lines]
            last = lines[-1]
            last.truncate(max(0, width - len(ELLIPSIS)))
            last.append(ELLIPSIS)
        return lines or [Text()]

    def update(self, text: str | Text) -> None:
        """Show `text` (repaints only when it differs; lays out again only when a wrapping line's count
        of lines changes)."""
        if text != self.text:
            self.text = text
            self._fit_height()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_height()

    def _fit_height(self) -> None:
        """With `wrap`, make the height the lines the text needs at the current width (unknown, so left
        alone, before the first layout: the resize that follows it fits it)."""
        width = self.content_size.width
        if not self.wrap or width <= 0:
            return
        rows = len(self.wrapped(width)) + self.styles.gutter.height
        height = self.styles.height
        if height is None or height.cells != rows:
            self.styles.height = rows
