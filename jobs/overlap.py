"""Overlapped generation (`distributed.overlap_generation`): the vLLM server generates step t+1's completions
while step t trains.

Decoding is sequential in tokens, so splitting a step's batch over more GPUs barely shortens generation
(measured on two H200s: 1.37x with DDP). What two GPUs can do is run generation and the update at the
same time: vLLM on its own GPU (TRL's server mode), the trainer on the other(s).

The schedule, at the start of step t (all ranks, in the same order):

1. take the completions of step t's prompts, requested at the start of step t-1 with the weights of step
   t-1 (the wait, if any, is the `generate` phase);
2. push the weights of step t into the server (`weight sync`), which is idle now;
3. send step t+1's prompts (known one step ahead, `Lookahead`) and return at once;
4. score and train step t while the server generates step t+1.

So every step but the first (and the first after a resume, or of an epoch) trains on completions sampled
by the policy one update behind: staleness 1, never more, logged as `overlap/staleness`. TRL's truncated
importance sampling (`vllm_importance_sampling_correction`, turned on for this mode) reweights each token
by the trainer's over the sampler's probability, so the update stays an unbiased estimate up to the cap;
the gap is in `sampling/sampling_logp_difference/*` and `sampling/importance_sampling_ratio/*` per step.
The data order is exactly that of a synchronous run.

Only the main process talks to the server, as in TRL: every collective (gathering prompts, broadcasting
completions, the weight push) stays on the main thread in the same order on every rank; the one background
thread only waits on the HTTP request. The seam is three attributes of the built GRPOTrainer (TRL 1.15 and
1.16): `get_batch_samples` (transformers' Trainer fetches a step's micro-batches through it),
`_generate_single_turn` (server-mode generation) and the vLLM client's `generate`. Heavy imports live
inside the functions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

MAX_STALENESS = 1
"""Updates a step's completions may lag the policy it trains: one (completions requested one step ahead)."""


@dataclass
class Pending:
    """A generation round sent to the server and not yet taken."""

    prompt_ids: list[list[int]]
    """This rank's prompt token ids, one per completion (each prompt num_generations times)."""
    version: int
    """The trainer's global_step whose weights the server held when the request was sent."""
    future: Future[Any] | None = None
    """The server's answer (main process only)."""


@dataclass
class Lookahead:
    """Fetches each optimizer step's micro-batches one step ahead, so the next step's prompts are known
    while this step trains. Same batches, same order: only fetched earlier."""

    fetch: Callable[[Iterator[Any], int, Any], tuple[list[Any], Any]]
    """transformers' own `Trainer.get_batch_samples`."""
    iterator: Iterator[Any] | None = None
    ahead: tuple[list[Any], Any] | None = None

    def get_batch_samples(self, epoch_iterator: Iterator[Any], num_batches: int, device: Any) -> Any:
        if epoch_iterator is not self.iterator:  # a new epoch (or the first step, or a resume)
            self.iterator, self.ahead = epoch_iterator, None
        current = self.ahead if self.ahead is not None else self.fetch(epoch_iterator, num_batches, device)
        self.ahead = self.fetch(epoch_iterator, num_batches, device)
        return current

    def next_rows(self) -> list[dict[str, Any]] | None:
        """This rank's rows of the next step's generation batch, or None at the end of an epoch."""
        if not self.ahead or not self.ahead[0]:
            return None
        return list(self.ahead[0][0])


@dataclass
class OverlapState:
    """What one trainer keeps between steps; `stats` counts hits (overlapped rounds) and misses."""

    lookahead: Lookahead
    pending: Pending | None = None
    stats: dict[str, int] = field(default_factory=lambda: {"overlapped": 0, "synchronous": 0})


def is_hit(pending: Pending | None, prompt_ids: list[list[int]], step: int) -> bool:
    """Whether the round in flight answers this step: the same prompts, sent at most MAX_STALENESS updates
    ago."""
    return (
        pending is not None
        and pending.prompt_ids == prompt_ids
        and 0 <= step - pending.version <= MAX_STALENESS
    )


