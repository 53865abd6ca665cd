"""Rollout groups: the G completions of a prompt with their scores and the advantage GRPO gave each.

The advantage is computed here exactly as TRL's `GRPOTrainer._generate_and_score_completions` computes
it (TRL 1.15.0 and 1.16.0 read the same), in plain Python so that the training job can write it beside
the completions and a test can recompute it:

- the reward of a completion is the weighted sum of the reward functions' scores, a function that gave
  None left out (`nansum`); a completion every function gave None is unscorable (NaN);
- `multi_objective_aggregation = "sum_then_normalize"` (TRL's default; the workbench never changes it):
  the baseline is the group's mean reward (`nanmean` over its G completions) and the advantage is
  `reward - mean`, divided by `std + 1e-4` where std is the group's (`scale_rewards = "group"`, the
  default), the whole batch's (`"batch"`), or not divided (`"none"`); std is TRL's `nanstd`, with
  Bessel's correction (n - 1);
- `"normalize_then_sum"`: each function's scores are normalised within the group first, `(s - mean_k) /
  (std_k + 1e-4)`, summed with the weights, and the sums normalised over the batch;
- an unscorable completion's advantage is 0 (TRL's `nan_to_num`);
- a group has zero variance when its std is 0 (`torch.isclose(std, 0)`: within 1e-8); TRL logs the share
  of such completions as `frac_reward_zero_std`.

TRL computes in float32 and this module in float64: values agree to about 1e-6 relative.
Pure Python (no torch), so the UI and the tests can use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.runs import RolloutCompletion, RolloutGroup, RolloutStep

EPSILON = 1e-4
"""What TRL adds to a standard deviation before dividing by it."""
ZERO_STD_ATOL = 1e-8
"""`torch.isclose(std, 0)`'s tolerance (its default atol; rtol times 0 adds nothing)."""
SCALE_REWARDS = ("group", "batch", "none")
AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")
NAN = float("nan")


def _nan(value: float | None) -> float:
    return NAN if value is None else float(value)


def nanmean(values: Sequence[float]) -> float:
    """The mean of the values that are not NaN; NaN when there are none (torch.nanmean)."""
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else NAN


def nanstd(values: Sequence[float]) -> float:
    """TRL's `nanstd`: the standard deviation of the values that are not NaN, with Bessel's correction;
    NaN for fewer than two."""
    kept = [v for v in values if not math.isnan(v)]
    if len(kept) < 2:
        return NAN
    mean = math.fsum(kept) / len(kept)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in kept) / (len(kept) - 1))


def is_zero_std(std: float) -> bool:
    """`torch.isclose(std, 0)`: False for NaN."""
    return not math.isnan(std) and abs(std) <= ZERO_STD_ATOL


