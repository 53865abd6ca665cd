"""Per-step costs of TRL's colocated vLLM engine that a LoRA run of this recipe need not pay.

With `vllm_mode="colocate"` TRL 1.15 keeps a vLLM engine in the training process and, every optimizer
step, (1) merges the LoRA adapter into the base weights and pushes them into the engine one tensor per
`load_weights` call (146 calls for the 1B architecture; each rebuilds vLLM's parameter map and walks its
module tree again), then (2) generates with vLLM's default `detokenize=True`: every sampled token of every
sequence goes through vLLM's incremental detokenizer (and its log-probability entry through the tokenizer
too), on the host, between decode steps, although TRL reads only token ids and decodes the completions
itself, once. Measured on an H200 (1B, 128 completions x 256 tokens): the sync took 0.09-0.17 s per step
as TRL ships it and 0.03-0.06 s in one pass; generation, the largest phase of the step, 1.8-2.4 s as
shipped and 1.1-1.7 s trimmed (see README, "Speed on a GPU").

`trim` removes these costs from a built trainer, where they apply:
- the weights go into the engine in **one** `load_weights` pass, fed straight from TRL's own iterator
  (same names, same merged tensors: vLLM's loader consumes the stream while the adapter is merged, and
  TRL unmerges it after the last tensor; checked on the H200 against TRL's own sync);
- vLLM returns token ids without text (`detokenize=False` in TRL's generation kwargs);
- vLLM computes no log-probability of the sampled tokens when nothing reads them
  (`sampled_logprobs_unread`: TRL's importance-sampling correction and its off-policy mask are the only
  readers). TRL 1.15 asks for them unconditionally (`logprobs=0`): vLLM then builds a `Logprob` entry per
  token of every sequence on the host, between decode steps, and TRL walks them again in Python
  (`extract_logprobs`). Asking for none makes TRL's `_generate_single_turn` fail on the missing list, so
  `drop_sampled_logprobs` hands it one empty list per completion and hands `_generate`'s caller `None`,
  the value TRL itself uses when a backend has no log-probabilities (transformers' generation).

Where the sync does not apply (Unsloth, which shares weights with vLLM; vLLM server mode; sleep mode;
FSDP or DeepSpeed ZeRO-3, which gather parameters per tensor), TRL runs as shipped; the log-probabilities
are dropped only from TRL's own trainer (not Unsloth's rewrite of it). `grpo.trim_vllm_overhead = false`
turns all three off.
"""

from __future__ import annotations

from typing import Any

from jobs.trl_methods import trls_own


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
        # TRL's own `_generate`: its return order is what `drop_sampled_logprobs` relies on
        if sampled_logprobs_unread(trainer) and trls_own(trainer, "_generate"):
            drop_sampled_logprobs(trainer, generation)
            applied.append("no sampled-token log-probabilities (nothing reads them)")
    return applied


def sampled_logprobs_unread(trainer: Any) -> bool:
    """Whether nothing in this trainer reads vLLM's log-probabilities of the sampled tokens.

    TRL 1.15 reads them (`sampling_per_token_logps`) for the importance-sampling correction
    (`vllm_importance_sampling_correction`, with its `sampling/*` metrics) and for the off-policy sequence
    mask (`off_policy_mask_threshold`); tool calls splice them too. Anything unknown counts as a reader.
    """
    return (
        getattr(trainer, "vllm_importance_sampling_correction", True) is False
        and getattr(trainer, "off_policy_mask_threshold", 0.0) is None
        and not getattr(trainer, "tools", True)
        and getattr(trainer, "rollout_func", True) is None
    )


def drop_sampled_logprobs(trainer: Any, generation: Any) -> None:
    """Generate without the sampled tokens' log-probabilities (instance attributes: other trainers keep
    TRL's behaviour).

    vLLM is asked for none (`logprobs=None` in the sampling parameters). TRL's `_generate_single_turn`
    keeps the first entry of each token's list, so the engine's `generate` hands it an empty list per
    completion instead of `None`; `_generate` then returns `None` in their place, as it does for
    transformers' generation, and `_generate_and_score_completions` builds no `sampling_per_token_logps`.
    """
    generation.generation_kwargs = {**generation.generation_kwargs, "logprobs": None}
    engine_generate = generation.generate
    trainer_generate = trainer._generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        prompt_ids, completion_ids, logprobs, logprob_token_ids = engine_generate(*args, **kwargs)
        if logprobs is None:
            logprobs = [[] for _ in completion_ids]
        return prompt_ids, completion_ids, logprobs, logprob_token_ids

    def generate_batch(*args: Any, **kwargs: Any) -> Any:
        out = list(trainer_generate(*args, **kwargs))
        if len(out) == 8:  # TRL 1.15: (..., completions, sampling_per_token_logps_list, extra_fields, ...)
            out[4] = None
        return tuple(out)

    generation.generate = generate
    trainer._generate = generate_batch
