"""Health signals of a GRPO run, judged from TRL's logged metrics (and the rollout groups where TRL's
own figure is missing): the few ways a run goes wrong while its reward curve still looks like a curve.

- `zero_std` (warning): more than half the groups had zero reward variance (`frac_reward_zero_std` >
  0.5) on each of the last `ZERO_STD_STEPS` logged steps: every completion of a prompt scored the same,
  so every advantage is 0 and nothing is learned;
- `clipped` (warning): every completion hit max_completion_length (`completions/clipped_ratio` = 1) on
  each of the last `CLIPPED_STEPS` logged steps;
- `entropy_collapse` (warning): the policy's token entropy (`entropy`) stayed below
  `ENTROPY_COLLAPSE_RATIO` of its start (the median of its first `ENTROPY_BASELINE_STEPS` values) for
  `ENTROPY_STEPS` logged steps: the completions of a group become copies of each other;
- `nan_loss` (error): the logged `loss` (or `grad_norm`) is NaN or infinite: the weights are no longer
  finite (the job stops the run, keeping the last good checkpoint, unless grpo.stop_on_nan_loss is off);
- `slow_step` (warning): the last step took more than `SLOW_STEP_FACTOR` times the median of the steps
  before it (at least `SLOW_STEP_MIN_HISTORY` of them).

`assess` is a pure function of the metrics history; `HealthTracker` keeps the history in the job and says
when the set of alerts changed, so health.json (`workbench.runs.HealthReport`) is rewritten only then.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.runs import HEALTH_PAST_KEPT, HealthAlert, HealthReport, MetricsRecord

ZERO_STD_FRACTION = 0.5
"""`frac_reward_zero_std` above this is "most groups"."""
ZERO_STD_STEPS = 3
CLIPPED_STEPS = 2
ENTROPY_COLLAPSE_RATIO = 0.1
ENTROPY_BASELINE_STEPS = 5
ENTROPY_STEPS = 3
SLOW_STEP_FACTOR = 5.0
SLOW_STEP_MIN_HISTORY = 5
ZERO_STD_KEY = "frac_reward_zero_std"
CLIPPED_KEY = "completions/clipped_ratio"
GROUP_ZERO_STD_KEY = "rollouts/frac_zero_std_groups"
"""The share of zero-variance groups the job counted itself (for a trainer that does not log TRL's)."""
GROUP_CLIPPED_KEY = "rollouts/clipped_ratio"
"""The share of truncated completions the job counted itself."""


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _value(record: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        found = _finite(record.get(key))
        if found is not None:
            return found
    return None


def _is_step(record: Mapping[str, Any]) -> bool:
    return "event" not in record and isinstance(record.get("step"), int)


def _run_of(records: Sequence[Mapping[str, Any]], holds: Any) -> list[Mapping[str, Any]]:
    """The trailing records (newest last) for which `holds(record)` is True."""
    run: list[Mapping[str, Any]] = []
    for record in reversed(records):
        if not holds(record):
            break
        run.append(record)
    return run[::-1]


def step_times(records: Sequence[Mapping[str, Any]]) -> list[tuple[int, float]]:
    """(step, seconds) of each logged step: TRL's `step_time` where logged, else the time since the
    previous step's record divided by the steps between them (never across a resume)."""
    out: list[tuple[int, float]] = []
    previous: Mapping[str, Any] | None = None
    for record in records:
        if record.get("event") == "resume":
            previous = None
            continue
        if not _is_step(record):
            continue
        seconds = _finite(record.get("step_time"))
        if seconds is None and previous is not None:
            steps = record["step"] - previous["step"]
            now, before = _finite(record.get("time")), _finite(previous.get("time"))
            if steps > 0 and now is not None and before is not None:
                seconds = (now - before) / steps
        if seconds is not None:
            out.append((record["step"], seconds))
        previous = record
    return out


def assess(
    records: Sequence[MetricsRecord], entropy_start: Sequence[float] | None = None
) -> list[HealthAlert]:
    """The health signals that hold at the last logged step of `records` (metrics.jsonl's records, in
    order; events and the summary line are skipped). Each alert's `since_step` is where its condition
    started to hold; `message` says what it means and what to do.

    Args:
        records: metrics.jsonl records; the job's own `rollouts/*` shares stand in for TRL's
            `frac_reward_zero_std` and `completions/clipped_ratio` where those are missing.
        entropy_start: The run's first `ENTROPY_BASELINE_STEPS` entropies, when `records` no longer
            begins at the run's start (default: the first ones in `records`).
    """
    steps = [r for r in records if _is_step(r) and ("loss" in r or "reward" in r)]
    if not steps:
        return []
    last = steps[-1]
    step = last["step"]
    alerts: list[HealthAlert] = []

    for key in ("loss", "grad_norm"):
        value = last.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and not math.isfinite(value):
            alerts.append(
                HealthAlert(
                    signal="nan_loss",
                    severity="error",
                    since_step=step,
                    step=step,
                    value=None,
                    message=(
                        f"{key} is {value} at step {step}: the weights are no longer finite; fix: resume "
                        "from the last checkpoint with a lower grpo.learning_rate or grpo.max_grad_norm"
                    ),
                )
            )
            break

    zero_run = _run_of(
        steps, lambda r: (_value(r, ZERO_STD_KEY, GROUP_ZERO_STD_KEY) or 0.0) > ZERO_STD_FRACTION
    )
    if len(zero_run) >= ZERO_STD_STEPS:
        share = _value(last, ZERO_STD_KEY, GROUP_ZERO_STD_KEY) or 0.0
        alerts.append(
            HealthAlert(
                signal="zero_std",
                since_step=zero_run[0]["step"],
                step=step,
                value=share,
                message=(
                    f"{share:.0%} of groups had zero reward variance for {len(zero_run)} steps (since step "
                    f"{zero_run[0]['step']}): every completion of a prompt scores the same, so there is "
                    "nothing to learn; fix: a reward that tells the completions apart, more "
                    "grpo.num_generations or a higher grpo.temperature"
                ),
            )
        )

    clipped_run = _run_of(steps, lambda r: (_value(r, CLIPPED_KEY, GROUP_CLIPPED_KEY) or 0.0) >= 1.0)
    if len(clipped_run) >= CLIPPED_STEPS:
        alerts.append(
            HealthAlert(
                signal="clipped",
                since_step=clipped_run[0]["step"],
                step=step,
                value=1.0,
                message=(
                    f"every completion hit grpo.max_completion_length for {len(clipped_run)} steps (since "
                    f"step {clipped_run[0]['step']}): no answer is ever finished; fix: raise "
                    "grpo.max_completion_length"
                ),
            )
        )

    known = [r for r in steps if _finite(r.get("entropy")) is not None]
    start = (
        list(entropy_start)
        if entropy_start is not None
        else [r["entropy"] for r in known[:ENTROPY_BASELINE_STEPS]]
    )
    later = known[ENTROPY_BASELINE_STEPS:] if entropy_start is None else known
    if len(start) >= ENTROPY_BASELINE_STEPS and len(later) >= ENTROPY_STEPS:
        baseline = statistics.median(start)
        limit = ENTROPY_COLLAPSE_RATIO * baseline
        low = _run_of(later, lambda r: r["entropy"] < limit)
        if baseline > 0 and len(low) >= ENTROPY_STEPS and low[-1]["step"] == step:
            alerts.append(
                HealthAlert(
                    signal="entropy_collapse",
                    since_step=low[0]["step"],
                    step=step,
                    value=low[-1]["entropy"],
                    message=(
                        f"entropy {low[-1]['entropy']:.3g} is below {ENTROPY_COLLAPSE_RATIO:.0%} of its "
                        f"start ({baseline:.3g}) since step {low[0]['step']}: the completions of a group are "
                        "becoming "
                        "the same; fix: a lower grpo.learning_rate, a higher grpo.temperature or grpo.beta"
                    ),
                )
            )

    times = step_times(records)
    if len(times) > SLOW_STEP_MIN_HISTORY and times[-1][0] == step:
        median = statistics.median(seconds for _, seconds in times[:-1])
        seconds = times[-1][1]
        if median > 0 and seconds > SLOW_STEP_FACTOR * median:
            alerts.append(
                HealthAlert(
                    signal="slow_step",
                    since_step=step,
                    step=step,
                    value=seconds,
                    message=(
                        f"step {step} took {seconds:.1f} s, {seconds / median:.1f}x the median "
                        f"{median:.2f} s: look at its time/<phase> split and train.log (swapping, another "
                        "job on the GPU, a reward function stalling)"
                    ),
                )
            )
    return alerts


HISTORY_KEPT = 1000
"""Records the tracker judges over (the median step time is that of the last ones): a long run's check
stays a few milliseconds."""


@dataclass
class HealthTracker:
    """The job's running judgement: feed it each metrics record, write health.json when `observe` says
    the alerts changed."""

    records: deque[MetricsRecord] = field(default_factory=lambda: deque(maxlen=HISTORY_KEPT))
    entropy_start: list[float] = field(default_factory=list)
    """The run's first entropies (the collapse baseline), kept when their records leave `records`."""
    report: HealthReport = field(default_factory=HealthReport)
    raised: list[HealthAlert] = field(default_factory=list)
    """The alerts the last `observe` raised (active now, not before)."""

    def _keep(self, record: MetricsRecord) -> None:
        self.records.append(record)
        entropy = _finite(record.get("entropy"))
        if entropy is not None and _is_step(record) and len(self.entropy_start) < ENTROPY_BASELINE_STEPS:
            self.entropy_start.append(entropy)

    def prime(self, records: Sequence[MetricsRecord]) -> None:
        """Take the history of an earlier attempt (a resume) without judging it."""
        for record in records:
            self._keep(record)

    def observe(self, record: MetricsRecord, now: float | None = None) -> bool:
        """Add `record` and judge again; True when the active alerts (their signals or starting steps)
        changed, so health.json should be rewritten (`report`)."""
        self._keep(record)
        self.raised = []
        if not _is_step(record):
            return False
        # while the run's first records are still held, assess finds the baseline in them
        from_start = len(self.records) < HISTORY_KEPT
        alerts = assess(list(self.records), None if from_start else self.entropy_start)
        before = {(a.signal, a.since_step) for a in self.report.active}
        after = {(a.signal, a.since_step) for a in alerts}
        step = record["step"]
        cleared = [
            a.replace(cleared_step=step) for a in self.report.active if (a.signal, a.since_step) not in after
        ]
        past = (*self.report.past, *cleared)[-HEALTH_PAST_KEPT:]
        self.report = HealthReport(step=step, updated_at=now, active=tuple(alerts), past=past)
        self.raised = [a for a in alerts if (a.signal, a.since_step) not in before]
        return before != after

    @property
    def nan_loss(self) -> HealthAlert | None:
        """The non-finite loss alert, when the last step raised one."""
        return next((a for a in self.report.active if a.signal == "nan_loss"), None)
