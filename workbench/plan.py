"""The launch plan: a config plus this machine's GPU give the batch shape, vLLM's share and the memory
estimate, computed the same way by the pre-flight check, the Configure screen and the training job.

A launch whose estimate does not fit the GPU is refused with the numbers (ShapeError), before anything
starts. Without a GPU the plan only fixes the batch shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from workbench import presets
from workbench.config import RunConfig
from workbench.modelbuild import ModelShape
from workbench.shaping import HEADROOM, BatchShape, ShapeError, choose_shape

MANUAL_VLLM_SHARE = 0.5
"""vLLM's share when the batch shape is manual and no share is set (the tutorial's 0.5)."""


@dataclass(frozen=True)
class RunPlan:
    """What a run will actually use."""

    shape: BatchShape
    model_shape: ModelShape | None
    gradient_checkpointing: bool = True
    """Whether the trainer recomputes activations (model.gradient_checkpointing, `auto` resolved)."""

    @property
    def per_device_train_batch_size(self) -> int:
        return self.shape.per_device_train_batch_size

    @property
    def gradient_accumulation_steps(self) -> int:
        return self.shape.gradient_accumulation_steps

    @property
    def vllm_share(self) -> float:
        return self.shape.vllm_share

    def to_dict(self) -> dict[str, object]:
        est = self.shape.estimate
        return {
            "per_device_train_batch_size": self.per_device_train_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "vllm_share": self.vllm_share,
            "gpu_total_gib": self.shape.gpu_total_gib,
            "estimate": est.to_dict() if est else None,
            "gradient_checkpointing": self.gradient_checkpointing,
            "describe": self.shape.describe()
            + ("" if self.gradient_checkpointing else ", no gradient checkpointing"),
        }


def model_shape(name: str) -> ModelShape | None:
    """The architecture of a preset or a local model directory; None for a hub id not on disk."""
    arch = presets.architecture_of(name)
    if arch is not None:
        return ModelShape.of(arch)
    config = Path(name) / "config.json"
    try:
        return ModelShape.from_hf_config(json.loads(config.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


MIN_MICRO_BATCH_WITHOUT_CHECKPOINTING = 16
"""`gradient_checkpointing = "auto"` turns checkpointing off only when a micro-batch of at least this many
completions still fits without it: a smaller micro-batch would cost more time than the recomputation."""


def plan(config: RunConfig, gpu_total_gib: float | None, backend: str) -> RunPlan:
    """The batch shape, vLLM share and gradient checkpointing this run will use on a GPU of
    `gpu_total_gib` (None: CPU).

    Raises:
        ShapeError: the run cannot fit the GPU.
    """
    setting = config.model.gradient_checkpointing
    if setting != "auto":
        return _plan(config, gpu_total_gib, backend, setting == "on")
    if not gpu_total_gib:
        return _plan(config, gpu_total_gib, backend, False)  # no GPU memory to save on a CPU
    if model_shape(config.model.name) is None:
        return _plan(config, gpu_total_gib, backend, True)  # nothing to estimate with: be safe
    try:
        without = _plan(config, gpu_total_gib, backend, False)
    except ShapeError:
        return _plan(config, gpu_total_gib, backend, True)
    est = without.shape.estimate
    completions = without.per_device_train_batch_size * without.gradient_accumulation_steps
    fits = est is None or (
        est.total_gib <= gpu_total_gib * HEADROOM and est.vllm_need_gib <= est.vllm_gib + 1e-9
    )
    if fits and without.per_device_train_batch_size >= min(
        MIN_MICRO_BATCH_WITHOUT_CHECKPOINTING, completions
    ):
        return without
    return _plan(config, gpu_total_gib, backend, True)


def server_check(config: RunConfig, gpu_total_gib: float | None) -> None:
    """Server mode: refuse a vLLM server GPU (assumed the same model as the training GPU) whose share
    cannot hold a whole generation round of every training process at once.

    Raises:
        ShapeError: with the numbers and the fix.
    """
    from workbench import distributed
    from workbench.memory import WEIGHT_BYTES_BF16, vllm_need_gib

    shape = model_shape(config.model.name)
    if not distributed.uses_server(config) or shape is None or not gpu_total_gib:
        return
    g = config.grpo
    completions = g.completions_per_step or g.generation_batch_size * config.distributed.num_processes
    share = config.model.gpu_memory_utilization or distributed.SERVER_MEMORY_SHARE
    need = vllm_need_gib(shape, completions, g.max_prompt_length + g.max_completion_length, WEIGHT_BYTES_BF16)
    if need > share * gpu_total_gib:
        raise ShapeError(
            f"the vLLM server needs an estimated {need:.1f} GiB for {completions} sequences of "
            f"{g.max_prompt_length + g.max_completion_length} tokens at once, and its share "
            f"{share:.2f} of {gpu_total_gib:.0f} GiB is {share * gpu_total_gib:.1f}; fix: raise "
            "model.gpu_memory_utilization, or fewer completions per step or shorter completions"
        )


def _plan(config: RunConfig, gpu_total_gib: float | None, backend: str, checkpointing: bool) -> RunPlan:
    server_check(config, gpu_total_gib)
    g = config.grpo
    shape = model_shape(config.model.name)
    # Server mode: vLLM lives on a GPU of its own; this one holds the trainer alone.
    elsewhere = config.distributed.vllm_mode == "server"
    forced_share = 0.0 if elsewhere else config.model.gpu_memory_utilization or None
    if g.completions_per_step and shape is not None:
        chosen = choose_shape(
            shape,
            completions=g.completions_per_step,
            num_generations=g.num_generations,
            max_prompt_length=g.max_prompt_length,
            max_completion_length=g.max_completion_length,
            lora_rank=config.lora.rank,
            target_modules=config.lora.target_modules,
            gpu_total_gib=gpu_total_gib,
            backend=backend,
            vllm_share=forced_share,
            load_in_4bit=config.model.load_in_4bit,
            gradient_checkpointing=checkpointing,
            generation_elsewhere=elsewhere,
        )
        return RunPlan(chosen, shape, checkpointing)
    completions = g.generation_batch_size
    if g.completions_per_step:  # unknown architecture: keep the completions, shape conservatively
        per_device = max(d for d in range(1, min(completions, 8) + 1) if completions % d == 0)
        share = 0.0 if elsewhere else forced_share or MANUAL_VLLM_SHARE
        manual = BatchShape(per_device, completions // per_device, share, None, gpu_total_gib)
        return RunPlan(manual, None, checkpointing)
    share = (forced_share or MANUAL_VLLM_SHARE) if gpu_total_gib and not elsewhere else 0.0
    if shape is not None and gpu_total_gib:
        from workbench.memory import estimate

        est = estimate(
            shape,
            lora_rank=config.lora.rank,
            target_modules=config.lora.target_modules,
            micro_batch=g.per_device_train_batch_size,
            generation_batch=completions,
            max_prompt_length=g.max_prompt_length,
            max_completion_length=g.max_completion_length,
            vllm_share=share,
            gpu_total_gib=gpu_total_gib,
            backend=backend,
            load_in_4bit=config.model.load_in_4bit,
            gradient_checkpointing=checkpointing,
            generation_elsewhere=elsewhere,
        )
        return RunPlan(
            BatchShape(
                g.per_device_train_batch_size, g.gradient_accumulation_steps, share, est, gpu_total_gib
            ),
            shape,
            checkpointing,
        )
    return RunPlan(
        BatchShape(g.per_device_train_batch_size, g.gradient_accumulation_steps, share, None, gpu_total_gib),
        shape,
        checkpointing,
    )
