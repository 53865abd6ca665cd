"""The GPU memory a GRPO + LoRA run needs, estimated with no torch (Configure, pre-flight, shaping).

The model, part by part (every constant is named below so it can be calibrated on a real GPU):

* **Base weights** for the trainer, frozen: `parameters x bytes per weight` (bf16: 2; Unsloth's 4-bit:
  about 0.6 with the quantisation constants). With Unsloth's `fast_inference` the trainer and vLLM share
  one copy, which lives in vLLM's share; TRL's colocate mode loads a second copy into vLLM.
* **LoRA adapter**: `rank x (in + out)` parameters per targeted projection per layer, each with an fp32
  weight, an fp32 gradient and AdamW's two fp32 moments: 16 bytes per parameter.
* **Activations** of one micro-batch (`micro_batch` sequences of prompt + completion tokens) with
  gradient checkpointing: one bf16 hidden state per token per layer is kept, plus the live tensors of the
  one layer being recomputed (attention and MLP intermediates).
* **Logits**: GRPO needs the log-probabilities of every completion token, from fp32 logits over the whole
  vocabulary (the largest single tensor with a 128k vocabulary).
* **vLLM's share**: `vllm_share x total` is reserved up front; inside it vLLM needs its weights, the KV
  cache of a whole generation round (`generation_batch` sequences) and its own workspace
  (`vllm_need_gib`). Without vLLM, Hugging Face `generate` keeps the KV cache on the trainer's side.
* **Overhead**: the CUDA context and workspaces, and the caching allocator's fragmentation.

Calibrated on an H200 with the 1B architecture, 128 completions of 256 tokens, prompts up to 256 tokens,
LoRA r=64 on all seven projections (`grpo-workbench bench`; the trainer logs `gpu/max_allocated_gib` and
NVML samples in gpu.jsonl):

| backend, vLLM share, shape | torch peak GiB | NVML peak GiB | estimate GiB |
| --- | --- | --- | --- |
| TRL colocate 0.3, 2 x 64 | 44.8 | 46.5 | 46.3 |
| TRL colocate 0.3, 16 x 8 | 46.6 | 48.6 | 48.6 |
| TRL colocate 0.3, 32 x 4 | 48.3 | 50.9 | 51.2 |
| TRL colocate 0.3, 64 x 2 | 51.8 | 56.4 | 56.4 |
| Unsloth 0.5, 4 x 4 (16 completions of 64 tokens) | 70.2 | 72.0 | 71.7 |
| Unsloth 0.5, 16 x 8, 1B (field notes) | 71 | | 74.0 |
| Unsloth 0.5, 16 x 8, 3B (field notes) | 72.6 | | 75.9 |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from workbench.modelbuild import ModelShape

GIB = 2**30
WEIGHT_BYTES_BF16 = 2.0
"""Bytes per frozen base parameter in bf16."""
WEIGHT_BYTES_4BIT = 0.6
"""Bytes per parameter of a 4-bit (NF4) base, quantisation constants and unquantised norms included."""
LORA_BYTES_PER_PARAM = 16
"""fp32 LoRA weight (4) + gradient (4) + AdamW first and second moments (4 + 4)."""
CHECKPOINT_BYTES_PER_HIDDEN = 2
"""Gradient checkpointing keeps one bf16 hidden state per token per layer."""
RECOMPUTE_HIDDEN_FACTOR = 8
"""Live hidden-sized bf16 tensors per token in the layer being recomputed (q, k, v, o, norms, residuals)."""
RECOMPUTE_INTERMEDIATE_FACTOR = 3
"""Live intermediate-sized bf16 tensors per token in the recomputed MLP (gate, up, activation)."""
NO_CHECKPOINT_HIDDEN_FACTOR = 14
"""Without gradient checkpointing, hidden-sized bf16 tensors kept per token per layer for the backward
pass (norm inputs and outputs, q, k, v, attention output, o, residuals, LoRA inputs). With the next
factor, calibrated on the H200 (TRL colocate, 128 x 256-token completions): 1B at 64 x 2, NVML peak
109.0 GiB; 3B at 32 x 4, 117.0 GiB."""
NO_CHECKPOINT_INTERMEDIATE_FACTOR = 5
"""Without gradient checkpointing, intermediate-sized bf16 tensors kept per token per layer (gate, up,
activation, their product, the LoRA down projection's input)."""
ACTIVATION_BYTES = 2
"""Bytes per activation element (bf16)."""
LOGITS_BYTES = 4
"""Bytes per logit (GRPO computes log-probabilities in fp32)."""
LOGITS_COPIES = 2
"""Logits plus their log-softmax / gradient alive at the same time."""
LOGITS_LIVE_FRACTION = 0.32
"""Share of a micro-batch's full logits alive at once: TRL and Unsloth compute log-probs in chunks.
Measured: going from 16 to 64 completions per micro-batch raised the NVML peak by 0.16 GiB per
completion of 512 tokens (1B, TRL colocate, H200)."""
KV_BYTES = 2
"""Bytes per cached key or value element (bf16), in vLLM or in Hugging Face `generate`."""
VLLM_WORKSPACE_GIB = 1.5
"""vLLM's own activations, sampler buffers and CUDA graphs, on top of weights and KV cache."""
CUDA_OVERHEAD_GIB = 0.75
"""CUDA context, cuBLAS/cuDNN workspaces and NCCL buffers of the trainer process."""
FRAGMENTATION = 1.10
"""The caching allocator's slack on top of what the trainer's tensors need."""


def kv_bytes_per_token(shape: ModelShape) -> int:
    """Bytes of keys and values one token occupies across all layers."""
    return 2 * shape.num_key_value_heads * shape.head_dim * KV_BYTES * shape.num_hidden_layers


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimate, part by part, in GiB."""

    trainer_weights_gib: float
    lora_gib: float
    activations_gib: float
    logits_gib: float
    generation_gib: float
    """KV cache of Hugging Face `generate` on the trainer's side (0 when vLLM generates)."""
    vllm_gib: float
    """vLLM's reserved share (`vllm_share x gpu_total_gib`)."""
    vllm_need_gib: float
    """What vLLM needs inside its share: weights, a generation round's KV cache, workspace."""
    overhead_gib: float
    gpu_total_gib: float | None
    lora_parameters: int

    @property
    def trainer_gib(self) -> float:
        """The training process's own peak, outside vLLM's share."""
        return (
            self.trainer_weights_gib
            + self.lora_gib
            + self.activations_gib
            + self.logits_gib
            + self.generation_gib
            + self.overhead_gib
        )

    @property
    def total_gib(self) -> float:
        """The expected peak of the whole GPU: the trainer plus vLLM's reservation."""
        return self.trainer_gib + self.vllm_gib

    @property
    def fits(self) -> bool | None:
        """Whether the total fits the GPU (None without a GPU)."""
        return None if not self.gpu_total_gib else self.total_gib <= self.gpu_total_gib

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "trainer_gib": self.trainer_gib, "total_gib": self.total_gib}


