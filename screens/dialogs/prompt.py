"""Ask for a file path (save / load a config): `ModalScreen[Path | None]`, None when cancelled."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class PathPromptScreen(ModalScreen[Path | None]):
    """One Input prefilled with a suggestion; Enter accepts, Escape cancels."""

    DEFAULT_CSS = """
    PathPromptScreen {
        align: center middle;
        background: $background 60%;
        & > Vertical {
            width: 80;
            max-width: 95%;
            height: auto;
            border: thick $primary 70%;
            background: $surface;
            padding: 1 2;
        }
        & #prompt-title { text-style: bold; }
        & #prompt-hint { color: $text-muted; }
        & Input { margin: 1 0 0 0; }
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel", tooltip="Close without a path")]

    def __init__(self, title: str, suggestion: Path, hint: str = "Enter accepts, Escape cancels.") -> None:
        """A prompt titled `title`, prefilled with `suggestion`."""
        super().__init__()
        self.prompt_title = title
        self.suggestion = suggestion
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.prompt_title, id="prompt-title")
            yield Static(self.hint, id="prompt-hint")
            yield Input(str(self.suggestion), id="prompt-path", compact=True)

    @on(Input.Submitted, "#prompt-path")
    def handle_path_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(Path(value).expanduser() if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
