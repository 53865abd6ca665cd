"""Rollout groups: the advantage formula against TRL's own code, the group records, and rollouts.jsonl's
writer (rotation) and tolerant, incremental reader."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from workbench.rollouts import build_step, grpo_advantages, spread_picks
from workbench.runs import (
    RolloutIndex,
    RolloutStep,
    RolloutWriter,
    RunDir,
    read_rollouts,
)


def trl_advantages(
    scores: list[list[float | None]], weights: list[float], g: int, scale: str, aggregation: str
) -> tuple[list[float], list[bool]]:
    """TRL 1.16's `_generate_and_score_completions` advantage block, line for line in torch (with TRL's
    own `nanstd`): advantages per completion and `is_std_zero` per completion."""
    import torch
    from trl.trainer.utils import nanstd

    rewards_per_func = torch.tensor(
        [[math.nan if s is None else s for s in row] for row in scores], dtype=torch.float32
    )
    reward_weights = torch.tensor(weights, dtype=torch.float32)
    unscorable_mask = torch.isnan(rewards_per_func).all(dim=1)
    if aggregation == "sum_then_normalize":
        rewards = (rewards_per_func * reward_weights.unsqueeze(0)).nansum(dim=1)
        rewards[unscorable_mask] = torch.nan
        mean_grouped_rewards = torch.nanmean(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
        if scale in ["group", "none"]:
            std_rewards = nanstd(rewards.view(-1, g), dim=1).repeat_interleave(g, dim=0)
        else:
            std_rewards = nanstd(rewards).expand_as(rewards)
        advantages = rewards - mean_grouped_rewards
        if scale != "none":
            advantages = advantages / (std_rewards + 1e-4)
    else:
        grouped = rewards_per_func.view(-1, g, len(weights))
        mean_k = torch.nanmean(grouped, dim=1, keepdim=True)
        std_k = nanstd(grouped, dim=1, keepdim=True)
        reward_k = ((grouped - mean_k) / (std_k + 1e-4)).view(-1, len(weights))
        rewards = (reward_k * reward_weights.unsqueeze(0)).nansum(dim=1)
        rewards[unscorable_mask] = torch.nan
        std_rewards = nanstd(rewards).expand_as(rewards)
        advantages = (rewards - torch.nanmean(rewards)) / (std_rewards + 1e-4)
    is_std_zero = torch.isclose(std_rewards, torch.zeros_like(std_rewards))
    return torch.nan_to_num(advantages, nan=0.0).tolist(), is_std_zero.tolist()


def random_batch(seed: int, groups: int, g: int, functions: int) -> list[list[float | None]]:
    rng = random.Random(seed)
    rows: list[list[float | None]] = []
    for group in range(groups):
        constant = group % 3 == 0  # every third group scores one value throughout: zero variance
        for _ in range(g):
            rows.append(
                [1.5 if constant else rng.choice([-1.5, -0.5, 0.0, 1.5, 3.0]) for _ in range(functions)]
            )
    rows[5][0] = None  # a function that gave None for one completion
    rows[-1] = [None] * functions  # a completion no function could score
    return rows


@pytest.mark.parametrize(
    ("scale", "aggregation"),
    [
        ("group", "sum_then_normalize"),
        ("batch", "sum_then_normalize"),
        ("none", "sum_then_normalize"),
        ("group", "normalize_then_sum"),
    ],
)
def test_advantages_are_trls(scale: str, aggregation: str) -> None:
    """The same batch through this module and through TRL's code: the same advantages (float32 against
    float64) and the same zero-variance groups, None scores and an unscorable completion included."""
    g, weights = 4, [1.0, 0.5, 2.0]
    rows = random_batch(7, groups=6, g=g, functions=3)
    ours = grpo_advantages(rows, weights, g, scale, aggregation)
    expected, zero = trl_advantages(rows, weights, g, scale, aggregation)
    assert ours.advantages == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert ours.advantages[-1] == 0.0 and ours.totals[-1] is None
    if aggregation == "sum_then_normalize" and scale != "batch":
        assert ours.zero_std == zero[::g]
        assert ours.zero_std[0] and ours.zero_std[3] and not ours.zero_std[1]


def test_a_zero_variance_group_has_no_advantage() -> None:
    ours = grpo_advantages([[2.0], [2.0], [2.0], [2.0]], [1.0], 4)
    assert ours.advantages == [0.0] * 4 and ours.zero_std == [True] and ours.group_stds == [0.0]


def test_the_formula_by_hand() -> None:
    """(r - mean) / (std + 1e-4), std with Bessel's correction."""
    ours = grpo_advantages([[0.0], [2.0]], [1.0], 2)
    std = math.sqrt(2.0)  # values 0 and 2: mean 1, sum of squares 2, divided by n - 1 = 1
    assert ours.advantages == pytest.approx([-1 / (std + 1e-4), 1 / (std + 1e-4)])


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="scale_rewards 'per_token'"):
        grpo_advantages([[1.0], [2.0]], [1.0], 2, "per_token")
    with pytest.raises(ValueError, match="do not split into groups of 4"):
        grpo_advantages([[1.0], [2.0]], [1.0], 4)


def test_spread_picks() -> None:
    assert spread_picks(8, 2) == [0, 4]
    assert spread_picks(3, 5) == [0, 1, 2]
    assert spread_picks(5, 0) == []


