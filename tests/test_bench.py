"""`grpo-workbench bench`: refuses without a GPU; its harness (variants, timing, JSON) runs for real on the
tiny model on CPU, so the GPU run only has the GPU left to go wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_workbench import cli
from workbench import gpu


@pytest.mark.skipif(gpu.device_count() > 0, reason="this machine has a GPU")
def test_bench_without_a_gpu_says_so_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench"]) == 1
    assert "has none" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.usefixtures("home_with_tiny")
def test_bench_harness_times_each_variant(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.bench",
            "--allow-cpu",
            "--model",
            "tiny",
            "--completions",
            "8",
            "--num-generations",
            "4",
            "--completion-length",
            "12",
            "--lora-rank",
            "8",
            "--steps",
            "2",
            "--variants",
            "tutorial,auto,2x4",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    doc = json.loads(out.read_text())
    shapes = {
        v["name"]: (v["per_device_train_batch_size"], v["gradient_accumulation_steps"])
        for v in doc["variants"]
    }
    assert shapes == {"tutorial": (2, 4), "auto": (8, 1), "2x4": (2, 4)}
    for variant in doc["variants"]:
        assert len(variant["step_seconds"]) == 2 and all(s > 0 for s in variant["step_seconds"])
        assert variant["generated_tokens_per_second"] > 0
        phases = variant["phase_seconds"]  # from TRL's own profiling blocks
        assert phases["generate"] > 0 and "rewards" in phases and "the rest" in phases
        assert phases["forward"] > 0 and "scoring" in phases and "loss" in phases
        assert sum(phases.values()) <= max(variant["step_seconds"]) + 1e-6
    assert doc["speedup_auto_vs_tutorial"] > 0
    assert "the workbench's shape is" in result.stdout
    assert "auto: seconds per step in generate" in result.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("home_with_tiny")
def test_bench_isolate_runs_each_variant_in_its_own_process_and_merges_them(tmp_path: Path) -> None:
    """`--isolate` (automatic for TRL + vLLM on a GPU, where each trainer builds its own engine): one child
    process per variant, one merged report, as if they had run in one process."""
    out = tmp_path / "bench.json"
    args = ["--allow-cpu", "--model", "tiny", "--completions", "8", "--num-generations", "4"]
    args += ["--completion-length", "8", "--lora-rank", "8", "--steps", "1", "--warmup", "0"]
    args += ["--variants", "tutorial,auto", "--isolate", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "jobs.bench", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("model loaded in") == 2, "each variant loaded the model in its own process"
    doc = json.loads(out.read_text())
    assert [v["name"] for v in doc["variants"]] == ["tutorial", "auto"]
    assert all(len(v["step_seconds"]) == 1 and v["error"] is None for v in doc["variants"])
    assert "partial" not in doc and doc["speedup_auto_vs_tutorial"] > 0


def test_phase_clock_counts_each_block_once_when_blocks_nest() -> None:
    """TRL's `_prepare_inputs` holds generation and rewards, `compute_loss` holds the forward pass, and a
    reward function's own block sits inside `_calculate_rewards`: each phase gets its exclusive time, so
    the phases add up to the step instead of counting generation twice."""
    from jobs.phases import PhaseClock

    clock = PhaseClock()
    clock.installed = True
    clock.enter("GRPOTrainer._prepare_inputs")
    clock.enter("GRPOTrainer.vLLM.generate")
    clock.leave(1.0)
    clock.enter("GRPOTrainer._calculate_rewards")
    clock.enter("GRPOTrainer.format_exact")  # unphased: stays inside rewards
    clock.leave(0.1)
    clock.leave(0.3)
    clock.leave(1.5)  # prepare: 1.5 - 1.0 - 0.3
    clock.enter("GRPOTrainer.compute_loss")
    clock.enter("GRPOTrainer._get_per_token_logps_and_entropies")
    clock.leave(0.6)
    clock.leave(0.7)
    phases = clock.take(3.0)
    assert phases == pytest.approx(
        {"generate": 1.0, "rewards": 0.3, "scoring": 0.2, "forward": 0.6, "loss": 0.1, "the rest": 0.8}
    )
    assert clock.take(1.0) == {"the rest": 1.0}, "the next step starts from zero"


def test_the_monitors_step_groups_name_the_phases_the_clock_measures() -> None:
    """The Monitor groups `time/<phase>` keys by phase name (workbench.series) and the job writes them
    from jobs.phases: a renamed phase on one side would silently drop out of the status line."""
    from jobs.phases import PHASES
    from workbench.series import STEP_SPLIT

    grouped = [phase for _, phases in STEP_SPLIT for phase in phases]
    assert sorted(grouped) == sorted([*PHASES, "the rest"])
