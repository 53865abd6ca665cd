"""`grpo-workbench bench`: what this GPU does with the tutorial's batch shape and with the workbench's.

Every variant (tutorial 2 x 64, the workbench's `auto` choice, or PxA) trains a fresh GRPOTrainer for a
few steps on the same GPU, model, prompts and vLLM share, so the comparison is the batch shape alone. With
Unsloth the model (and its colocated vLLM, weights shared) is loaded once for all variants; with TRL and
vLLM on a GPU (`auto`) each variant runs in its own process, since TRL builds a vLLM engine per trainer and
a second one in the same process would skew the memory figures. Step times come from the trainer's own
step boundaries, the first (compilation, CUDA graphs) excluded; each step is split into generation, weight
sync into vLLM, rewards, scoring, forward, loss and the rest (backward, optimizer) from TRL's own
profiling blocks (`PHASES`). Peak
memory is `torch.cuda.max_memory_allocated` per variant and NVML's device reading, against the estimate.
A random-init model never stops early, so every completion runs to its maximum length: the worst case.

    grpo-workbench bench --model random-1b --completions 128 --completion-length 256 --out bench.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.phases import PhaseClock, median_phases
from workbench import flags

if TYPE_CHECKING:
    from workbench.config import RunConfig

TUTORIAL_SHAPE = (2, 64)
"""The tutorial's per-device batch x gradient accumulation for 128 completions per step."""


@dataclass
class VariantResult:
    """One batch shape's figures."""

    name: str
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    vllm_share: float
    step_seconds: list[float] = field(default_factory=list)
    first_step_seconds: float | None = None
    completion_tokens_per_step: float | None = None
    peak_allocated_gib: float | None = None
    peak_nvml_used_gib: float | None = None
    estimated_peak_gib: float | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    """Median seconds per timed step in each phase TRL profiles (see `PhaseClock`)."""
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


def parse_variant(text: str, completions: int) -> tuple[str, int | None, int | None]:
    """'tutorial', 'auto' or 'PxA' (micro-batch x accumulation)."""
    if text == "tutorial":
        per_device, accumulation = TUTORIAL_SHAPE
        scale = completions / (per_device * accumulation)
        return text, per_device, max(1, int(accumulation * scale))
    if text == "auto":
        return text, None, None
    per_device_text, _, accumulation_text = text.partition("x")
    try:
        per_device, accumulation = int(per_device_text), int(accumulation_text)
    except ValueError:
        raise SystemExit(f"error: variant {text!r} is not 'tutorial', 'auto' or PxA such as 16x8") from None
    if per_device * accumulation != completions:
        raise SystemExit(
            f"error: variant {text} gives {per_device * accumulation} completions, not {completions}"
        )
    return text, per_device, accumulation


class NvmlPeak:
    """Samples NVML memory in a thread; `peak_gib` is the highest reading since `reset`."""

    def __init__(self) -> None:
        from workbench import gpu

        self._gpu = gpu
        self.peak_gib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            samples = self._gpu.sample()
            if samples:
                self.peak_gib = max(self.peak_gib, samples[0].memory_used_mib / 1024)

    def reset(self) -> None:
        self.peak_gib = 0.0

    def close(self) -> None:
        self._stop.set()


