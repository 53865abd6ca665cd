"""`jobs.colocate`'s choice of what to trim, read from real TRL trainers (the trims themselves need a
colocated vLLM engine, so they run in tests/test_gpu.py): the sampled tokens' log-probabilities are
dropped only when no part of the trainer reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trl_helpers import tiny_grpo_trainer

from jobs import colocate, trl_methods

pytest.importorskip("trl")


def tiny_trainer(model_dir: Path, tmp_path: Path, **settings: Any) -> Any:
    return tiny_grpo_trainer(
        model_dir,
        tmp_path,
        ["1 + 1 = ?"] * 4,
        lambda completions, **_: [0.0] * len(completions),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=4,
        **settings,
    )


@pytest.mark.parametrize(
    ("settings", "unread"),
    [
        ({"vllm_importance_sampling_correction": False}, True),
        ({"vllm_importance_sampling_correction": True}, False),  # the correction reads them
        ({"vllm_importance_sampling_correction": False, "off_policy_mask_threshold": 0.5}, False),
    ],
)
def test_sampled_logprobs_are_dropped_only_when_nothing_reads_them(
    tiny_model_dir: Path, tmp_path: Path, settings: dict[str, Any], unread: bool
) -> None:
    trainer = tiny_trainer(tiny_model_dir, tmp_path, **settings)
    assert colocate.sampled_logprobs_unread(trainer) is unread
    # TRL's own trainer: its `_generate` returns the order `drop_sampled_logprobs` relies on
    assert trl_methods.trls_own(trainer, "_generate")


def test_forced_lengths_are_seeded_and_span_a_quarter_to_all_of_the_longest() -> None:
    import random

    from jobs import forced_lengths

    first = forced_lengths.draw(random.Random(0), 4096, 256)
    assert first == forced_lengths.draw(random.Random(0), 4096, 256)  # every variant draws the same
    assert min(first) == 64 and max(first) == 256
    assert 150 < sum(first) / len(first) < 170  # uniform: mean 160


def test_forced_lengths_refuse_a_run_without_a_colocated_vllm_engine(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A bench figure must not claim a workload it did not run: the job fails at start, naming the fix."""
    from jobs import forced_lengths

    trainer = tiny_trainer(tiny_model_dir, tmp_path)  # transformers' generation, no vLLM
    assert forced_lengths.install(trainer, {}) is None
    with pytest.raises(ValueError, match='colocated vLLM engine.*distributed.vllm_mode = "colocate"'):
        forced_lengths.install(trainer, {forced_lengths.ENV: "0"})
    with pytest.raises(ValueError, match="integer seed"):
        forced_lengths.install(trainer, {forced_lengths.ENV: "yes"})
