"""Evaluate: held-out accuracy of a run's base model, checkpoints and final adapter, started from the TUI.

The evaluation is an OS process (`jobs.evaluate`, started detached by `jobs.evaluate.launch` from a
thread worker), never work inside the app: it loads torch and the model, the TUI must not. This screen
only reads what the job writes in `<run>/eval/`: progress.json every POLL_SECONDS (one small file and a
pid check, in a thread), and the eval-*.json results only when their sizes or times change. Cancel sends
the job SIGTERM; it finishes the batch in flight, keeps every finished row and marks the cut task partial,
so nothing is lost and no confirmation is asked.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    ProgressBar,
    Select,
    SelectionList,
    Static,
)
from textual.worker import Worker, WorkerState

from screens.context import ScreenContext, screen_context
from screens.formatting import STATE_STYLES, format_duration, toast_id
from screens.modescreen import ModeScreen
from screens.widgets.footer import SteadyFooter
from screens.widgets.modebar import ModeBar
from screens.widgets.plots import Line, MetricPlot
from screens.widgets.rowtable import RowTable
from screens.widgets.textline import TextLine
from screens.widgets.ticks import TickBox, TickList
from workbench.evaluation import (
    TargetError,
    available_targets,
    final_step,
    percent,
    percent_interval,
    resolve_targets,
    target_order,
    target_step,
    top_pass_at_k,
)
from workbench.flags import MIN_SAMPLES
from workbench.jobdir import JobState, judge_state
from workbench.runs import EvalProgress, EvalResult, RunDir

POLL_SECONDS = 0.5
"""How often progress.json is read while the screen is shown (a small file and a pid check)."""
EVAL_BAR_LINES = 6
"""The status bar wraps a failed evaluation's reason onto at most this many lines."""
COLUMNS = (
    ("target", 15),
    ("decoding", 10),
    ("accuracy 95% CI", 16),
    ("format 95% CI", 14),
    ("pass@k", 9),
    ("GSM", 5),
    ("MATH", 5),
    ("rows", 6),
)
"""(label, width) of the results table: fixed widths (each one wider than its longest text, as the table
has no cell padding) so it never jitters as results arrive and fits beside the form from STACKED_BELOW
columns. Format carries its interval like accuracy (on the offline demo it is where learning shows); the
mean length is left to `grpo-workbench eval` and summary.csv, and a partial result is marked in its
target cell (`name*`, in yellow), for want of room."""
NARROW_COLUMNS = (
    ("target", 15),
    ("decoding", 10),
    ("acc 95% CI", 14),
    ("fmt 95% CI", 14),
    ("pass@k", 8),
    ("GSM", 5),
    ("MATH", 5),
    ("rows", 6),
)
"""Below STACKED_BELOW columns the table spans the screen under the form: the same columns, tighter (77
cells and a 1-cell scrollbar), so 80 columns show all of them."""
STACKED_BELOW = 120
"""Narrower than this, the form goes above the results (class `-stacked`): beside them, the table would
be cut."""


def result_cells(result: EvalResult) -> tuple[str | Text, ...]:
    """One results-table row: target (`*` and yellow when partial), decoding, accuracy and format each with
    its 95% interval, pass@k at the largest k (sampling only; pass@1 is the accuracy), GSM and MATH
    accuracy, and rows done of total."""
    overall = result.overall
    return (
        # `*` as in the CLI's table, so a partial result reads as such without colour too
        Text(result.label, "yellow") if result.partial else result.label,
        result.decoding,
        percent_interval(overall.accuracy),
        percent_interval(overall.format, digits=0),
        top_pass_at_k(overall),
        percent(result.by_family["GSM"].accuracy if "GSM" in result.by_family else None),
        percent(result.by_family["MATH"].accuracy if "MATH" in result.by_family else None),
        f"{result.rows_done}/{result.rows_total}",
    )


def sort_results(results: list[EvalResult]) -> list[EvalResult]:
    """Results in training order (base, checkpoints by step, adapter), greedy before sampling."""

    def key(result: EvalResult) -> tuple[tuple[int, int], str]:
        return target_order(result.target), ("" if result.decoding == "greedy" else result.decoding)

    return sorted(results, key=key)