def weighted_total(scores: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """TRL's reward of one completion: `nansum(score * weight)`; None when every score is None."""
    if all(s is None for s in scores):
        return None
    return math.fsum(float(s) * w for s, w in zip(scores, weights, strict=True) if s is not None)


@dataclass(frozen=True)
class Advantages:
    """A batch scored as TRL scores it: one entry per completion, or per group."""

    totals: list[float | None]
    """Per completion: the weighted reward (None: unscorable)."""
    advantages: list[float]
    """Per completion: the advantage TRL trains with."""
    group_means: list[float]
    """Per group: the mean total (NaN when no completion of the group was scorable)."""
    group_stds: list[float]
    """Per group: the std of the totals (NaN below two scorable completions)."""

    @property
    def zero_std(self) -> list[bool]:
        """Per group: every completion scored the same."""
        return [is_zero_std(s) for s in self.group_stds]


def grpo_advantages(
    scores: Sequence[Sequence[float | None]],
    weights: Sequence[float],
    num_generations: int,
    scale_rewards: str = "group",
    aggregation: str = "sum_then_normalize",
) -> Advantages:
    """The advantages TRL computes for one batch of completions.

    Args:
        scores: Per completion, each reward function's score (None where it gave none); the completions
            of one prompt are consecutive, `num_generations` of them (TRL's order).
        weights: One weight per reward function (TRL's `reward_weights`).
        num_generations: G, the group size.
        scale_rewards: `group`, `batch` or `none` (TRL's; True and False mean `group` and `none`).
        aggregation: TRL's `multi_objective_aggregation`.

    Returns:
        The totals, advantages, and each group's mean and std.

    Raises:
        ValueError: the batch does not split into whole groups, or a setting is not one of TRL's.
    """
    scale = {True: "group", False: "none"}.get(scale_rewards, scale_rewards)  # type: ignore[call-overload]
    if scale not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards {scale_rewards!r} is not one of {', '.join(SCALE_REWARDS)}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(
            f"multi_objective_aggregation {aggregation!r} is not one of {', '.join(AGGREGATIONS)}"
        )
    if num_generations < 1 or len(scores) % num_generations:
        raise ValueError(f"{len(scores)} completions do not split into groups of {num_generations}")
    g = num_generations
    totals = [weighted_total(row, weights) for row in scores]
    rewards = [_nan(t) for t in totals]
    groups = [rewards[i : i + g] for i in range(0, len(rewards), g)]
    means = [nanmean(group) for group in groups]
    group_stds = [nanstd(group) if g > 1 else 0.0 for group in groups]
    if aggregation == "sum_then_normalize":
        if scale == "batch":
            spread = nanstd(rewards) if len(rewards) > 1 else 0.0
            stds = [spread] * len(groups)
        else:
            stds = group_stds
        advantages = []
        for index, reward in enumerate(rewards):
            value = reward - means[index // g]
            if scale != "none":
                value /= stds[index // g] + EPSILON
            advantages.append(value)
    else:
        columns = len(weights)
        normalised: list[float] = []
        for start in range(0, len(scores), g):
            block = [[_nan(row[k]) for k in range(columns)] for row in scores[start : start + g]]
            mean_k = [nanmean([row[k] for row in block]) for k in range(columns)]
            std_k = [nanstd([row[k] for row in block]) if g > 1 else 0.0 for k in range(columns)]
            for row in block:
                parts = [
                    (row[k] - mean_k[k]) / (std_k[k] + EPSILON) * weights[k]
                    for k in range(columns)
                    if not math.isnan((row[k] - mean_k[k]) / (std_k[k] + EPSILON))
                ]
                normalised.append(math.fsum(parts))
        normalised = [NAN if t is None else n for n, t in zip(normalised, totals, strict=True)]
        spread = nanstd(normalised) if len(normalised) > 1 else 0.0
        centre = nanmean(normalised)
        advantages = [(n - centre) / (spread + EPSILON) for n in normalised]
    return Advantages(
        totals=totals,
        advantages=[0.0 if math.isnan(a) else a for a in advantages],
        group_means=means,
        group_stds=group_stds,
    )


def spread_picks(available: int, wanted: int) -> list[int]:
    """`wanted` of `available` positions spread evenly from the first (all of them when fewer)."""
    if wanted >= available:
        return list(range(available))
    return sorted({(i * available) // wanted for i in range(wanted)})


def _question(prompt: Any) -> str:
    """The user's question of a chat prompt (its last message), or the prompt as text."""
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], Mapping):
        return str(prompt[-1].get("content", ""))
    return str(prompt)


def _maybe(value: float) -> float | None:
    return None if math.isnan(value) else value


def build_step(
    step: int,
    at: float,
    names: Sequence[str],
    weights: Sequence[float],
    scores: Mapping[str, Sequence[float | None]],
    texts: Sequence[str],
    prompts: Sequence[Any],
    answers: Sequence[Any],
    num_generations: int,
    groups_wanted: int,
    lengths: Sequence[int] | None = None,
    truncated: Sequence[bool] | None = None,
    scale_rewards: str = "group",
    aggregation: str = "sum_then_normalize",
    advantages: Advantages | None = None,
) -> RolloutStep:
    """One step's rollouts.jsonl record: `groups_wanted` whole groups, spread over the batch.

    Args:
        step: The training step the completions were generated for.
        at: Seconds since the epoch.
        names: The reward functions, in TRL's order; `weights` their weights.
        scores: Name -> one score per completion of the batch.
        texts: The completions' text; `prompts` and `answers` aligned with them (G copies per group).
        num_generations: G.
        groups_wanted: How many groups to keep.
        lengths: Completion tokens, per completion; `truncated` whether each hit the length limit.
        scale_rewards, aggregation: TRL's settings for the run.
        advantages: The batch's advantages when computed elsewhere (over several processes' batches);
            by default computed from `scores` here.
    """
    rows = [[scores[n][i] for n in names] for i in range(len(texts))]
    scored = advantages or grpo_advantages(rows, weights, num_generations, scale_rewards, aggregation)
    g = num_generations
    group_count = len(texts) // g
    zero = scored.zero_std
    groups = []
    for group in spread_picks(group_count, groups_wanted):
        members = range(group * g, (group + 1) * g)
        completions = tuple(
            RolloutCompletion(
                completion=texts[i],
                rewards={n: scores[n][i] for n in names},
                total=scored.totals[i],
                advantage=scored.advantages[i],
                length=lengths[i] if lengths is not None else None,
                truncated=truncated[i] if truncated is not None else None,
            )
            for i in members
        )
        first = group * g
        groups.append(
            RolloutGroup(
                index=group,
                question=_question(prompts[first]) if first < len(prompts) else "",
                answer=str(answers[first]) if first < len(answers) and answers[first] is not None else None,
                mean=_maybe(scored.group_means[group]),
                std=_maybe(scored.group_stds[group]),
                zero_std=zero[group],
                completions=completions,
            )
        )
    return RolloutStep(
        step=step,
        time=at,
        num_generations=g,
        scale_rewards=scale_rewards,
        aggregation=aggregation,
        groups_in_batch=group_count,
        zero_std_groups=sum(zero[:group_count]),
        truncated=sum(1 for t in truncated or () if t),
        groups=tuple(groups),
    )
