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


def test_sft_targets_are_the_two_forms_with_the_gold_answer(tiny_preset_dir: Path) -> None:
    """A share of the supervised targets is what match_format_exactly scores 3.0, the rest close with
    "Đáp án là: X" after the <thinking> block (exact format 0, two of the four tags); both with the row's
    gold answer, the SV rows' boilerplate opening left out of the reasoning."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_preset_dir)
    settings = warmstart.WarmStartSettings()
    rows = warmstart.sft_rows(tokenizer, settings.thinking_tokens, settings.solution_share, settings.seed)
    assert len(rows) >= 600
    texts = [row["completion"][0]["content"] for row in rows]
    golds = [example["answer"] for example in warmstart.warmstart_examples()]
    exact = rewards.match_format_exactly(texts)
    tagged = [t for t, score in zip(texts, exact, strict=True) if score == 3.0]
    assert 0.25 <= len(tagged) / len(texts) <= 0.35
    for text, gold, score in zip(texts, golds, exact, strict=True):
        if score == 3.0:
            assert rewards.extract_solution(text) == gold
        else:
            assert text.endswith(f"</thinking>\nĐáp án là: {gold}") and text.startswith("<thinking>")
            assert rewards.match_format_approximately([text]) == [-1.0]
    assert not any("Để giải bài toán này, ta cần xác định" in text for text in texts)
    # the worked solution is cut to the budget, so a whole answer fits the 96-token offline completions
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert max(lengths) < 64
    # and a one-step computation stays whole in it
    assert any("x + 3 = 11, nên x = 11 - 3 = 8." in text for text in texts)


def test_build_is_atomic_and_recorded(tmp_path: Path) -> None:
    """A short build lands complete under its name, with the warm start in the manifest and no leftovers."""
    settings = warmstart.WarmStartSettings(steps=4, log_every=2)
    seen: list[tuple[int, int]] = []
    name = presets.build_dir_name(presets.PRESETS["tiny"])
    out = warmstart.build_tiny(tmp_path / name, settings, on_step=lambda s, t: seen.append((s, t)))
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    manifest = json.loads((out / "workbench_model.json").read_text(encoding="utf-8"))
    assert manifest["warm_start"]["settings"]["steps"] == 4
    assert manifest["build_version"] == presets.PRESETS["tiny"].build_version
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(FileExistsError, match="already exists"):
        warmstart.build_tiny(out, settings)


def test_warm_started_tiny_writes_the_tags(tiny_preset_dir: Path) -> None:
    """Sampled like GRPO samples (96 new tokens), every completion reasons in a <thinking> block and some
    have the exact format, most closing with "Đáp án là: X" instead: the format rewards start above
    their floor with room to rise. Measured at temperature 1 over torch seeds 0, 1, 2: 12, 9, 12 of 32
    exact, 32 of 32 with a <thinking> block; the random-init model has 0."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_preset_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny_preset_dir)
    examples = warmstart.warmstart_examples()[-8:]
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
    reasoned = sum(c.startswith("<thinking>") and "</thinking>" in c for c in completions)
    assert exact >= 4, completions[:4]
    assert reasoned >= 28, completions[:4]
    assert exact <= 20, "the warm start should leave GRPO something to improve"


def _mean(rows: list[dict[str, float]], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


@pytest.mark.slow
@pytest.mark.usefixtures("home_with_tiny", "reap_runs")
def test_offline_default_run_learns_on_held_out_rows(workbench_home: Path) -> None:
    """The offline default run exactly as `make run` launches it (200 steps), then `grpo-workbench eval
    RUN` exactly as README tells a newcomer to run it (greedy, base and adapter, the run's held-out rows):
    the training rewards rise, and on rows the run never trained on and the warm start never saw, the
    adapter's exact-format rate is above the base's with non-overlapping 95% intervals (issue 19).
    Measured on 2026-12-01 (grpo.seed 3407, 1, 2; same rows and warm start): held-out greedy format
    0% [0, 10.7] -> 84.4% [68.2, 93.1], 96.9% [84.3, 99.4], 100% [89.3, 100]: gains 0.84-1.00 against
    FORMAT_GAIN 0.6 (8 rows of margin on the worst seed); training gains exact + approximate 3.97-4.76
    against 0.5, total reward 2.77-3.64 against 0.4."""
    from workbench.runs import EvalDir, RunDir

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

    evaluated = subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "eval", str(run)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert evaluated.returncode == 0, evaluated.stdout[-3000:] + evaluated.stderr[-3000:]
    print(evaluated.stdout[-2000:])
    found = {(r.target, r.decoding): r for r in EvalDir.of(RunDir(run)).results()}
    base, adapter = found["base", "greedy"].overall, found["adapter", "greedy"].overall
    assert base.rows == adapter.rows == 32
    assert base.format is not None and adapter.format is not None
    assert adapter.format.ci_low > base.format.ci_high, (base.format, adapter.format)
    assert adapter.format.value - base.format.value >= FORMAT_GAIN, (base.format, adapter.format)


FORMAT_GAIN = 0.6
"""The least held-out format gain (greedy) the default run must show; see the test's docstring."""
