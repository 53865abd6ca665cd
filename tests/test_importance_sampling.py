"""`jobs.importance_sampling` on real TRL trainers: the correction taken from the update's own forward gives
the optimizer step and the `sampling/*` metrics of TRL's own correction (its extra forward pass), without
that pass.

There is no vLLM on a CPU machine, so both trainers generate through `RecordedGeneration`, a stand-in for
TRL's vLLM generation object that hands back the same completions to every trainer and, as vLLM's
log-probabilities, the model's own plus a fixed perturbation (so that the ratios differ from 1). Everything
downstream of generation (TRL's extra pass, its ratio and metrics, its loss, ours) is the real code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trl_helpers import tiny_grpo_trainer

from jobs import importance_sampling, length_groups

pytest.importorskip("trl")

PROMPTS = ["1 + 1 = ?", "Một cửa hàng có 12 quả táo và bán đi 5 quả. Hỏi còn lại bao nhiêu quả táo?"]
LENGTHS = [12, 3, 7, 12, 5, 9, 2, 12]
"""Completion lengths handed out in turn; shorter than max_completion_length ends with the EOS token."""


class RecordedGeneration:
    """Stands in for TRL's vLLM generation object (`trainer.vllm_generation`) on CPU."""

    def __init__(self, trainer: Any, seed: int) -> None:
        self.trainer = trainer
        self.seed = seed
        self.calls = 0

    def sync_weights(self) -> None:
        pass

    def generate(
        self, prompts: list[list[int]], images: Any, num_generations: int, profiler: Any = None
    ) -> Any:
        import torch

        model = self.trainer.model
        eos = self.trainer.processing_class.eos_token_id
        vocab = model.config.vocab_size
        rng = torch.Generator().manual_seed(self.seed + self.calls)
        self.calls += 1
        completions, logprobs = [], []
        for i, prompt in enumerate(prompts):
            n = LENGTHS[i % len(LENGTHS)]
            ids = torch.randint(100, vocab - 100, (n,), generator=rng).tolist()
            if n < self.trainer.max_completion_length:
                ids[-1] = eos
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([prompt + ids])).logits[0, len(prompt) - 1 : -1]
            own = torch.log_softmax(logits.float(), dim=-1).gather(-1, torch.tensor(ids)[:, None])[:, 0]
            shift = torch.tensor([0.3 * ((i + j) % 5 - 2) / 2 for j in range(n)])  # -0.3 ... 0.3
            logprobs.append([[float(v)] for v in own + shift])
            completions.append(ids)
        return prompts, completions, logprobs, None


def trainer_with_vllm_stand_in(
    model_dir: Path, tmp_path: Path, mode: str, one_pass: bool, lora_dropout: float = 0.0
) -> Any:
    def varied(completions: list[Any], **_: Any) -> list[float | None]:
        return [float(len(str(c)) % 7) for c in completions]

    trainer = tiny_grpo_trainer(
        model_dir,
        tmp_path / ("one-pass" if one_pass else "trl"),
        PROMPTS,
        varied,
        adapter=True,
        lora_dropout=lora_dropout,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        num_generations=4,
        max_completion_length=12,
        seed=11,
        vllm_importance_sampling_mode=mode,
        vllm_importance_sampling_clip_max=2.0,
    )
    # what GRPOConfig(use_vllm=True, vllm_importance_sampling_correction=True) sets, vLLM itself left out
    trainer.use_vllm = True
    trainer.vllm_importance_sampling_correction = True
    trainer.vllm_generation = RecordedGeneration(trainer, seed=5)  # type: ignore[assignment]
    trainer._last_loaded_step = -1
    if one_pass:
        assert importance_sampling.install(trainer) is not None
    return trainer


