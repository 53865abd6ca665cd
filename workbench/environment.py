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

from workbench import distributed, gpu, paths, presets
from workbench.config import Problem, RunConfig
from workbench.resume import init_from_problems

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
    gpu_totals_gib: tuple[float, ...] = ()
    """Memory of every GPU by NVML index (empty: unknown, gpu_total_gib then stands for each)."""

    @classmethod
    def detect(cls) -> Machine:
        samples = gpu.sample()
        total = samples[0].memory_total_mib / 1024 if samples else None
        return cls(
            gpus=gpu.device_count(),
            unsloth=has_module("unsloth"),
            vllm=has_module("vllm"),
            gpu_total_gib=total,
            gpu_totals_gib=tuple(s.memory_total_mib / 1024 for s in sorted(samples, key=lambda s: s.index)),
        )

    def training_gpu_gib(self, config: RunConfig) -> float | None:
        """Memory of the smallest GPU the run trains on (the first GPU's without distributed.gpus)."""
        chosen = config.distributed.gpus
        if not chosen or len(self.gpu_totals_gib) < self.gpus:
            return self.gpu_total_gib
        known = [self.gpu_totals_gib[i] for i in chosen if i < len(self.gpu_totals_gib)]
        return min(known) if known else self.gpu_total_gib


def resolve_backend(config: RunConfig, machine: Machine) -> str:
    """The backend a run will use. `auto`: TRL with vLLM colocated on a GPU machine that has vLLM (the
    fastest measured: 2.8 s/step against Unsloth's 4.4 for the 1B workload on an H200, and no multi-minute
    first step), Unsloth on a GPU machine that has Unsloth but no vLLM, else TRL."""
    if config.backend != "auto":
        return config.backend
    if distributed.num_processes(config) > 1 or distributed.uses_server(config):
        return "trl"  # Unsloth is the single-GPU backend and has no vLLM server mode
    if machine.gpus > 0 and not machine.vllm and machine.unsloth:
        return "unsloth"
    return "trl"


def preflight(config: RunConfig, machine: Machine | None = None) -> list[Problem]:
    """Everything that would make this run fail at start, found before anything is created."""
    machine = machine or Machine.detect()
    problems: list[Problem] = init_from_problems(config)
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
    if machine.gpus == 0 and config.model.load_in_4bit:
        # bitsandbytes' 4-bit weights need CUDA as its 8-bit optimisers do: the run would fail loading
        # the model (Unsloth is refused on CPU above, and TRL's CPU run loads the base in 16-bit)
        problems.append(
            Problem(
                "model.load_in_4bit",
                "a 4-bit base needs bitsandbytes on a GPU; fix: set model.load_in_4bit = false on CPU",
            )
        )
    if machine.gpus == 0 and config.model.name in ("llama-3.2-3b", "random-3b"):
        problems.append(
            Problem("model.name", "a 3B model on CPU would take hours per step; fix: use 'tiny' or a GPU")
        )
    problems += distributed_problems(config, machine)
    if machine.gpus:
        problems += memory_problems(config, backend, machine.training_gpu_gib(config))
    problems += tracker_problems(config)
    problems += disk_problems(paths.runs_dir())
    return problems


TRACKER_PACKAGES = {
    "tensorboard": (("tensorboard", "tensorboardX"), "pip install tensorboard (or tensorboardX)"),
    "wandb": (("wandb",), "pip install wandb"),
    "trackio": (("trackio",), "pip install trackio"),
}
"""Tracker -> (modules any of which writes for it, the install that adds one)."""


def tracker_problems(config: RunConfig) -> list[Problem]:
    """A tracker in grpo.report_to whose package is missing (transformers would fail at the first step)."""
    problems = []
    for tracker in config.grpo.report_to:
        if tracker not in TRACKER_PACKAGES:
            continue
        modules, install = TRACKER_PACKAGES[tracker]
        if not any(has_module(m) for m in modules):
            problems.append(
                Problem(
                    "grpo.report_to",
                    f"{tracker} needs the {' or '.join(modules)} package, which is not installed; fix: "
                    f"{install}, or remove {tracker} from grpo.report_to",
                )
            )
    return problems


