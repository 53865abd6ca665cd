"""Compare: two or more runs marked in Runs, side by side: the settings that differ and their reward,
completion-length and loss curves overlaid, one colour per run.

Each run gets a letter (A, B, ...) and a colour, in the order the runs were marked; the key at the top
names them, the settings table has a column per letter, and each plot's legend (under the data, as in
the Monitor) gives every run's latest value. The runs are read once, in a thread (`workbench.compare`);
R reads them again (a live run moves on), Escape goes back to Runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from screens.context import screen_context
from screens.formatting import RUN_STATE_STYLES
from screens.widgets.footer import SteadyFooter
from screens.widgets.plots import PALETTE, RICH_COLOURS, Line, MetricPlot
from screens.widgets.rowtable import RowTable
from workbench.compare import COMPARED_METRICS, Comparison, compare_runs, format_config_value
from workbench.runs import RunDir

LETTERS = "ABCDEFGH"
"""The runs' names in the plots and the settings table (one per palette colour)."""
KEY_WIDTH = (12, 42)
"""The settings column fits the longest differing key within these bounds (the longest key of all,
`grpo.vllm_importance_sampling_correction`, is 40); at most a third of the screen."""


def plot_id(key: str) -> str:
    """The id of the plot of a metrics key: `reward` -> `compare-reward`."""
    return "compare-" + key.replace("/", "-").replace("_", "-")


class CompareScreen(Screen[None]):
    """Two or more runs side by side (pushed over Runs)."""

    CSS_PATH = str(Path(__file__).with_name("compare.tcss"))
    """Absolute, so subclasses defined elsewhere (tests, benchmarks) find it."""
    BINDINGS = [
        Binding("escape", "close", "Back", id="compare.close", tooltip="Back to Runs"),
        Binding(
            "r",
            "reload",
            "Reload",
            id="compare.reload",
            tooltip="Read the compared runs again (a live run has moved on)",
        ),
    ]

    def __init__(self, run_ids: Sequence[str]) -> None:
        """A comparison of `run_ids` (2 to `workbench.compare.MAX_COMPARED`, in this order)."""
        super().__init__()
        self.run_ids = tuple(run_ids)
        self.comparison: Comparison | None = None
        """What is shown, once read."""

    def compose(self) -> ComposeResult:
        yield Static("reading the runs…", id="compare-title")
        yield Static("", id="compare-key")
        yield RowTable(id="compare-diff")
        with Grid(id="compare-plots"):
            for title, key in COMPARED_METRICS:
                yield MetricPlot(title, id=plot_id(key))
        yield SteadyFooter(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Compare"
        self._load_comparison()

    @work(
        thread=True, exclusive=True, group="compare", description="read runs to compare", exit_on_error=False
    )
    def _load_comparison(self) -> Comparison:
        root = screen_context(self.app).runs_root
        return compare_runs([RunDir(root / run_id) for run_id in self.run_ids])

    @on(Worker.StateChanged)
    def handle_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The screen's one worker: its comparison is shown, its failure told (never a traceback)."""
        worker = event.worker
        if worker.state == WorkerState.ERROR:
            self.query_one("#compare-title", Static).update(f"cannot compare: {worker.error}")
            self.notify(f"{worker.description}: {worker.error}", severity="error")
        elif worker.state == WorkerState.SUCCESS and isinstance(worker.result, Comparison):
            self.show(worker.result)

    def show(self, comparison: Comparison) -> None:
        """Put `comparison` on screen: title, run key, settings that differ, and the three plots."""
        self.comparison = comparison
        runs = comparison.runs
        letters = LETTERS[: len(runs)]
        title = Text.assemble(
            (f"Comparing {len(runs)} runs", "bold"),
            f" · {len(comparison.differences)} of {comparison.keys} settings differ",
        )
        self.query_one("#compare-title", Static).update(title)
        key = Text(no_wrap=True, overflow="ellipsis")
        for index, run in enumerate(runs):
            if index:
                key.append("\n")
            key.append(f"━ {letters[index]} ", _colour(index))
            key.append(run.run_id, "bold")
            key.append(f"  {run.model} · ")
            key.append(run.state, RUN_STATE_STYLES.get(run.state, ""))
            key.append(f" {run.step}/{run.max_steps or '?'}")
            if run.latest_reward is not None:
                key.append(f" · reward {run.latest_reward:.3f}")
        self.query_one("#compare-key", Static).update(key)
        self._fill_table(letters)
        with self.app.batch_update():
            for title_, metric in COMPARED_METRICS:
                lines = [
                    Line(letters[i], *run.curves.get(metric, ([], [])), color=PALETTE[i])
                    for i, run in enumerate(runs)
                ]
                self.query_one(f"#{plot_id(metric)}", MetricPlot).draw(title_, lines)

    def _fill_table(self, letters: str) -> None:
        comparison = self.comparison
        if comparison is None:
            return
        table = self.query_one("#compare-diff", DataTable)
        table.clear(columns=True)
        longest = max((len(d.key) for d in comparison.differences), default=0) + 2
        low, high = KEY_WIDTH
        key_width = max(low, min(high, longest, self.app.size.width // 3))
        width = max(40, self.app.size.width) - key_width - 4
        column = max(8, width // max(1, len(letters)) - 2)
        table.add_column("setting", width=key_width, key="setting")
        for index, letter in enumerate(letters):
            table.add_column(Text(letter, _colour(index)), width=column, key=letter)
        if not comparison.differences:
            table.add_row(Text("every setting is the same", "dim"), *([""] * len(letters)))
            return
        for difference in comparison.differences:
            table.add_row(
                difference.key,
                *(format_config_value(value) for value in difference.values),
                key=difference.key,
            )

    def on_resize(self) -> None:
        if self.comparison is not None:
            self._fill_table(LETTERS[: len(self.comparison.runs)])

    def action_close(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self._load_comparison()


def _colour(index: int) -> str:
    """The Rich colour of the run at `index` (its line colour in the plots)."""
    return RICH_COLOURS.get(PALETTE[index % len(PALETTE)], "")
