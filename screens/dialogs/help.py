"""The help screen: every key of the app and of each mode, generated from the bindings themselves."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True)
class KeySection:
    """A titled group of (keys, what they do) rows."""

    title: str
    rows: tuple[tuple[str, str], ...]


class HelpScreen(ModalScreen[None]):
    """Lists the keys; Escape, q or F1 closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
        & > Vertical {
            width: 90;
            max-width: 98%;
            height: 90%;
            border: thick $primary 70%;
            background: $surface;
            padding: 0 1;
        }
        & #help-title { text-style: bold; padding: 0 1; }
        & #help-footer { color: $text-muted; padding: 0 1; }
    }
    """
    BINDINGS = [
        Binding(
            "escape,q,f1,question_mark", "dismiss", "Close", id="help.close", tooltip="Close the help screen"
        )
    ]

    def __init__(self, sections: list[KeySection], intro: str = "") -> None:
        """Help listing `sections`, with an optional introduction line."""
        super().__init__()
        self.sections = sections
        self.intro = intro

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("grpo-workbench keys", id="help-title")
            with VerticalScroll(id="help-body"):
                if self.intro:
                    yield Static(self.intro, id="help-intro")
                for section in self.sections:
                    table = Table(
                        title=Text(section.title, style="bold"),
                        title_justify="left",
                        show_header=False,
                        box=None,
                        expand=True,
                        padding=(0, 1),
                    )
                    table.add_column("key", style="bold", width=18, no_wrap=True)
                    table.add_column("action", ratio=1)
                    for keys, description in section.rows:
                        table.add_row(keys, description)
                    yield Static(table, classes="help-section")
            yield Static(
                "Escape closes · Ctrl+P opens the command palette (attach:, stop:, resume: <run>)",
                id="help-footer",
            )

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
