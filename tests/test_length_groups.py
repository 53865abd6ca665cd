"""`jobs.length_groups` on real TRL trainers: length-grouped, cut micro-batches give the optimizer step the
same gradient as TRL's own shuffled, padded split, and a training step runs through them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trl_helpers import tiny_grpo_trainer

from jobs import length_groups

pytest.importorskip("trl")

PROMPTS = [
    "1 + 1 = ?",
    "Một cửa hàng có 12 quả táo và bán đi 5 quả. Hỏi cửa hàng còn lại bao nhiêu quả táo?",
]


def tiny_trainer(model_dir: Path, tmp_path: Path, **settings: Any) -> Any:
    """TRL's GRPOTrainer on the tiny architecture with a LoRA adapter: 8 completions per step in two
    micro-batches of 4, prompts of two lengths (so that the left padding differs between rows)."""

    def varied(completions: list[Any], **_: Any) -> list[float | None]:
        return [float(len(str(c)) % 5) for c in completions]

    return tiny_grpo_trainer(
        model_dir,
        tmp_path,
        PROMPTS,
        varied,
        adapter=True,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        num_generations=4,
        seed=7,
        **{"max_completion_length": 12, **settings},
    )


SHORT_PROMPT_LENGTHS = [2, 3, 1, 4]
LONG_PROMPT_LENGTHS = [12, 9, 12, 7]


def generation_batch(trainer: Any) -> dict[str, Any]:
    """One real generation batch of `trainer` (both prompts, four completions each), its completions then
    ended early (a real model stops early; the tiny random one rarely does): the short prompt's after
    `SHORT_PROMPT_LENGTHS` tokens, the long one's after `LONG_PROMPT_LENGTHS`. The mask is cut and TRL's
    token count recomputed."""
    trainer.model.train()
    prompts = next(iter(trainer.get_train_dataloader()))
    batch = trainer._generate_and_score_completions(prompts)
    widths = length_groups.needed_widths(batch["prompt_mask"], left_padded=True).tolist()
    assert len(set(widths)) == 2
    short, long = iter(SHORT_PROMPT_LENGTHS), iter(LONG_PROMPT_LENGTHS)
    mask = batch["completion_mask"].clone()
    for row, width in enumerate(widths):
        mask[row, next(short if width == min(widths) else long) :] = 0
    batch["completion_mask"] = mask
    batch["num_items_in_batch"] = mask.sum()
    return batch


def step_gradient(trainer: Any, micro_batches: list[dict[str, Any]]) -> dict[str, Any]:
    """The summed gradient of one optimizer step over `micro_batches`, as TRL's training step takes it."""
    model = trainer.model
    trainer.current_gradient_accumulation_steps = len(micro_batches)  # set by transformers' training loop
    model.zero_grad()
    for micro in micro_batches:
        trainer.compute_loss(model, micro).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_needed_widths_read_either_padding_side() -> None:
    import torch

    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0]])
    assert length_groups.needed_widths(right, left_padded=False).tolist() == [2, 4, 0, 3]
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 1, 0, 1]])
    assert length_groups.needed_widths(left, left_padded=True).tolist() == [2, 4, 0, 3]


