"""Two per-step costs of TRL's colocated vLLM engine that a LoRA run of this recipe need not pay.

With `vllm_mode="colocate"` TRL 1.15 keeps a vLLM engine in the training process and, every optimizer
step, (1) merges the LoRA adapter into the base weights and pushes them into the engine one tensor per
`load_weights` call (about 150 calls for the 1B architecture; each call rebuilds vLLM's parameter map and
walks its module tree again), then (2) generates with `logprobs=0`, so vLLM computes, packs and returns
the log-probability of every sampled token, and TRL unpacks them in Python. Only importance-sampling
correction and the off-policy mask read those log-probabilities; the recipe turns both off.

`trim` removes both costs from a built trainer, where they apply:
- the weights go into the engine in **one** `load_weights` pass, fed straight from TRL's own iterator
  (same names, same merged tensors: vLLM's loader consumes the stream while the adapter is merged, and
  TRL unmerges it after the last tensor);
- vLLM is asked for no log-probabilities when nothing reads them.

Where they do not apply (Unsloth, which shares weights with vLLM; vLLM server mode; sleep mode; FSDP or
DeepSpeed ZeRO-3, which gather parameters per tensor; importance sampling on), TRL runs as shipped.
`grpo.trim_vllm_overhead = false` turns both off.
"""

from __future__ import annotations

from typing import Any


def _engine_model(generation: Any) -> Any:
    """The vLLM model object TRL loads weights into (in-process engine, external launcher)."""
    return generation.llm.llm_engine.model_executor.driver_worker.model_runner.model


def streamed_sync_applies(generation: Any) -> bool:
    """Whether TRL's colocated weight sync can be done as one streamed `load_weights` pass here."""
    dist = getattr(generation, "_dist", None)
    return (
        getattr(generation, "mode", None) == "colocate"
        and not getattr(generation, "enable_sleep_mode", True)
        and hasattr(generation, "_iter_named_params")
        and dist is not None
        and not getattr(dist, "is_fsdp", True)
        and not getattr(dist, "is_zero3", True)
    )


def stream_weight_sync(generation: Any) -> None:
    """Replace this engine's per-tensor sync with one pass (an instance attribute: other trainers keep
    TRL's)."""

    def sync_weights() -> None:
        _engine_model(generation).load_weights(generation._iter_named_params())
        generation.llm.reset_prefix_cache()

    generation.sync_weights = sync_weights


def sampling_logprobs_unused(trainer: Any) -> bool:
    """Nothing in this trainer reads vLLM's per-token log-probabilities: no importance sampling, no
    off-policy mask."""
    return not getattr(trainer, "vllm_importance_sampling_correction", True) and (
        getattr(trainer, "off_policy_mask_threshold", None) is None
    )


def trim(trainer: Any, enabled: bool = True) -> list[str]:
    """Apply what applies to `trainer`'s colocated vLLM engine; return what was applied, for the log."""
    generation = getattr(trainer, "vllm_generation", None)
    if not enabled or generation is None or getattr(generation, "mode", None) != "colocate":
        return []
    applied = []
    if streamed_sync_applies(generation):
        stream_weight_sync(generation)
        applied.append("weights pushed in one pass")
    if sampling_logprobs_unused(trainer) and hasattr(generation, "logprobs"):
        generation.logprobs = None
        applied.append("no sampling log-probabilities")
    return applied
