"""Length-grouped micro-batches: the update runs over completions of like length, each micro-batch cut to its
own longest row instead of the generation batch's.

TRL 1.16 pads every completion of a generation batch to the batch's longest (and every prompt, on the left,
to its longest), shuffles the batch and splits it into `steps_per_generation` micro-batches; each training
forward and backward then runs over the whole padded width. A real model stops early: with completion
lengths spread evenly over a quarter to all of `max_completion_length` (the bench's `--mixed-lengths`),
about 38% of the update's completion tokens were padding (H200, see README, "Speed on a GPU").

`install` makes a trainer split its generation batch in order of needed width (completion, then prompt)
instead of at random, and cut each micro-batch's columns that no row of it uses: the completion columns
right of its longest completion, the prompt columns left of its longest prompt. What the loss sees is the
same:
- a cut column holds padding only, masked out of attention and of the loss in every row of the micro-batch
  (completions are right-padded and attention is causal, so no kept position attends to a cut one);
- dropping left padding shifts every position of a row by the same amount, and rotary position embeddings
  depend on the difference of two positions only;
- the optimizer step sums the micro-batches' gradients, and with `loss_type` dapo, dr_grpo or grpo each
  micro-batch's loss does not depend on which rows share it (dapo and dr_grpo divide by a constant of the
  whole generation batch, grpo averages rows over equal-sized micro-batches), so the partition does not
  change the step. bnpo divides by each micro-batch's own token count, and a few TRL options take a figure
  over each micro-batch's own tokens (the entropy mask's quantile, `top_entropy_quantile` < 1; the entropy
  bonus, `entropy_coef` or `use_adaptive_entropy`; the MoE router's auxiliary loss): there the trainer keeps
  TRL's random partition and only the cuts apply (`partition_matters`).

TRL's logged per-micro-batch means (`entropy`, the clip ratios) are averaged over micro-batches, so with
sorted micro-batches a short completion's tokens weigh more in them than in TRL's random split; the loss
and the update are as above.

The gradient-free passes over a whole generation batch (the old policy's log-probabilities for the
importance-sampling correction, the reference model's with beta > 0) are cut the same way, in chunks of like
length (`cut_scoring`), whatever the split.

All of it applies to TRL's own GRPOTrainer only (not Unsloth's compiled rewrite). The sorted split also
needs one optimizer step per generation batch (TRL's default, `steps_per_generation` equal to
`gradient_accumulation_steps`; sorted micro-batches spread over several optimizer steps would train the
short completions first) and a text batch of the keys below: a batch holding anything else (images, say)
goes through TRL's own split untouched.
"""

from __future__ import annotations

from typing import Any

from jobs.trl_methods import trls_own

PARTITION_FREE_LOSSES = frozenset({"dapo", "dr_grpo", "grpo"})
"""TRL loss types whose optimizer step does not depend on how the generation batch is split into equal-sized
micro-batches (see the module docstring); bnpo's does."""

PROMPT_KEYS = ("prompt_ids", "prompt_mask")
"""(B, P) tensors, left-padded."""
COMPLETION_KEYS = (
    "completion_ids",
    "completion_mask",
    "old_per_token_logps",
    "ref_per_token_logps",
    "sampling_per_token_logps",
    "importance_sampling_ratio",
    "tool_mask",
)
"""(B, C) tensors, right-padded; `importance_sampling_ratio` may also be (B, 1) (sequence-level modes)."""
ROW_KEYS = ("advantages",)
"""(B,) or (B, C) tensors; a (B, C) advantage is cut like a completion tensor."""
BATCH_KEYS = ("num_items_in_batch",)
"""Scalars of the whole generation batch, handed to every micro-batch as they are."""
TEXT_KEYS = frozenset(PROMPT_KEYS + COMPLETION_KEYS + ROW_KEYS + BATCH_KEYS)


def needed_widths(mask: Any, left_padded: bool) -> Any:
    """Columns each row of a (B, T) 0/1 `mask` needs: up to its last 1 (right padding) or from its first 1
    (left padding); 0 for a row of zeros. Returns a (B,) long tensor."""
    import torch

    width = mask.size(1)
    filled = mask != 0
    ordered = filled if left_padded else filled.flip(1)
    first = ordered.int().argmax(dim=1)  # position of the first 1 from the padded side
    return torch.where(filled.any(dim=1), width - first, torch.zeros_like(first))


def by_length(completion: Any, prompt: Any) -> Any:
    """The rows in order of needed completion width, then prompt width ((B,) long tensors of
    `needed_widths`); stable, so equal rows keep their order. Returns a (B,) index tensor."""
    import torch

    return torch.argsort(completion * (prompt.max() + 1) + prompt, stable=True)


