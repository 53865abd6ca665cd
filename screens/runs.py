"""Runs: every run under the runs home, live and past, with attach, stop, resume, delete and export;
runs marked with Space are compared (C), and L clones the selected run into Configure.

The list comes from the app's periodic scan (a thread worker); this screen only shows it. Actions go
through the app, which asks for confirmation where a run would be interrupted or lost.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from screens.context import ScreenContext, screen_context
from screens.export import ExportPanel
from screens.formatting import RUN_STATE_STYLES, plural, shorten_middle
from screens.modescreen import ModeScreen
from screens.widgets.footer import SteadyFooter
from screens.widgets.modebar import ModeBar
from screens.widgets.rowtable import RowTable
from workbench.jobdir import FINAL_STATES
from workbench.runs import HealthAlert, RunInfo

COLUMNS = (("run", 28), ("state", 9), ("step", 9), ("reward", 7), ("model", 12), ("age", 4))
"""(label, width): fixed widths (the run column grows to the longest id, as far as the table's width
leaves room for every other column) so the table never jitters."""
MAX_RUN_WIDTH = 48
MIN_RUN_WIDTH = 16
"""The run column never shrinks below this (the markers and the id's date)."""
RUN_MARKERS = 4
"""Cells before the id in the run column: attached, marked, health, a space."""
SCROLLBAR = 2
"""Kept free for the table's vertical scrollbar (more runs than rows)."""
WIDE = 90
"""Below this many columns the model column is left out (the detail line names the model)."""


def format_age(seconds: float | None) -> str:
    """`42s`, `5m`, `3h`, `2d`: the largest whole unit."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def state_text(state: str) -> Text:
    """The state coloured by what it means for the user (the Monitor's colours)."""
    return Text(state, RUN_STATE_STYLES.get(state, ""))


def attempt_line(info: RunInfo, now: float) -> str:
    """The run's age from its creation and, after a resume, the attempt's: `created 3d ago · attempt 2
    started 5m ago`; a finished attempt adds how long it ran (`· ran 12m`)."""
    parts = []
    if info.created_at is not None:
        parts.append(f"created {format_age(now - info.created_at)} ago")
    if info.attempt > 1 and info.started_at is not None:
        parts.append(f"attempt {info.attempt} started {format_age(now - info.started_at)} ago")
    finished = info.state in FINAL_STATES and not info.alive
    if finished and info.finished_at is not None and info.started_at is not None:
        parts.append(f"ran {format_age(info.finished_at - info.started_at)}")
    return " · ".join(parts)


def health_mark(info: RunInfo, alert: HealthAlert | None = None) -> Text:
    """`✖` (red) for an error among the run's health alerts (or `alert`), `⚠` (yellow) for warnings,
    a space when there are none."""
    alerts = (alert,) if alert is not None else info.health
    if any(a.severity == "error" for a in alerts):
        return Text("✖", "bold red")
    return Text("⚠", "bold yellow") if alerts else Text(" ")


class RunsScreen(ModeScreen):
    """The runs table."""

    CSS_PATH = str(Path(__file__).with_name("runs.tcss"))
    """Absolute, so subclasses defined elsewhere (tests, benchmarks) find it."""
    BINDINGS = [
        Binding(
            "enter", "attach_run", "Attach", id="runs.attach", tooltip="Follow the selected run in Monitor"
        ),
        Binding("s", "stop_run", "Stop", id="runs.stop", tooltip="Stop the selected run (asks first)"),
        Binding(
            "r",
            "resume_run",
            "Resume",
            id="runs.resume",
            tooltip="Resume the selected run from its last checkpoint (asks first if it has none)",
        ),
        Binding(
            "d,delete",
            "delete_run",
            "Delete",
            id="runs.delete",
            tooltip="Delete the selected run's directory (asks first; live runs must be stopped)",
        ),
        Binding(
            "x",
            "export_run",
            "Export",
            id="runs.export",
            tooltip="Export the selected run (merged, GGUF or adapter); during an export, cancel it",
        ),
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="runs.mark",
            show=False,  # the summary line says it; the footer keeps room at 80 columns
            tooltip="Mark or unmark the selected run for a comparison (✓ in the table)",
        ),
        Binding(
            "c",
            "compare_runs",
            "Compare",
            id="runs.compare",
            tooltip="Compare the marked runs: the settings that differ, reward, length and loss curves",
        ),
        Binding(
            "l",
            "clone_run",
            "Clone",
            id="runs.clone",
            tooltip="Clone with changes: Configure filled from the selected run (as `train --like RUN`)",
        ),
        # Short labels: with them the footer shows every key of this screen at 80 columns (the palette's
        # hint gives way there, screens/widgets/footer.py); the help and the tooltips say them whole.
        Binding("n", "new_run", "New", id="runs.new", tooltip="Configure and launch a new run"),
        Binding("g", "rescan", "Scan", id="runs.rescan", tooltip="Scan the runs home now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[RunInfo] = []
        self.marked: list[str] = []
        """The ids of the runs marked for a comparison, in the order they were marked."""
        self.run_width = COLUMNS[0][1]
        """The run column's width now (ids longer than it, less the markers, are shortened)."""

    @property
    def context(self) -> ScreenContext:
        """What this screen uses of the app: the runs home, the clock, the app's runs and actions."""
        return screen_context(self.app)

    def compose(self) -> ComposeResult:
        yield ModeBar("runs")
        yield Static("scanning runs…", id="runs-summary")
        yield RowTable(id="runs-table")
        yield Static("", id="runs-detail")
        yield ExportPanel(self.context.runs_root, id="runs-export")
        yield SteadyFooter(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Runs"
        self.watch(self.app, "runs", self._show_runs, init=True)

    def _columns(self) -> list[tuple[str, int]]:
        wide = self.app.size.width >= WIDE
        return [(label, width) for label, width in COLUMNS if wide or label != "model"]

    def _run_width(self, longest: int) -> int:
        """The run column's width: the longest id with its markers (at least the label's width, at most
        MAX_RUN_WIDTH), less what the other columns need of the table's width. A long id used to push
        `age` off the table at 80 columns; now the id gives way (shortened in its middle, whole on the
        detail line)."""
        table = self.query_one(DataTable)
        padding = 2 * table.cell_padding
        others = sum(width + padding for label, width in self._columns() if label != "run")
        room = (table.size.width or self.app.size.width) - SCROLLBAR - others - padding
        wanted = min(MAX_RUN_WIDTH, max(COLUMNS[0][1], longest + RUN_MARKERS))
        return max(MIN_RUN_WIDTH, min(wanted, room))

    def _set_columns(self, run_width: int) -> list[str]:
        """Make the columns fit the longest run id and the terminal; returns their labels."""
        table = self.query_one(DataTable)
        columns = self._columns()
        labels = [label for label, _ in columns]
        current = [str(key.value) for key in table.columns]
        if current == labels and table.columns[ColumnKey("run")].width == run_width:
            return labels
        table.clear(columns=True)
        for label, width in columns:
            table.add_column(label, width=run_width if label == "run" else width, key=label)
        return labels

    def on_resize(self) -> None:
        self._show_runs(self.infos)

    def _show_runs(self, infos: list[RunInfo]) -> None:
        """Fill the table with `infos`, the cursor kept on the run it was on (read before the list is
        replaced: read after, it named whichever run now stood at the old row, so a launch or a scan
        moved the cursor to another run and a quick d then y acted on it); where that run is gone, on
        the run that took its row."""
        table = self.query_one(DataTable)
        selected = self.selected.run.run_id if self.selected else None
        old_row = table.cursor_row
        self.infos = list(infos)
        ids = [info.run.run_id for info in self.infos]
        self.marked = [run_id for run_id in self.marked if run_id in ids]  # deleted runs drop out
        self.run_width = self._run_width(max((len(run_id) for run_id in ids), default=0))
        labels = self._set_columns(self.run_width)
        table.clear()
        now = self.context.clock()
        for info in self.infos:
            reward = f"{info.latest_reward:.3f}" if info.latest_reward is not None else ""
            step = f"{info.step}/{info.max_steps}" if info.max_steps else str(info.step)
            age = format_age(now - info.created_at) if info.created_at else ""
            attached = "▶" if info.run.run_id == self.context.services.attached else " "
            marked = Text("✓", "bold green") if info.run.run_id in self.marked else Text(" ")
            cells = {
                "run": Text.assemble(
                    attached,
                    marked,
                    health_mark(info),
                    " ",
                    shorten_middle(info.run.run_id, self.run_width - RUN_MARKERS),
                ),
                "state": state_text(info.state),
                "step": step,
                "reward": reward,
                "model": info.model,
                "age": age,
            }
            table.add_row(*(cells[label] for label in labels), key=info.run.run_id)
        if selected in ids:
            table.move_cursor(row=ids.index(selected), animate=False)
        elif ids and old_row >= 0:
            table.move_cursor(row=min(old_row, len(ids) - 1), animate=False)
        live = sum(1 for info in self.infos if info.alive)
        marks = f"{len(self.marked)} marked · C compares" if self.marked else "Space marks runs to compare"
        summary = (
            f"{plural(len(self.infos), 'run')}, {live} live · Enter attaches · {marks}"
            if self.infos
            else f"no runs yet under {self.context.runs_root}: press n (or F2) to configure one"
        )
        self.query_one("#runs-summary", Static).update(summary)
        self._show_detail()

    @property
    def selected(self) -> RunInfo | None:
        """The run under the cursor."""
        table = self.query_one(DataTable)
        if not self.infos or table.cursor_row < 0 or table.cursor_row >= len(self.infos):
            return None
        return self.infos[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def handle_row_highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected)
    def handle_row_selected(self) -> None:
        self.action_attach_run()

    def _show_detail(self) -> None:
        info = self.selected
        self.query_one(ExportPanel).follow(info.run.run_id if info else None)
        detail = self.query_one("#runs-detail", Static)
        if info is None:
            detail.update("")
            return
        # The phase says what a live run is doing; a finished one's is stale (`done` for a stopped run).
        live = info.alive or info.state not in FINAL_STATES
        doing = info.phase if live and info.phase else info.state
        run_id = info.run.run_id
        # the whole id where the table shortens it; else the label says which run it is
        name = run_id if len(run_id) > self.run_width - RUN_MARKERS else info.label or run_id
        text = Text.assemble(f"{name} · {info.model} · ", state_text(doing))
        when = attempt_line(info, self.context.clock())
        if when:
            text.append(f" · {when}")
        if info.error and (info.state != "completed" or info.status.supervisor_gone):
            text.append(" · " + info.error.strip().splitlines()[-1])
        for alert in info.health:
            text.append(" · ")
            text.append_text(health_mark(info, alert))
            text.append(f" {alert.title} since step {alert.since_step}")
        detail.update(text)

    def action_attach_run(self) -> None:
        if info := self.selected:
            self.context.services.attach_run(info.run.run_id)

    def action_stop_run(self) -> None:
        if info := self.selected:
            self.context.services.request_stop(info.run.run_id)

    def action_resume_run(self) -> None:
        if info := self.selected:
            self.context.services.request_resume(info.run.run_id)

    def action_delete_run(self) -> None:
        if info := self.selected:
            self.context.services.request_delete(info.run.run_id)

    def action_export_run(self) -> None:
        if info := self.selected:
            self.query_one(ExportPanel).request(info.run.run_id)

    def action_new_run(self) -> None:
        self.app.switch_mode("configure")

    def action_rescan(self) -> None:
        self.context.services.rescan()

    def action_toggle_mark(self) -> None:
        from workbench.compare import MAX_COMPARED  # pydantic: not before the first mark

        if (info := self.selected) is None:
            return
        run_id = info.run.run_id
        if run_id in self.marked:
            self.marked.remove(run_id)
        elif len(self.marked) >= MAX_COMPARED:
            self.notify(f"at most {MAX_COMPARED} runs are compared at once", severity="warning")
            return
        else:
            self.marked.append(run_id)
        self._show_runs(self.infos)

    def action_compare_runs(self) -> None:
        """Compare the marked runs; one marked run is compared with the selected one."""
        chosen = list(self.marked)
        if len(chosen) == 1 and (info := self.selected) and info.run.run_id not in chosen:
            chosen.append(info.run.run_id)
        if len(chosen) < 2:
            self.notify("mark two or more runs with Space first, then press C", severity="warning")
            return
        from screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(chosen))

    def action_clone_run(self) -> None:
        if info := self.selected:
            self.context.services.clone_run(info.run.run_id)
