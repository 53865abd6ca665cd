"""Batch shaping: from "this many completions per optimizer step" to a batch shape that fits the GPU.

The tutorial's shape (2 completions per micro-batch, 64 accumulation steps) runs 64 small forward/backward
passes per step and leaves most of an H200 idle: measured 10.7-11.7 s/step for 128 completions of 256
tokens on the 1B architecture, against 3.6 s/step at 16 x 8. The generation round is the same either way
(TRL generates `per_device x steps_per_generation` completions at once), so the lever is the micro-batch:
the largest one that fits next to vLLM's share, up to the size past which the GPU is saturated.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.memory import MemoryEstimate, estimate, vllm_need_gib
from workbench.modelbuild import ModelShape

MAX_MICRO_BATCH = 64
"""Past this many completions per forward/backward the 1B/3B LoRA step is compute-bound on an H200."""
UNSLOTH_MAX_MICRO_BATCH = 16
"""Unsloth's first step grows steeply with the micro-batch on an H200 (1B, 128 x 256 tokens: 40 s at 2,
231 s at 16, over 6 minutes at 32 and 64), so it is kept at 16 (measured 6.6 s/step steady at vLLM 0.2)."""
UNSLOTH_MIN_VLLM_SHARE = 0.5
"""Unsloth sizes vLLM's max_num_seqs from the share: 0.2 gave 96 sequences (a 128-completion round then
generates in two waves), 0.5 gave 128."""
HEADROOM = 0.92
"""Use at most this share of the GPU: fragmentation and NCCL/driver reservations need the rest."""
MIN_VLLM_SHARE = 0.2
MAX_VLLM_SHARE = 0.6
CPU_MICRO_BATCH = 16
"""On CPU memory is not the limit; bigger micro-batches only cost latency per log line."""


class ShapeError(ValueError):
    """No batch shape fits; the message gives the numbers and what to change."""


@dataclass(frozen=True)
class BatchShape:
    """The chosen shape and why."""

    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    vllm_share: float
    estimate: MemoryEstimate | None
    gpu_total_gib: float | None

    @property
    def completions(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps

    def describe(self) -> str:
        text = (
            f"{self.completions} completions/step as {self.per_device_train_batch_size} x "
            f"{self.gradient_accumulation_steps} (micro-batch x accumulation)"
        )
        if self.estimate is not None and self.gpu_total_gib:
            text += (
                f", vLLM share {self.vllm_share:.2f}, estimated peak {self.estimate.total_gib:.1f} of "
                f"{self.gpu_total_gib:.0f} GiB"
            )
        return text


def divisors_descending(n: int, limit: int) -> list[int]:
    return [d for d in range(min(n, limit), 0, -1) if n % d == 0]


def choose_vllm_share(
    shape: ModelShape, generation_batch: int, seq_len: int, gpu_total_gib: float, load_in_4bit: bool = False
) -> float:
    """vLLM's share: what it needs for every sequence of a round at once, rounded up to 0.05, clamped."""
    need = vllm_need_gib(shape, generation_batch, seq_len, 0.6 if load_in_4bit else 2.0)
    share = need / gpu_total_gib
    share = -(-share // 0.05) * 0.05  # round up to the next 0.05
    return round(min(MAX_VLLM_SHARE, max(MIN_VLLM_SHARE, share)), 2)


def choose_shape(
    shape: ModelShape,
    *,
    completions: int,
    num_generations: int,
    max_prompt_length: int,
    max_completion_length: int,
    lora_rank: int,
    target_modules: list[str],
    gpu_total_gib: float | None,
    backend: str = "unsloth",
    vllm_share: float | None = None,
    load_in_4bit: bool = False,
    max_micro_batch: int = MAX_MICRO_BATCH,
    gradient_checkpointing: bool = True,
    generation_elsewhere: bool = False,
) -> BatchShape:
    """The largest micro-batch (a divisor of `completions`) whose estimated peak fits the GPU.

    Args:
        shape: The architecture.
        completions: Completions per optimizer step (the effective batch); a multiple of num_generations.
        num_generations: The GRPO group size.
        max_prompt_length: Longest prompt.
        max_completion_length: Longest completion.
        lora_rank: LoRA r.
        target_modules: Adapted projections.
        gpu_total_gib: The GPU's memory; None on a machine without a GPU.
        backend: unsloth or trl.
        vllm_share: Force vLLM's share (None: choose it).
        load_in_4bit: Unsloth 4-bit base.
        max_micro_batch: Upper bound for the micro-batch.
        gradient_checkpointing: Whether the trainer recomputes activations (off needs more memory).
        generation_elsewhere: vLLM runs on another GPU (server mode): no share of this one is kept for it.

    Raises:
        ShapeError: nothing fits, with the numbers.
    """
    if completions % num_generations:
        raise ShapeError(
            f"{completions} completions per step is not a multiple of num_generations {num_generations}"
        )
    if gpu_total_gib is None:
        micro = divisors_descending(completions, CPU_MICRO_BATCH)[0]
        return BatchShape(micro, completions // micro, 0.0, None, None)
    seq = max_prompt_length + max_completion_length
    share = (
        0.0
        if generation_elsewhere
        else vllm_share
        if vllm_share is not None
        else choose_vllm_share(shape, completions, seq, gpu_total_gib, load_in_4bit)
    )
    if backend == "unsloth":
        max_micro_batch = min(max_micro_batch, UNSLOTH_MAX_MICRO_BATCH)
        if vllm_share is None:
            share = max(share, UNSLOTH_MIN_VLLM_SHARE)
    budget = gpu_total_gib * HEADROOM
    smallest: MemoryEstimate | None = None
    for micro in divisors_descending(completions, max_micro_batch):
        est = estimate(
            shape,
            lora_rank=lora_rank,
            target_modules=target_modules,
            micro_batch=micro,
            generation_batch=completions,
            max_prompt_length=max_prompt_length,
            max_completion_length=max_completion_length,
            vllm_share=share,
            gpu_total_gib=gpu_total_gib,
            backend=backend,
            load_in_4bit=load_in_4bit,
            gradient_checkpointing=gradient_checkpointing,
            generation_elsewhere=generation_elsewhere,
        )
        smallest = est
        if est.total_gib <= budget and est.vllm_need_gib <= share * gpu_total_gib:
            return BatchShape(micro, completions // micro, share, est, gpu_total_gib)
    assert smallest is not None
    raise ShapeError(
        f"even 1 completion per micro-batch needs an estimated {smallest.total_gib:.1f} GiB "
        f"(vLLM {smallest.vllm_gib:.1f}, trainer weights {smallest.trainer_weights_gib:.1f}, LoRA+Adam "
        f"{smallest.lora_gib:.1f}, activations {smallest.activations_gib:.1f}) of {gpu_total_gib:.0f} GiB, "
        "and "
        f"vLLM needs {smallest.vllm_need_gib:.1f} GiB; fix: a smaller model, lower lora.rank, shorter "
        "grpo.max_completion_length, or fewer completions per step"
    )
