"""Health signals on crafted metrics (pure functions), and the job's callback stopping on a NaN loss."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from workbench.health import HealthTracker, assess, step_times
from workbench.runs import RunDir


def steps(count: int, **overrides: Any) -> list[dict[str, Any]]:
    """`count` healthy metrics records, one a second; `overrides` maps a key to a list of values (or one
    value for every step)."""
    records = []
    for index in range(count):
        record: dict[str, Any] = {
            "step": index + 1,
            "time": 1000.0 + index,
            "loss": 0.01,
            "grad_norm": 0.1,
            "reward": 1.0,
            "entropy": 2.0,
            "frac_reward_zero_std": 0.1,
            "completions/clipped_ratio": 0.2,
            "step_time": 1.0,
        }
        for key, values in overrides.items():
            record[key] = values[index] if isinstance(values, list) else values
        records.append(record)
    return records


def signals(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {alert.signal: alert for alert in assess(records)}


def test_a_healthy_run_has_no_alerts() -> None:
    assert assess(steps(20)) == []
    assert assess([]) == []


def test_zero_variance_for_several_steps() -> None:
    share = [0.1, 0.8, 0.9, 1.0, 1.0]
    found = signals(steps(5, frac_reward_zero_std=share))
    alert = found["zero_std"]
    assert (alert.since_step, alert.step, alert.value, alert.severity) == (2, 5, 1.0, "warning")
    assert "zero reward variance for 4 steps" in alert.message and "fix:" in alert.message
    assert "zero_std" not in signals(steps(5, frac_reward_zero_std=[0.9, 0.9, 0.1, 0.9, 0.9]))  # broken run
    assert "zero_std" not in signals(steps(5, frac_reward_zero_std=0.5))  # half is not most


def test_zero_variance_from_the_groups_where_trl_logs_none() -> None:
    """A trainer that does not log frac_reward_zero_std (Unsloth may not): the job's own count."""
    records = steps(4, **{"rollouts/frac_zero_std_groups": 1.0})
    for record in records:
        del record["frac_reward_zero_std"]
    assert signals(records)["zero_std"].since_step == 1


def test_every_completion_clipped() -> None:
    found = signals(steps(4, **{"completions/clipped_ratio": [0.5, 1.0, 0.9, 1.0]}))
    assert "clipped" not in found
    found = signals(steps(4, **{"completions/clipped_ratio": [0.5, 0.9, 1.0, 1.0]}))
    assert found["clipped"].since_step == 3 and "grpo.max_completion_length" in found["clipped"].message


def test_entropy_collapse() -> None:
    entropy = [2.0, 2.1, 1.9, 2.0, 2.2, 1.0, 0.15, 0.1, 0.05]
    alert = signals(steps(9, entropy=entropy))["entropy_collapse"]
    assert (alert.since_step, alert.value) == (7, 0.05)
    assert "entropy_collapse" not in signals(steps(8, entropy=entropy[:8]))  # two low steps only
    assert "entropy_collapse" not in signals(steps(9, entropy=[*entropy[:8], 1.5]))  # recovered


def test_nan_or_inf_loss_is_an_error() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        alert = signals(steps(3, loss=[0.1, 0.1, bad]))["nan_loss"]
        assert alert.severity == "error" and alert.since_step == 3 and "learning_rate" in alert.message
    assert signals(steps(3, grad_norm=[0.1, 0.1, math.nan]))["nan_loss"].message.startswith("grad_norm")
    assert "nan_loss" not in signals(steps(3, loss=[math.nan, 0.1, 0.1]))  # judged at the last step


def test_a_slow_step() -> None:
    times = [1.0, 1.2, 0.9, 1.1, 1.0, 1.0, 6.0]
    alert = signals(steps(7, step_time=times))["slow_step"]
    assert alert.step == 7 and alert.value == 6.0 and "6.0x the median" in alert.message
    assert "slow_step" not in signals(steps(7, step_time=[*times[:6], 4.9]))
    assert "slow_step" not in signals(steps(3, step_time=[1.0, 1.0, 60.0]))  # too little history
    assert "slow_step" not in signals(steps(7, step_time=[60.0, 1, 1, 1, 1, 1, 1]))  # a slow first step


