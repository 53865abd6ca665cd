"""Two per-step costs of TRL's colocated vLLM engine that a LoRA run of this recipe need not pay.

With `vllm_mode="colocate"` TRL 1.15 keeps a vLLM engine in the training process and, every optimizer
step, (1) merges the LoRA adapter into the base weights and pushes them into the engine one tensor per
`load_weights` call (146 calls for the 1B architecture; each rebuilds vLLM's parameter map and walks its
module tree again), then (2) generates with vLLM's default `detokenize=True`: every sampled token of every
sequence goes through vLLM's incremental detokenizer (and its log-probability entry through the tokenizer
too), on the host, between decode steps, although TRL reads only token ids and decodes the completions
itself, once. Measured on an H200 (1B, 128 completions x 256 tokens): the sync took 0.09-0.17 s per step
as TRL ships it and 0.03-0.06 s in one pass; generation, the largest phase of the step, 1.8-2.4 s as
shipped and 1.1-1.7 s trimmed (see README, "Speed on a GPU").

`trim` removes both costs from a built trainer, where they apply:
- the weights go into the engine in **one** `load_weights` pass, fed straight from TRL's own iterator
  (same names, same merged tensors: vLLM's loader consumes the stream while the adapter is merged, and
  TRL unmerges it after the last tensor; checked on the H200 against TRL's own sync);
- vLLM returns token ids without text (`detokenize=False` in TRL's generation kwargs).

The sampled-token log-probabilities stay: TRL 1.15 unpacks them unconditionally (asking for none fails
in `_generate_single_turn`), though only importance sampling and the off-policy mask read them.

Where the sync does not apply (Unsloth, which shares weights with vLLM; vLLM server mode; sleep mode;
FSDP or DeepSpeed ZeRO-3, which gather parameters per tensor), TRL runs as shipped.
`grpo.trim_vllm_overhead = false` turns both off.
"""

from __future__ import annotations

from typing import Any


def _engine_model(generation: Any) -> Any:
    """The vLLM model object TRL loads weights into (in-process engine, external launcher)."""
    return generation.llm.llm_engine.model_executor.driver_worker.model_runner.model


def streamed_sync_applies(generation: Any) -> bool:
    """Whether this colocated engine's weight sync can be done as one streamed `load_weights` pass."""
    dist = getattr(generation, "_dist", None)
    return (
        not getattr(generation, "enable_sleep_mode", True)
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


def trim(trainer: Any, enabled: bool = True) -> list[str]:
    """Apply what applies to `trainer`'s colocated vLLM engine; return what was applied, for the log."""
    generation = getattr(trainer, "vllm_generation", None)
    if not enabled or generation is None or getattr(generation, "mode", None) != "colocate":
        return []
    applied = []
    if streamed_sync_applies(generation):
        stream_weight_sync(generation)
        applied.append("weights pushed in one pass")
    if isinstance(getattr(generation, "generation_kwargs", None), dict):
        generation.generation_kwargs = {"detokenize": False, **generation.generation_kwargs}
        applied.append("token ids without text")
    return applied