def vllm_need_gib(shape: ModelShape, generation_batch: int, seq_len: int, weight_bytes: float) -> float:
    """Memory vLLM needs to generate a whole round at once: weights + KV cache + workspace, in GiB.

    Args:
        shape: The architecture.
        generation_batch: Sequences generated together (a generation round).
        seq_len: Prompt + completion tokens per sequence.
        weight_bytes: Bytes per base parameter in vLLM (2.0 bf16, about 0.6 in 4-bit).
    """
    weights = shape.parameter_count() * weight_bytes
    kv = generation_batch * seq_len * kv_bytes_per_token(shape)
    return (weights + kv) / GIB + VLLM_WORKSPACE_GIB


def estimate(
    shape: ModelShape,
    *,
    lora_rank: int,
    target_modules: Sequence[str],
    micro_batch: int,
    generation_batch: int,
    max_prompt_length: int,
    max_completion_length: int,
    vllm_share: float,
    gpu_total_gib: float | None,
    backend: str = "unsloth",
    load_in_4bit: bool = False,
    gradient_checkpointing: bool = True,
    generation_elsewhere: bool = False,
) -> MemoryEstimate:
    """Estimate the peak GPU memory of a GRPO + LoRA run, part by part (see the module docstring).

    Args:
        shape: The architecture.
        lora_rank: LoRA rank r.
        target_modules: Projections with adapters.
        micro_batch: Sequences per forward/backward pass (per_device_train_batch_size).
        generation_batch: Sequences generated per round (per_device x steps_per_generation).
        max_prompt_length: Longest prompt in tokens.
        max_completion_length: Longest completion in tokens.
        vllm_share: Share of the GPU reserved for vLLM; 0 when generation does not use vLLM.
        gpu_total_gib: The GPU's memory; None without a GPU (vLLM's share then counts nothing).
        backend: `unsloth` (trainer and vLLM share the weights) or `trl` (colocated vLLM has its own copy).
        load_in_4bit: Unsloth's 4-bit base.
        gradient_checkpointing: Off keeps every layer's activations for the backward pass.
        generation_elsewhere: vLLM generates on another GPU (server mode): this GPU holds neither a vLLM
            share nor a KV cache, only the trainer.
    """
    seq = max_prompt_length + max_completion_length
    weight_bytes = WEIGHT_BYTES_4BIT if load_in_4bit else WEIGHT_BYTES_BF16
    use_vllm = bool(vllm_share) and bool(gpu_total_gib)
    shared = use_vllm and backend == "unsloth"
    trainer_weights = 0.0 if shared else shape.parameter_count() * weight_bytes / GIB
    lora_params = shape.lora_parameters(lora_rank, target_modules)
    lora = lora_params * LORA_BYTES_PER_PARAM / GIB
    tokens = micro_batch * seq
    hidden, inter, layers = shape.hidden_size, shape.intermediate_size, shape.num_hidden_layers
    if gradient_checkpointing:
        checkpoints = tokens * layers * hidden * CHECKPOINT_BYTES_PER_HIDDEN
        live = RECOMPUTE_HIDDEN_FACTOR * hidden + RECOMPUTE_INTERMEDIATE_FACTOR * inter
        activations = (checkpoints + tokens * live * ACTIVATION_BYTES) / GIB
    else:
        kept = NO_CHECKPOINT_HIDDEN_FACTOR * hidden + NO_CHECKPOINT_INTERMEDIATE_FACTOR * inter
        activations = tokens * layers * kept * ACTIVATION_BYTES / GIB
    logits = (
        micro_batch
        * max_completion_length
        * shape.vocab_size
        * LOGITS_BYTES
        * LOGITS_COPIES
        * LOGITS_LIVE_FRACTION
        / GIB
    )
    if generation_elsewhere:
        generation = vllm = need = 0.0
    elif use_vllm:
        generation = 0.0
        vllm = vllm_share * float(gpu_total_gib or 0.0)
        need = vllm_need_gib(shape, generation_batch, seq, weight_bytes)
    else:
        generation = generation_batch * seq * kv_bytes_per_token(shape) / GIB
        vllm = need = 0.0
    tensors = trainer_weights + lora + activations + logits + generation
    overhead = CUDA_OVERHEAD_GIB + tensors * (FRAGMENTATION - 1.0)
    return MemoryEstimate(
        trainer_weights_gib=trainer_weights,
        lora_gib=lora,
        activations_gib=activations,
        logits_gib=logits,
        generation_gib=generation,
        vllm_gib=vllm,
        vllm_need_gib=need,
        overhead_gib=overhead,
        gpu_total_gib=gpu_total_gib or None,
        lora_parameters=lora_params,
    )