def test_step_times_from_the_clock_never_across_a_resume() -> None:
    records = steps(4, time=[0.0, 2.0, 4.0, 100.0])
    for record in records:
        del record["step_time"]
    records.insert(3, {"event": "resume", "step": 3, "time": 90.0})
    assert step_times(records) == [(2, 2.0), (3, 2.0)]


def test_tracker_says_when_alerts_change_and_keeps_the_cleared_ones() -> None:
    tracker = HealthTracker()
    shares = [0.9, 0.9, 0.9, 0.9, 0.1]
    changes = [tracker.observe(record, now=1.0) for record in steps(5, frac_reward_zero_std=shares)]
    assert changes == [False, False, True, False, True]
    assert tracker.raised == []  # at the last step one cleared, none was raised
    assert tracker.report.active == () and tracker.report.step == 5
    (cleared,) = tracker.report.past
    assert (cleared.signal, cleared.since_step, cleared.cleared_step) == ("zero_std", 1, 5)
    assert tracker.nan_loss is None
    assert tracker.observe({**steps(6)[-1], "loss": math.nan})
    assert tracker.nan_loss is not None and tracker.raised == [tracker.nan_loss]


def test_nan_loss_stops_training_without_a_checkpoint_of_those_weights(tmp_path: Path) -> None:
    """The job's callback on a NaN loss: training stops, this step is not saved, the failure names the
    last good checkpoint, health.json says why."""
    from transformers import TrainerControl, TrainerState

    from jobs.reporting import HealthWatch, Progress, StopFlag, make_callback

    run = RunDir(tmp_path)
    good = run.checkpoints / "checkpoint-4"
    good.mkdir(parents=True)
    for name in ("adapter_model.safetensors", "optimizer.pt", "trainer_state.json"):
        (good / name).write_bytes(b"x")
    stop = StopFlag()
    callback = make_callback(run, Progress(run), stop, 10, watch=HealthWatch(run, stop_on_nan=True))
    state = TrainerState()
    for step, loss in ((5, 0.1), (6, math.nan)):
        state.global_step = step
        control = TrainerControl(should_save=True)  # a save step
        callback.on_log(None, state, control, logs={"loss": loss, "reward": 1.0})
    assert control.should_training_stop and not control.should_save
    assert stop.failure is not None
    assert "stopped at step 6: loss is nan" in stop.failure and "checkpoint-4" in stop.failure
    health = run.read_health()
    assert [a.signal for a in health.active] == ["nan_loss"] and health.step == 6

    (tmp_path / "off").mkdir()
    other = RunDir(tmp_path / "off")
    stop_off = StopFlag()
    off = make_callback(other, Progress(other), stop_off, 10, watch=HealthWatch(other, stop_on_nan=False))
    control = TrainerControl()
    off.on_log(None, state, control, logs={"loss": math.nan})
    assert not control.should_training_stop and stop_off.failure is None


def test_a_long_run_is_judged_over_its_recent_history_with_its_first_entropies() -> None:
    """After HISTORY_KEPT records the tracker forgets the oldest, but the entropy baseline stays the
    run's start: a collapse long after the start is still found, and each check stays cheap."""
    from workbench.health import HISTORY_KEPT

    count = HISTORY_KEPT + 200
    entropy = [2.0] * (count - 3) + [0.1] * 3
    tracker = HealthTracker()
    for record in steps(count, entropy=entropy):
        tracker.observe(record)
    assert len(tracker.records) == HISTORY_KEPT and tracker.entropy_start == [2.0] * 5
    (alert,) = tracker.report.active
    assert (alert.signal, alert.since_step) == ("entropy_collapse", count - 2)
