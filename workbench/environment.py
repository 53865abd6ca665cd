"""What this machine has: installed versions against the known-good set, GPUs, backends that can run.

Used before a launch (so an impossible run is refused with the fix, before a run directory exists) and by
`grpo-workbench doctor`. Nothing here imports the training stack: versions come from package metadata and
GPUs from NVML, so the checks take milliseconds and never touch CUDA.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

from workbench import gpu, paths
from workbench.config import Problem, RunConfig

KNOWN_GOOD_GPU: dict[str, str] = {
    "torch": "2.11.0",
    "transformers": "5.17.0",
    "trl": "1.15.0",
    "unsloth": "2026.10.7",
    "unsloth-zoo": "2026.10.7",
    "vllm": "0.24.0",
    "peft": "0.21",
    "datasets": "4.8.5",
    "flashinfer-python": "0.6.12",
    "xgrammar": "0.2.3",
}
"""The set verified together on an H200 (unsloth caps trl <= 1.15.0 and transformers <= 5.17.0)."""
KNOWN_GOOD_CPU: dict[str, str] = {"transformers": "5.17.0", "trl": "1.16", "peft": "0.21", "datasets": "4"}
"""On CPU TRL must be >= 1.16: 1.15's log-prob path always calls a Triton kernel."""
CORE = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "textual", "math-verify")
MIN_FREE_DISK_GIB = 2.0


def version(package: str) -> str | None:
    """Installed version of `package`, or None."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def has_module(name: str) -> bool:
    """True when `name` is importable (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _release(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def version_at_least(package: str, minimum: str) -> bool:
    installed = version(package)
    return installed is not None and _release(installed) >= _release(minimum)


@dataclass(frozen=True)
class Machine:
    """The facts a launch decision needs."""

    gpus: int
    unsloth: bool
    vllm: bool
    gpu_total_gib: float | None = None
    """Memory of the first GPU (the one a single-GPU run uses)."""

    @classmethod
    def detect(cls) -> Machine:
        samples = gpu.sample()
        total = samples[0].memory_total_mib / 1024 if samples else None
        return cls(
            gpus=gpu.device_count(),
            unsloth=has_module("unsloth"),
            vllm=has_module("vllm"),
            gpu_total_gib=total,
        )


def resolve_backend(config: RunConfig, machine: Machine) -> str:
    """The backend a run will use: `auto` becomes unsloth on a GPU machine that has it, else trl."""
    if config.backend != "auto":
        return config.backend
    return "unsloth" if machine.gpus > 0 and machine.unsloth else "trl"


def preflight(config: RunConfig, machine: Machine | None = None) -> list[Problem]:
    """Everything that would make this run fail at start, found before anything is created."""
    machine = machine or Machine.detect()
    problems: list[Problem] = []
    backend = resolve_backend(config, machine)
    if backend == "unsloth":
        if machine.gpus == 0:
            problems.append(
                Problem(
                    "backend",
                    "unsloth needs a CUDA GPU and none was found; fix: set "
                    'backend = "trl" (runs on CPU) or run on a GPU machine',
                )
            )
        elif not machine.unsloth:
            problems.append(
                Problem(
                    "backend",
                    "unsloth is not installed; fix: pip install 'grpo-workbench[gpu]' "
                    'or set backend = "trl"',
                )
            )
        if config.model.fast_inference and not machine.vllm and machine.gpus:
            problems.append(
                Problem(
                    "model.fast_inference",
                    "needs vLLM, which is not installed; fix: pip install "
                    "'grpo-workbench[gpu]' or set model.fast_inference = false",
                )
            )
    if backend == "trl":
        if machine.gpus == 0 and not version_at_least("trl", "1.16"):
            problems.append(
                Problem(
                    "backend",
                    f"TRL {version('trl')} cannot run GRPO on CPU (1.15 always calls a "
                    "Triton kernel); fix: pip install 'trl>=1.16,<1.17' or run on a GPU",
                )
            )
        if config.grpo.use_vllm == "on" and not (machine.gpus and machine.vllm):
            problems.append(
                Problem(
                    "grpo.use_vllm",
                    'is on but vLLM needs a GPU and the vllm package; fix: set grpo.use_vllm = "auto"',
                )
            )
    if machine.gpus == 0 and config.grpo.optim != "adamw_torch":
        problems.append(
            Problem(
                "grpo.optim",
                f'{config.grpo.optim} needs bitsandbytes on a GPU; fix: use "adamw_torch" on CPU',
            )
        )
    if machine.gpus == 0 and config.model.name in ("llama-3.2-3b", "random-3b"):
        problems.append(
            Problem("model.name", "a 3B model on CPU would take hours per step; fix: use 'tiny' or a GPU")
        )
    if machine.gpus:
        problems += memory_problems(config, backend, machine.gpu_total_gib)
    problems += disk_problems(paths.runs_dir())
    return problems


def memory_problems(config: RunConfig, backend: str, gpu_total_gib: float | None) -> list[Problem]:
    """Refuse a run whose estimated peak does not fit the GPU, with the numbers."""
    from workbench.plan import plan
    from workbench.shaping import ShapeError

    try:
        chosen = plan(config, gpu_total_gib, backend)
    except ShapeError as exc:
        return [Problem("grpo.completions_per_step", str(exc))]
    est = chosen.shape.estimate
    if est is not None and gpu_total_gib and est.total_gib > gpu_total_gib:
        return [
            Problem(
                "grpo.per_device_train_batch_size",
                f"the estimated peak is {est.total_gib:.1f} GiB (vLLM {est.vllm_gib:.1f}, activations "
                f"{est.activations_gib:.1f}, logits {est.logits_gib:.1f}) on a {gpu_total_gib:.0f} GiB "
                "GPU; fix: set grpo.completions_per_step to let the workbench shape the batch, or lower "
                "the micro-batch or model.gpu_memory_utilization",
            )
        ]
    return []


def disk_problems(path: Path) -> list[Problem]:
    """Refuse to start where checkpoints cannot be written."""
    try:
        free = shutil.disk_usage(path).free / 2**30
    except OSError as exc:
        return [Problem("", f"runs home {path} is not usable: {exc}; fix: set GRPO_WORKBENCH_HOME")]
    probe = path / ".write-probe"
    try:
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return [
            Problem(
                "",
                f"runs home {path} is not writable ({exc.strerror}); fix: set GRPO_WORKBENCH_HOME "
                "to a writable directory",
            )
        ]
    if free < MIN_FREE_DISK_GIB:
        return [
            Problem(
                "",
                f"only {free:.1f} GiB free under {path}; checkpoints need more; fix: free space or "
                "set GRPO_WORKBENCH_HOME to a larger disk",
            )
        ]
    return []
