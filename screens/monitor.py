"""Monitor: live plots, progress, sample completions and the log of the attached run.

Data arrives in batches from `RunFollower` and goes into `workbench.series` models at once; drawing is
separate: a timer checks a dirty flag at most `REDRAW_SECONDS` apart and skips everything while the
screen is not the one shown, so a hidden Monitor or an idle run costs nearly nothing. Plots are rebuilt
only when their series changed.
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
from textual.widgets import Footer, Log, ProgressBar, Static

from screens.context import ScreenContext, screen_context
from screens.follower import RunFollower
from screens.formatting import RUN_STATE_STYLES, fit_parts, format_duration
from screens.modescreen import ModeScreen
from screens.widgets.modebar import ModeBar
from screens.widgets.plots import Line, MetricPlot
from screens.widgets.rewards import RewardPlots, RewardSeries, colour_of
from screens.widgets.samples import SamplesView
from screens.widgets.textline import TextLine
from workbench.runs import RunDir, RunStatus
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
View = Literal["all", "plots", "text"]


def _value(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


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

    @property
    def context(self) -> ScreenContext:
        """What this screen uses of the app: the runs home, the clock, the app's runs and actions."""
        return screen_context(self.app)

    def compose(self) -> ComposeResult:
        yield ModeBar("monitor")
        yield RunFollower(follow=self.context.follow, id="follower")
        yield TextLine("no run attached", id="run-bar")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="progress")
            yield TextLine("", id="rate")
        yield Static("Attach a run from Runs (F3, Enter) or launch one from Configure (F2).", id="no-run")
        with Grid(id="plots"):
            yield MetricPlot("reward", id="plot-reward")
            yield RewardPlots(id="reward-plots")
            yield MetricPlot("completion length", id="plot-length")
            yield MetricPlot("loss", id="plot-loss")
            yield MetricPlot("GPU", xlabel="seconds", id="plot-gpu")
        yield TextLine(NO_GPU_LINE, id="gpu-line")
        with Horizontal(id="bottom"):
            with Vertical(id="samples-pane"):
                yield Static("latest samples", classes="pane-title")
                yield SamplesView(id="samples")
            with Vertical(id="log-pane"):
                yield Static("train.log", classes="pane-title")
                yield Log(max_lines=LOG_LINES, id="log", auto_scroll=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(REDRAW_SECONDS, self._redraw)
        self.watch(self.app, "attached", self._attach_run_id, init=True)
        self.set_class(True, "-view-all")

    # ------------------------------------------------------------------------------------------------
    # attaching

    def _attach_run_id(self, run_id: str | None) -> None:
        if run_id == self.run_id and run_id is not None:
            return
        self.run_id = run_id
        self.metrics, self.gpu, self.samples = MetricsSeries(), GpuSeries(), []
        self.status = RunStatus()
        self.query_one("#log", Log).clear()
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
        log = self.query_one("#log", Log)
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
        """The status: step, rate and ETA, then as much of the last step's split as the width holds
        (whole phases, largest first), on a second line where the screen has the rows for one."""
        parts, split, lead = self._rate_parts
        row = self.query_one("#progress-row")
        if row.has_class("-split") != bool(split):
            row.set_class(bool(split), "-split")
            self.call_after_refresh(self._fit_rate)  # again once the row has its new height
        line = self.query_one("#rate", TextLine)
        width = line.content_size.width or self.app.size.width
        if line.content_size.height >= 2 and split:
            line.update(" · ".join(parts) + "\n" + fit_parts([], split, width, lead))
        else:
            line.update(fit_parts(parts, split, width, lead))

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_rate)

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
            line.append(": " + status.error.strip().splitlines()[-1][:160], "red")
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
            f"completion length {_value(m.latest('completions/mean_length'), 1)}",
            [Line("mean", *m.get("completions/mean_length"))],
        )
        loss = self.query_one("#plot-loss", MetricPlot)
        loss_lines = [Line("loss", *m.get("loss"))]
        title = f"loss {_value(m.latest('loss'), 4)}"
        if m.has("kl"):
            loss_lines.append(Line("kl", *m.get("kl"), yside="right"))
            title += f" · kl {_value(m.latest('kl'), 4)}"
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
        log = self.query_one("#log", Log)
        # Follow the end unless the user scrolled up to read something.
        log.write_lines(lines, scroll_end=log.is_vertical_scroll_end)

    def _show_samples(self) -> None:
        latest = self.samples[-1].get("step") if self.samples else None
        shown = [s for s in self.samples if s.get("step") == latest]
        key = (latest, len(shown))
        if key == self._samples_shown:
            return
        self._samples_shown = key
        self.query_one(SamplesView).show(shown)

    # ------------------------------------------------------------------------------------------------
    # actions

    def action_stop_run(self) -> None:
        if self.run_id:
            self.context.services.request_stop(self.run_id)

    def action_resume_run(self) -> None:
        if self.run_id:
            self.context.services.request_resume(self.run_id)

    def action_cycle_view(self) -> None:
        order: list[View] = ["all", "plots", "text"]
        self.view = order[(order.index(self.view) + 1) % len(order)]

    def action_follow_log(self) -> None:
        self.query_one("#log", Log).scroll_end(animate=False)
