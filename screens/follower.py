"""Following one run directory: replay its history off the UI thread, then poll its files for new lines.

`RunFollower` is a non-visual widget the Monitor mounts. `follow_run(run)` starts a thread worker that
reads metrics.jsonl, samples.jsonl, gpu.jsonl and the end of train.log with byte-offset readers in
bounded chunks and builds the series there, indexes the rollout files (`RolloutIndex`: which step is
where, nothing parsed) and reads health.json, then hands them over in one `HistoryReplayed`. A second
thread worker then polls every `poll_seconds`: each tick posts at most one batch per file
(`MetricsAppended`, `SamplesAppended`, `GpuAppended`, `LogAppended`), plus `RolloutsIndexed` when the
rollout files hold new steps, `HealthChanged` when health.json changes, `StatusChanged` when status.json
changes and `RunExited` when a live run reaches a final state. `load_rollout_step` reads one step's
groups in a thread and posts `RolloutStepLoaded`. Nothing here can stop or start a run: quitting the
TUI only stops the reading.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import on, work
from textual.message import Message
from textual.widget import Widget
from textual.worker import Worker, WorkerState, get_current_worker

from workbench.jobdir import as_mapping, number
from workbench.runs import (
    HealthReport,
    RolloutIndex,
    RolloutStep,
    RunDir,
    RunStatus,
    read_config_table,
    read_run_status,
)
from workbench.series import GpuSeries, MetricsSeries
from workbench.tail import JsonlTail, LineTail

POLL_SECONDS = 0.5
"""How often a followed run's files are checked for new bytes."""
SLICE_SECONDS = 0.05
"""The poll sleep is cut in slices this long so a cancelled follow ends quickly (and never blocks exit)."""
SAMPLES_KEPT = 64
"""Sample records kept in memory (the view shows the latest step's)."""
LOG_REPLAY_BYTES = 64 * 1024
"""How much of train.log's end is shown on attach."""
LOG_CHUNK = 64 * 1024
"""Most bytes of train.log read per tick."""
MAX_LINE_CHARS = 400
"""Log lines are cut here (tqdm bars and tracebacks of tensors can be huge)."""


class TextTail(LineTail):
    """Incremental reader of a text log: complete lines, decoded, progress-bar rewrites collapsed."""

    def __init__(self, path: Path, chunk: int = LOG_CHUNK) -> None:
        super().__init__(path, chunk)

    def read(self) -> list[str]:
        """Complete new lines since the last call (at most `chunk` bytes read)."""
        lines = []
        for raw in self.read_lines():
            # A progress bar rewrites its line with \r: only the last state is worth showing.
            text = raw.decode("utf-8", "replace").rstrip("\r").rsplit("\r", 1)[-1]
            lines.append(text[:MAX_LINE_CHARS])
        return lines

    def read_end(self, max_bytes: int) -> list[str]:
        """Jump to the last `max_bytes` of the file and return its complete lines (the cut first one is
        dropped)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        start = max(0, size - max_bytes)
        self.offset, self._partial = start, b""
        lines = self.read_lines(max_bytes)
        decoded = [
            raw.decode("utf-8", "replace").rstrip("\r").rsplit("\r", 1)[-1][:MAX_LINE_CHARS] for raw in lines
        ]
        return decoded[1:] if start and decoded else decoded


@dataclass
class Tails:
    """The readers of one run's files; the replay leaves their offsets where following picks up."""

    run: RunDir
    metrics: JsonlTail = field(init=False)
    samples: JsonlTail = field(init=False)
    gpu: JsonlTail = field(init=False)
    log: TextTail = field(init=False)

    rollouts: RolloutIndex = field(init=False)
    health_seen: tuple[int, int] | None = None
    """(mtime ns, size) of health.json when it was last read: it is read again only when this changes."""

    def __post_init__(self) -> None:
        self.metrics = JsonlTail(self.run.metrics)
        self.samples = JsonlTail(self.run.samples)
        self.gpu = JsonlTail(self.run.gpu)
        self.log = TextTail(self.run.log)
        self.rollouts = RolloutIndex(self.run)

    @property
    def pending(self) -> bool:
        return (
            self.metrics.pending
            or self.samples.pending
            or self.gpu.pending
            or self.log.pending
            or self.rollouts.pending
        )

    def health_changed(self) -> HealthReport | None:
        """health.json when it changed since the last call (one stat per call otherwise), else None."""
        try:
            st = self.run.health.stat()
            seen: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            seen = None
        if seen == self.health_seen:
            return None
        self.health_seen = seen
        return self.run.read_health()

    def total_bytes(self) -> int:
        total = 0
        for path in (self.run.metrics, self.run.samples, self.run.gpu):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total


