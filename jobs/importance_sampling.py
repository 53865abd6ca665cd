"""The importance-sampling correction from the update's own forward pass, instead of a second pass.

With `vllm_importance_sampling_correction` on, TRL 1.15-1.16 runs a gradient-free forward pass over every
completion of a step before the update (`old_per_token_logps`), only to weigh each token by the trainer's
probability over vLLM's (the ratio, truncated or masked by `vllm_importance_sampling_mode`). When one
optimizer step consumes the generation batch (`num_iterations = 1`, `steps_per_generation =
gradient_accumulation_steps`, TRL's defaults), the update's forward runs on the very weights that pass ran
on, so its log-probabilities, detached, are the same numbers (TRL itself uses them as the old policy's then:
`old_per_token_logps = per_token_logps.detach()`). `install` has the trainer skip the extra pass and compute
the ratio, with TRL's formula (`ratio`), from the update's forward, micro-batch by micro-batch, just before
TRL's loss reads it. TRL's `sampling/*` metrics are kept, over the same tokens: accumulated over the step's
micro-batches and logged once per step, as TRL logs them (`SamplingFigures`).

Measured on an H200 (random 1B, 128 x 256 tokens): see README, "Speed on a GPU". It applies to the
overlapped two-GPU mode (`jobs.overlap`) too, which turns the correction on: its completions come from the
weights one step behind, but TRL's extra pass runs on the trainer's current weights, the update's.

Applies to TRL's own GRPOTrainer with vLLM, the correction on, the defaults above, no off-policy mask
(`off_policy_mask_threshold`, which reads the old policy's log-probabilities before the update), no tools or
`rollout_func`, no dropout (with it, two forward passes over the same weights give different numbers: TRL's
loss then also sees a ratio to the old policy other than 1, which this would not), and a loss other than
vespo (which uses the ratio inside its own formula); otherwise TRL runs as shipped.
"""

from __future__ import annotations

import math
from typing import Any

from jobs.trl_methods import trls_own

SEQUENCE_MODES = ("sequence_mask", "sequence_truncate")
TRUNCATE_MODES = ("sequence_truncate", "token_truncate")
MASK_MODES = ("sequence_mask", "token_mask")
ATTENTION_DROPOUT_KEYS = frozenset(
    {"attention_dropout", "attn_dropout", "attn_pdrop", "attention_probs_dropout_prob"}
)
"""Model configuration keys of a dropout applied in the attention function rather than by a module."""


def ratio(
    logps: Any,
    sampling_logps: Any,
    mask: Any,
    mode: str,
    clip_min: float | None,
    clip_max: float | None,
) -> Any:
    """TRL 1.15-1.16's vLLM importance-sampling ratio (`GRPOTrainer._generate_and_score_completions`).

    Args:
        logps: (B, C) the trainer's log-probabilities of the sampled tokens.
        sampling_logps: (B, C) vLLM's log-probabilities of the same tokens (NaN where vLLM had none).
        mask: (B, C) 1 on the completion tokens that count.
        mode: TRL's `vllm_importance_sampling_mode`.
        clip_min, clip_max: TRL's `vllm_importance_sampling_clip_min` / `_clip_max`.

    Returns:
        (B, C) per-token ratios (token modes) or (B, 1) per-sequence ratios (sequence modes).

    Raises:
        ValueError: an unknown mode (TRL's own message).
    """
    import torch

    diff = torch.nan_to_num((logps - sampling_logps) * mask, nan=0.0)
    if mode in SEQUENCE_MODES:
        diff = diff.sum(dim=-1, keepdim=True)
    weights = torch.exp(diff)
    if mode in TRUNCATE_MODES:
        return torch.clamp(weights, min=clip_min, max=clip_max)
    if mode in MASK_MODES:
        low = -math.inf if clip_min is None else clip_min
        high = math.inf if clip_max is None else clip_max
        return weights.masked_fill((weights < low) | (weights > high), value=0.0)
    raise ValueError(
        f"Unknown vLLM importance sampling level: {mode}. Possible values are 'token_truncate', "
        "'token_mask', 'sequence_truncate', and 'sequence_mask'."
    )


