"""A yes/no question as a typed modal: `push_screen(ConfirmScreen(...), callback)` gets True or False;
`on_yes(action)` is the callback that runs `action` on Yes only."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def on_yes(action: Callable[[], object]) -> Callable[[bool | None], None]:
    """The `push_screen` callback of a ConfirmScreen that runs `action` when the answer is Yes (No,
    Escape and a dismissed dialog do nothing)."""

    def answered(answer: bool | None) -> None:
        if answer:
            action()

    return answered


class ConfirmScreen(ModalScreen[bool]):
    """Ask before something that cannot be undone or interrupts work (stop, delete)."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        background: $background 60%;
        & > Vertical {
            width: 64;
            max-width: 95%;
            height: auto;
            border: thick $warning 70%;
            background: $surface;
            padding: 1 2;
        }
        & #confirm-question { text-style: bold; margin-bottom: 1; }
        & #confirm-detail { color: $text-muted; margin-bottom: 1; }
        & Horizontal { height: auto; align-horizontal: right; }
        & Button { margin-left: 2; }
    }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Answer yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Answer no (nothing happens)"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes", no: str = "No") -> None:
        """A question with an optional line of detail and the labels of the two buttons."""
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="confirm-question")
            if self.detail:
                yield Static(self.detail, id="confirm-detail")
            with Horizontal():
                yield Button(f"{self.no_label} (n)", id="confirm-no", compact=True)
                yield Button(f"{self.yes_label} (y)", id="confirm-yes", variant="warning", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed, "#confirm-yes")
    def handle_yes_pressed(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def handle_no_pressed(self) -> None:
        self.dismiss(False)
