"""The metrics series a monitor plots: per-key x/y lists built from a run's JSONL records (no Textual).

A training job appends one record per logged step to metrics.jsonl (TRL's key names plus `step` and
`time`), and records with an `"event"` key that are not steps (`resume`, `summary`). A resume event at
step N drops the earlier attempt's steps past N (a crash after the last checkpoint, or a resume without
one, trains them again), and a step logged twice is the later record. `MetricsSeries`
ingests records in any batch size, keeps every numeric key as x (step) / y (value) lists in step order,
and derives the speed (steps per second, from the records' `time`, counted from the last resume so the
downtime does not count) and the ETA. `GpuSeries` keeps memory and utilisation over time per GPU index
from gpu.jsonl, bounded so a week-long run cannot grow it without limit.

The viewer owns one of each per followed run; replaying a long history happens off the UI thread and
the built series is handed over whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STEP_KEY = "step"
TIME_KEY = "time"
EVENT_KEY = "event"
NOT_PLOTTED = frozenset({STEP_KEY, TIME_KEY, EVENT_KEY})
"""Keys of a metrics record that are coordinates or markers, not series."""
REWARD_PREFIX = "rewards/"
REWARD_MEAN_SUFFIX = "/mean"
TIME_PREFIX = "time/"
STEP_SPLIT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("generate", ("generate",)),
    ("sync", ("weight sync",)),
    ("rewards", ("rewards", "scoring")),
    ("update", ("forward", "loss", "the rest")),
)
"""How the training job's per-step phases (jobs/phases.py, written as `phase_key(phase)` seconds) group
into one status line: generation, pushing weights into vLLM, scoring the completions, and the policy
update (forward, loss, backward, optimizer)."""


def phase_key(phase: str) -> str:
    """metrics.jsonl key of a step phase's seconds: `time/generate`, `time/weight_sync`, `time/the_rest`."""
    return TIME_PREFIX + phase.replace(" ", "_")


RATE_WINDOW = 20
"""Steps/s is measured over at most this many recent steps of the current attempt."""
GPU_MAX_POINTS = 4096
"""Samples kept per GPU; older ones are thinned (every other one dropped) when the limit is hit."""


def _number(value: Any) -> float | None:
    """A finite float from a JSON value, or None for anything else (bools, strings, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _step_of(record: Mapping[str, Any]) -> int | None:
    value = record.get(STEP_KEY)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def reward_key(name: str) -> str:
    """The metrics key of a reward function's per-step mean (`rewards/<name>/mean`)."""
    return f"{REWARD_PREFIX}{name}{REWARD_MEAN_SUFFIX}"


def thin(xs: Sequence[float], ys: Sequence[float], max_points: int) -> tuple[list[float], list[float]]:
    """At most `max_points` evenly spaced points of a series, always keeping the last one.

    Args:
        xs: The x values.
        ys: The y values, as long as `xs`.
        max_points: The most points to return (at least 2).

    Returns:
        The thinned (xs, ys).
    """
    count = len(xs)
    if count <= max_points:
        return list(xs), list(ys)
    stride = math.ceil(count / max(2, max_points - 1))
    picked = list(range(0, count - 1, stride)) + [count - 1]
    return [xs[i] for i in picked], [ys[i] for i in picked]