class SamplingFigures:
    """TRL's `sampling/*` metrics of one step, accumulated over its micro-batches: the mean and largest
    |trainer - vLLM| log-probability gap over the counted tokens (NaN gaps left out), and the smallest,
    mean and largest ratio (over the counted tokens, or over every sequence in the sequence modes)."""

    def __init__(self) -> None:
        self.gap_sum = 0.0
        self.gap_count = 0
        self.gap_max: float | None = None
        self.ratio_sum = 0.0
        self.ratio_count = 0
        self.ratio_min: float | None = None
        self.ratio_max: float | None = None
        self.micro_batches = 0

    def add(self, logps: Any, sampling_logps: Any, mask: Any, weights: Any, sequence_level: bool) -> None:
        import torch

        counted = mask.bool()
        gap = torch.abs(logps - sampling_logps)
        gap = gap[counted & ~torch.isnan(gap)]
        flat = weights.flatten() if sequence_level else weights[counted]
        if gap.numel():
            self.gap_sum += float(gap.sum())
            self.gap_count += gap.numel()
            self.gap_max = max(float(gap.max()), self.gap_max if self.gap_max is not None else -math.inf)
        if flat.numel():
            self.ratio_sum += float(flat.sum())
            self.ratio_count += flat.numel()
            low, high = float(flat.min()), float(flat.max())
            self.ratio_min = low if self.ratio_min is None else min(self.ratio_min, low)
            self.ratio_max = high if self.ratio_max is None else max(self.ratio_max, high)
        self.micro_batches += 1

    def log(self, trainer: Any) -> None:
        """Append the step's figures to TRL's train metrics, gathered over processes as TRL gathers them
        (a collective: every process calls it at the same micro-batch)."""
        import torch
        from trl.trainer.utils import nanmax, nanmin

        device = trainer.accelerator.device
        gather = trainer.accelerator.gather

        def value(x: float | None) -> Any:
            return torch.tensor(0.0 if x is None else x, device=device)

        gap_mean = self.gap_sum / self.gap_count if self.gap_count else 0.0
        ratio_mean = self.ratio_sum / self.ratio_count if self.ratio_count else 0.0
        metrics = trainer._metrics["train"]
        metrics["sampling/sampling_logp_difference/mean"].append(gather(value(gap_mean)).mean().item())
        metrics["sampling/sampling_logp_difference/max"].append(gather(value(self.gap_max)).max().item())
        metrics["sampling/importance_sampling_ratio/min"].append(nanmin(gather(value(self.ratio_min))).item())
        metrics["sampling/importance_sampling_ratio/mean"].append(gather(value(ratio_mean)).nanmean().item())
        metrics["sampling/importance_sampling_ratio/max"].append(nanmax(gather(value(self.ratio_max))).item())


def corrects(trainer: Any) -> bool:
    """Whether `trainer` runs TRL's vLLM importance-sampling correction."""
    return bool(
        getattr(trainer, "use_vllm", False) and getattr(trainer, "vllm_importance_sampling_correction", False)
    )


def applies(trainer: Any) -> str | None:
    """Why the one-pass correction does not apply to `trainer`, or None when it does."""
    if not trls_own(trainer, "_compute_loss"):
        return "the trainer is not TRL's own GRPOTrainer"
    if not corrects(trainer):
        return "no vLLM importance-sampling correction to compute"
    args = trainer.args
    if trainer.num_iterations != 1 or args.steps_per_generation != args.gradient_accumulation_steps:
        return (
            "the update does not run on the weights that generated (num_iterations or steps_per_generation)"
        )
    if trainer.loss_type == "vespo":
        return "loss_type vespo uses the ratio in its own formula"
    if getattr(trainer, "off_policy_mask_threshold", None) is not None:
        return "the off-policy mask reads the old policy before the update"
    if getattr(trainer, "tools", None) or getattr(trainer, "rollout_func", None) is not None:
        return "tools or a rollout_func"
    if has_dropout(trainer.model):
        return "dropout: the update's forward draws its own masks, not the numbers of TRL's pass"
    return None