def test_grouped_sorts_cuts_and_keeps_every_row_whole() -> None:
    import torch

    completion_mask = torch.tensor(
        [[1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 0, 0, 0, 0]]
    )
    prompt_mask = torch.tensor([[0, 1, 1], [1, 1, 1], [0, 0, 1], [0, 1, 1]])
    batch = {
        "prompt_ids": torch.arange(12).reshape(4, 3),
        "prompt_mask": prompt_mask,
        "completion_ids": torch.arange(100, 124).reshape(4, 6),
        "completion_mask": completion_mask,
        "old_per_token_logps": torch.arange(24.0).reshape(4, 6),
        "importance_sampling_ratio": torch.ones(4, 1),  # sequence-level: not a completion column
        "advantages": torch.tensor([0.0, 1.0, 2.0, 3.0]),
        "num_items_in_batch": completion_mask.sum(),
    }
    first, second = length_groups.grouped(batch, 2) or []
    assert first["advantages"].tolist() == [1.0, 3.0]  # completions of 1 and 2 tokens
    assert second["advantages"].tolist() == [2.0, 0.0]  # 5 and 6
    assert first["completion_ids"].tolist() == [[106, 107], [118, 119]]
    assert first["old_per_token_logps"].shape == (2, 2)
    assert first["importance_sampling_ratio"].shape == (2, 1)
    assert first["prompt_ids"].tolist() == [[3, 4, 5], [9, 10, 11]]
    assert second["prompt_ids"].tolist() == [[7, 8], [1, 2]]  # both prompts need 2 columns at most
    assert second["completion_mask"].shape == (2, 6)
    assert first["num_items_in_batch"] is batch["num_items_in_batch"]  # the whole batch's count
    assert length_groups.grouped(batch, 3) is None  # 4 rows do not split in 3
    assert length_groups.grouped({**batch, "pixel_values": torch.ones(4, 1)}, 2) is None


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "dr_grpo", "bnpo"])
def test_the_grouped_step_has_trls_gradient(tiny_model_dir: Path, tmp_path: Path, loss_type: str) -> None:
    """The length-grouped, cut micro-batches give the same summed gradient as TRL's own split of the
    same generation batch (bnpo keeps TRL's random partition: only the cuts apply there)."""
    import torch

    trainer = tiny_trainer(tiny_model_dir, tmp_path, loss_type=loss_type)
    assert length_groups.applies(trainer) is None
    batch = generation_batch(trainer)
    sort = loss_type in length_groups.PARTITION_FREE_LOSSES
    torch.manual_seed(0)
    ours = length_groups.grouped(batch, 2, sort=sort)
    assert ours is not None
    widths = [m["completion_ids"].size(1) for m in ours]
    if sort:  # the short prompt's completions form the first micro-batch, cut on both sides
        assert widths == [4, 12]
        assert ours[0]["prompt_ids"].size(1) < ours[1]["prompt_ids"].size(1) == batch["prompt_ids"].size(1)
    torch.manual_seed(0)
    theirs = length_groups.trls_split(batch, 2)
    if not sort:  # same permutation (same seed): the micro-batches hold the same rows, only cut
        assert [m["advantages"].tolist() for m in ours] == [m["advantages"].tolist() for m in theirs]
    grads, reference = step_gradient(trainer, ours), step_gradient(trainer, theirs)
    assert reference and any(g.abs().sum() > 0 for g in reference.values())
    for name, grad in reference.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_different_partition_changes_bnpos_gradient(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Why bnpo is not sorted: its step depends on which rows share a micro-batch (this test would pass
    for dapo, whose step does not)."""
    import torch

    trainer = tiny_trainer(tiny_model_dir, tmp_path, loss_type="bnpo")
    batch = generation_batch(trainer)
    sorted_parts = length_groups.grouped(batch, 2, sort=True)
    assert sorted_parts is not None
    torch.manual_seed(0)
    shuffled = length_groups.trls_split(batch, 2)
    grads, reference = step_gradient(trainer, sorted_parts), step_gradient(trainer, shuffled)
    assert any(not torch.allclose(grads[n], g, rtol=1e-3) for n, g in reference.items())


def test_install_trains_on_cut_micro_batches(tiny_model_dir: Path, tmp_path: Path) -> None:
    trainer = tiny_trainer(tiny_model_dir, tmp_path, max_completion_length=16)
    done = length_groups.install(trainer)
    assert done is not None and "grouped by completion length" in done
    trainer.train()
    assert trainer.state.global_step == 1
    buffered = trainer._buffered_inputs
    assert len(buffered) == 2
    for micro in buffered:  # each cut to its own longest row: its outer columns are used by some row
        assert micro["completion_mask"][:, -1].any() or micro["completion_mask"].size(1) == 1
        assert micro["prompt_mask"][:, 0].any()
    # sorted by prompt width when the completions tie: the short prompt's rows were cut on the left
    assert buffered[0]["prompt_ids"].size(1) < buffered[1]["prompt_ids"].size(1)


def test_cut_scoring_passes_give_trls_log_probabilities(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The gradient-free passes (old policy, reference model) in cut chunks of like length give TRL's
    log-probabilities and entropies on every completion token, and 0 past each completion."""
    import torch

    trainer = tiny_trainer(tiny_model_dir, tmp_path)
    batch = generation_batch(trainer)
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    width = batch["completion_ids"].size(1)
    original = trainer._get_per_token_logps_and_entropies
    cut = length_groups.cut_scoring(original)
    mask = batch["completion_mask"].bool()
    with torch.no_grad():
        theirs = original(trainer.model, input_ids, attention, width, batch_size=4, compute_entropy=True)
        ours = cut(trainer.model, input_ids, attention, width, batch_size=4, compute_entropy=True)
    assert ours[0].shape == theirs[0].shape == mask.shape
    torch.testing.assert_close(ours[0][mask], theirs[0][mask], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours[1][mask], theirs[1][mask], rtol=1e-4, atol=1e-5)
    assert (ours[0][~mask] == 0).all() and (ours[1][~mask] == 0).all()
    # a pass with gradients (the update's own forward) goes to TRL's function as it is
    grad_ours = cut(trainer.model, input_ids, attention, width, batch_size=4)[0]
    assert grad_ours.requires_grad
    torch.testing.assert_close(grad_ours[mask].detach(), theirs[0][mask], rtol=1e-4, atol=1e-5)


def test_a_reference_model_step_runs_through_the_cut_passes(tiny_model_dir: Path, tmp_path: Path) -> None:
    """beta > 0: TRL scores every completion under the reference model (the adapter off) before the
    update; that pass goes through `cut_scoring` and the step trains."""
    trainer = tiny_trainer(tiny_model_dir, tmp_path, beta=0.04)
    seen: list[int] = []
    original = trainer._get_per_token_logps_and_entropies

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[1].size(0))
        return original(*args, **kwargs)

    trainer._get_per_token_logps_and_entropies = counting
    assert length_groups.install(trainer) is not None
    trainer.train()
    assert trainer.state.global_step == 1
    # the reference pass over all 8 rows came in as one call and went out in chunks of 4; then the update's
    # two micro-batches of 4
    assert seen[:2] == [4, 4] and len(seen) == 4, seen
    assert any("kl" in logged for logged in trainer.state.log_history)  # the KL term read that pass