class MetricsSeries:
    """Every numeric metric of a run as step-ordered x/y lists.

    Ingesting steps in increasing order appends in O(keys); a repeated or out-of-order step (a resume)
    replaces the stored record and rebuilds the lists lazily on the next read.
    """

    def __init__(self) -> None:
        self._records: dict[int, dict[str, float]] = {}
        self._times: dict[int, float] = {}
        self._series: dict[str, tuple[list[float], list[float]]] = {}
        self._stale = False
        self.max_step = 0
        """The largest step seen."""
        self.current_step = 0
        """The step of the last step record ingested (or of the last resume): where training is now."""
        self.resumes: list[tuple[int, float | None]] = []
        """(step, time) of every `resume` event, in file order."""
        self.summary: dict[str, Any] | None = None
        """The end-of-training `summary` event (TRL's train_runtime, train_loss...), when logged."""
        self.version = 0
        """Bumped on every change, so a viewer redraws only when it differs from what it drew."""

    def __len__(self) -> int:
        return len(self._records)

    def ingest(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Add records from metrics.jsonl.

        Event records are not steps: a `resume` marks where the current attempt began, a `summary`
        is kept aside. Records without a numeric `step` are ignored.

        Args:
            records: Parsed JSON objects in file order.

        Returns:
            How many step records were taken.
        """
        taken = 0
        for record in records:
            if not isinstance(record, Mapping):
                continue
            step = _step_of(record)
            event = record.get(EVENT_KEY)
            if event is not None:
                if event == "resume" and step is not None:
                    self.resumes.append((step, _number(record.get(TIME_KEY))))
                    self.current_step = step
                    self._forget_after(step)
                    self.version += 1
                elif event == "summary":
                    self.summary = dict(record)
                    self.version += 1
                continue
            if step is None:
                continue
            values: dict[str, float] = {}
            for key, raw in record.items():
                if key in NOT_PLOTTED:
                    continue
                number = _number(raw)
                if number is not None:
                    values[key] = number
            moment = _number(record.get(TIME_KEY))
            if step in self._records or step < self.max_step:
                self._stale = True
            elif not self._stale:
                for key, number in values.items():
                    xs, ys = self._series.setdefault(key, ([], []))
                    xs.append(float(step))
                    ys.append(number)
            self._records[step] = values
            if moment is None:
                self._times.pop(step, None)
            else:
                self._times[step] = moment
            self.max_step = max(self.max_step, step)
            self.current_step = step
            taken += 1
        if taken:
            self.version += 1
        return taken

    def _forget_after(self, step: int) -> None:
        """Drop the steps past `step`: an attempt that resumes from there trains them again, and the earlier
        attempt's records of them (a crash after its last checkpoint, or a resume without one) are gone
        with the weights that made them."""
        later = [s for s in self._records if s > step]
        for s in later:
            del self._records[s]
            self._times.pop(s, None)
        if later:
            self.max_step = max(self._records, default=0)
            self._stale = True

    def _rebuild(self) -> None:
        if not self._stale:
            return
        series: dict[str, tuple[list[float], list[float]]] = {}
        for step in sorted(self._records):
            for key, number in self._records[step].items():
                xs, ys = series.setdefault(key, ([], []))
                xs.append(float(step))
                ys.append(number)
        self._series = series
        self._stale = False

    def keys(self) -> list[str]:
        """Every metric key seen, sorted."""
        self._rebuild()
        return sorted(self._series)

    def has(self, key: str) -> bool:
        """True when at least one step logged `key` (e.g. `kl`, which TRL logs only with beta > 0)."""
        self._rebuild()
        return key in self._series

    def get(self, key: str) -> tuple[list[float], list[float]]:
        """The (steps, values) of `key`, in step order; empty lists for an unknown key.

        The lists are the series' own: read them, do not change them.
        """
        self._rebuild()
        return self._series.get(key, ([], []))

    def latest(self, key: str) -> float | None:
        """The value of `key` at the largest step that logged it."""
        _, ys = self.get(key)
        return ys[-1] if ys else None

    def step_split(self) -> list[tuple[str, float]]:
        """Where the latest step with a recorded split spent its seconds, grouped as `STEP_SPLIT` (groups
        that step did not log left out); empty before any such step, or for a run whose job logs none."""
        for step in sorted(self._records, reverse=True):
            values = self._records[step]
            if any(key.startswith(TIME_PREFIX) for key in values):
                grouped = [(name, [phase_key(p) for p in phases]) for name, phases in STEP_SPLIT]
                return [
                    (name, sum(values[k] for k in keys if k in values))
                    for name, keys in grouped
                    if any(k in values for k in keys)
                ]
        return []

    def reward_names(self) -> list[str]:
        """The reward functions that logged a per-step mean, in first-seen order of their keys."""
        self._rebuild()
        return [
            key[len(REWARD_PREFIX) : -len(REWARD_MEAN_SUFFIX)]
            for key in self._series
            if key.startswith(REWARD_PREFIX) and key.endswith(REWARD_MEAN_SUFFIX)
        ]

    def steps_per_second(self, window: int = RATE_WINDOW) -> float | None:
        """Training speed over the last `window` steps of the current attempt.

        Only steps logged after the last resume count, so the time a run spent stopped (and a
        previous attempt's stale steps) do not drag the rate down.

        Returns:
            Steps per second, or None with fewer than two timed steps.
        """
        since = self.resumes[-1][1] if self.resumes and self.resumes[-1][1] is not None else None
        points = sorted(
            (step, moment) for step, moment in self._times.items() if since is None or moment >= since
        )
        points = points[-max(2, window) :]
        if len(points) < 2:
            return None
        (first_step, first_time), (last_step, last_time) = points[0], points[-1]
        if last_time <= first_time or last_step <= first_step:
            return None
        return (last_step - first_step) / (last_time - first_time)

    def eta_seconds(self, max_steps: int, step: int | None = None) -> float | None:
        """Seconds left until `max_steps` at the current speed.

        Args:
            max_steps: The run's last step.
            step: The step now (default: the last one ingested).

        Returns:
            The estimate, 0 when done, None while the speed is unknown.
        """
        now = self.current_step if step is None else step
        if max_steps <= 0:
            return None
        if now >= max_steps:
            return 0.0
        rate = self.steps_per_second()
        return (max_steps - now) / rate if rate else None


@dataclass
class GpuTrack:
    """One GPU over time."""

    index: int
    name: str = ""
    times: list[float] = field(default_factory=list)
    used_mib: list[float] = field(default_factory=list)
    total_mib: list[float] = field(default_factory=list)
    utilization_pct: list[float] = field(default_factory=list)

    @property
    def memory_pct(self) -> list[float]:
        """Memory used as a share of the total, in percent."""
        return [
            100.0 * used / total if total else 0.0
            for used, total in zip(self.used_mib, self.total_mib, strict=True)
        ]

    def _thin(self, max_points: int) -> None:
        if len(self.times) <= max_points:
            return
        for values in (self.times, self.used_mib, self.total_mib, self.utilization_pct):
            values[:] = values[::2]


class GpuSeries:
    """Memory and utilisation per GPU index, from gpu.jsonl records (several GPUs interleaved)."""

    def __init__(self, max_points: int = GPU_MAX_POINTS) -> None:
        self.max_points = max_points
        self.tracks: dict[int, GpuTrack] = {}
        """GPU index -> its track."""
        self.start: float | None = None
        """The earliest sample time: the x axis counts seconds from here."""
        self.version = 0
        """Bumped on every change."""

    def __len__(self) -> int:
        return len(self.tracks)

    def ingest(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Add samples (`index, name, memory_used_mib, memory_total_mib, utilization_pct, time`).

        Returns:
            How many samples were taken (records missing a field are skipped).
        """
        taken = 0
        for record in records:
            if not isinstance(record, Mapping):
                continue
            index = record.get("index")
            moment = _number(record.get("time"))
            used = _number(record.get("memory_used_mib"))
            total = _number(record.get("memory_total_mib"))
            if (
                isinstance(index, bool)
                or not isinstance(index, int)
                or moment is None
                or used is None
                or total is None
            ):
                continue
            util = _number(record.get("utilization_pct")) or 0.0
            track = self.tracks.get(index)
            if track is None:
                track = self.tracks[index] = GpuTrack(index=index)
            track.name = str(record.get("name") or track.name)
            track.times.append(moment)
            track.used_mib.append(used)
            track.total_mib.append(total)
            track.utilization_pct.append(util)
            track._thin(self.max_points)
            self.start = moment if self.start is None else min(self.start, moment)
            taken += 1
        if taken:
            self.version += 1
        return taken

    def indices(self) -> list[int]:
        """The GPU indices seen, sorted."""
        return sorted(self.tracks)

    def elapsed(self, index: int) -> list[float]:
        """Seconds since the first sample, for GPU `index`'s samples."""
        track = self.tracks[index]
        start = self.start or 0.0
        return [moment - start for moment in track.times]