def declined(trainer: Any) -> str | None:
    """Why the one-pass correction does not apply to `trainer` although it runs TRL's correction (for the
    log: TRL's extra pass then runs), or None (it applies, or there is no correction to take over)."""
    return applies(trainer) if corrects(trainer) else None


def has_dropout(model: Any) -> bool:
    """Whether `model` drops anything in training mode: a dropout module with p > 0 (LoRA's `lora_dropout`
    among them) or an attention-dropout setting > 0 in its configuration (attention dropout is functional,
    no module; a classifier head's dropout setting is not read by a causal LM)."""
    import torch

    if any(isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
        return True
    configs = [getattr(model, "config", None)]
    configs.append(getattr(configs[0], "text_config", None))
    for config in configs:
        for key, value in (vars(config) if config is not None else {}).items():
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if key in ATTENTION_DROPOUT_KEYS and numeric and value > 0:
                return True
    return False


def install(trainer: Any) -> str | None:
    """Make `trainer` take the correction from its update's forward (instance attributes: other trainers
    keep TRL's); return what was done, for the log (None: it does not apply, see `applies`)."""
    if applies(trainer) is not None:
        return None
    import torch

    generate_and_score = trainer._generate_and_score_completions
    compute_loss = trainer._compute_loss
    forward = trainer._get_per_token_logps_and_entropies
    args = trainer.args
    pending: dict[str, Any] = {}
    figures = [SamplingFigures()]

    def generate_and_score_completions(generation_batch: Any) -> Any:
        if not trainer.model.training:
            return generate_and_score(generation_batch)
        # TRL then neither runs the old-policy pass nor builds the ratio or its metrics
        trainer.vllm_importance_sampling_correction = False
        try:
            return generate_and_score(generation_batch)
        finally:
            trainer.vllm_importance_sampling_correction = True

    def loss(model: Any, inputs: dict[str, Any]) -> Any:
        take = (
            trainer.model.training
            and "importance_sampling_ratio" not in inputs
            and inputs.get("sampling_per_token_logps") is not None
        )
        if take:
            pending["inputs"] = inputs
        try:
            return compute_loss(model, inputs)
        finally:
            pending.clear()

    def get_per_token_logps_and_entropies(*args_: Any, **kwargs: Any) -> Any:
        out = forward(*args_, **kwargs)
        inputs = pending.pop("inputs", None)
        if inputs is None or not torch.is_grad_enabled():
            return out
        logps = out[0].detach()
        sampling = inputs["sampling_per_token_logps"]
        mask = inputs["completion_mask"]
        if inputs.get("tool_mask") is not None:
            mask = mask * inputs["tool_mask"]
        mode = trainer.vllm_importance_sampling_mode
        weights = ratio(
            logps,
            sampling,
            mask,
            mode,
            trainer.vllm_importance_sampling_clip_min,
            trainer.vllm_importance_sampling_clip_max,
        )
        inputs["importance_sampling_ratio"] = weights  # read by TRL's loss right after this forward
        step = figures[0]
        step.add(logps, sampling, mask, weights, mode in SEQUENCE_MODES)
        if step.micro_batches == args.steps_per_generation:
            step.log(trainer)
            figures[0] = SamplingFigures()
        return out

    trainer._generate_and_score_completions = generate_and_score_completions
    trainer._compute_loss = loss
    trainer._get_per_token_logps_and_entropies = get_per_token_logps_and_entropies
    return "importance-sampling ratio from the update's own forward (no second pass)"