def accuracy_lines(results: list[EvalResult], final: int | None) -> list[Line]:
    """Accuracy (%) per training step, one line per decoding: base at step 0, checkpoint-N at N, the
    adapter at the run's final step (where it replaces a checkpoint of the same step)."""
    return _metric_lines(results, final, "accuracy")


def format_lines(results: list[EvalResult], final: int | None) -> list[Line]:
    """Exact-format rate (%) per training step, one line per decoding, placed as `accuracy_lines` places
    them (labelled `greedy format`, `sample-n8 format`): where the offline demo's learning shows."""
    return _metric_lines(results, final, "format")


def _metric_lines(results: list[EvalResult], final: int | None, metric: str) -> list[Line]:
    by_decoding: dict[str, dict[int, float]] = {}
    for result in sort_results(results):
        step = target_step(result.target, final)
        estimate = result.overall.accuracy if metric == "accuracy" else result.overall.format
        if step is None or estimate is None:
            continue
        by_decoding.setdefault(result.decoding, {})[step] = 100 * estimate.value
    lines = []
    for name in sorted(by_decoding, key=lambda n: (n != "greedy", n)):
        points = sorted(by_decoding[name].items())
        if metric == "accuracy":
            label = name if name == "greedy" else f"{name} pass@1"
        else:
            label = f"{name} format"
        lines.append(Line(label, [float(x) for x, _ in points], [y for _, y in points]))
    return lines


def trend_title(accuracy: list[Line], formats: list[Line]) -> str:
    """The plot's title, and the line shown instead of the plot at 80x24: the first decoding's accuracy
    and format from the first evaluated step to the last (`held-out % by step · greedy: accuracy 0.0 →
    3.1, format 0.0 → 84.4`)."""
    head = accuracy[0]
    text = f"held-out % by step · {head.label}: accuracy {head.ys[0]:.1f} → {head.ys[-1]:.1f}"
    same = [line for line in formats if line.label == f"{head.label} format"]
    if same:
        text += f", format {same[0].ys[0]:.1f} → {same[0].ys[-1]:.1f}"
    return text


@dataclass(frozen=True)
class EvalView:
    """What the screen shows of one run's eval/ directory, read in a thread."""

    run_id: str
    progress: EvalProgress
    """progress.json (state None when the run was never evaluated)."""
    pid: int | None
    """The evaluation job running on the run now, if any."""
    signature: tuple[tuple[str, int, int], ...]
    """The eval-*.json files' names, sizes and times when `results` was read."""
    results: list[EvalResult] | None
    """Every eval-*.json, or None when they did not change since the last read."""
    targets: tuple[str, ...]
    """Every target the run offers now (new checkpoints appear while it trains)."""
    default_targets: tuple[str, ...]
    final_step: int | None

    @property
    def state(self) -> JobState:
        """progress.json's state judged against the process table (`crashed`: a job that should be
        running but whose process is gone)."""
        p = self.progress
        return judge_state(
            p.state, p.updated_at, self.pid is not None, p.pid is not None, p.updated_at or 0.0
        )


def read_view(
    run: RunDir, signature: tuple[tuple[str, int, int], ...] | None, check_pid: bool = True
) -> EvalView:
    """Read the run's evaluation state (blocking: call it from a thread).

    Args:
        run: The run.
        signature: The results signature already shown; the results are re-read only when it changed.
        check_pid: Look for the live job (False for frozen views: fixture pids name no process).
    """
    eval_dir = run.eval
    now = eval_dir.results_signature()
    results = None if now == signature else eval_dir.results()
    pid = None
    if check_pid:
        from jobs.evaluate import running_pid

        pid = running_pid(run)
    names = tuple(t.name for t in available_targets(run))
    try:
        default = tuple(t.name for t in resolve_targets(run, None))
    except TargetError:
        default = ("base",)
    return EvalView(
        run_id=run.run_id,
        progress=eval_dir.read_progress(),
        pid=pid,
        signature=now,
        results=results,
        targets=names,
        default_targets=default,
        final_step=final_step(run),
    )


@dataclass(frozen=True)
class Choices:
    """What the form asks for: the job's arguments."""

    targets: tuple[str, ...]
    greedy: bool
    samples: int
    limit: int | None
    max_new_tokens: int | None
    batch_size: int | None
    problems: tuple[str, ...] = ()