def test_install_declines_a_split_over_several_optimizer_steps(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Sorted micro-batches spread over several optimizer steps would train the short completions first."""
    trainer = tiny_trainer(tiny_model_dir, tmp_path, steps_per_generation=4)
    assert length_groups.applies(trainer) == ("steps_per_generation differs from gradient_accumulation_steps")
    assert length_groups.install(trainer) == (  # the log line says why the update is TRL's
        "scoring passes in chunks of like length; micro-batches as TRL splits them "
        "(steps_per_generation differs from gradient_accumulation_steps)"
    )
    assert trainer._prepare_inputs.__func__ is type(trainer)._prepare_inputs  # TRL's own split kept


@pytest.mark.parametrize(
    "settings",
    [{"top_entropy_quantile": 0.5}, {"entropy_coef": 0.5}],
    ids=["top_entropy_quantile", "entropy_coef"],
)
def test_a_per_micro_batch_entropy_term_keeps_trls_random_split(
    tiny_model_dir: Path, tmp_path: Path, settings: dict[str, float]
) -> None:
    """dapo's step is partition-free only without a term taken over each micro-batch's own tokens: the
    entropy mask's quantile (`top_entropy_quantile`) and the entropy bonus's mean are, so sorted
    micro-batches would give the short completions their own threshold (their own mean). There the trainer
    keeps TRL's random split and only cuts; cut, the step is TRL's."""
    import torch

    trainer = tiny_trainer(tiny_model_dir, tmp_path, loss_type="dapo", **settings)
    batch = generation_batch(trainer)
    sorted_parts = length_groups.grouped(batch, 2, sort=True)
    assert sorted_parts is not None
    torch.manual_seed(0)
    shuffled = length_groups.trls_split(batch, 2)
    reference = step_gradient(trainer, shuffled)
    grads = step_gradient(trainer, sorted_parts)
    assert any(not torch.allclose(grads[n], g, rtol=1e-3) for n, g in reference.items())  # why

    assert length_groups.partition_matters(trainer) is not None
    done = length_groups.install(trainer) or ""
    assert "random split kept" in done and "entropy" in done, done
    torch.manual_seed(0)
    cut_only = length_groups.grouped(batch, 2, sort=False)
    assert cut_only is not None
    grads = step_gradient(trainer, cut_only)
    for name, grad in reference.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_cuts_keep_pad_to_multiple_of(tiny_model_dir: Path, tmp_path: Path) -> None:
    """With `pad_to_multiple_of` TRL pads prompts and completions to a multiple (it bounds the shapes a
    compiler sees: Neuron, torch.compile); the cuts round up to the same multiple, the step is TRL's."""
    import torch

    trainer = tiny_trainer(tiny_model_dir, tmp_path, pad_to_multiple_of=8, max_completion_length=16)
    batch = generation_batch(trainer)
    assert batch["completion_ids"].size(1) % 8 == 0 and batch["prompt_ids"].size(1) % 8 == 0
    ours = length_groups.grouped(batch, 2, multiple=8)
    assert ours is not None
    for micro in ours:
        assert micro["completion_ids"].size(1) % 8 == 0 and micro["prompt_ids"].size(1) % 8 == 0
    assert ours[0]["completion_ids"].size(1) == 8  # 4 tokens at most, rounded up
    torch.manual_seed(0)
    theirs = length_groups.trls_split(batch, 2)
    grads, reference = step_gradient(trainer, ours), step_gradient(trainer, theirs)
    for name, grad in reference.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)

    shapes: list[tuple[int, int]] = []
    original = trainer._get_per_token_logps_and_entropies

    def recording(*args: Any, **kwargs: Any) -> Any:
        shapes.append((args[1].size(1), args[3]))
        return original(*args, **kwargs)

    trainer._get_per_token_logps_and_entropies = recording
    assert length_groups.install(trainer) is not None
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    with torch.no_grad():
        trainer._get_per_token_logps_and_entropies(
            trainer.model, input_ids, attention, batch["completion_ids"].size(1), batch_size=4
        )
    assert len(shapes) == 2 and all(width % 8 == 0 and keep % 8 == 0 for width, keep in shapes), shapes


