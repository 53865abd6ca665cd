"""Exporting a run from the Runs screen: the choices dialog and the line with a progress bar that follows
the export job.

The export is an OS process (`jobs.export`, started detached by `jobs.export.launch`, the same job the CLI
runs); this module only starts it, asks it to stop, and reads `<run>/exports/status.json` (a small file
and a pid check, in a thread worker, every POLL_SECONDS while the Runs screen shows the run).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, ProgressBar, Select, Static

from screens.dialogs.confirm import ConfirmScreen, on_yes
from screens.formatting import RUN_STATE_STYLES, toast_id
from screens.widgets.ticks import TickBox
from workbench.jobdir import FINAL_STATES, JobView
from workbench.runs import RunDir, checkpoints, read_export_record

POLL_SECONDS = 0.5
FORMAT_CHOICES = (
    ("merged: safetensors for transformers, vLLM, serve", "merged"),
    ("gguf: Q8_0 + F16 for llama.cpp and Ollama", "gguf"),
    ("adapter: the LoRA adapter alone", "adapter"),
)


DIALOG_WORDS = (
    ("pass --force to replace it", 'tick "replace an existing export"'),
    ("choose another --out", "export elsewhere with the CLI's --out DIR"),
    ("write elsewhere with --out DIR", "export elsewhere with the CLI's --out DIR"),
    ("leave --checkpoint out for the final adapter", "leave the checkpoint empty for the final adapter"),
)
"""The export's refusals name the CLI's flags (`workbench.export`); the dialog says the same fix in the
dialog's own terms, and names a flag only for what the dialog cannot do (another output directory)."""


def in_dialog_words(message: str) -> str:
    """An export refusal with its CLI fix put the way the export dialog offers it."""
    for cli_words, dialog_words in DIALOG_WORDS:
        message = message.replace(cli_words, dialog_words)
    return message


@dataclass(frozen=True)
class ExportChoice:
    """What the dialog returns: the format, the checkpoint (None: the final adapter) and --force."""

    format: str
    checkpoint: int | None
    force: bool