class EvaluateScreen(ModeScreen):
    """Pick a run, targets and decoding; start, follow and cancel its evaluation; compare the results."""

    CSS_PATH = str(Path(__file__).with_name("evaluate.tcss"))
    """Absolute, so subclasses defined elsewhere (tests, benchmarks) find it."""
    BINDINGS = [
        Binding(
            "ctrl+l",
            "evaluate",
            "Evaluate",
            id="evaluate.start",
            tooltip="Start the evaluation of the chosen run, targets and decoding (a background job)",
        ),
        Binding(
            "ctrl+g",
            "cancel_eval",
            "Cancel",
            id="evaluate.cancel",
            tooltip="Stop the running evaluation after its current batch; finished rows are kept",
        ),
    ]

    run_id: reactive[str | None] = reactive(None)
    """The run whose evaluation is shown."""
    view: reactive[EvalView | None] = reactive(None, always_update=True)
    """The latest read of the run's eval/ directory."""

    @dataclass
    class RunsListed(Message):
        """The runs that can be evaluated (they have held-out rows), newest first."""

        run_ids: list[str]

    @dataclass
    class EvalRead(Message):
        """A fresh read of one run's eval/ directory."""

        view: EvalView

    @dataclass
    class EvalLaunched(Message):
        """The evaluation job started."""

        run_id: str
        process: subprocess.Popen[bytes]

    @dataclass
    class EvalRefused(Message):
        """The evaluation could not start; the message says why."""

        run_id: str
        message: str

    def __init__(self) -> None:
        super().__init__()
        self.results: list[EvalResult] = []
        """The run's eval-*.json, in training order."""
        self._children: list[subprocess.Popen[bytes]] = []
        self._cancelling = False
        self._target_names: tuple[str, ...] = ()
        self._default_targets: tuple[str, ...] = ()
        """The run's default targets when the list was last built."""
        self._run_ids: list[str] = []

    @property
    def context(self) -> ScreenContext:
        """What this screen uses of the app: the runs home, the clock, the app's runs and actions."""
        return screen_context(self.app)

    def compose(self) -> ComposeResult:
        yield ModeBar("evaluate")
        # a failed evaluation's reason wraps (read whole at 80 columns, not cut at the width)
        yield TextLine("no run chosen", wrap=True, max_lines=EVAL_BAR_LINES, id="eval-bar")
        with Horizontal(id="eval-body"):
            with Vertical(id="eval-form"):
                yield Select[str]([], prompt="run", compact=True, id="eval-run")
                # Beside the results (wide): one column. Above them (narrow): targets | options.
                with Horizontal(id="eval-choices"):
                    with Vertical(id="eval-targets-box"):
                        yield Static("targets (space toggles)", classes="form-title")
                        yield TickList(compact=True, id="eval-targets")
                    with Vertical(id="eval-options"):
                        yield TickBox("greedy", True, compact=True, id="eval-greedy")
                        with Horizontal(classes="form-row"):
                            yield Label("samples")
                            yield Input("0", placeholder="0", type="integer", compact=True, id="eval-samples")
                        with Horizontal(classes="form-row"):
                            yield Label("row limit")
                            yield Input(placeholder="all", type="integer", compact=True, id="eval-limit")
                        with Horizontal(classes="form-row"):
                            yield Label("max tokens")
                            yield Input(
                                placeholder="run's", type="integer", compact=True, id="eval-max-tokens"
                            )
                        with Horizontal(classes="form-row"):
                            yield Label("batch rows")
                            yield Input(placeholder="auto", type="integer", compact=True, id="eval-batch")
                        with Horizontal(id="eval-buttons"):
                            yield Button("Evaluate", variant="primary", compact=True, id="eval-start")
                            yield Button(
                                "Cancel", variant="error", compact=True, id="eval-cancel", disabled=True
                            )
            with Vertical(id="eval-main"):
                with Horizontal(id="eval-progress-row"):
                    yield ProgressBar(total=None, show_eta=False, id="eval-progress")
                    yield TextLine("", id="eval-rate")
                yield RowTable(id="eval-table", cell_padding=0)
                yield MetricPlot("held-out % by step", id="eval-plot")
                yield TextLine("", id="eval-trend")
        yield SteadyFooter(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Evaluate"
        self._set_columns()
        self.watch(self.app, "runs", self._runs_scanned, init=False)
        self._list_runs()
        if self.context.follow:
            self.set_interval(POLL_SECONDS, self._poll)

    def _set_columns(self) -> bool:
        """Lay the screen out for its width (form beside or above the results) and give the table the
        columns for it; True when they changed."""
        stacked = self.app.size.width < STACKED_BELOW
        self.set_class(stacked, "-stacked")
        table = self.query_one(DataTable)
        columns = NARROW_COLUMNS if stacked else COLUMNS
        if [(str(key.value), column.width) for key, column in table.columns.items()] == [
            (label, width) for label, width in columns
        ]:
            return False
        table.clear(columns=True)
        for label, width in columns:
            table.add_column(label, width=width, key=label)
        return True

    def on_resize(self) -> None:
        if self._set_columns():
            self._show_results(self.view.final_step if self.view is not None else None)

    def on_screen_resume(self) -> None:
        """Catch up on what happened while another mode was shown (polling pauses then)."""
        self._list_runs()
        self._poll(force=True)

    # ------------------------------------------------------------------------------------------------
    # runs and targets

    def _runs_scanned(self) -> None:
        self._list_runs()

    @work(thread=True, exclusive=True, group="eval-runs", description="list runs", exit_on_error=False)
    def _list_runs(self) -> None:
        root = self.context.runs_root
        found = []
        if root.is_dir():
            for path in sorted(root.iterdir(), reverse=True):
                if (path / "config.toml").is_file() and (path / "heldout.jsonl").is_file():
                    found.append(path.name)
        self.post_message(self.RunsListed(found))

    @on(RunsListed)
    def handle_runs_listed(self, event: RunsListed) -> None:
        if event.run_ids == self._run_ids:
            return
        self._run_ids = list(event.run_ids)
        select = self.query_one("#eval-run", Select)
        keep = self.run_id if self.run_id in event.run_ids else None
        with self.prevent(Select.Changed):
            select.set_options([(run_id, run_id) for run_id in event.run_ids])
        if keep is None and event.run_ids:
            attached = self.context.services.attached
            keep = attached if attached in event.run_ids else event.run_ids[0]
        if keep is not None:
            select.value = keep  # posts Select.Changed, which picks the run
        else:
            self.run_id = None  # every run with held-out rows is gone (deleted)
        self._show_bar()

    @on(Select.Changed, "#eval-run")
    def handle_run_changed(self, event: Select.Changed) -> None:
        value = event.value
        self.run_id = value if isinstance(value, str) else None

    def watch_run_id(self, run_id: str | None) -> None:
        self.results = []
        self._target_names = ()
        self._cancelling = False
        self.query_one("#eval-targets", SelectionList).clear_options()
        self.view = None
        self._show_results()
        self._poll(force=True)

    def _poll(self, force: bool = False) -> None:
        """Read the run's eval/ directory in a thread (skipped while another screen is shown)."""
        self._children = [p for p in self._children if p.poll() is None]
        if self.run_id is None or not (force or self.is_current):
            return
        signature = None if force or self.view is None else self.view.signature
        self._read_eval(self.run_id, signature)

    @work(thread=True, exclusive=True, group="eval-poll", description="read evaluation", exit_on_error=False)
    def _read_eval(self, run_id: str, signature: tuple[tuple[str, int, int], ...] | None) -> None:
        run = RunDir(self.context.runs_root / run_id)
        self.post_message(self.EvalRead(read_view(run, signature, check_pid=self.context.follow)))

    @on(EvalRead)
    def handle_eval_read(self, event: EvalRead) -> None:
        view = event.view
        if view.run_id != self.run_id:
            return  # a read for the run shown before
        if view.targets != self._target_names:
            self._show_targets(view)
        if view.results is not None:
            self.results = sort_results(view.results)
            self._show_results(view.final_step)
        if self._cancelling and view.pid is None:
            self._cancelling = False
        self.view = view

    def _show_targets(self, view: EvalView) -> None:
        """Rebuild the target list, keeping what the user ticked. Until they change the ticks they follow
        the run's defaults (the CLI's: base and the adapter, or the newest checkpoint before there is
        one): read once, a run first shown while it trained kept only `base` ticked once completed."""
        targets = self.query_one("#eval-targets", SelectionList)
        untouched = not self._target_names or set(targets.selected) == set(self._default_targets)
        ticked = set(view.default_targets) if untouched else set(targets.selected)
        self._target_names = view.targets
        self._default_targets = view.default_targets
        targets.clear_options()
        targets.add_options([(name, name, name in ticked) for name in view.targets])

    # ------------------------------------------------------------------------------------------------
    # drawing

    def watch_view(self, view: EvalView | None) -> None:
        self._show_bar()
        self._show_progress()

    def _show_bar(self) -> None:
        bar = self.query_one("#eval-bar", TextLine)
        if self.run_id is None:
            bar.update(
                "no run with held-out rows yet: train one (F2), then evaluate it here"
                if not self._run_ids
                else "choose a run"
            )
            return
        view = self.view
        line = Text.assemble((self.run_id, "bold"), "  ")
        if view is None or view.progress.state is None:
            line.append("never evaluated", "dim")
        else:
            state = view.state
            # the evaluation's state, not the run's (`RUN  completed` read as the training's while it ran)
            shown = "cancelling" if self._cancelling and view.pid else state
            line.append(f"evaluation {shown}", STATE_STYLES.get(state, ""))
            task = view.progress
            if state == "starting":
                line.append(" (loading the model)", "dim")
            elif state == "running" and task.target:
                where = f"task {task.task or '?'}/{len(task.tasks)}"
                line.append(f" {task.target} {task.decoding or ''} ({where})", "dim")
            elif state == "crashed":
                line.append(": the job's process is gone; finished rows are kept", "red")
            if task.error and state == "failed":
                line.append(": " + task.error.strip().splitlines()[-1], "red")
        bar.update(line)

    def _show_progress(self) -> None:
        view = self.view
        live = view is not None and view.pid is not None
        self.set_class(live, "-running")
        self.query_one("#eval-start", Button).disabled = live or self.run_id is None
        self.query_one("#eval-cancel", Button).disabled = not live or self._cancelling
        bar = self.query_one("#eval-progress", ProgressBar)
        rate = self.query_one("#eval-rate", TextLine)
        progress = view.progress if view is not None else EvalProgress()
        total, done = progress.total, progress.done
        if total is None or total <= 0:
            bar.update(total=None if live else 100, progress=0)
            rate.update("loading the model…" if live else "")
            return
        bar.update(total=total, progress=min(done, total))
        parts = [f"{done}/{total} rows"]
        speed = progress.rows_per_s
        parts.append(f"{speed:.2f} rows/s" if speed else "– rows/s")
        if live:
            eta = progress.eta_s
            if eta is not None and progress.updated_at is not None:
                eta = eta - max(0.0, self.context.clock() - progress.updated_at)
            parts.append(f"ETA {format_duration(eta)}")
        rate.update(" · ".join(parts))

    def _show_results(self, final: int | None = None) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for result in self.results:
            key = f"{result.target}/{result.decoding}"
            table.add_row(*result_cells(result), key=key)
        plot = self.query_one("#eval-plot", MetricPlot)
        trend = self.query_one("#eval-trend", TextLine)
        accuracy = accuracy_lines(self.results, final)
        if not accuracy:
            plot.draw("held-out % by step: no results yet", [], ylim=(0, 100))
            trend.update("")
            return
        formats = format_lines(self.results, final)
        title = trend_title(accuracy, formats)
        plot.draw(title, accuracy + formats, ylim=(0, 100))
        trend.update(title)  # shown instead of the plot where there is no room for one (80x24)

    # ------------------------------------------------------------------------------------------------
    # launch and cancel

    def choices(self) -> Choices:
        """The form's values, with a message for each that cannot be used."""
        problems: list[str] = []

        def number(widget_id: str, what: str, minimum: int) -> int | None:
            text = self.query_one(widget_id, Input).value.strip()
            if not text:
                return None
            try:
                value = int(text)
            except ValueError:
                problems.append(f"{what}: {text!r} is not a whole number")
                return None
            if value < minimum:
                problems.append(f"{what} must be at least {minimum}")
                return None
            return value

        samples = number("#eval-samples", "samples", 0) or 0
        limit = number("#eval-limit", "row limit", 1)
        max_new = number("#eval-max-tokens", "max tokens", 1)
        batch = number("#eval-batch", "batch rows", 1)
        greedy = self.query_one("#eval-greedy", Checkbox).value
        targets = tuple(self.query_one("#eval-targets", SelectionList).selected)
        if not targets:
            problems.append("tick at least one target")
        if not greedy and samples < 1:
            problems.append("turn greedy on or ask for samples (pass@k)")
        if 0 < samples < MIN_SAMPLES:
            problems.append(f"samples: pass@k needs at least {MIN_SAMPLES} (or 0 for greedy only)")
        return Choices(targets, greedy, samples, limit, max_new, batch, tuple(problems))

    @on(Button.Pressed, "#eval-start")
    def handle_start_pressed(self) -> None:
        self.action_evaluate()

    @on(Button.Pressed, "#eval-cancel")
    def handle_cancel_pressed(self) -> None:
        self.action_cancel_eval()

    def action_evaluate(self) -> None:
        if self.run_id is None:
            self.notify("no run to evaluate: train one first (F2)", severity="warning")
            return
        if self.view is not None and self.view.pid is not None:
            self.notify(f"{self.run_id} is already being evaluated; cancel it first", severity="warning")
            return
        choices = self.choices()
        if choices.problems:
            self.notify("\n".join(choices.problems), severity="warning", title="cannot evaluate")
            return
        self.query_one("#eval-start", Button).disabled = True
        self._launch_eval(self.run_id, choices)

    @work(
        thread=True, exclusive=True, group="eval-launch", description="start evaluation", exit_on_error=False
    )
    def _launch_eval(self, run_id: str, choices: Choices) -> None:
        from jobs.evaluate import EvalLaunchError, launch

        run = RunDir(self.context.runs_root / run_id)
        try:
            process = launch(
                run,
                list(choices.targets),
                limit=choices.limit,
                samples=choices.samples,
                greedy=choices.greedy,
                max_new_tokens=choices.max_new_tokens,
                batch_size=choices.batch_size,
            )
        except (EvalLaunchError, TargetError) as exc:
            self.post_message(self.EvalRefused(run_id, str(exc)))
            return
        self.post_message(self.EvalLaunched(run_id, process))

    @on(EvalLaunched)
    def handle_eval_launched(self, event: EvalLaunched) -> None:
        self._children.append(event.process)
        self.notify(f"evaluating {toast_id(event.run_id)}: log in eval/eval.log", title="evaluate")
        self._poll(force=True)

    @on(EvalRefused)
    def handle_eval_refused(self, event: EvalRefused) -> None:
        self.notify(event.message, severity="error", title="evaluation refused")
        self._poll(force=True)

    def action_cancel_eval(self) -> None:
        if self.run_id is None or self.view is None or self.view.pid is None:
            self.notify("no evaluation is running", severity="warning")
            return
        if self._cancelling:
            return  # a second SIGTERM would stop the job at once, losing the batch in flight
        self._cancelling = True
        self._show_progress()
        self._cancel_eval(self.run_id)

    @work(
        thread=True, exclusive=True, group="eval-cancel", description="cancel evaluation", exit_on_error=False
    )
    def _cancel_eval(self, run_id: str) -> None:
        from jobs.evaluate import cancel

        pid = cancel(RunDir(self.context.runs_root / run_id))
        message = (
            f"cancelling {run_id}: it stops after this batch and keeps the finished rows"
            if pid is not None
            else f"no evaluation of {run_id} is running"
        )
        self.app.call_from_thread(self.notify, message, title="cancel")

    @on(Worker.StateChanged)
    def handle_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Failures of this screen's workers become one notification (the app's router sees no other)."""
        worker = event.worker
        if worker.node is not self or worker.state != WorkerState.ERROR:
            return
        event.stop()
        if worker.group == "eval-launch":
            self._show_progress()
        if worker.group == "eval-cancel":
            self._cancelling = False
        self.notify(f"{worker.description}: {worker.error}", severity="error", title="error")