def rounded(width: int, multiple: int | None, full: int) -> int:
    """`width` (at least 1) rounded up to a multiple of `multiple` (TRL's `pad_to_multiple_of`, None: no
    rounding), at most `full`."""
    width = max(1, width)
    if multiple:
        width = -(-width // multiple) * multiple
    return min(width, full)


def cut(
    batch: dict[str, Any], prompt_width: int, completion_width: int, multiple: int | None = None
) -> dict[str, Any]:
    """`batch` with its prompt tensors cut to their last `prompt_width` columns and its completion tensors to
    their first `completion_width` (at least one column each, so that shapes stay valid; rounded up to a
    multiple of `multiple`, as TRL pads with `pad_to_multiple_of`)."""
    full = batch["completion_ids"].size(1)
    prompt_width = rounded(prompt_width, multiple, batch["prompt_ids"].size(1))
    completion_width = rounded(completion_width, multiple, full)
    out = dict(batch)
    for key in PROMPT_KEYS:
        out[key] = batch[key][:, -prompt_width:]
    for key in COMPLETION_KEYS + ROW_KEYS:
        value = batch.get(key)
        if value is not None and getattr(value, "ndim", 0) == 2 and value.size(1) == full:
            out[key] = value[:, :completion_width]
    return out


def grouped(
    batch: dict[str, Any], parts: int, sort: bool = True, multiple: int | None = None
) -> list[dict[str, Any]] | None:
    """Split a generation batch (TRL's `_generate_and_score_completions` output) into `parts` equal
    micro-batches, each cut to the widths its rows need (rounded up to a multiple of `multiple`, TRL's
    `pad_to_multiple_of`); with `sort`, rows go in order of needed completion
    width, then prompt width, so that like lengths share a micro-batch. None when the batch holds keys this
    module does not know or does not split evenly (TRL's own split then applies)."""
    import torch

    if set(batch) - TEXT_KEYS or any(batch.get(k) is None for k in PROMPT_KEYS + COMPLETION_KEYS[:2]):
        return None
    rows = batch["completion_ids"].size(0)
    if parts < 1 or rows % parts:
        return None
    completion = needed_widths(batch["completion_mask"], left_padded=False)
    prompt = needed_widths(batch["prompt_mask"], left_padded=True)
    # TRL's shuffle (`shuffle_sequence_dict`): one permutation from the default CPU generator, drawn in either
    # case so that the run's later randomness (sampling, the next shuffles) stays that of TRL's split
    shuffle = torch.randperm(rows).to(completion.device)
    order = by_length(completion, prompt) if sort else shuffle
    size = rows // parts
    micro = []
    for start in range(0, rows, size):
        index = order[start : start + size]
        part: dict[str, Any] = {}
        for key, value in batch.items():
            if value is None or key in BATCH_KEYS or getattr(value, "ndim", 1) == 0:
                part[key] = value
            else:
                part[key] = value[index.to(value.device)]
        widths = int(prompt[index].max().item()), int(completion[index].max().item())
        micro.append(cut(part, *widths, multiple=multiple))
    return micro


def trls_split(batch: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    """TRL 1.16's own split of a generation batch (`GRPOTrainer._prepare_inputs`): shuffled, then cut in
    `parts` without trimming, images split and rejoined by their grid."""
    from trl.trainer.utils import (
        shuffle_sequence_dict,
        split_pixel_values_by_grid,
        split_tensor_dict,
        unsplit_pixel_values_by_grid,
    )

    # TRL's own annotations of these helpers disagree with each other: Any between them
    images_split: Any = split_pixel_values_by_grid(batch)
    shuffled: Any = shuffle_sequence_dict(images_split)
    micro: list[Any] = split_tensor_dict(shuffled, parts)
    return [unsplit_pixel_values_by_grid(part) for part in micro]


def cut_scoring(original: Any, multiple: int | None = None) -> Any:
    """TRL's `_get_per_token_logps_and_entropies` (bound method `original`), its gradient-free passes over a
    whole generation batch (the old-policy log-probabilities of the importance-sampling correction, the
    reference model's with beta > 0) run in chunks of like length, each cut to its own longest completion
    and prompt, instead of in TRL's order at the batch's full width. Returns (B, C) log-probabilities (and
    entropies) in the rows' own order; the columns past a row's completion, which every reader masks out,
    hold 0. Chunk widths are rounded up to a multiple of `multiple` (TRL's `pad_to_multiple_of`). Passes with
    gradients, multimodal inputs or the MoE auxiliary loss go to `original` as they are.
    """

    def get_per_token_logps_and_entropies(
        model: Any,
        input_ids: Any,
        attention_mask: Any,
        logits_to_keep: int,
        batch_size: int | None = None,
        compute_entropy: bool = False,
        compute_aux_loss: bool = False,
        **more: Any,
    ) -> tuple[Any, Any, Any]:
        import torch

        if (
            torch.is_grad_enabled()
            or batch_size is None
            or compute_aux_loss
            or any(v is not None for v in more.values())
            or logits_to_keep >= input_ids.size(1)
        ):
            return original(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size=batch_size,
                compute_entropy=compute_entropy,
                compute_aux_loss=compute_aux_loss,
                **more,
            )
        prompt_columns = input_ids.size(1) - logits_to_keep
        completion = needed_widths(attention_mask[:, prompt_columns:], left_padded=False)
        prompt = needed_widths(attention_mask[:, :prompt_columns], left_padded=True)
        order = by_length(completion, prompt)
        logps: Any = None
        entropies: Any = None
        for start in range(0, input_ids.size(0), batch_size):
            index = order[start : start + batch_size]
            keep = rounded(int(completion[index].max().item()), multiple, logits_to_keep)
            prompt_keep = rounded(int(prompt[index].max().item()), multiple, prompt_columns)
            columns = slice(prompt_columns - prompt_keep, prompt_columns + keep)
            chunk_logps, chunk_entropies, _ = original(
                model,
                input_ids[index][:, columns],
                attention_mask[index][:, columns],
                keep,
                compute_entropy=compute_entropy,
            )
            if logps is None:
                logps = chunk_logps.new_zeros((input_ids.size(0), logits_to_keep))
                if compute_entropy:
                    entropies = chunk_entropies.new_zeros((input_ids.size(0), logits_to_keep))
            logps[index, :keep] = chunk_logps
            if compute_entropy:
                entropies[index, :keep] = chunk_entropies
        return logps, entropies, None

    return get_per_token_logps_and_entropies


def applies(trainer: Any) -> str | None:
    """Why length-grouped micro-batches do not apply to `trainer`, or None when they do."""
    if not trls_own(trainer, "_prepare_inputs"):
        return "the trainer is not TRL's own GRPOTrainer"
    args = trainer.args
    if args.steps_per_generation != args.gradient_accumulation_steps:
        return "steps_per_generation differs from gradient_accumulation_steps"
    return None


def partition_matters(trainer: Any) -> str | None:
    """Why `trainer`'s optimizer step depends on which rows share a micro-batch (TRL's random split is then
    kept, only cut), or None when any equal-sized partition gives the same step."""
    if trainer.loss_type not in PARTITION_FREE_LOSSES:
        return f"loss_type {trainer.loss_type}"
    if getattr(trainer, "top_entropy_quantile", 1.0) < 1.0:
        return "top_entropy_quantile < 1 takes each micro-batch's own entropy quantile"
    if getattr(trainer, "_entropy_bonus_enabled", False):
        return "the entropy bonus averages over each micro-batch's own tokens"
    if getattr(trainer, "aux_loss_enabled", False):
        return "the MoE auxiliary loss is taken over each micro-batch's own tokens"
    return None


def rotary(model: Any) -> bool:
    """Whether `model` places tokens by rotary position embeddings (Llama and most causal LMs today), which
    see only the distance between two positions: cutting left padding then changes nothing. A model with
    learned absolute positions (GPT-2, OPT) would see every token of a cut row at another position."""
    config = getattr(model, "config", None)
    configs = [config, getattr(config, "text_config", None)]
    keys = ("rope_theta", "rope_parameters", "rope_scaling", "rotary_dim", "rotary_pct")
    return any(c is not None and any(getattr(c, k, None) is not None for k in keys) for c in configs)


def install(trainer: Any) -> str | None:
    """Make `trainer` (TRL GRPOTrainer) train on length-grouped, cut micro-batches where `applies`, and run
    its gradient-free scoring passes in cut chunks (`cut_scoring`); instance attributes, so other trainers
    keep TRL's. Returns what was done, for the log (None: nothing applies)."""
    if not trls_own(trainer, "_prepare_inputs"):
        return None
    if not rotary(trainer.model):
        return "micro-batches and scoring passes as TRL pads them (the model's positions are not rotary)"
    multiple = getattr(trainer, "pad_to_multiple_of", None)
    scoring_pass = trainer._get_per_token_logps_and_entropies
    trainer._get_per_token_logps_and_entropies = cut_scoring(scoring_pass, multiple)
    scoring = "scoring passes in chunks of like length"
    declined = applies(trainer)
    if declined is not None:
        return f"{scoring}; micro-batches as TRL splits them ({declined})"
    from trl.extras.profiling import profiling_context

    original = trainer._prepare_inputs
    args = trainer.args
    random_split = partition_matters(trainer)
    sort = random_split is None

    def prepare_inputs(generation_batch: Any) -> Any:
        if not trainer.model.training:
            return original(generation_batch)
        with profiling_context(trainer, "_prepare_inputs"):  # TRL's own name: the phase clock reads it
            generate_every = args.steps_per_generation * trainer.num_iterations
            if trainer._step % generate_every == 0 or trainer._buffered_inputs is None:
                batch = trainer._generate_and_score_completions(generation_batch)
                micro = grouped(batch, args.steps_per_generation, sort=sort, multiple=multiple)
                trainer._buffered_inputs = micro or trls_split(batch, args.steps_per_generation)
            return trainer._buffered_inputs[trainer._step % args.steps_per_generation]

    trainer._prepare_inputs = prepare_inputs
    if sort:
        return f"micro-batches grouped by completion length, each cut to its longest row; {scoring}"
    return f"micro-batches cut to their longest row (TRL's random split kept: {random_split}); {scoring}"
