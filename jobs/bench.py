"""`grpo-workbench bench`: what the training job does on this machine, variant against variant.

Every variant is a real run: the bench builds the config `grpo-workbench train --set ...` would build (the
machine's default plus the workload and the variant's settings), starts it exactly as `train` does
(`jobs.launch.launch`: the supervisor, the trainer through `jobs.trainer.build_trainer`, accelerate's
launcher and the vLLM server where the config asks for them, the same trims and heap freeze), waits for
it and reads its run directory: seconds per step from metrics.jsonl (the wall time between consecutive
steps, the first `--warmup` steps left out), each step's phases (`time/<phase>`, from TRL's own profiling
blocks), the rewards, the off-policy figures, the torch peak, NVML's peak of every GPU the run used
(gpu.jsonl) and the plan's estimate (plan.json). A bench variant and a `train` of the same config are the
same job, so they agree to the machine's noise. Runs go into a scratch runs home (`--keep-runs DIR` keeps
them) and never into the user's Runs list.

Variants (comma-separated; two-GPU ones are skipped on a machine with fewer GPUs):

    one-gpu   the default job on GPU 0 (TRL + vLLM colocated, the shape chosen for the GPU); `auto` too
    tutorial  the tutorial's batch shape, 2 x 64 for 128 completions, on GPU 0
    unsloth   backend = "unsloth" on GPU 0
    ddp       distributed.gpus = [0, 1]: one training process per GPU, vLLM colocated on each
    server    GPU 0 trains, vLLM serves on GPU 1 (TRL's server mode), one step after the other
    overlap   server, with distributed.overlap_generation: GPU 1 generates step t+1 while GPU 0 trains t
    PxA       a manual shape on GPU 0, e.g. 32x4
    LABEL:KEY=VALUE;KEY=VALUE   GPU 0 with these settings,
              e.g. is:grpo.vllm_importance_sampling_correction=true

    grpo-workbench bench --variants one-gpu,ddp,overlap --steps 9 --out bench.json

The random-init models run every completion to its full length; `--mixed-lengths` forces each one's length
(25-100% of --completion-length, `jobs.forced_lengths`) to measure the padding a real model's early stops
leave in the training batch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs import forced_lengths
from workbench import flags

if TYPE_CHECKING:
    pass

MIXED_LENGTHS_SEED = 0
"""The seed of `--mixed-lengths`' forced completion lengths: every variant draws the same sequence."""
TUTORIAL_SHAPE = (2, 64)
"""The tutorial's per-device batch x gradient accumulation for 128 completions per step."""

NAMED: dict[str, tuple[int, list[str]]] = {
    "one-gpu": (1, []),
    "auto": (1, []),
    "tutorial": (1, []),
    "unsloth": (1, ["backend=unsloth"]),
    "ddp": (2, ["backend=trl", "distributed.gpus=[0,1]"]),
    "server": (
        2,
        ["backend=trl", "distributed.gpus=[0]", 'distributed.vllm_mode="server"', "distributed.server_gpu=1"],
    ),
    "overlap": (
        2,
        [
            "backend=trl",
            "distributed.gpus=[0]",
            'distributed.vllm_mode="server"',
            "distributed.server_gpu=1",
            "distributed.overlap_generation=true",
        ],
    ),
}
"""Variant name -> (GPUs it needs, its settings over the workload's). One-GPU variants train on GPU 0."""


@dataclass
class Variant:
    name: str
    gpus: int
    overrides: list[str]