@dataclass
class History:
    """Everything a run wrote before the attach, built off the UI thread."""

    metrics: MetricsSeries
    gpu: GpuSeries
    samples: list[dict[str, Any]]
    log_lines: list[str]
    status: RunStatus
    rollout_steps: list[int] = field(default_factory=list)
    """The steps rollouts.jsonl (and its rotated predecessor) hold."""
    health: HealthReport = field(default_factory=HealthReport)
    beta: float | None = None
    """The run's grpo.beta (0: TRL never computes a KL), None when its config cannot be read."""


class RunFollower(Widget):
    """Replays and follows one run directory, posting batched messages to its screen."""

    DEFAULT_CSS = "RunFollower { display: none; }"

    @dataclass
    class ReplayProgressed(Message):
        """Part of a long history was read."""

        run_id: str
        done_bytes: int
        total_bytes: int

    @dataclass
    class HistoryReplayed(Message):
        """The whole history up to now, as built series."""

        run_id: str
        history: History

    @dataclass
    class MetricsAppended(Message):
        """New metrics.jsonl records (steps and events, in file order)."""

        run_id: str
        records: list[dict[str, Any]]

    @dataclass
    class SamplesAppended(Message):
        """New samples.jsonl records."""

        run_id: str
        records: list[dict[str, Any]]

    @dataclass
    class GpuAppended(Message):
        """New gpu.jsonl records."""

        run_id: str
        records: list[dict[str, Any]]

    @dataclass
    class LogAppended(Message):
        """New complete lines of train.log."""

        run_id: str
        lines: list[str]

    @dataclass
    class RolloutsIndexed(Message):
        """The rollout files hold other steps than before (every step they hold, in order)."""

        run_id: str
        steps: list[int]

    @dataclass
    class RolloutStepLoaded(Message):
        """The record of one step of rollouts.jsonl (`load_rollout_step`), None when it is not readable."""

        run_id: str
        step: int
        record: RolloutStep | None

    @dataclass
    class HealthChanged(Message):
        """health.json changed."""

        run_id: str
        report: HealthReport

    @dataclass
    class StatusChanged(Message):
        """status.json (resolved against the process table) changed."""

        run_id: str
        status: RunStatus

    @dataclass
    class RunExited(Message):
        """A run that was live when followed reached a final state."""

        run_id: str
        state: str

    def __init__(
        self, follow: bool = True, poll_seconds: float = POLL_SECONDS, *, id: str | None = None
    ) -> None:
        """A follower; with `follow=False` it replays history only (frozen views, snapshot tests)."""
        super().__init__(id=id)
        self.follow = follow
        self.poll_seconds = poll_seconds
        self.run: RunDir | None = None
        """The run being followed."""
        self._tails: Tails | None = None

    def follow_run(self, run: RunDir | None) -> None:
        """Stop following the current run and start on `run` (None: follow nothing)."""
        self.workers.cancel_group(self, "follow")
        self.run = run
        self._tails = Tails(run) if run is not None else None
        if run is not None and self._tails is not None:
            self._replay_history(run, self._tails)

    @work(thread=True, exclusive=True, group="follow", description="replay run history", exit_on_error=False)
    def _replay_history(self, run: RunDir, tails: Tails) -> None:
        worker = get_current_worker()
        metrics, gpu = MetricsSeries(), GpuSeries()
        samples: deque[dict[str, Any]] = deque(maxlen=SAMPLES_KEPT)
        total = tails.total_bytes()
        done = 0
        last_report = time.monotonic()
        while not worker.is_cancelled:
            progressed = False
            for tail, sink in (
                (tails.metrics, metrics.ingest),
                (tails.gpu, gpu.ingest),
                (tails.samples, samples.extend),
            ):
                before = tail.offset
                batch = tail.read()
                if batch:
                    sink(batch)
                done += tail.offset - before
                progressed = progressed or tail.offset != before
            if not progressed:
                break
            if time.monotonic() - last_report > 0.2:
                self.post_message(self.ReplayProgressed(run.run_id, done, total))
                last_report = time.monotonic()
        tails.rollouts.scan_all()  # bounded by the rotation: two files of ROLLOUT_FILE_BYTES at most
        if worker.is_cancelled:
            return
        log_lines = tails.log.read_end(LOG_REPLAY_BYTES)
        config = read_config_table(run)
        beta = number(as_mapping(config.get("grpo")).get("beta", 0.0)) if config else None
        history = History(
            metrics=metrics,
            gpu=gpu,
            samples=list(samples),
            log_lines=log_lines,
            status=read_run_status(run),
            rollout_steps=tails.rollouts.steps,
            health=tails.health_changed() or HealthReport(),
            beta=beta,
        )
        self.post_message(self.HistoryReplayed(run.run_id, history))

    @work(thread=True, exclusive=True, group="follow", description="follow run files", exit_on_error=False)
    def _follow_files(self, run: RunDir, tails: Tails, status: RunStatus) -> None:
        worker = get_current_worker()
        run_id = run.run_id
        last = status
        while not worker.is_cancelled:
            metrics = tails.metrics.read()
            if metrics:
                self.post_message(self.MetricsAppended(run_id, metrics))
            samples = tails.samples.read()
            if samples:
                self.post_message(self.SamplesAppended(run_id, samples))
            gpu = tails.gpu.read()
            if gpu:
                self.post_message(self.GpuAppended(run_id, gpu))
            lines = tails.log.read()
            if lines:
                self.post_message(self.LogAppended(run_id, lines))
            if tails.rollouts.scan():
                self.post_message(self.RolloutsIndexed(run_id, tails.rollouts.steps))
            report = tails.health_changed()
            if report is not None:
                self.post_message(self.HealthChanged(run_id, report))
            now = read_run_status(run)
            if now != last:
                self.post_message(self.StatusChanged(run_id, now))
                if now.final and not last.final:
                    self.post_message(self.RunExited(run_id, now.state))
                last = now
            # A backlog is read on the next slice rather than after a full poll interval.
            wait = SLICE_SECONDS if tails.pending else self.poll_seconds
            deadline = time.monotonic() + wait
            while not worker.is_cancelled and time.monotonic() < deadline:
                time.sleep(min(SLICE_SECONDS, max(0.0, deadline - time.monotonic())))

    def load_rollout_step(self, step: int) -> None:
        """Read one step's rollout groups off the UI thread; `RolloutStepLoaded` brings them (a newer
        request cancels an older one)."""
        if self.run is not None and self._tails is not None:
            self._read_rollout_step(self.run.run_id, self._tails.rollouts, step)

    @work(
        thread=True,
        exclusive=True,
        group="rollout-step",
        description="read rollout step",
        exit_on_error=False,
    )
    def _read_rollout_step(self, run_id: str, index: RolloutIndex, step: int) -> None:
        record = index.read(step)
        if not get_current_worker().is_cancelled:
            self.post_message(self.RolloutStepLoaded(run_id, step, record))

    @on(Worker.StateChanged)
    def handle_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one router for this widget's workers: errors become notifications."""
        worker = event.worker
        if worker.state == WorkerState.ERROR:
            self.notify(f"{worker.description}: {worker.error}", severity="error", title="follow")

    @on(HistoryReplayed)
    def handle_history_replayed(self, event: HistoryReplayed) -> None:
        """Once the history is in, follow the files from where the replay stopped (the event bubbles on)."""
        if (
            self.follow
            and self.run is not None
            and event.run_id == self.run.run_id
            and self._tails is not None
        ):
            self._follow_files(self.run, self._tails, event.history.status)
