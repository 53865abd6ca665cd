"""Rollout groups and health signals written by the real training job: real GRPOTrainer steps on the
tiny model through the real CLI, the figures checked against the ones TRL itself logs."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest

from tests.conftest import FAST
from tests.test_jobs import cli, sets
from tests.test_rollouts import trl_advantages
from workbench import paths
from workbench.config import load
from workbench.runs import checkpoints, find_run, read_rollouts
from workbench.tail import read_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("home_with_tiny", "reap_runs")]
assert "grpo.num_generations=4" in FAST and "grpo.max_completion_length=24" in FAST


def test_rollouts_carry_the_advantages_trl_trained_with() -> None:
    """Two groups of four per step, both written: the whole batch, so its totals, lengths, truncations and
    zero-variance groups must give exactly what TRL logged for the step (reward, reward_std,
    completions/*, frac_reward_zero_std), and the advantages are TRL's formula recomputed from the
    scores."""
    result = cli(
        "train",
        *sets("grpo.max_steps=3", "grpo.per_device_train_batch_size=8", "grpo.rollout_groups_per_step=2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    config = load(run.config)
    names = config.active_rewards
    weights = [config.rewards[n] for n in names]
    metrics = {r["step"]: r for r in read_jsonl(run.metrics) if "reward" in r}
    records = read_rollouts(run)
    assert [r.step for r in records] == [1, 2, 3]
    for record in records:
        logged = metrics[record.step]
        assert (record.groups_in_batch, len(record.groups), record.num_generations) == (2, 2, 4)
        assert record.scale_rewards == "group"
        completions = [c for group in record.groups for c in group.completions]
        rows = [[c.rewards[n] for n in names] for c in completions]
        totals = [c.total for c in completions]
        assert totals == pytest.approx(
            [sum(w * s for w, s in zip(weights, row, strict=True)) for row in rows]
        )
        assert statistics.mean(totals) == pytest.approx(logged["reward"], abs=1e-5)
        assert statistics.stdev(totals) == pytest.approx(logged["reward_std"], abs=1e-5)
        lengths = [c.length for c in completions]
        assert statistics.mean(lengths) == pytest.approx(logged["completions/mean_length"])
        assert max(lengths) == logged["completions/max_length"]
        assert record.truncated / 8 == pytest.approx(logged["completions/clipped_ratio"])
        assert all(c.length == 24 for c in completions if c.truncated)
        assert record.zero_std_groups / 2 == pytest.approx(logged["frac_reward_zero_std"])
        expected, _ = trl_advantages(rows, weights, 4, "group", "sum_then_normalize")
        assert [c.advantage for c in completions] == pytest.approx(expected, rel=1e-4, abs=1e-4)
        for group in record.groups:
            assert group.zero_std == (len({c.total for c in group.completions}) == 1)
            assert group.question and group.answer


def test_a_constant_reward_raises_the_zero_variance_warning(tmp_path: Path) -> None:
    """The only reward is check_numbers and every gold answer is a word: it scores 0 whatever the model
    writes, every group has zero variance, and after three steps health.json, train.log and `runs` say so
    (no advantage anywhere in the rollouts)."""
    rows = [json.loads(line) for line in paths.bundled_sample().read_text(encoding="utf-8").splitlines()][:64]
    words = tmp_path / "words.jsonl"
    with words.open("w", encoding="utf-8") as fh:
        for row in rows:
            row.update(response_en="So. The answer is: blue", response_vi="Vậy. Đáp án là: blue")
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    only = [
        "rewards.match_format_exactly=0",
        "rewards.match_format_approximately=0",
        "rewards.check_answer=0",
    ]
    result = cli("train", *sets("grpo.max_steps=4", f"data.source={words}", "rewards.check_numbers=1", *only))
    assert result.returncode == 0, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    assert [r["frac_reward_zero_std"] for r in read_jsonl(run.metrics) if "reward" in r] == [1.0] * 4
    health = run.read_health()
    (alert,) = [a for a in health.active if a.signal == "zero_std"]
    assert (alert.since_step, alert.step, alert.value) == (1, 4, 1.0)
    assert "nothing to learn" in alert.message
    assert "health: zero reward variance" in run.log.read_text()
    for record in read_rollouts(run):
        assert all(g.zero_std for g in record.groups)
        assert {c.advantage for g in record.groups for c in g.completions} == {0.0}
    listed = cli("runs")
    assert "zero reward variance since step 1" in listed.stdout, listed.stdout
    (info,) = json.loads(cli("runs", "--json").stdout)
    assert "zero_std" in [a["signal"] for a in info["health"]]


def test_a_nan_loss_stops_the_run_keeping_the_last_good_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loss that turns NaN at step 3 (tests/inject/sitecustomize.py poisons TRL's compute_loss there,
    so the gradients and then the weights are NaN): the run stops at step 3 without saving it, ends
    `failed` with the reason and the last good checkpoint (2) in its status, writes no adapter, and
    resumes from checkpoint-2 to the end."""
    inject = Path(__file__).parent / "inject"
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(inject), os.environ.get("PYTHONPATH")) if p)
    )
    monkeypatch.setenv("GRPO_TEST_NAN_LOSS_STEP", "3")
    result = cli("train", *sets("grpo.max_steps=6", "grpo.save_steps=2"))
    assert result.returncode == 1, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    status = run.read_status()
    assert (status.state, status.step) == ("failed", 3), status
    assert status.error is not None and "stopped at step 3: loss is nan" in status.error
    assert "the last good checkpoint is checkpoint-2" in status.error
    assert [(step, complete) for step, _, complete in checkpoints(run)] == [(2, True)]
    assert not run.adapter.exists()
    assert [a.signal for a in run.read_health().active] == ["nan_loss"]
    assert "health: loss not finite" in run.log.read_text()

    monkeypatch.delenv("GRPO_TEST_NAN_LOSS_STEP")
    resumed = cli("resume", run.run_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    status = run.read_status()
    assert (status.state, status.step) == ("completed", 6)
    assert (run.adapter / "adapter_config.json").is_file()
    assert "resuming from checkpoint-2" in run.log.read_text()
