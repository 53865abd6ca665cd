"""The offline default learns: the warm-started tiny preset writes the tags, and GRPO raises the format
rewards on it (issue 9). Real SFT, real sampling, a real GRPO run through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import presets, rewards, warmstart
from workbench.data import format_prompt


def test_sft_targets_have_the_exact_format(tiny_preset_dir: Path) -> None:
    """Every supervised target is what match_format_exactly scores 3.0, with the row's gold answer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_preset_dir)
    rows = warmstart.sft_rows(tokenizer, thinking_tokens=24)
    assert len(rows) >= 300
    texts = [row["completion"][0]["content"] for row in rows]
    assert set(rewards.match_format_exactly(texts)) == {3.0}
    golds = [example["answer"] for example in warmstart.bundled_examples()]
    assert [rewards.extract_solution(t) for t in texts] == golds
    # the worked solution is cut to the budget, so a whole answer fits the 96-token offline completions
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert max(lengths) < 96


def test_build_is_atomic_and_recorded(tmp_path: Path) -> None:
    """A short build lands complete under its name, with the warm start in the manifest and no leftovers."""
    settings = warmstart.WarmStartSettings(steps=4, log_every=2)
    seen: list[tuple[int, int]] = []
    out = warmstart.build_tiny(tmp_path / "tiny-v2", settings, on_step=lambda s, t: seen.append((s, t)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-v2"]
    manifest = json.loads((out / "workbench_model.json").read_text(encoding="utf-8"))
    assert manifest["warm_start"]["settings"]["steps"] == 4
    assert manifest["build_version"] == presets.PRESETS["tiny"].build_version
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(FileExistsError, match="already exists"):
        warmstart.build_tiny(out, settings)


def test_warm_started_tiny_writes_the_tags(tiny_preset_dir: Path) -> None:
    """Sampled like GRPO samples (temperature 1, 96 new tokens), some completions have the exact format
    and most have tags: the format rewards start above their floor with room to rise. Measured: 24 of 64
    exact; the random-init model has 0."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_preset_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny_preset_dir)
    examples = warmstart.bundled_examples()[-8:]
    texts = [
        tokenizer.apply_chat_template(
            format_prompt(e["question"]), tokenize=False, add_generation_prompt=True
        )
        for e in examples
    ]
    encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(
            **encoded,
            do_sample=True,
            temperature=1.0,
            max_new_tokens=96,
            num_return_sequences=4,
            pad_token_id=tokenizer.pad_token_id,
        )
    completions = [
        tokenizer.decode(row[encoded["input_ids"].shape[1] :], skip_special_tokens=True) for row in out
    ]
    exact = sum(score == 3.0 for score in rewards.match_format_exactly(completions))
    with_solution = sum(rewards.extract_solution(c) is not None for c in completions)
    assert exact >= 3, completions[:4]
    assert with_solution >= 8, completions[:4]
    assert exact < len(completions), "the warm start should leave GRPO something to improve"


def _mean(rows: list[dict[str, float]], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


@pytest.mark.slow
@pytest.mark.usefixtures("home_with_tiny", "reap_runs")
def test_offline_default_run_raises_the_format_rewards(workbench_home: Path) -> None:
    """The offline default run exactly as `make run` launches it (200 steps, about a minute on 2 free
    cores): the format rewards and the total reward of the last 25 steps are clearly above those of the
    first 25. Measured: exact + approximate format +1.2, total +1.1 (thresholds 0.5 and 0.4)."""
    result = subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "train"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run,) = (workbench_home / "runs").iterdir()
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    metrics = [row for row in map(json.loads, lines) if "reward" in row]
    assert len(metrics) == 200
    first, last = metrics[:25], metrics[-25:]
    exact = "rewards/match_format_exactly/mean"
    approx = "rewards/match_format_approximately/mean"
    gain = {key: _mean(last, key) - _mean(first, key) for key in (exact, approx, "reward")}
    print(f"first/last 25 steps gain: {gain}")
    assert gain[exact] + gain[approx] > 0.5, gain
    assert gain["reward"] > 0.4, gain
