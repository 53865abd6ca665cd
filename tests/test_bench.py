"""`grpo-workbench bench`: refuses without a GPU; its harness (variants, timing, JSON) runs for real on the
tiny model on CPU, so the GPU run only has the GPU left to go wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grpo_workbench import cli
from workbench import gpu


@pytest.mark.skipif(gpu.device_count() > 0, reason="this machine has a GPU")
def test_bench_without_a_gpu_says_so_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench"]) == 1
    assert "has none" in capsys.readouterr().err


TINY = ["--allow-cpu", "--model", "tiny", "--completions", "8", "--num-generations", "4"]
TINY += ["--completion-length", "8", "--lora-rank", "8", "--steps", "2"]


@pytest.mark.slow
@pytest.mark.usefixtures("home_with_tiny")
def test_bench_runs_each_variant_as_the_training_job_and_reads_its_run(tmp_path: Path) -> None:
    """Each variant is a real run started the way `train` starts one (supervisor, trainer, run directory);
    the figures come from its metrics.jsonl, gpu.jsonl and plan.json, printed side by side with ratios."""
    out, runs = tmp_path / "bench.json", tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "jobs.bench", *TINY, "--variants", "one-gpu,2x4,ddp", "--out", str(out)]
        + ["--keep-runs", str(runs)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    doc = json.loads(out.read_text())
    by_name = {v["name"]: v for v in doc["variants"]}
    assert by_name["ddp"]["error"] == "needs 2 GPUs"  # this machine has none: skipped, said so
    assert result.returncode == 1, "a skipped variant makes the bench fail"
    for name, shape in (("one-gpu", (8, 1)), ("2x4", (2, 4))):
        variant = by_name[name]
        assert variant["error"] is None and variant["state"] == "completed", result.stdout[-3000:]
        assert (variant["per_device_train_batch_size"], variant["gradient_accumulation_steps"]) == shape
        assert len(variant["step_seconds"]) == 2 and all(s > 0 for s in variant["step_seconds"])
        assert len(variant["rewards"]) == 3  # the warm-up step too: the whole reward curve
        assert variant["generated_tokens_per_second"] > 0 and variant["start_seconds"] > 0
        phases = variant["phase_seconds"]  # the job's own `time/<phase>` split
        assert phases["generate"] > 0 and "rewards" in phases and "the rest" in phases
        assert Path(variant["run_dir"]).parent == runs
        assert (Path(variant["run_dir"]) / "train.log").read_text().count("supervisor") > 0
    assert by_name["2x4"]["speedup_vs_first"] > 0 and doc["baseline"] == "one-gpu"
    assert "one-gpu: seconds per step in generate" in result.stdout


def test_a_bench_variant_is_the_config_train_builds_from_the_same_settings() -> None:
    """What `--set` makes of the bench's printed `train` command is the variant's own config."""
    import shlex

    from jobs import bench

    args = bench_args("--variants", "overlap", "--set", "grpo.learning_rate=1e-5")
    for name in (
        "one-gpu",
        "tutorial",
        "overlap",
        "ddp",
        "32x4",
        "is:grpo.vllm_importance_sampling_correction=true",
    ):
        variant = bench.parse_variant(name, 128, gpu_count=2)
        config = bench.variant_config(args, variant, gpu_count=2)
        words = shlex.split(bench.train_command(args, variant))
        parsed = cli.build_parser().parse_args(words[1:])
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(gpu, "device_count", lambda: 2)
            assert cli._config_from(parsed) == config, name
    overlap = bench.variant_config(args, bench.parse_variant("overlap", 128, 2), 2)
    assert overlap.distributed.overlap_generation and overlap.distributed.server_gpu == 1
    assert overlap.grpo.learning_rate == 1e-5 and overlap.data.source == "bundled"
    one = bench.variant_config(args, bench.parse_variant("one-gpu", 128, 2), 2)
    assert one.distributed.gpus == [0] and one.grpo.completions_per_step == 128
    tutorial = bench.variant_config(args, bench.parse_variant("tutorial", 128, 2), 2)
    assert (tutorial.grpo.per_device_train_batch_size, tutorial.grpo.gradient_accumulation_steps) == (2, 64)


def bench_args(*argv: str) -> Any:
    import argparse

    from jobs import bench

    captured: dict[str, argparse.Namespace] = {}

    class Stop(Exception):
        pass

    def capture(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        captured["args"] = original(self, args, namespace)
        raise Stop

    original = argparse.ArgumentParser.parse_args
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.ArgumentParser, "parse_args", capture)
        with pytest.raises(Stop):
            bench.main(list(argv))
    return captured["args"]


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
