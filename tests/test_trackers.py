"""Experiment trackers (`grpo.report_to`): the config accepts TRL's names (a string or a list), the
trainer points each tracker at the run's trackers/ directory (wandb offline by default), the pre-flight
names a missing package, and a real tiny CPU run with TensorBoard leaves event files holding TRL's
`rewards/<name>/mean` (under transformers' `train/` prefix) for every step.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST

from jobs.trainer import tracker_env
from workbench.config import ConfigError, apply_overrides, validate
from workbench.environment import tracker_problems
from workbench.runs import RunDir


def test_report_to_takes_trl_names_as_a_string_or_a_list() -> None:
    assert validate({}).grpo.report_to == ["none"]
    assert validate(apply_overrides({}, ["grpo.report_to=tensorboard"])).grpo.report_to == ["tensorboard"]
    both = validate(apply_overrides({}, ['grpo.report_to=["tensorboard", "wandb", "tensorboard"]']))
    assert both.grpo.report_to == ["tensorboard", "wandb"]
    with pytest.raises(ConfigError, match="grpo.report_to: lists none together with"):
        validate({"grpo": {"report_to": ["none", "wandb"]}})
    with pytest.raises(ConfigError, match="grpo.report_to: .*fix: use 'none', 'tensorboard'"):
        validate({"grpo": {"report_to": ["mlflow"]}})


def test_each_tracker_writes_under_the_run_and_wandb_stays_offline(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    config = validate({"grpo": {"report_to": ["tensorboard", "wandb", "trackio"]}})
    env = tracker_env(config, run)
    assert env["TENSORBOARD_LOGGING_DIR"] == str(run.trackers / "tensorboard")
    assert env["WANDB_DIR"] == str(run.trackers) and env["WANDB_MODE"] == "offline"
    assert env["TRACKIO_DIR"] == str(run.trackers / "trackio")
    online = validate({"grpo": {"report_to": ["wandb"], "report_offline": False}})
    assert tracker_env(online, run)["WANDB_MODE"] == "online"
    assert tracker_env(validate({}), run) == {}


def test_a_missing_tracker_package_is_named_with_its_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.environment as environment

    monkeypatch.setattr(environment, "has_module", lambda name: name != "wandb")
    problems = tracker_problems(validate({"grpo": {"report_to": ["wandb", "tensorboard"]}}))
    assert [p.field for p in problems] == ["grpo.report_to"]
    assert "pip install wandb" in problems[0].message


def tensorboard_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the TFRecord event files under `directory`: tag -> [(step, value)], read with the
    Event protobuf of whichever TensorBoard package is installed."""
    try:
        from tensorboard.compat.proto.event_pb2 import Event
    except ImportError:
        from tensorboardX.proto.event_pb2 import Event
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(directory.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, offset)
            record = data[offset + 12 : offset + 12 + length]
            offset += 12 + length + 4  # length, its CRC, the record, its CRC
            event: Any = Event()
            event.ParseFromString(record)
            for value in event.summary.value:
                number = value.simple_value
                if value.HasField("tensor") and value.tensor.float_val:
                    number = value.tensor.float_val[0]
                scalars.setdefault(value.tag, []).append((event.step, number))
    return scalars


@pytest.mark.slow
def test_a_tiny_cpu_run_writes_tensorboard_events_with_each_reward(
    home_with_tiny: Path, tmp_path: Path
) -> None:
    if not (_has("tensorboard") or _has("tensorboardX")):
        pytest.skip("neither tensorboard nor tensorboardX is installed (pip install -e '.[dev]')")
    overrides = [*FAST, "grpo.max_steps=2", "grpo.save_steps=2", "grpo.report_to=tensorboard", "name=tb"]
    result = subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "train", *(a for o in overrides for a in ("--set", o))],
        capture_output=True,
        text=True,
        timeout=900,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = RunDir(home_with_tiny / "runs" / result.stdout.strip().splitlines()[0])
    events = run.tracker_dir("tensorboard")
    assert list(events.glob("events.out.tfevents.*")), sorted(run.trackers.rglob("*"))
    assert not (run.checkpoints / "runs").exists()  # not transformers' default place
    scalars = tensorboard_scalars(events)
    from workbench.config import load

    for name in load(run.config).active_rewards:
        steps = [step for step, _ in scalars[f"train/rewards/{name}/mean"]]
        assert steps == [1, 2], name
    assert {"train/reward", "train/loss"} <= set(scalars)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