@dataclass
class VariantResult:
    """One variant's figures, read from its run directory."""

    name: str
    overrides: list[str] = field(default_factory=list)
    run_dir: str | None = None
    state: str | None = None
    per_device_train_batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    num_processes: int | None = None
    step_seconds: list[float] = field(default_factory=list)
    """Wall seconds between consecutive steps' records in metrics.jsonl, after the warm-up steps."""
    start_seconds: float | None = None
    """From the launch to the first step's record (model load, vLLM start-up, compilation, first step)."""
    completion_tokens_per_step: float | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Median seconds per timed step in each phase (`time/<phase>` of metrics.jsonl)."""
    off_policy: dict[str, float] = field(default_factory=dict)
    """Medians over the timed steps of `overlap/staleness` and TRL's `sampling/*` figures, where logged."""
    rewards: list[float] = field(default_factory=list)
    """`reward` of every step, in order (the reward curve)."""
    peak_allocated_gib: float | None = None
    peak_nvml_gib: dict[str, float] = field(default_factory=dict)
    """NVML's highest reading of each GPU the run used (gpu.jsonl), by NVML index."""
    estimated_peak_gib: float | None = None
    """plan.json's estimate for one training GPU."""
    error: str | None = None

    @property
    def seconds_per_step(self) -> float | None:
        return statistics.median(self.step_seconds) if self.step_seconds else None

    @property
    def tokens_per_second(self) -> float | None:
        s = self.seconds_per_step
        return self.completion_tokens_per_step / s if s and self.completion_tokens_per_step else None

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seconds_per_step": self.seconds_per_step,
            "generated_tokens_per_second": self.tokens_per_second,
        }


