"""Monitor: live plots, progress, sample completions, the rollout groups, health alerts and the log of
the attached run.

Data arrives in batches from `RunFollower` and goes into `workbench.series` models at once; drawing is
separate: a timer checks a dirty flag at most `REDRAW_SECONDS` apart and skips everything while the
screen is not the one shown, so a hidden Monitor or an idle run costs nearly nothing. Plots are rebuilt
only when their series changed. The rollout view (`g`) reads one step's groups at a time, off the UI
thread (`RunFollower.load_rollout_step`), from an index the follower keeps up to date; it follows the
latest step (live) until a step is picked with the arrow keys.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import ProgressBar, Static

from screens.context import ScreenContext, screen_context
from screens.follower import RunFollower
from screens.formatting import RUN_STATE_STYLES, fit_parts, format_duration
from screens.modescreen import ModeScreen
from screens.widgets.footer import SteadyFooter
from screens.widgets.logview import WrappedLog
from screens.widgets.modebar import ModeBar
from screens.widgets.plots import Line, MetricPlot, short_value
from screens.widgets.rewards import RewardPlots, RewardSeries, colour_of
from screens.widgets.rollouts import RolloutView
from screens.widgets.samples import SamplesView
from screens.widgets.textline import TextLine
from workbench.runs import HealthReport, RolloutStep, RunDir, RunStatus
from workbench.series import GpuSeries, MetricsSeries, reward_key

REDRAW_SECONDS = 0.5
"""The dirty flag is checked this often: the step, rate and progress bar redraw at most twice a second."""
PLOT_SECONDS = 2.0
"""Plots (a plotext build each, 3-7 ms) are rebuilt at most every two seconds, and only when their data
changed; the step, rate and progress bar repaint one line each, every REDRAW_SECONDS. A run slower than a
step in two seconds (any real GRPO step) is drawn at each step as soon as it is logged; a faster one (the
tiny model on a CPU) every two seconds. Once a second, following a run at five steps a second cost 5.1% of
a core; every two, 3.8% (tests/measure_budgets.py, issue 17 item 9: under 5%)."""
TEXT_SECONDS = 2.0
"""New samples and log lines are shown at most every two seconds: each costs a layout pass of the screen."""
LOG_LINES = 1000
NO_GPU_LINE = "GPU: none logged (a CPU run)"
RUN_BAR_LINES = 8
"""The run bar wraps a failed run's reason (the last line of its error) onto at most this many lines (8:
beside the view tabs an 80-column run bar is 52 wide, and a CUDA out-of-memory reason takes 7 lines)."""
SPLIT_UNLIMITED = 1_000_000
"""A width every split fits in: what `fit_parts` writes when nothing has to give way."""
HEALTH_LINES = 5
"""The health line wraps its alerts onto at most this many lines."""
View = Literal["all", "plots", "text"]
VIEW_NAMES: dict[View, str] = {"all": "all", "plots": "plots", "text": "samples & log"}
"""What the view tabs call each view."""


def _value(value: float | None) -> str:
    """A plot title's latest value, written as the plot's legend writes it (`short_value`): a title of
    `loss -0.0000` above a legend of `-1.5e-08` read as two different numbers."""
    return "–" if value is None else short_value(value)


class MonitorScreen(ModeScreen):
    """The attached run, live."""

    CSS_PATH = str(Path(__file__).with_name("monitor.tcss"))
    """Absolute, so subclasses defined elsewhere (tests, benchmarks) find it."""
    BINDINGS = [
        Binding("s", "stop_run", "Stop", id="monitor.stop", tooltip="Stop the attached run (asks first)"),
        Binding(
            "r",
            "resume_run",
            "Resume",
            id="monitor.resume",
            tooltip="Resume the attached run from its last checkpoint",
        ),
        Binding(
            "v",
            "cycle_view",
            "View",
            id="monitor.view",
            tooltip="Cycle the view: everything, plots only, samples and log only",
        ),
        Binding(
            "g",
            "toggle_rollouts",
            "Groups",
            id="monitor.rollouts",
            tooltip="Show or hide the rollout groups of a step: advantages, best and worst completion",
        ),
        Binding(
            "left",
            "rollout_step(-1)",
            "Prev",
            id="monitor.rollout_previous",
            priority=True,
            tooltip="Rollout groups: the step before (stops following the latest)",
        ),
        Binding(
            "right",
            "rollout_step(1)",
            "Next",
            id="monitor.rollout_next",
            priority=True,
            tooltip="Rollout groups: the step after (past the last: follow the latest again)",
        ),
        Binding(
            "l",
            "rollout_live",
            "Live",
            id="monitor.rollout_live",
            tooltip="Rollout groups: follow the latest step",
        ),
        Binding(
            "up",
            "rollout_group(-1)",
            "Group up",
            id="monitor.rollout_group_up",
            priority=True,
            show=False,
            tooltip="Rollout groups: select the group above",
        ),
        Binding(
            "down",
            "rollout_group(1)",
            "Group down",
            id="monitor.rollout_group_down",
            priority=True,
            show=False,
            tooltip="Rollout groups: select the group below",
        ),
        Binding(
            "end",
            "follow_log",
            "Follow log",
            id="monitor.follow_log",
            show=False,
            tooltip="Scroll the log to its end and keep following it",
        ),
    ]

    run_id: reactive[str | None] = reactive(None)
    """The run shown (the app's attached run)."""
    status: reactive[RunStatus] = reactive(RunStatus, always_update=True)
    """The run's resolved state, step and phase."""
    view: reactive[View] = reactive("all")
    """Which panes are shown: all, plots only, or samples and log only (small terminals: plots or text)."""
    show_rollouts: reactive[bool] = reactive(False)
    """The rollout view replaces plots, samples and log."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics = MetricsSeries()
        """The attached run's metrics (replaced whole on attach)."""
        self.gpu = GpuSeries()
        """The attached run's GPU samples."""
        self.samples: list[dict[str, Any]] = []
        self._dirty = False
        self._last_plot = 0.0
        self._plots_dirty = False
        self._text_dirty = False
        self._last_text = 0.0
        self._samples_shown: tuple[Any, int] | None = None
        self._rate_parts: tuple[list[str], list[tuple[str, float]], str] = ([], [], "")
        """The status line's always-shown parts, the last step's split and its lead (refitted on resize)."""
        self._pending_log: list[str] = []
        self._gpu_drawn: tuple[int, int, object] | None = None
        self.beta: float | None = None
        """The run's grpo.beta: at 0 TRL computes no KL and the loss plot shows none."""
        self.health = HealthReport()
        self.rollout_steps: list[int] = []
        """Every step the rollout files hold, in order."""
        self.rollout_step: int | None = None
        """The step picked in the rollout view; None follows the latest (live)."""
        self.rollout_record: RolloutStep | None = None
        """The record shown (or being replaced)."""
        self.rollout_group = 0
        """The selected group's position in the sorted list."""

    @property
    def context(self) -> ScreenContext:
        """What this screen uses of the app: the runs home, the clock, the app's runs and actions."""
        return screen_context(self.app)

    def compose(self) -> ComposeResult:
        yield ModeBar("monitor")
        yield RunFollower(follow=self.context.follow, id="follower")
        # Why a run failed and what its health alerts say are read whole: both wrap (at 80 columns a
        # failed run's reason takes two or three lines) instead of being cut at the width.
        with Horizontal(id="run-row"):
            yield TextLine("no run attached", wrap=True, max_lines=RUN_BAR_LINES, id="run-bar")
            yield TextLine("", id="view-tabs")
        yield TextLine("", wrap=True, max_lines=HEALTH_LINES, id="health")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="progress")
            yield TextLine("", id="rate")
        yield TextLine("", id="split")
        yield Static("Attach a run from Runs (F3, Enter) or launch one from Configure (F2).", id="no-run")
        with Grid(id="plots"):
            yield MetricPlot("reward", id="plot-reward")
            yield RewardPlots(id="reward-plots")
            yield MetricPlot("completion length", id="plot-length")
            yield MetricPlot("loss", id="plot-loss")
            yield MetricPlot("GPU", xlabel="seconds", id="plot-gpu")
        yield TextLine(NO_GPU_LINE, id="gpu-line")
        yield RolloutView(id="rollouts")
        with Horizontal(id="bottom"):
            with Vertical(id="samples-pane"):
                yield Static("latest samples", classes="pane-title")
                yield SamplesView(id="samples")
            with Vertical(id="log-pane"):
                yield Static("train.log", classes="pane-title")
                yield WrappedLog(LOG_LINES, id="log")
        yield SteadyFooter(compact=True)

    def on_mount(self) -> None:
        self.set_interval(REDRAW_SECONDS, self._redraw)
        self.watch(self.app, "attached", self._attach_run_id, init=True)
        self.set_class(True, "-view-all")
        self._draw_view_tabs()

    # ------------------------------------------------------------------------------------------------
    # attaching

    def _attach_run_id(self, run_id: str | None) -> None:
        if run_id == self.run_id and run_id is not None:
            return
        self.run_id = run_id
        self.metrics, self.gpu, self.samples = MetricsSeries(), GpuSeries(), []
        self.status = RunStatus()
        self.beta, self.rollout_steps, self.rollout_step, self.rollout_record = None, [], None, None
        self.rollout_group = 0
        self._show_health(HealthReport())
        self.query_one("#log", WrappedLog).clear()
        self.query_one(SamplesView).show([])
        self._samples_shown = None
        self._pending_log = []
        follower = self.query_one(RunFollower)
        run = RunDir(self.context.runs_root / run_id) if run_id else None
        follower.follow_run(run)
        self.sub_title = run_id or ""
        self.set_class(run_id is None, "-no-run")
        self._mark_dirty()

    def watch_status(self, old: RunStatus, new: RunStatus) -> None:
        for state in (
            "pending",
            "starting",
            "running",
            "stopping",
            "completed",
            "stopped",
            "failed",
            "crashed",
        ):
            self.set_class(new.state == state, f"-{state}")
        self._dirty = True

    def watch_view(self, old: View, new: View) -> None:
        self.set_class(False, f"-view-{old}")
        self.set_class(True, f"-view-{new}")
        self._draw_view_tabs()

    def offered_views(self) -> list[View]:
        """The views `v` cycles through: on a short terminal (80x24) "all" would show the plots alone,
        the same as "plots" (samples and log have no room beside them), so `v` goes straight to the
        samples and log and back (it took two presses, the first changing nothing on screen)."""
        return ["plots", "text"] if self.has_class("-short") else ["all", "plots", "text"]

    @property
    def shown_view(self) -> View:
        """The view the screen shows: `view`, or "plots" for "all" where that is what it shows."""
        return self.view if self.view in self.offered_views() else "plots"

    def _draw_view_tabs(self) -> None:
        """The view tabs at the end of the run bar's row: `v` and the views it cycles through, the one
        shown in brackets (read without colour) and bold, or that `g` closes the rollout groups. A
        review at 80x24 found nothing said which view was shown, nor that `v` showed samples and log."""
        tabs = Text()
        if self.show_rollouts:
            tabs.append("g", "bold")
            tabs.append(" closes ", "dim")
            tabs.append("[groups]", "bold")
        else:
            tabs.append("v", "bold")
            tabs.append(" view", "dim")
            for view in self.offered_views():
                name = VIEW_NAMES[view]
                shown = view == self.shown_view
                tabs.append(" ")
                tabs.append(f"[{name}]" if shown else name, "bold" if shown else "dim")
        line = self.query_one("#view-tabs", TextLine)
        width = tabs.cell_len + line.styles.gutter.width
        if line.styles.width is None or line.styles.width.cells != width:
            line.styles.width = width  # the run bar beside it takes the rest
        line.update(tabs)

    def watch_show_rollouts(self, shown: bool) -> None:
        self.set_class(shown, "-rollouts")
        self._draw_view_tabs()
        self.refresh_bindings()  # the step and group keys only work in the rollout view
        if shown:
            self._request_rollout()
        else:
            self._mark_dirty()
            self._mark_dirty(text=True)

    # ------------------------------------------------------------------------------------------------
    # data in

    def _mine(self, run_id: str) -> bool:
        return run_id == self.run_id

    @on(RunFollower.HistoryReplayed)
    def handle_history_replayed(self, event: RunFollower.HistoryReplayed) -> None:
        if not self._mine(event.run_id):
            return
        history = event.history
        self.metrics, self.gpu = history.metrics, history.gpu
        self.samples = list(history.samples)
        self.status = history.status
        self.beta = history.beta
        self.rollout_steps = history.rollout_steps
        self._show_health(history.health)
        if self.show_rollouts:
            self._request_rollout()
        log = self.query_one("#log", WrappedLog)
        log.clear()
        self._pending_log = []
        log.write_lines(history.log_lines, scroll_end=True)
        self._show_samples()
        self._mark_dirty()
        self._redraw(force=True)

    @on(RunFollower.ReplayProgressed)
    def handle_replay_progressed(self, event: RunFollower.ReplayProgressed) -> None:
        if self._mine(event.run_id) and event.total_bytes:
            self.query_one("#rate", TextLine).update(
                f"reading history {100 * event.done_bytes / event.total_bytes:.0f}%"
            )

    @on(RunFollower.MetricsAppended)
    def handle_metrics_appended(self, event: RunFollower.MetricsAppended) -> None:
        if not self._mine(event.run_id):
            return
        version = self.metrics.version
        self.metrics.ingest(event.records)
        if self.metrics.version != version:
            self._mark_dirty()

    @on(RunFollower.GpuAppended)
    def handle_gpu_appended(self, event: RunFollower.GpuAppended) -> None:
        if self._mine(event.run_id) and self.gpu.ingest(event.records):
            self._mark_dirty()

    @on(RunFollower.SamplesAppended)
    def handle_samples_appended(self, event: RunFollower.SamplesAppended) -> None:
        if self._mine(event.run_id):
            self.samples = (self.samples + event.records)[-64:]
            self._mark_dirty(text=True)

    @on(RunFollower.LogAppended)
    def handle_log_appended(self, event: RunFollower.LogAppended) -> None:
        if not self._mine(event.run_id):
            return
        self._pending_log.extend(event.lines)
        self._mark_dirty(text=True)

    @on(RunFollower.RolloutsIndexed)
    def handle_rollouts_indexed(self, event: RunFollower.RolloutsIndexed) -> None:
        if not self._mine(event.run_id):
            return
        self.rollout_steps = event.steps
        if self.rollout_step is not None and self.rollout_step not in event.steps:
            # rotated away (or rewritten by a resume): the nearest step still held
            later = [s for s in event.steps if s >= self.rollout_step]
            self.rollout_step = later[0] if later else None
        if self.show_rollouts:
            self._request_rollout()

    @on(RunFollower.RolloutStepLoaded)
    def handle_rollout_step_loaded(self, event: RunFollower.RolloutStepLoaded) -> None:
        if self._mine(event.run_id) and event.step == self._wanted_step():
            # an unreadable line becomes an empty record of its step, which says so
            self.rollout_record = event.record or RolloutStep(step=event.step)
            self._draw_rollouts()

    @on(RunFollower.HealthChanged)
    def handle_health_changed(self, event: RunFollower.HealthChanged) -> None:
        if self._mine(event.run_id):
            self._show_health(event.report)

    @on(RunFollower.StatusChanged)
    def handle_status_changed(self, event: RunFollower.StatusChanged) -> None:
        if self._mine(event.run_id):
            self.status = event.status

    @on(RunFollower.RunExited)
    def handle_run_exited(self, event: RunFollower.RunExited) -> None:
        if self._mine(event.run_id):
            ok = event.state in ("completed", "stopped")
            self.notify(
                f"{event.run_id}: {event.state}", severity="information" if ok else "error", title="run ended"
            )

    # ------------------------------------------------------------------------------------------------
    # drawing

    def _mark_dirty(self, text: bool = False) -> None:
        self._dirty = True
        if text:
            self._text_dirty = True
        else:
            self._plots_dirty = True

    def on_screen_resume(self) -> None:
        self._mark_dirty()
        self._redraw(force=True)

    @property
    def step(self) -> int:
        """The step shown: the trainer's progress, or the metrics when they are ahead of status.json."""
        return max(self.status.step, self.metrics.current_step)

    @property
    def max_steps(self) -> int:
        return self.status.max_steps

    def _redraw(self, force: bool = False) -> None:
        if not self.is_current or not (self._dirty or force):
            return
        self._dirty = False
        self._draw_progress()
        now = time.monotonic()
        if self._plots_dirty and (force or now - self._last_plot >= PLOT_SECONDS):
            self._plots_dirty = False
            self._last_plot = now
            with self.app.batch_update():
                self._draw_plots()
        elif self._plots_dirty:
            self._dirty = True  # try again on the next tick
        if self._text_dirty and (force or now - self._last_text >= TEXT_SECONDS):
            self._text_dirty = False
            self._last_text = now
            with self.app.batch_update():
                self._show_samples()
                self._flush_log()
        elif self._text_dirty:
            self._dirty = True

    def _draw_progress(self) -> None:
        status, step, total = self.status, self.step, self.max_steps
        bar = self.query_one("#progress", ProgressBar)
        live = status.alive or status.state in ("pending", "starting", "running", "stopping")
        building = live and step == 0 and 0 < status.build_step < status.build_total
        if building:
            # the first-use model build (the tiny preset's warm start) comes before step 1
            bar.update(total=status.build_total, progress=status.build_step)
            parts = [f"model build {status.build_step}/{status.build_total}"]
        else:
            bar.update(total=total or None, progress=min(step, total) if total else step)
            rate = self.metrics.steps_per_second()
            eta = self.metrics.eta_seconds(total, step) if live else None
            parts = [f"step {step}/{total or '?'}", f"{rate:.2f} steps/s" if rate else "– steps/s"]
            if live:
                parts.append(f"ETA {format_duration(eta)}")
        split = [] if building else self.metrics.step_split()
        lead = f"last step {sum(seconds for _, seconds in split):.2f} s: "
        self._rate_parts = (parts, split, lead)
        self._fit_rate()
        self._draw_run_bar()

    def _fit_rate(self) -> None:
        """The status: step, rate and ETA beside the progress bar, and where the last step went: on the
        same line when every phase fits there, else on a line of its own the width of the screen (whole
        phases, largest first, the rest summed as `+N more`). At 80 columns the split used to give way
        to the step and rate: now it costs a row of the plots instead, the one way to see it there."""
        parts, split, lead = self._rate_parts
        line = self.query_one("#rate", TextLine)
        width = line.content_size.width or self.app.size.width
        one_line = fit_parts(parts, split, width, lead)
        whole = not split or one_line == fit_parts(parts, split, SPLIT_UNLIMITED, lead)
        line.update(one_line if whole else " · ".join(parts))
        below = self.query_one("#split", TextLine)
        if self.has_class("-split") == whole:
            self.set_class(not whole, "-split")
            if not whole:
                self.call_after_refresh(self._fit_rate)  # again once the line has its width
        if not whole:
            room = below.content_size.width or self.app.size.width - below.styles.gutter.width
            below.update(fit_parts([], split, room, lead))

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_rate)
        self.call_after_refresh(self._draw_view_tabs)  # the short breakpoint changes the views offered

    def _draw_run_bar(self) -> None:
        status = self.status
        line = Text.assemble(
            (self.run_id or "no run attached", "bold"),
            "  ",
            (status.state, RUN_STATE_STYLES.get(status.state, "")),
        )
        if status.phase and status.state not in ("completed", "stopped"):
            # what it is doing, or where it failed; a finished run's last phase (`done`) says nothing
            line.append(f" ({status.phase})", "dim")
        if status.error and status.final and status.state != "completed":
            line.append(": " + status.error.strip().splitlines()[-1], "red")
        elif status.supervisor_gone and not status.final:
            # an orphan trainer: its progress is live, but nobody records how it ends (Stop reaches it)
            line.append(" · supervisor gone: the trainer runs on unwatched", "yellow")
        self.query_one("#run-bar", TextLine).update(line)

    def _draw_plots(self) -> None:
        m = self.metrics
        reward = self.query_one("#plot-reward", MetricPlot)
        reward.draw(f"reward {_value(m.latest('reward'))}", [Line("total", *m.get("reward"))])
        # Each reward function in a small plot of its own beside the total (in the colour its line had
        # in the total's plot): the set is whatever the run logs, so a custom reward shows too.
        self.query_one(RewardPlots).draw(
            [
                RewardSeries(name, *m.get(reward_key(name)), color=colour_of(index))
                for index, name in enumerate(m.reward_names())
            ]
        )
        length = self.query_one("#plot-length", MetricPlot)
        length.draw(
            f"completion length {_value(m.latest('completions/mean_length'))}",
            [Line("mean", *m.get("completions/mean_length"))],
        )
        loss = self.query_one("#plot-loss", MetricPlot)
        loss_lines = [Line("loss", *m.get("loss"))]
        title = f"loss {_value(m.latest('loss'))}"
        if m.has("kl") and self.beta != 0:  # at beta 0 TRL computes no KL (Unsloth logs zeros)
            loss_lines.append(Line("kl", *m.get("kl"), yside="right"))
            title += f" · kl {_value(m.latest('kl'))}"
        loss.draw(title, loss_lines)
        self._draw_gpu()

    def _draw_gpu(self) -> None:
        plot = self.query_one("#plot-gpu", MetricPlot)
        gpu = self.gpu
        drawn = (id(gpu), gpu.version, plot.size)
        if drawn == self._gpu_drawn:
            return  # GPU samples come every couple of seconds (never, on a CPU run): skip the rebuild
        self._gpu_drawn = drawn
        # A CPU run logs no GPU samples: one line says so and the loss plot takes the GPU plot's place.
        # Under 100 columns a GPU run's plot gives way to the same line with its latest reading.
        self.query_one("#plots").set_class(not gpu.indices(), "-no-gpu")
        self.set_class(not gpu.indices(), "-no-gpu")
        line = self.query_one("#gpu-line", TextLine)
        if not gpu.indices():
            line.update(NO_GPU_LINE)
            plot.draw("GPU: none logged (CPU run)", [], xlabel="seconds")
            return
        lines: list[Line] = []
        heads: list[str] = []
        for index in gpu.indices():
            track = gpu.tracks[index]
            xs = gpu.elapsed(index)
            lines.append(Line(f"mem% {index}", xs, track.memory_pct))
            lines.append(Line(f"util% {index}", xs, track.utilization_pct))
            heads.append(
                f"{index}: {track.used_mib[-1] / 1024:.1f}/{track.total_mib[-1] / 1024:.0f} GiB "
                f"{track.utilization_pct[-1]:.0f}%"
            )
        plot.draw("GPU " + " · ".join(heads), lines, xlabel="seconds", ylim=(0, 100))
        line.update("GPU " + " · ".join(heads))

    def _flush_log(self) -> None:
        if not self._pending_log:
            return
        lines, self._pending_log = self._pending_log[-LOG_LINES:], []
        log = self.query_one("#log", WrappedLog)
        # Follows the end unless the user scrolled up to read something (the log keeps track).
        log.write_lines(lines)

    def _show_samples(self) -> None:
        latest = self.samples[-1].get("step") if self.samples else None
        shown = [s for s in self.samples if s.get("step") == latest]
        key = (latest, len(shown))
        if key == self._samples_shown:
            return
        self._samples_shown = key
        self.query_one(SamplesView).show(shown)

    def _show_health(self, report: HealthReport) -> None:
        """The health line: each active alert with the step it started at (hidden when there is none)."""
        self.health = report
        line = Text()
        for alert in report.active:
            if line:
                line.append(" · ")
            error = alert.severity == "error"
            line.append("✖ " if error else "⚠ ", "bold red" if error else "bold yellow")
            line.append(alert.title, "red" if error else "yellow")
            line.append(f" since step {alert.since_step}" if alert.since_step != alert.step else "")
            line.append(f" (step {alert.step})" if alert.since_step == alert.step else "", "dim")
        if report.active:
            first = report.active[0].message
            line.append(f": {first}" if len(report.active) == 1 else "", "dim")
        self.query_one("#health", TextLine).update(line)
        self.set_class(bool(report.active), "-health")

    # ------------------------------------------------------------------------------------------------
    # rollout groups

    def _wanted_step(self) -> int | None:
        """The step the rollout view shows: the picked one, else the latest written."""
        if self.rollout_step is not None:
            return self.rollout_step
        return self.rollout_steps[-1] if self.rollout_steps else None

    def _request_rollout(self) -> None:
        """Show the wanted step: at once if its record is here, else ask the follower to read it."""
        step = self._wanted_step()
        record = self.rollout_record
        if step is None or (record is not None and record.step == step):
            self._draw_rollouts()
            return
        self.query_one(RunFollower).load_rollout_step(step)
        if record is None:
            self._draw_rollouts()  # says it is loading; a shown record stays until the next arrives

    def _rollout_head(self, record: RolloutStep) -> Text:
        steps = self.rollout_steps
        held = f" ({steps[0]}–{steps[-1]})" if len(steps) > 1 else ""
        live = self.rollout_step is None
        head = Text.assemble(
            (f"step {record.step}", "bold"), (held, "dim"), " · ", ("live", "green") if live else "picked"
        )
        batch = record.groups_in_batch
        head.append(f" · {len(record.groups)} of {batch} groups")
        head.append(" · ")
        head.append(f"σ=0 {record.zero_std_groups}/{batch}", "yellow" if record.zero_std_groups else "")
        completions = batch * record.num_generations
        head.append(f" · cut {record.truncated}/{completions}", "yellow" if record.truncated else "")
        head.append(f" · G={record.num_generations} scale {record.scale_rewards}", "dim")
        return head

    def _draw_rollouts(self) -> None:
        view = self.query_one(RolloutView)
        step = self._wanted_step()
        record = self.rollout_record
        if step is None:
            view.show_message(
                Text("rollout groups", "bold"),
                "no rollout groups yet: the trainer writes grpo.rollout_groups_per_step whole groups of "
                "every step to rollouts.jsonl (runs from before it did have none)",
            )
            return
        if record is None or record.step != step:
            if record is None:
                view.show_message(Text(f"step {step}", "bold"), f"reading step {step}…")
            return
        if not record.groups and not record.groups_in_batch:
            view.show_message(Text(f"step {step}", "bold"), f"step {step} could not be read")
            return
        count = len(record.groups)
        self.rollout_group = min(self.rollout_group, max(0, count - 1))
        view.show(self._rollout_head(record), record, self.rollout_group)

    # ------------------------------------------------------------------------------------------------
    # actions

    def action_stop_run(self) -> None:
        if self.run_id:
            self.context.services.request_stop(self.run_id)

    def action_resume_run(self) -> None:
        if self.run_id:
            self.context.services.request_resume(self.run_id)

    def action_cycle_view(self) -> None:
        order = self.offered_views()
        self.view = order[(order.index(self.shown_view) + 1) % len(order)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The step and group keys work only in the rollout view (elsewhere the arrows scroll)."""
        if action in ("rollout_step", "rollout_live", "rollout_group"):
            return self.show_rollouts
        if action == "cycle_view":  # the rollout view replaces every view: off the footer meanwhile
            return not self.show_rollouts
        return True

    def action_toggle_rollouts(self) -> None:
        self.show_rollouts = not self.show_rollouts

    def action_rollout_step(self, delta: int) -> None:
        steps = self.rollout_steps
        if not steps:
            return
        current = self._wanted_step()
        position = steps.index(current) if current in steps else len(steps) - 1
        target = position + delta
        if target >= len(steps):
            self.rollout_step = None  # past the last: live again
        else:
            self.rollout_step = steps[max(0, target)]
        self._request_rollout()

    def action_rollout_live(self) -> None:
        self.rollout_step = None
        self._request_rollout()

    def action_rollout_group(self, delta: int) -> None:
        record = self.rollout_record
        if record is None or not record.groups:
            return
        self.rollout_group = min(max(0, self.rollout_group + delta), len(record.groups) - 1)
        self._draw_rollouts()

    def action_follow_log(self) -> None:
        self.query_one("#log", WrappedLog).follow()