def test_grouped_draws_trls_shuffle_from_the_same_generator() -> None:
    """TRL's split draws one permutation from torch's default (CPU) generator each generation batch; the
    sorted split draws it too (and ignores it), the random one uses it, on whatever device the batch is.
    So the rest of the run's randomness (sampling, the next shuffles) is that of a run with TRL's split:
    runs with group_by_length on and off sample the same completions from the same seed."""
    import torch

    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]])
    batch = {
        "prompt_ids": torch.arange(8).reshape(4, 2),
        "prompt_mask": torch.ones(4, 2, dtype=torch.long),
        "completion_ids": torch.arange(16).reshape(4, 4),
        "completion_mask": mask,
        "advantages": torch.tensor([0.0, 1.0, 2.0, 3.0]),
        "num_items_in_batch": mask.sum(),
    }
    torch.manual_seed(3)
    theirs = length_groups.trls_split(batch, 2)
    after_trl = torch.randint(0, 10**9, (4,))
    for sort in (True, False):
        torch.manual_seed(3)
        ours = length_groups.grouped(batch, 2, sort=sort)
        assert ours is not None
        assert torch.equal(torch.randint(0, 10**9, (4,)), after_trl), sort
        if not sort:
            assert [m["advantages"].tolist() for m in ours] == [m["advantages"].tolist() for m in theirs]


def test_a_model_without_rotary_positions_keeps_trls_padding(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Cutting left padding moves every token of a row by the same amount: harmless under rotary position
    embeddings (the tiny Llama), not under learned absolute ones, where the trainer keeps TRL's padding."""
    trainer = tiny_trainer(tiny_model_dir, tmp_path)
    assert length_groups.rotary(trainer.model)
    config = trainer.model.config
    rope = ("rope_theta", "rope_parameters", "rope_scaling")
    saved = {k: getattr(config, k) for k in rope if hasattr(config, k)}
    try:
        for key in saved:
            setattr(config, key, None)  # what a GPT-2-style config holds: no rotary settings
        assert not length_groups.rotary(trainer.model)
        done = length_groups.install(trainer)
        assert done is not None and "not rotary" in done
        assert trainer._prepare_inputs.__func__ is type(trainer)._prepare_inputs  # TRL's own split
    finally:
        for key, value in saved.items():
            setattr(config, key, value)