class ExportDialog(ModalScreen[ExportChoice | None]):
    """Format, checkpoint and whether to replace an existing export."""

    DEFAULT_CSS = """
    ExportDialog {
        align: center middle;
        background: $background 60%;
        & > Vertical {
            width: 72; max-width: 95%; height: auto;
            border: thick $primary 70%; background: $surface; padding: 1 2;
        }
        & #export-title { text-style: bold; margin-bottom: 1; }
        & .export-label { color: $text-muted; }
        & Select, & Input { margin-bottom: 1; }
        & Horizontal { height: auto; align-horizontal: right; }
        & Button { margin-left: 2; }
    }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="export.cancel", tooltip="Close without exporting"),
    ]

    def __init__(self, run: RunDir, steps: list[int]) -> None:
        super().__init__()
        self.run = run
        self.steps = steps

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Export {self.run.run_id}", id="export-title")
            yield Static("format", classes="export-label")
            yield Select(FORMAT_CHOICES, value="merged", allow_blank=False, id="export-format", compact=True)
            have = ", ".join(map(str, self.steps)) or "none"
            yield Static(
                f"checkpoint (empty: the final adapter; complete ones: {have})", classes="export-label"
            )
            yield Input(placeholder="final adapter", id="export-checkpoint", compact=True)
            # a TickBox: a plain Checkbox shows `X` both on and off
            yield TickBox("replace an existing export (--force)", id="export-force", compact=True)
            yield Static("", id="export-problem")
            with Horizontal():
                yield Button("Cancel (esc)", id="export-no", compact=True)
                yield Button("Export", id="export-yes", variant="primary", compact=True)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#export-no")
    def handle_cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#export-yes")
    @on(Input.Submitted, "#export-checkpoint")
    def handle_export_pressed(self) -> None:
        raw = self.query_one("#export-checkpoint", Input).value.strip().removeprefix("checkpoint-")
        if raw and (not raw.isdigit() or int(raw) not in self.steps):
            have = ", ".join(map(str, self.steps)) or "none"
            self.query_one("#export-problem", Static).update(
                Text(
                    f"checkpoint {raw!r} is not a complete one ({have}); leave it empty for the adapter",
                    "red",
                )
            )
            return
        fmt = str(self.query_one("#export-format", Select).value)
        force = self.query_one("#export-force", Checkbox).value
        self.dismiss(ExportChoice(fmt, int(raw) if raw else None, force))


class ExportPanel(Horizontal):
    """One line under the runs table: the selected run's export (state, stage, percent, bar, where it
    went or why it failed). Hidden while the run was never exported."""

    DEFAULT_CSS = """
    ExportPanel {
        height: 1; display: none; padding: 0 1;
        & #export-line { width: 1fr; }
        & ProgressBar { width: 30; }
    }
    """

    @dataclass
    class Read(Message):
        """The export status of `run_id` was read."""

        run_id: str
        view: JobView | None
        output: str

    def __init__(self, root: Path, id: str | None = None) -> None:
        super().__init__(id=id)
        self.root = root
        self.run_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="export-line")
        yield ProgressBar(total=100, show_eta=False, id="export-bar")

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self._poll)

    def follow(self, run_id: str | None) -> None:
        """Show `run_id`'s export (None: nothing)."""
        if run_id != self.run_id:
            self.run_id = run_id
            self.display = False
            self._poll()

    def _poll(self) -> None:
        if self.run_id is not None:
            self._read(self.run_id)

    @work(thread=True, exclusive=True, group="export-poll", description="read export", exit_on_error=False)
    def _read(self, run_id: str) -> None:
        job = RunDir(self.root / run_id).exports
        view = job.resolve() if job.status.is_file() else None
        output = ""
        if view is not None and view.state == "completed":
            found = [p for p in job.path.iterdir() if p.is_dir() and not p.name.startswith(".")]
            newest = max(found, key=lambda p: p.stat().st_mtime, default=None) if found else None
            record = read_export_record(newest) if newest else None
            if newest is not None and record is not None:
                # relative to the run: the whole path is in export.json and the CLI, and a long one here
                # would be cut to nothing on one line
                where = (
                    newest.relative_to(job.path.parent) if newest.is_relative_to(job.path.parent) else newest
                )
                output = f"{record.format} → {where} ({record.bytes / 2**20:.1f} MiB)"
        self.post_message(self.Read(run_id, view, output))

    @on(Read)
    def handle_read(self, event: Read) -> None:
        if event.run_id != self.run_id:
            return
        view = event.view
        self.display = view is not None
        if view is None:
            return
        state = view.state
        line = Text("export ", no_wrap=True, overflow="ellipsis")
        line.append(state, RUN_STATE_STYLES.get(state, ""))
        if state in FINAL_STATES:  # what the job wrote last (its process may still be winding down)
            tail = event.output if state == "completed" else (view.status.error or "").strip()
            line.append(" · " + tail.splitlines()[-1][:200] if tail else "")
        else:
            line.append(f" · {view.status.phase} · x cancels")
        self.query_one("#export-line", Static).update(line)
        bar = self.query_one("#export-bar", ProgressBar)
        bar.display = state not in FINAL_STATES  # an ended export's line takes the whole width
        bar.update(progress=view.status.step if view.status.step else 0)

    # ------------------------------------------------------------------------------------------ actions

    def request(self, run_id: str) -> None:
        """Export `run_id` (the dialog first), or, while it exports, ask to cancel that export."""
        run = RunDir(self.root / run_id)
        view = run.exports.resolve() if run.exports.status.is_file() else None
        if view is not None and view.state not in FINAL_STATES:
            self.app.push_screen(
                ConfirmScreen(
                    f"Cancel the export of {run_id}?", "Nothing half written is kept.", yes="Cancel it"
                ),
                on_yes(lambda: self._cancel(run_id)),
            )
            return
        steps = [step for step, _, ok in checkpoints(run) if ok]

        def chosen(choice: ExportChoice | None) -> None:
            if choice is not None:
                self._launch(run_id, choice)

        self.app.push_screen(ExportDialog(run, steps), chosen)

    @work(thread=True, exclusive=True, group="export-launch", description="start export", exit_on_error=False)
    def _launch(self, run_id: str, choice: ExportChoice) -> None:
        from jobs.export import ExportBusy, ExportError, launch

        run = RunDir(self.root / run_id)
        try:
            process = launch(run, choice.format, checkpoint=choice.checkpoint, force=choice.force)
        except (ExportError, ExportBusy) as exc:
            message = in_dialog_words(str(exc)).replace(run_id, toast_id(run_id))  # two rows at 80 columns
            self.app.call_from_thread(self.app.notify, message, title="export", severity="error")
            return
        self.app.call_from_thread(
            self.app.notify,
            f"exporting {toast_id(run_id)} as {choice.format} (pid {process.pid})",
            title="export",
        )
        self.follow_now(run_id)

    def follow_now(self, run_id: str) -> None:
        self._read(run_id)

    @work(
        thread=True, exclusive=True, group="export-cancel", description="cancel export", exit_on_error=False
    )
    def _cancel(self, run_id: str) -> None:
        from jobs.export import cancel

        state = cancel(RunDir(self.root / run_id))
        self.app.call_from_thread(self.app.notify, f"export of {toast_id(run_id)}: {state}", title="export")