def make_step(step: int, groups: int = 3, g: int = 4, text: str = "x") -> RolloutStep:
    names = ["a", "b"]
    count = groups * g
    scores = {
        "a": [float(i % g) for i in range(count)],
        "b": [None if i == 1 else 1.0 for i in range(count)],
    }
    for i in range(g):  # the first group totals 3 throughout, b's None made up by a
        scores["a"][i] = 3.0 if i == 1 else 1.0
    return build_step(
        step=step,
        at=1000.0 + step,
        names=names,
        weights=[1.0, 2.0],
        scores=scores,
        texts=[f"{text} {i}" for i in range(count)],
        prompts=[[{"role": "user", "content": f"question {i // g}"}] for i in range(count)],
        answers=[str(i // g) for i in range(count)],
        num_generations=g,
        groups_wanted=2,
        lengths=[10 + i for i in range(count)],
        truncated=[i % 5 == 0 for i in range(count)],
    )


def test_build_step_writes_whole_groups() -> None:
    record = make_step(3)
    assert (record.step, record.groups_in_batch, record.num_generations) == (3, 3, 4)
    assert [g.index for g in record.groups] == [0, 1]  # two of three, spread from the first
    first, second = record.groups
    assert first.zero_std and first.std == 0.0 and {c.advantage for c in first.completions} == {0.0}
    assert first.question == "question 0" and first.answer == "0"
    assert not second.zero_std and len(second.completions) == 4
    assert second.best is not None and second.best.advantage == max(c.advantage for c in second.completions)
    assert second.worst is not None and second.worst.advantage < 0 < second.best.advantage
    assert first.completions[1].rewards == {"a": 3.0, "b": None} and first.completions[1].total == 3.0
    assert record.zero_std_groups == 1 and record.truncated == 3  # completions 0, 5, 10
    assert RolloutStep.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_reader_is_tolerant() -> None:
    """Garbage, wrong types and missing fields read as defaults, never raise."""
    assert RolloutStep.from_json("nonsense") == RolloutStep()
    odd = RolloutStep.from_json(
        {"step": 4, "groups": [{"completions": [{"advantage": "x", "total": None}], "mean": "?"}, 7]}
    )
    assert odd.step == 4 and len(odd.groups) == 1 and odd.groups[0].mean is None
    assert odd.groups[0].completions[0].advantage == 0.0


def test_writer_rotates_and_the_index_follows(tmp_path: Path) -> None:
    """Lines go to rollouts.jsonl until the next would pass max_bytes; the file then becomes
    rollouts.1.jsonl (replacing the one before), so the directory never holds more than twice the limit;
    an index built before a rotation finds every step still held afterwards, and forgets the rest."""
    run = RunDir(tmp_path)
    size = len(json.dumps(make_step(1).to_json(), ensure_ascii=False)) + 1
    writer = RolloutWriter(run, max_bytes=3 * size + 10)  # three steps to a file
    index = RolloutIndex(run)
    for step in range(1, 5):
        writer.write(make_step(step))
    index.scan_all()
    assert index.steps == [1, 2, 3, 4]
    for step in range(5, 11):
        writer.write(make_step(step))
        if step == 6:
            index.scan_all()  # half-way through the next rotation
    index.scan_all()
    assert index.steps == [7, 8, 9, 10]  # 1-6 rotated away twice
    assert run.rollouts.stat().st_size + run.rollouts_rotated.stat().st_size <= 2 * (3 * size + 10)
    assert [r.step for r in read_rollouts(run)] == [7, 8, 9, 10]
    record = index.read(8)
    assert record == make_step(8)
    assert index.read(3) is None
    writer.close()


def test_index_reads_only_new_bytes_and_waits_for_a_torn_line(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    writer = RolloutWriter(run)
    writer.write(make_step(1))
    index = RolloutIndex(run, chunk=64)  # smaller than a line: lines longer than a chunk still index
    assert index.scan() and index.steps == [1]
    assert not index.scan()  # nothing new: nothing read
    line = json.dumps(make_step(2).to_json()) + "\n"
    with run.rollouts.open("a", encoding="utf-8") as fh:
        fh.write(line[:50])  # a writer half-way through its line
    assert not index.scan() and index.steps == [1]
    with run.rollouts.open("a", encoding="utf-8") as fh:
        fh.write(line[50:] + "not a step\n")
    assert index.scan() and index.steps == [1, 2]
    assert index.bad_lines == 1
    assert index.read(2) == make_step(2)


def test_a_repeated_step_reads_as_the_later_line(tmp_path: Path) -> None:
    """A resumed run repeats the steps after its checkpoint: the later line wins."""
    run = RunDir(tmp_path)
    writer = RolloutWriter(run)
    for record in (make_step(1), make_step(2, text="first"), make_step(2, text="again")):
        writer.write(record)
    records = read_rollouts(run)
    assert [r.step for r in records] == [1, 2]
    assert records[1].groups[0].completions[0].completion == "again 0"


def test_a_new_file_under_a_known_inode_is_read_afresh(tmp_path: Path) -> None:
    """Replacing rollouts.jsonl by a shorter or a different file drops what the index held of it."""
    run = RunDir(tmp_path)
    writer = RolloutWriter(run)
    for step in (1, 2, 3):
        writer.write(make_step(step))
    writer.close()
    index = RolloutIndex(run)
    index.scan_all()
    assert index.steps == [1, 2, 3]
    with run.rollouts.open("r+", encoding="utf-8") as fh:  # the same inode, other content
        fh.truncate(0)
        fh.write(json.dumps(make_step(9).to_json()) + "\n")
    index.scan_all()
    assert index.steps == [9]
    run.rollouts.unlink()
    index.scan_all()
    assert index.steps == [] and index.read(9) is None


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    record = make_step(1)
    group = record.groups[1]
    broken = record.replace(groups=(group.replace(mean=float("nan")),))
    RolloutWriter(run).write(broken)
    data: dict[str, Any] = json.loads(run.rollouts.read_text(encoding="utf-8"))
    assert data["groups"][0]["mean"] is None