def distributed_problems(config: RunConfig, machine: Machine) -> list[Problem]:
    """What a run on chosen GPUs needs here: the GPUs themselves, DeepSpeed for ZeRO, vLLM for server
    mode, and a model the server can load before the trainer starts (nothing for a config naming no
    GPUs). Each machine of a multi-machine run checks its own GPUs."""
    d = config.distributed
    if not d.gpus:
        return []
    if machine.gpus == 0:
        return [
            Problem(
                "distributed.gpus",
                f"names GPUs {d.gpus} but NVML sees no GPU on this machine; fix: distributed.gpus = [] "
                "(the CPU run) or run on a GPU machine",
            )
        ]
    problems = []
    last = machine.gpus - 1
    missing = [index for index in d.gpus if index > last]
    if missing:
        problems.append(
            Problem(
                "distributed.gpus",
                f"GPU {missing[0]} does not exist here: NVML sees {machine.gpus} GPU(s), 0 to {last}; fix: "
                "choose among those",
            )
        )
    if distributed.runs_server_here(config) and d.server_gpu > last:
        problems.append(
            Problem(
                "distributed.server_gpu",
                f"GPU {d.server_gpu} does not exist here: NVML sees {machine.gpus} GPU(s), 0 to {last}; "
                "fix: choose one of those that is not in distributed.gpus",
            )
        )
    if distributed.uses_launcher(config) and d.strategy != "ddp" and not has_module("deepspeed"):
        problems.append(
            Problem(
                "distributed.strategy",
                f"{d.strategy} runs DeepSpeed, which is not installed; fix: pip install deepspeed or set "
                'distributed.strategy = "ddp"',
            )
        )
    if distributed.uses_server(config) and not machine.vllm:
        problems.append(
            Problem(
                "distributed.vllm_mode",
                "server mode runs `trl vllm-serve`, which needs vLLM, and vllm is not installed; fix: pip "
                "install 'grpo-workbench[gpu]' or set distributed.vllm_mode = \"colocate\"",
            )
        )
    preset = presets.PRESETS.get(config.model.name)
    if distributed.runs_server_here(config) and preset is not None and not preset.hub_id:
        if not (Path(presets.local_build_dir(preset)) / "config.json").is_file():
            problems.append(
                Problem(
                    "model.name",
                    f"{preset.name} is built on first use by the trainer, but the vLLM server loads it "
                    "before the trainer starts; fix: run it once colocated (distributed.vllm_mode = "
                    '"colocate") to build it, or set model.name to a directory made by '
                    "`grpo-workbench build-model`",
                )
            )
    return problems


def memory_problems(config: RunConfig, backend: str, gpu_total_gib: float | None) -> list[Problem]:
    """Refuse a run whose estimated peak does not fit the GPU, with the numbers."""
    from workbench.plan import plan
    from workbench.shaping import ShapeError

    try:
        # Several training processes: each one's share of completions_per_step on its own GPU.
        chosen = plan(distributed.rank_config(config), gpu_total_gib, backend)
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


IDLE_GPU_MIB = 1024.0
"""Memory a GPU may hold with nothing running on it (driver, display, NVML's own context)."""


@dataclass(frozen=True)
class GpuUse:
    """One NVML reading of one GPU: its memory and the pids that hold memory on it."""

    index: int
    memory_used_mib: float
    memory_total_mib: float
    pids: tuple[int, ...] = ()


@dataclass(frozen=True)
class GpuConflict:
    """A GPU a new run would share: the runs of this workbench on it, other pids, the memory in use."""

    index: int
    run_ids: tuple[str, ...]
    other_pids: tuple[int, ...]
    memory_used_mib: float
    memory_total_mib: float

    def message(self) -> str:
        """What is on the GPU, and the fix."""
        owners = [f"run {run_id}" for run_id in self.run_ids]
        if self.other_pids:
            owners.append("pid " + ", ".join(map(str, self.other_pids)))
        who = " and ".join(owners) if owners else "a process NVML does not name (another container?)"
        used = f"{self.memory_used_mib / 1024:.1f} of {self.memory_total_mib / 1024:.0f} GiB used"
        fix = (
            f"stop it (`grpo-workbench stop {self.run_ids[0]}`), "
            if self.run_ids
            else "wait for it to finish, "
        )
        return (
            f"GPU {self.index} is in use by {who} ({used}); a second job there runs out of memory or slows "
            f"both; fix: {fix}choose another GPU with CUDA_VISIBLE_DEVICES, or pass --force"
        )


def gpu_conflicts(
    uses: list[GpuUse],
    owners: dict[int, str],
    wanted: list[int] | None = None,
    idle_mib: float = IDLE_GPU_MIB,
) -> list[GpuConflict]:
    """Decide which GPUs a new run would share with work already on them (pure: NVML readings in).

    Args:
        uses: NVML readings of every GPU (`gpu_uses`).
        owners: pid -> run id for every process of a live run of this workbench (supervisor, trainer and
            their children, e.g. vLLM workers).
        wanted: NVML indices the new run will use (None: all of them).
        idle_mib: Memory below which a GPU with no visible process counts as free (containers often hide
            other containers' pids, so memory is the only sign of them).

    Returns:
        One conflict per busy wanted GPU, in index order.
    """
    conflicts = []
    for use in sorted(uses, key=lambda u: u.index):
        if wanted is not None and use.index not in wanted:
            continue
        run_ids = tuple(sorted({owners[pid] for pid in use.pids if pid in owners}))
        others = tuple(sorted(pid for pid in set(use.pids) if pid not in owners))
        hidden = not use.pids and use.memory_used_mib > idle_mib
        if run_ids or others or hidden:
            conflicts.append(
                GpuConflict(use.index, run_ids, others, use.memory_used_mib, use.memory_total_mib)
            )
    return conflicts


def wanted_gpus(cuda_visible_devices: str | None) -> list[int] | None:
    """The NVML index a single-process run will train on: the first of CUDA_VISIBLE_DEVICES (0 when
    unset); [] when it hides every GPU; None (check all) when it names GPUs by UUID."""
    if cuda_visible_devices is None:
        return [0]
    first = cuda_visible_devices.split(",")[0].strip()
    if not first or first.startswith("-"):
        return []
    return [int(first)] if first.isdigit() else None


def gpu_uses() -> list[GpuUse]:
    """Read every GPU through NVML now (empty on a machine without one)."""
    return [
        GpuUse(s.index, s.memory_used_mib, s.memory_total_mib, tuple(gpu.processes(s.index)))
        for s in gpu.sample()
    ]