def parse_variant(text: str, completions: int, gpu_count: int) -> Variant:
    """A variant name (see the module docstring), PxA, or LABEL:KEY=VALUE;KEY=VALUE."""
    on_gpu0 = ["distributed.gpus=[0]"] if gpu_count else []
    if ":" in text:
        label, _, settings = text.partition(":")
        return Variant(label, 1, [*on_gpu0, *(s.strip() for s in settings.split(";") if s.strip())])
    if text == "tutorial":
        per_device, accumulation = TUTORIAL_SHAPE
        accumulation = max(1, accumulation * completions // (per_device * accumulation))
        return Variant(text, 1, [*on_gpu0, *_manual(per_device, accumulation)])
    if text in NAMED:
        gpus, overrides = NAMED[text]
        return Variant(text, gpus, [*(on_gpu0 if gpus == 1 else []), *overrides])
    per_device_text, _, accumulation_text = text.partition("x")
    try:
        per_device, accumulation = int(per_device_text), int(accumulation_text)
    except ValueError:
        raise SystemExit(
            f"error: variant {text!r} is not one of {', '.join(NAMED)}, PxA such as 16x8, or "
            "LABEL:KEY=VALUE;KEY=VALUE"
        ) from None
    if per_device * accumulation != completions:
        raise SystemExit(
            f"error: variant {text} gives {per_device * accumulation} completions, not {completions}"
        )
    return Variant(text, 1, [*on_gpu0, *_manual(per_device, accumulation)])


def _manual(per_device: int, accumulation: int) -> list[str]:
    return [
        "grpo.completions_per_step=0",
        f"grpo.per_device_train_batch_size={per_device}",
        f"grpo.gradient_accumulation_steps={accumulation}",
    ]


def workload(args: argparse.Namespace) -> list[str]:
    """The settings every variant shares: the model, the lengths, the LoRA and the step count, over the
    machine's default config (what `train` starts from)."""
    overrides = [
        f"model.name={args.model}",
        "data.source=bundled",
        f"grpo.num_generations={args.num_generations}",
        f"grpo.max_completion_length={args.completion_length}",
        f"grpo.completions_per_step={args.completions}",
        f"grpo.max_prompt_length={args.prompt_length}",
        f"grpo.max_steps={args.warmup + args.steps}",
        "grpo.save_steps=100000",
        f"lora.rank={args.lora_rank}",
        f"lora.alpha={args.lora_rank}",
    ]
    if args.lora_rank > 64:
        overrides.append(f"lora.max_lora_rank={next(r for r in (128, 256, 320, 512) if r >= args.lora_rank)}")
    return overrides


def variant_config(args: argparse.Namespace, variant: Variant, gpu_count: int) -> Any:
    """The run config of one variant: exactly what `grpo-workbench train --set ...` builds with the same
    settings (`train_command` prints that command)."""
    from workbench import config as wconfig

    data = wconfig.machine_default(gpu_count).model_dump(mode="json")
    data = wconfig.apply_overrides(data, settings_of(args, variant))
    return wconfig.validate(data)


def settings_of(args: argparse.Namespace, variant: Variant) -> list[str]:
    return [*workload(args), *args.set, *variant.overrides]


def train_command(args: argparse.Namespace, variant: Variant) -> str:
    """The `grpo-workbench train` command that starts the same job as this variant."""
    import shlex

    forced = f"{forced_lengths.ENV}={MIXED_LENGTHS_SEED} " if args.mixed_lengths else ""
    return (
        forced
        + "grpo-workbench train "
        + " ".join(f"--set {shlex.quote(s)}" for s in settings_of(args, variant))
    )


def run_variant(args: argparse.Namespace, variant: Variant, gpu_count: int, root: Path) -> VariantResult:
    """Start the variant as `train` does, wait for it to end, read its run directory."""
    from jobs import launch
    from workbench.config import ConfigError

    result = VariantResult(variant.name, variant.overrides)
    try:
        config = variant_config(args, variant, gpu_count)
        started = time.time()
        run, proc = launch.launch(config, root=root, check=not args.allow_cpu)
    except (ConfigError, launch.LaunchError, ValueError) as exc:
        result.error = str(exc).replace("\n", " ")
        return result
    result.run_dir = str(run.path)
    print(f"[bench] {variant.name}: run {run.path}", flush=True)
    try:
        proc.wait(timeout=args.variant_timeout)
    except Exception:  # subprocess.TimeoutExpired: stop it with a checkpoint, as a user would
        launch.stop(run, wait=120)
        result.error = f"did not finish within {args.variant_timeout:.0f} s; stopped"
    read_run(run, result, args.warmup, started)
    return result


def read_run(run: Any, result: VariantResult, warmup: int, started: float) -> None:
    """Fill `result` from a finished run's directory."""
    from workbench.runs import resolve_state
    from workbench.tail import read_jsonl

    state, _, status = resolve_state(run)
    result.state = state
    if state == "failed" and result.error is None:
        result.error = str(getattr(status, "error", None) or "failed")
    records = [r for r in read_jsonl(run.metrics) if "step" in r and "event" not in r and "loss" in r]
    by_step: dict[int, dict[str, Any]] = {}
    for record in records:
        by_step[int(record["step"])] = record  # a resumed step's last record wins
    steps = sorted(by_step)
    if steps:
        result.start_seconds = by_step[steps[0]]["time"] - started
    timed = [s for s in steps if s > warmup and s - 1 in by_step]
    result.step_seconds = [round(by_step[s]["time"] - by_step[s - 1]["time"], 4) for s in timed]
    result.rewards = [float(by_step[s].get("reward", float("nan"))) for s in steps]
    phases: dict[str, list[float]] = {}
    off: dict[str, list[float]] = {}
    lengths = []
    for s in timed:
        record = by_step[s]
        for key, value in record.items():
            if key.startswith("time/") and isinstance(value, int | float):
                phases.setdefault(key.removeprefix("time/").replace("_", " "), []).append(float(value))
            elif key.startswith(("overlap/", "sampling/")) and isinstance(value, int | float):
                off.setdefault(key, []).append(float(value))
        length = record.get("completions/mean_length")
        if isinstance(length, int | float):
            lengths.append(float(length))
    result.phase_seconds = {k: round(statistics.median(v), 4) for k, v in phases.items()}
    result.off_policy = {k: round(statistics.median(v), 5) for k, v in off.items()}
    allocated = [r["gpu/max_allocated_gib"] for r in records if "gpu/max_allocated_gib" in r]
    result.peak_allocated_gib = max(allocated) if allocated else None
    for sample in read_jsonl(run.gpu):
        index = str(sample.get("index"))
        used = float(sample.get("memory_used_mib", 0.0)) / 1024
        result.peak_nvml_gib[index] = max(result.peak_nvml_gib.get(index, 0.0), round(used, 2))
    plan = _read_json(run.plan)
    if plan:
        result.per_device_train_batch_size = plan.get("per_device_train_batch_size")
        result.gradient_accumulation_steps = plan.get("gradient_accumulation_steps")
        result.num_processes = plan.get("num_processes")
        estimate = plan.get("estimate") or {}
        total = estimate.get("total_gib")
        result.estimated_peak_gib = round(total, 2) if isinstance(total, int | float) else None
        if lengths and result.per_device_train_batch_size and result.gradient_accumulation_steps:
            completions = (
                result.per_device_train_batch_size
                * result.gradient_accumulation_steps
                * (result.num_processes or 1)
            )
            result.completion_tokens_per_step = statistics.mean(lengths) * completions


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def report(results: list[VariantResult], meta: dict[str, Any]) -> dict[str, Any]:
    """Print the variants side by side with their speed-up over the first one; return the JSON document."""

    def fmt(value: float | None, width: int, digits: int) -> str:
        return f"{value:{width}.{digits}f}" if value is not None else "-".rjust(width)

    base = next((r.seconds_per_step for r in results if r.seconds_per_step), None)
    print()
    print(
        f"{'variant':<12} {'shape':>10} {'s/step':>7} {'x':>6} {'tok/s':>8} {'start s':>8} "
        f"{'torch GiB':>9} {'est GiB':>8}  NVML GiB by GPU"
    )
    doc: dict[str, Any] = {**meta, "variants": []}
    for r in results:
        shape = (
            f"{r.per_device_train_batch_size}x{r.gradient_accumulation_steps}"
            + (f"x{r.num_processes}" if (r.num_processes or 1) > 1 else "")
            if r.per_device_train_batch_size
            else "-"
        )
        ratio = base / r.seconds_per_step if base and r.seconds_per_step else None
        nvml = " ".join(f"{k}:{v:.1f}" for k, v in sorted(r.peak_nvml_gib.items()))
        print(
            f"{r.name:<12} {shape:>10} {fmt(r.seconds_per_step, 7, 3)} {fmt(ratio, 6, 2)} "
            f"{fmt(r.tokens_per_second, 8, 0)} {fmt(r.start_seconds, 8, 0)} "
            f"{fmt(r.peak_allocated_gib, 9, 1)} {fmt(r.estimated_peak_gib, 8, 1)}  {nvml or '-'}"
            + (f"  FAILED {r.error[:300]}" if r.error else "")
        )
        doc["variants"].append({**r.to_dict(), "speedup_vs_first": ratio})
    for r in results:
        if r.phase_seconds:
            split = ", ".join(f"{k} {v:.2f}" for k, v in r.phase_seconds.items())
            print(f"{r.name}: seconds per step in {split}")
        if r.off_policy:
            print(f"{r.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(r.off_policy.items())))
    if base is not None:
        doc["baseline"] = results[0].name
    return doc


def build_parser() -> argparse.ArgumentParser:
    """`grpo-workbench bench`'s options (every number checked by `workbench.flags`)."""
    parser = argparse.ArgumentParser(
        prog="grpo-workbench bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="random-1b", help="preset, hub id or directory (random-1b)")
    parser.add_argument(
        "--completions",
        type=flags.Whole(
            1, "give 1 or more completions per optimizer step (a multiple of --num-generations)"
        ),
        default=128,
        help="completions per optimizer step (128)",
    )
    parser.add_argument(
        "--num-generations",
        type=flags.Whole(2, "give 2 or more completions per prompt (GRPO compares them)"),
        default=8,
    )
    parser.add_argument(
        "--completion-length", type=flags.Whole(1, "give 1 or more tokens per completion"), default=256
    )
    parser.add_argument(
        "--prompt-length",
        type=flags.Whole(1, "give the longest prompt kept, 1 or more tokens"),
        default=256,
        help="longest prompt kept (256)",
    )
    parser.add_argument("--lora-rank", type=flags.LORA_RANK, default=64)
    parser.add_argument(
        "--steps",
        type=flags.Whole(1, "give 1 or more timed steps per variant"),
        default=5,
        help="timed steps per variant (5)",
    )
    parser.add_argument(
        "--warmup",
        type=flags.Whole(0, "give 0 or more untimed first steps per variant"),
        default=1,
        help="untimed first steps per variant (1)",
    )
    parser.add_argument(
        "--variants",
        default="one-gpu,tutorial",
        help="comma-separated: " + ", ".join(NAMED) + ", PxA such as 32x4, or LABEL:KEY=VALUE;KEY=VALUE",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument(
        "--keep-runs", type=Path, default=None, help="keep the variants' run directories here"
    )
    parser.add_argument(
        "--variant-timeout",
        type=flags.Real("give the seconds one variant may take, above 0 (1800 is the default)", above=0.0),
        default=1800.0,
        help="seconds per variant (1800)",
    )
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a config override for every variant, e.g. --set grpo.vllm_importance_sampling_correction=true",
    )
    parser.add_argument(
        "--mixed-lengths",
        action="store_true",
        help="force each completion's length, uniform over 25-100%% of --completion-length, as a real "
        "model's early stops would leave them (TRL's colocated vLLM only; see jobs/forced_lengths.py)",
    )
    parser.add_argument("--allow-cpu", action="store_true", help=argparse.SUPPRESS)  # tests of the harness
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from workbench import gpu

    gpu_count = gpu.device_count()
    if not gpu_count and not args.allow_cpu:
        raise SystemExit("error: bench needs a CUDA GPU and NVML sees none")
    if args.mixed_lengths:  # read by the runs' trainers (jobs.forced_lengths), inherited through the launch
        os.environ[forced_lengths.ENV] = str(MIXED_LENGTHS_SEED)
    if args.model.startswith(("random-", "tiny", "/")):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model needs no hub
    variants = [
        parse_variant(v.strip(), args.completions, gpu_count) for v in args.variants.split(",") if v.strip()
    ]
    meta = {
        "model": args.model,
        "completions_per_step": args.completions,
        "completion_length": args.completion_length,
        "num_generations": args.num_generations,
        "lora_rank": args.lora_rank,
        "warmup": args.warmup,
        "overrides": list(args.set),
        "mixed_lengths": args.mixed_lengths,
        "gpus": gpu_count,
        "time": time.time(),
    }
    root = args.keep_runs or Path(tempfile.mkdtemp(prefix="grpo-bench-runs-"))
    root.mkdir(parents=True, exist_ok=True)
    results: list[VariantResult] = []
    try:
        for variant in variants:
            print(f"[bench] variant {variant.name}: {train_command(args, variant)}", flush=True)
            if variant.gpus > max(gpu_count, 1):
                result = VariantResult(variant.name, variant.overrides, error=f"needs {variant.gpus} GPUs")
            else:
                result = run_variant(args, variant, gpu_count, root)
            print(
                f"[bench] {variant.name}: {result.state}, s/step {result.step_seconds}"
                + (f", error {result.error}" if result.error else ""),
                flush=True,
            )
            results.append(result)
            if args.out:  # keep what finished if a later variant is cut off
                partial = {**meta, "variants": [r.to_dict() for r in results], "partial": True}
                args.out.write_text(json.dumps(partial, indent=2))
    finally:
        if args.keep_runs is None:
            shutil.rmtree(root, ignore_errors=True)
    doc = report(results, meta)
    if args.out:
        args.out.write_text(json.dumps(doc, indent=2))
        print(f"figures written to {args.out}")
    return 0 if all(r.error is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
