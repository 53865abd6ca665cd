"""Forced per-request completion lengths: the mixed-length workload of `grpo-workbench bench --mixed-lengths`.

The random-init models the bench runs on almost never sample their end token, so every completion runs
to `grpo.max_completion_length` and a batch holds no padding. A real model stops early and leaves
completions of many lengths, padded to the longest in the batch for the training forward. To measure
that workload on a random model, the bench sets `ENV` for its runs; the training job (`install`, from
`jobs.trainer.make_trainer`) then gives every request of TRL's colocated vLLM engine its own length:
`min_tokens = max_tokens = n`, with n drawn uniformly from [longest / 4, longest] (`draw`; an assumed
spread, not one measured on a trained model), from a generator seeded by the value of `ENV`.

Only TRL's colocated engine is covered: a run with the variable set and no such engine fails at start
with ValueError, so that a bench figure never claims a workload it did not run.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from typing import Any

ENV = "GRPO_WORKBENCH_FORCED_LENGTHS"
"""Set (to an integer seed) by `grpo-workbench bench --mixed-lengths` for the runs it starts."""
SHORTEST_FRACTION = 0.25
"""The shortest forced completion, as a fraction of grpo.max_completion_length."""


def draw(rng: random.Random, count: int, longest: int) -> list[int]:
    """`count` completion lengths in tokens, uniform over [ceil(longest * SHORTEST_FRACTION), longest]."""
    shortest = max(1, math.ceil(longest * SHORTEST_FRACTION))
    return [rng.randint(shortest, longest) for _ in range(count)]


def install(trainer: Any, environ: Mapping[str, str] = os.environ) -> str | None:
    """Force per-request lengths on `trainer`'s colocated vLLM engine when `ENV` is set; return what was
    done, for the log (None: not asked).

    Raises:
        ValueError: `ENV` is set but the trainer generates without TRL's colocated vLLM engine, or its
            value is not an integer.
    """
    value = environ.get(ENV)
    if not value:
        return None
    try:
        seed = int(value)
    except ValueError:
        raise ValueError(f"{ENV} must be an integer seed, not {value!r}") from None
    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or getattr(generation, "mode", None) != "colocate":
        raise ValueError(
            f"{ENV} (bench --mixed-lengths) forces lengths in TRL's colocated vLLM engine, and this run "
            'has none; fix: backend = "trl", grpo.use_vllm on and distributed.vllm_mode = "colocate"'
        )
    rng = random.Random(seed)
    llm = generation.llm
    engine_generate = llm.generate

    def generate(prompts: Any, sampling_params: Any = None, *args: Any, **kwargs: Any) -> Any:
        if sampling_params is None or isinstance(sampling_params, list):
            return engine_generate(prompts, sampling_params, *args, **kwargs)
        per_request = []
        for length in draw(rng, len(prompts), sampling_params.max_tokens):
            params = sampling_params.clone()
            params.min_tokens = params.max_tokens = length
            per_request.append(params)
        return engine_generate(prompts, per_request, *args, **kwargs)

    llm.generate = generate
    return (
        f"completion lengths forced per request, uniform over {SHORTEST_FRACTION:.0%}-100% of "
        f"grpo.max_completion_length (seed {seed})"
    )