def install(trainer: Any) -> OverlapState:
    """Make `trainer` (TRL GRPOTrainer, vLLM server mode) overlap generation with training; return its
    state (for tests and the log).

    Raises:
        ValueError: the trainer does not generate through a vLLM server.
    """
    generation = getattr(trainer, "vllm_generation", None)
    if generation is None or getattr(generation, "mode", None) != "server":
        raise ValueError(
            'overlapped generation needs TRL\'s vLLM server mode; fix: distributed.vllm_mode = "server"'
        )
    state = OverlapState(Lookahead(trainer.get_batch_samples))
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="overlap-generate")
    original = trainer._generate_single_turn

    def generate_single_turn(
        prompt_ids: list[list[int]],
        images: Any,
        multimodal_fields: Any,
        num_generations: int,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[list[list[int]], Any]:
        if not trainer.model.training or images is not None or getattr(trainer, "tools", None):
            return original(prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs)
        return _overlapped_round(trainer, state, executor, prompt_ids, num_generations)

    trainer.get_batch_samples = state.lookahead.get_batch_samples
    trainer._generate_single_turn = generate_single_turn
    return state


def _agreed(trainer: Any, flag: bool) -> bool:
    """`flag` on every rank (the decision drives collectives, so all ranks must take the same one)."""
    accelerator = trainer.accelerator
    if accelerator.num_processes == 1:
        return flag
    import torch

    flags = accelerator.gather(torch.tensor([1 if flag else 0], device=accelerator.device))
    return bool(flags.min().item())


def _sync_weights(trainer: Any) -> None:
    """Push the policy into the server once per optimizer step (TRL's own condition and profiling name)."""
    from trl.extras.profiling import profiling_context

    if trainer.state.global_step != trainer._last_loaded_step:
        with profiling_context(trainer, "sync_weights"):
            trainer.vllm_generation.sync_weights()
        trainer._last_loaded_step = trainer.state.global_step


def _submit(
    trainer: Any, executor: ThreadPoolExecutor, prompt_ids: list[list[int]], num_generations: int
) -> Pending:
    """Send one round to the server and return at once (TRL's server-mode request, split in two)."""
    from accelerate.utils import gather_object

    generation = trainer.vllm_generation
    all_prompts = gather_object(prompt_ids)
    pending = Pending(prompt_ids, trainer.state.global_step)
    if trainer.accelerator.is_main_process:
        params = {
            "n": num_generations,
            "repetition_penalty": generation.repetition_penalty,
            "temperature": generation.temperature,
            "top_p": generation.top_p,
            "top_k": generation.top_k,
            "min_p": 0.0 if generation.min_p is None else generation.min_p,
            "max_tokens": generation.max_completion_length,
            "logprobs": generation.logprobs,
            "structured_outputs_regex": generation.structured_outputs_regex,
            "generation_kwargs": generation.generation_kwargs,
        }
        client = generation.vllm_client
        pending.future = executor.submit(client.generate, prompts=all_prompts[::num_generations], **params)
    return pending


def _take(trainer: Any, pending: Pending, num_generations: int) -> tuple[list[list[int]], Any]:
    """Wait for a round and hand each rank its completions and sampling log-probabilities (top-1)."""
    from accelerate.utils import broadcast_object_list

    payload = None
    if trainer.accelerator.is_main_process:
        assert pending.future is not None
        output = pending.future.result()
        payload = (output["completion_ids"], output["logprobs"])
    box = [payload]
    broadcast_object_list(box, from_process=0)
    all_completion_ids, all_logprobs = box[0]  # type: ignore[misc]
    index = trainer.accelerator.process_index
    local = slice(index * len(pending.prompt_ids), (index + 1) * len(pending.prompt_ids))
    completion_ids = all_completion_ids[local]
    logprobs = all_logprobs[local] if all_logprobs is not None else None
    if logprobs is not None:
        logprobs = [[lp[0] for lp in seq] for seq in logprobs]
    return completion_ids, logprobs


def _overlapped_round(
    trainer: Any,
    state: OverlapState,
    executor: ThreadPoolExecutor,
    prompt_ids: list[list[int]],
    num_generations: int,
) -> tuple[list[list[int]], Any]:
    from trl.extras.profiling import profiling_context

    step = trainer.state.global_step
    hit = _agreed(trainer, is_hit(state.pending, prompt_ids, step))
    with profiling_context(trainer, "vLLM.generate"):
        if hit:
            assert state.pending is not None
            staleness = step - state.pending.version
            completion_ids, logprobs = _take(trainer, state.pending, num_generations)
        else:
            if state.pending is not None:  # a round nobody will train on: drain it, the server serves one
                _take(trainer, state.pending, num_generations)
            _sync_weights(trainer)
            staleness = 0
            completion_ids, logprobs = _take(
                trainer, _submit(trainer, executor, prompt_ids, num_generations), num_generations
            )
    state.pending = None
    state.stats["overlapped" if hit else "synchronous"] += 1
    _sync_weights(trainer)
    rows = state.lookahead.next_rows()
    if _agreed(trainer, rows is not None):
        assert rows is not None
        next_ids = trainer._tokenize_prompts(copy.deepcopy([row["prompt"] for row in rows]))[0]
        state.pending = _submit(trainer, executor, next_ids, num_generations)
    trainer._metrics["train"]["overlap/staleness"].append(float(staleness))
    return completion_ids, logprobs


def drain(state: OverlapState) -> None:
    """Wait for a round still in flight (the one sent at the last step, which no step will train on), so the
    server is idle before it is stopped."""
    pending, state.pending = state.pending, None
    if pending is not None and pending.future is not None:
        try:
            pending.future.result(timeout=600)
        except Exception:  # the server may already be gone; nothing is lost
            pass
