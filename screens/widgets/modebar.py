"""The top line of every mode: the app's name and every mode with its key, the current one highlighted."""

from __future__ import annotations

from rich.text import Text
from textual.events import Click
from textual.widget import Widget

from screens.context import ModeKey, screen_context


class ModeBar(Widget):
    """`grpo-workbench  f2 Configure  f3 Runs  f4 Monitor  f5 Chat  f6 Evaluate`, one line.

    It replaces Textual's Header: the same line names the mode (highlighted) and shows how to reach every
    other one, which the footer cannot hold at 80 columns beside a screen's own keys. A click on a mode
    switches to it.
    """

    DEFAULT_CSS = """
    ModeBar {
        dock: top;
        height: 1;
        width: 1fr;
        background: $panel;
        color: $text-muted;
    }
    ModeBar > .modebar--app { text-style: bold; color: $text; }
    ModeBar > .modebar--key { color: $accent; text-style: bold; }
    ModeBar > .modebar--current { background: $accent 40%; color: $text; text-style: bold; }
    """
    COMPONENT_CLASSES = {"modebar--app", "modebar--key", "modebar--current"}

    def __init__(self, mode: str, *, id: str | None = None) -> None:
        """The bar of the screen of `mode` (a name of `switch_mode`)."""
        super().__init__(id=id)
        self.mode = mode
        """The mode this bar's screen belongs to (highlighted)."""
        self._spans: list[tuple[int, int, str]] = []

    def modes(self) -> list[ModeKey]:
        return screen_context(self.app).services.mode_keys()

    def render(self) -> Text:
        app_style = self.get_component_rich_style("modebar--app")
        key_style = self.get_component_rich_style("modebar--key")
        current_style = self.get_component_rich_style("modebar--current")
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f" {self.app.title} ", app_style)
        self._spans = []
        for mode in self.modes():
            line.append(" ")
            start = line.cell_len
            if mode.name == self.mode:
                line.append(f" {mode.key} {mode.title} ", current_style)
            else:
                line.append(f" {mode.key} ", key_style)
                line.append(f"{mode.title} ")
            self._spans.append((start, line.cell_len, mode.name))
        return line

    def on_click(self, event: Click) -> None:
        for start, end, name in self._spans:
            if start <= event.x < end and name != self.mode:
                self.app.switch_mode(name)


__all__ = ["ModeBar"]