def estimate_gpu_memory_gib(
    arch_params: str | ModelShape,
    lora_rank: int,
    target_modules: Sequence[str],
    per_device_batch: int,
    num_generations: int,
    max_prompt_length: int,
    max_completion_length: int,
    vllm_share: float,
    total_gib: float | None,
) -> float:
    """Expected peak GPU memory in GiB: the headline figure of `estimate` in positional form.

    Args:
        arch_params: The model's shape (an `Architecture` is one) or the key of a buildable architecture.
        lora_rank: LoRA rank r.
        target_modules: Projections with adapters.
        per_device_batch: Sequences per micro-batch.
        num_generations: The GRPO group; a generation round holds at least one group.
        max_prompt_length: Longest prompt in tokens.
        max_completion_length: Longest completion in tokens.
        vllm_share: Share of the GPU reserved for vLLM (0: no vLLM).
        total_gib: The GPU's memory, or None without a GPU.
    """
    shape = ModelShape.of(arch_params)
    return estimate(
        shape,
        lora_rank=lora_rank,
        target_modules=target_modules,
        micro_batch=per_device_batch,
        generation_batch=max(per_device_batch, num_generations),
        max_prompt_length=max_prompt_length,
        max_completion_length=max_completion_length,
        vllm_share=vllm_share,
        gpu_total_gib=total_gib,
    ).total_gib