def one_step(trainer: Any) -> tuple[dict[str, Any], dict[str, list[float]], int]:
    """One optimizer step's summed gradient, TRL's train metrics and the number of gradient-free forward
    passes, from TRL's own `_prepare_inputs` and `compute_loss`, as transformers' loop calls them."""
    import torch

    passes = []
    forward = trainer._get_per_token_logps_and_entropies

    def counting(*args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            passes.append(args[1].size(0))
        return forward(*args, **kwargs)

    trainer._get_per_token_logps_and_entropies = counting
    model = trainer.model
    model.train()
    trainer.current_gradient_accumulation_steps = 2
    generation_batch = next(iter(trainer.get_train_dataloader()))
    model.zero_grad()
    for step in range(2):
        trainer._step = step
        torch.manual_seed(step)  # the same shuffle for both trainers
        micro = trainer._prepare_inputs(generation_batch)
        trainer.compute_loss(model, micro).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return grads, dict(trainer._metrics["train"]), len(passes)


@pytest.mark.parametrize("mode", ["sequence_mask", "token_truncate", "token_mask", "sequence_truncate"])
def test_one_pass_correction_gives_trls_step_and_metrics(
    tiny_model_dir: Path, tmp_path: Path, mode: str
) -> None:
    import torch

    theirs = one_step(trainer_with_vllm_stand_in(tiny_model_dir, tmp_path, mode, one_pass=False))
    ours = one_step(trainer_with_vllm_stand_in(tiny_model_dir, tmp_path, mode, one_pass=True))
    assert theirs[2] == 1 and ours[2] == 0  # TRL's extra pass over the batch; none here
    ratio_mean = theirs[1]["sampling/importance_sampling_ratio/mean"]
    assert len(ratio_mean) == 1 and 0.1 < ratio_mean[0] < 2.0 and ratio_mean[0] != 1.0  # a real correction
    assert any(g.abs().sum() > 0 for g in theirs[0].values())
    for name, grad in theirs[0].items():
        torch.testing.assert_close(ours[0][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    for key in [k for k in theirs[1] if k.startswith("sampling/")]:
        assert ours[1][key] == pytest.approx(theirs[1][key], rel=1e-4, abs=1e-6), key


def test_one_pass_correction_composes_with_length_groups(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The job installs both: cut, sorted micro-batches and the ratio from their forward."""
    import torch

    theirs = one_step(trainer_with_vllm_stand_in(tiny_model_dir, tmp_path, "token_truncate", one_pass=False))
    trainer = trainer_with_vllm_stand_in(tiny_model_dir, tmp_path, "token_truncate", one_pass=True)
    assert "grouped by completion length" in (length_groups.install(trainer) or "")
    ours = one_step(trainer)
    assert ours[2] == 0
    for name, grad in theirs[0].items():
        torch.testing.assert_close(ours[0][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    for key in [k for k in theirs[1] if k.startswith("sampling/")]:
        assert ours[1][key] == pytest.approx(theirs[1][key], rel=1e-4, abs=1e-6), key


def test_ratio_is_trls_formula_on_hand_values() -> None:
    import torch

    logps = torch.tensor([[-1.0, -2.0, -3.0]])
    sampling = torch.tensor([[-1.5, float("nan"), -2.0]])
    mask = torch.tensor([[1, 1, 0]])
    token = importance_sampling.ratio(logps, sampling, mask, "token_truncate", None, 1.5)
    assert token[0].tolist() == pytest.approx([1.5, 1.0, 1.0])  # e^0.5 clipped; NaN and masked count 1
    sequence = importance_sampling.ratio(logps, sampling, mask, "sequence_mask", 0.5, 1.5)
    assert sequence.shape == (1, 1) and sequence.item() == 0.0  # e^0.5 = 1.65 > 1.5: masked
    with pytest.raises(ValueError, match="Unknown vLLM importance sampling level"):
        importance_sampling.ratio(logps, sampling, mask, "nope", None, None)


def test_one_pass_correction_declines_where_the_update_is_not_on_the_generating_weights(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    trainer = trainer_with_vllm_stand_in(tiny_model_dir, tmp_path, "sequence_mask", one_pass=False)
    assert importance_sampling.applies(trainer) is None
    trainer.num_iterations = 2  # two updates per generation: the second is off the generating weights
    assert "num_iterations" in (importance_sampling.applies(trainer) or "")
    assert importance_sampling.install(trainer) is None
    trainer.num_iterations = 1
    trainer.vllm_importance_sampling_correction = False
    assert importance_sampling.applies(trainer) == "no vLLM importance-sampling correction to compute"


def test_one_pass_correction_declines_under_dropout(tiny_model_dir: Path, tmp_path: Path) -> None:
    """With dropout (lora.dropout > 0) the update's forward draws its own dropout masks: its
    log-probabilities are not the numbers of TRL's gradient-free pass over the same weights, which TRL's
    loss also uses as the old policy (its ratio to the update's is then not 1, and is clipped). The one-pass
    correction would change both the ratio and the clipping, so it declines."""
    import torch

    trainer = trainer_with_vllm_stand_in(tiny_model_dir, tmp_path, "token_truncate", False, lora_dropout=0.5)
    torch.manual_seed(0)
    with torch.no_grad():  # an adapter that has trained (a fresh one's B is 0: its dropout changes nothing)
        for name, parameter in trainer.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    trainer.model.train()
    prompts = next(iter(trainer.get_train_dataloader()))
    batch = trainer._generate_and_score_completions(prompts)
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    width = batch["completion_ids"].size(1)
    update = trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, attention, width)[0]
    mask = batch["completion_mask"].bool()
    assert not torch.allclose(update.detach()[mask], batch["old_per_token_logps"][mask])  # why
    assert "dropout" in (importance_sampling.applies(trainer) or "")
    assert importance_sampling.install(trainer) is None
    assert "dropout" in (importance_sampling.declined(trainer) or "")  # the log says why TRL's pass runs
    trainer.vllm_importance_sampling_correction = False
    assert importance_sampling.declined(trainer) is None  # no correction: nothing to say


def test_has_dropout_reads_modules_and_attention_dropout_only(tiny_model_dir: Path) -> None:
    """Dropout counts where a causal LM applies it in training: a module with p > 0 or the attention
    function's setting; a classifier head's setting, which it never reads, does not decline the pass."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not importance_sampling.has_dropout(model)
    model.config.classifier_dropout = 0.1
    assert not importance_sampling.has_dropout(model)
    model.config.attention_dropout = 0.1
    assert importance_sampling.has_dropout(model)
