"""The scoring time limit through the real training job: one real GRPO step on CPU with `correctness` on
writes the step's `scoring/timeouts` into metrics.jsonl (TRL's log_metric), and the job scores within the
run's grpo.scoring_timeout_s."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import FAST

from workbench.runs import find_run
from workbench.tail import read_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("home_with_tiny", "reap_runs")]


def test_a_training_step_logs_its_scoring_timeouts() -> None:
    overrides = [*FAST, "grpo.max_steps=1", "rewards.correctness=1.0", "grpo.scoring_timeout_s=0.5"]
    result = subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "train", *(a for o in overrides for a in ("--set", o))],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    steps = [r for r in read_jsonl(run.metrics) if "reward" in r]
    assert len(steps) == 1
    assert isinstance(steps[0]["rewards/correctness/mean"], float)
    assert isinstance(steps[0]["scoring/timeouts"], float) and steps[0]["scoring/timeouts"] >= 0
    assert "Timeout is disabled" not in run.log.read_text()
