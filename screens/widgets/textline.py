"""A one-line text that repaints without a layout pass (Static.update always re-lays out the screen)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class TextLine(Widget):
    """A fixed-height line of text for values that change several times a second (step, rate, state).

    Its size never depends on the text, so a change repaints this widget alone; on a Monitor following a
    fast run that is the difference between a few percent of a core and three times that.
    """

    DEFAULT_CSS = """
    TextLine {
        height: 1;
        width: 1fr;
    }
    """

    text: reactive[str | Text] = reactive("", layout=False)
    """What the line shows (plain text or Rich Text)."""

    def __init__(self, text: str | Text = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(TextLine.text, text)

    def render(self) -> Text:
        text = self.text
        line = text.copy() if isinstance(text, Text) else Text(text)
        line.no_wrap = True
        line.overflow = "ellipsis"
        return line

    def update(self, text: str | Text) -> None:
        """Show `text` (repaints only when it differs)."""
        if text != self.text:
            self.text = text