def step_timer(clock: PhaseClock) -> Any:
    """A callback recording wall time per optimizer step, its phases (`clock`) and the completion lengths
    TRL/Unsloth log."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.durations: list[float] = []
            self.phases: list[dict[str, float]] = []
            self.lengths: list[float] = []

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            clock.start_step()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            seconds, phases = clock.end_step()
            self.durations.append(seconds)
            self.phases.append(phases)
            split = ", ".join(f"{k} {v:.2f}" for k, v in phases.items())
            print(
                f"[bench] step {state.global_step}: {self.durations[-1]:.2f} s"
                + (f" ({split})" if split else ""),
                flush=True,
            )

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            logs = logs or {}
            length = logs.get("completions/mean_length", logs.get("completion_length"))
            if isinstance(length, int | float):
                self.lengths.append(float(length))

    return StepTimer()


def bench_config(args: argparse.Namespace) -> RunConfig:
    from workbench.config import apply_overrides, validate

    overrides = [
        f"model.name={args.model}",
        f"backend={args.backend}",
        f"grpo.num_generations={args.num_generations}",
        f"grpo.max_completion_length={args.completion_length}",
        f"grpo.completions_per_step={args.completions}",
        f"grpo.max_prompt_length={args.prompt_length}",
        "grpo.max_steps=1000",
        "grpo.samples_per_step=0",
        f"lora.rank={args.lora_rank}",
        f"lora.alpha={args.lora_rank}",
        "data.held_out=0",
        f"model.gpu_memory_utilization={args.vllm_share or 0.0}",
    ]
    overrides += list(args.set or [])
    if args.lora_rank > 64:
        overrides.append(f"lora.max_lora_rank={next(r for r in (128, 256, 320, 512) if r >= args.lora_rank)}")
    return validate(apply_overrides({}, overrides))


def run_variants(
    args: argparse.Namespace, variants: list[tuple[str, int | None, int | None]]
) -> list[VariantResult]:
    """Load the model once, train every variant for warmup + steps steps on it."""
    from jobs.backends import import_backend, load_model
    from jobs.trainer import grpo_args, make_trainer, to_dataset, training_rows
    from workbench import environment, presets
    from workbench.memory import estimate
    from workbench.plan import RunPlan, plan
    from workbench.shaping import BatchShape

    config = bench_config(args)
    backend = environment.resolve_backend(config, environment.Machine.detect())
    import_backend(backend)  # before trl/transformers: Unsloth patches them process-wide
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        raise SystemExit("error: bench needs a CUDA GPU and torch sees none")
    total = torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None
    auto = plan(config, total, backend)
    share = auto.vllm_share
    print(
        f"[bench] {torch.cuda.get_device_name(0) if cuda else 'CPU'} ({total or 0:.0f} GiB); "
        f"backend {backend}; vLLM share {share}; auto shape {auto.shape.describe()}; "
        f"gradient checkpointing {'on' if auto.gradient_checkpointing else 'off'}",
        flush=True,
    )
    model_path = presets.ensure_model(config.model.name, _BuildLines())
    start = time.perf_counter()
    loaded = load_model(config, backend, model_path, share, auto.gradient_checkpointing)
    print(f"[bench] model loaded in {time.perf_counter() - start:.0f} s", flush=True)
    prepared = training_rows(config, loaded.tokenizer)
    train = to_dataset(prepared.train)
    print(
        f"[bench] {len(prepared.train)} prompts, the longest {prepared.stats.longest_prompt_tokens} tokens "
        "(TRL pads a batch's prompts to its longest)",
        flush=True,
    )
    from workbench.rewards import get_reward

    names = config.active_rewards
    nvml = NvmlPeak()
    clock = PhaseClock()
    clock.install()
    results = []
    for name, per_device, accumulation in variants:
        if per_device is None or accumulation is None:
            per_device, accumulation = auto.per_device_train_batch_size, auto.gradient_accumulation_steps
        result = VariantResult(name, per_device, accumulation, share)
        est = (
            estimate(
                auto.model_shape,
                lora_rank=config.lora.rank,
                target_modules=config.lora.target_modules,
                micro_batch=per_device,
                generation_batch=per_device * accumulation,
                max_prompt_length=config.grpo.max_prompt_length,
                max_completion_length=config.grpo.max_completion_length,
                vllm_share=share,
                gpu_total_gib=total,
                backend=backend,
                gradient_checkpointing=auto.gradient_checkpointing,
            )
            if auto.model_shape
            else None
        )
        result.estimated_peak_gib = est.total_gib if est else None
        print(f"[bench] variant {name}: {per_device} x {accumulation}", flush=True)
        variant_plan = RunPlan(
            BatchShape(per_device, accumulation, share, est, total),
            auto.model_shape,
            auto.gradient_checkpointing,
        )
        config.grpo.max_steps = args.warmup + args.steps
        config.grpo.save_steps = 10**6  # a bench saves nothing
        with tempfile.TemporaryDirectory() as out:
            training_args = grpo_args(
                config,
                variant_plan,
                Path(out),
                cuda,
                loaded.use_vllm,
                [config.rewards[n] for n in names],
                backend,
            )
            timer = step_timer(clock)
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            nvml.reset()
            try:
                trainer = make_trainer(
                    loaded,
                    training_args,
                    [get_reward(n) for n in names],
                    train,
                    [timer],
                    trim_vllm=config.grpo.trim_vllm_overhead,
                )
                trainer.train()
            except Exception as exc:  # one failing shape (say, out of memory) must not lose the others
                result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                print(f"[bench] variant {name} failed: {result.error}", flush=True)
            finally:
                if cuda:
                    torch.cuda.synchronize()
        result.first_step_seconds = timer.durations[0] if timer.durations else None
        result.step_seconds = timer.durations[args.warmup :]
        result.phase_seconds = median_phases(timer.phases[args.warmup :])
        if timer.lengths:
            result.completion_tokens_per_step = statistics.mean(timer.lengths) * per_device * accumulation
        result.peak_allocated_gib = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
        result.peak_nvml_used_gib = nvml.peak_gib or None
        results.append(result)
        trainer = None
        gc.unfreeze()  # make_trainer froze the heap; this variant's trainer must be collectable
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    nvml.close()
    return results


class _BuildLines:
    """A model build's progress as `[bench]` lines (`presets.BuildProgress`); the warm start's loss lines
    stand for its steps."""

    def phase(self, name: str) -> None:
        print(f"[bench] {name}", flush=True)

    def message(self, text: str) -> None:
        print(f"[bench] {text}", flush=True)

    def step(self, phase: str, done: int, total: int) -> None:
        pass


def report(results: list[VariantResult], meta: dict[str, Any]) -> dict[str, Any]:
    """Print the comparison table and return the JSON document."""
    print()
    print(
        f"{'variant':<10} {'shape':>8} {'s/step':>8} {'tok/s':>9} {'peak GiB':>9} {'NVML GiB':>9} "
        f"{'est GiB':>8}"
    )
    for r in results:

        def fmt(value: float | None, spec: str) -> str:
            width = int("".join(ch for ch in spec.split(".")[0] if ch.isdigit()) or 0)
            return format(value, spec) if value is not None else "-".rjust(width)

        print(
            f"{r.name:<10} {r.per_device_train_batch_size:>3} x {r.gradient_accumulation_steps:<3} "
            f"{fmt(r.seconds_per_step, '8.2f')} {fmt(r.tokens_per_second, '9.0f')} "
            f"{fmt(r.peak_allocated_gib, '9.1f')} {fmt(r.peak_nvml_used_gib, '9.1f')} "
            f"{fmt(r.estimated_peak_gib, '8.1f')}" + (f"  FAILED {r.error}" if r.error else "")
        )
    for r in results:
        if r.phase_seconds:
            split = ", ".join(f"{k} {v:.2f}" for k, v in r.phase_seconds.items())
            print(f"{r.name}: seconds per step in {split}")
    doc: dict[str, Any] = {**meta, "variants": [r.to_dict() for r in results]}
    tutorial = next((r for r in results if r.name == "tutorial" and r.seconds_per_step), None)
    ours = next((r for r in results if r.name == "auto" and r.seconds_per_step), None)
    if tutorial and ours and ours.seconds_per_step:
        ratio = tutorial.seconds_per_step / ours.seconds_per_step  # type: ignore[operator]
        doc["speedup_auto_vs_tutorial"] = ratio
        print(
            f"\nthe workbench's shape is {ratio:.2f}x faster than the tutorial's "
            f"({ours.seconds_per_step:.2f} vs {tutorial.seconds_per_step:.2f} s/step)"
        )
    return doc


def build_parser() -> argparse.ArgumentParser:
    """`grpo-workbench bench`'s options (every number checked by `workbench.flags`)."""
    parser = argparse.ArgumentParser(
        prog="grpo-workbench bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="random-1b", help="preset, hub id or directory (random-1b)")
    parser.add_argument("--backend", default="auto", choices=["auto", "unsloth", "trl"])
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
    parser.add_argument("--vllm-share", type=flags.GPU_SHARE, default=None, help="force vLLM's memory share")
    parser.add_argument(
        "--steps",
        type=flags.Whole(1, "give 1 or more timed steps per variant"),
        default=3,
        help="timed steps per variant (3)",
    )
    parser.add_argument(
        "--warmup",
        type=flags.Whole(0, "give 0 or more untimed first steps per variant"),
        default=1,
        help="untimed first steps per variant (1)",
    )
    parser.add_argument(
        "--variants",
        default="tutorial,auto",
        help="comma-separated: tutorial, auto, or PxA such as 32x4 (tutorial,auto)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--isolate", action="store_true", help="run each variant in its own process")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a config override for every variant, e.g. --set model.gradient_checkpointing=false",
    )
    parser.add_argument("--allow-cpu", action="store_true", help=argparse.SUPPRESS)  # tests of the harness
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.model.startswith(("random-", "tiny", "/")):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model needs no hub
    variants = [parse_variant(v.strip(), args.completions) for v in args.variants.split(",") if v.strip()]
    meta = {
        "model": args.model,
        "completions_per_step": args.completions,
        "completion_length": args.completion_length,
        "num_generations": args.num_generations,
        "lora_rank": args.lora_rank,
        "overrides": list(args.set),
        "time": time.time(),
    }
    if args.isolate or (len(variants) > 1 and builds_vllm_per_variant(args)):
        results = []
        for variant in args.variants.split(","):
            with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                cmd = [
                    sys.executable,
                    "-m",
                    "jobs.bench",
                    *_without(argv or sys.argv[1:], "--variants", "--out"),
                    "--variants",
                    variant,
                    "--out",
                    tmp.name,
                ]
                subprocess.run([c for c in cmd if c != "--isolate"], check=False)
                try:
                    doc = json.loads(Path(tmp.name).read_text())
                    results += [
                        VariantResult(
                            **{k: v for k, v in d.items() if k in VariantResult.__dataclass_fields__}
                        )
                        for d in doc["variants"]
                    ]
                except (OSError, ValueError, KeyError):
                    results.append(VariantResult(variant, 0, 0, 0.0, error="variant process failed"))
            if args.out:  # keep what finished if a later variant is cut off
                partial = {**meta, "variants": [r.to_dict() for r in results], "partial": True}
                args.out.write_text(json.dumps(partial, indent=2))
    else:
        results = run_variants(args, variants)
    doc = report(results, meta)
    if args.out:
        args.out.write_text(json.dumps(doc, indent=2))
        print(f"figures written to {args.out}")
    return 0 if all(r.error is None for r in results) else 1


def builds_vllm_per_variant(args: argparse.Namespace) -> bool:
    """Whether each variant would build its own vLLM engine: the TRL backend (`auto` resolved for this
    machine) on a GPU with vLLM.

    Why it matters: the first engine's memory is never handed back to the device, so a second variant in
    the same process would read the first's leftovers in its NVML peak (measured on an H200: 139.4 GiB for
    a shape that peaks at 109.0 GiB on its own). Such variants each get their own process.
    """
    from workbench import environment

    machine = environment.Machine.detect()
    backend = environment.resolve_backend(bench_config(args), machine)
    return backend == "trl" and machine.gpus > 0 and machine.vllm


def _without(argv: list[str], *options: str) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item in options:
            skip = True
            continue
        if any(item.startswith(o + "=") for o in options):
            continue
        out.append(item)
    return out


if __name__ == "__main__":
    sys.exit(main())
