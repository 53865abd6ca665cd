"""The model for GRPOTrainer, loaded the way each backend wants it, and the one import of Unsloth.

`import unsloth` rewrites `trl.GRPOTrainer` and `GRPOConfig` and patches transformers for the whole
process, so in a process of the unsloth backend it must come before trl and transformers are imported,
and in any other process never. `import_backend` is that first import (the training job and the bench
call it before anything that may import trl, a model build's warm start included); `_unsloth` below is
the only place in the project that imports Unsloth (tests/test_import_hygiene.py checks it). Heavy imports
live inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import environment
from workbench.config import RunConfig


def _unsloth() -> Any:
    """The project's one import of Unsloth (needs CUDA; patches trl and transformers process-wide)."""
    import unsloth

    return unsloth


def import_backend(backend: str) -> None:
    """Import what must come first in this process for `backend`: Unsloth for `unsloth`, before trl and
    transformers; nothing for `trl`. Call it before anything that may import trl (idempotent).

    Args:
        backend: The resolved backend, `unsloth` or `trl`.
    """
    if backend == "unsloth":
        _unsloth()


@dataclass
class LoadedModel:
    """A model ready for GRPOTrainer: the model (or its path, for TRL to load), tokenizer and LoRA config."""

    model: Any
    tokenizer: Any
    peft_config: Any
    use_vllm: bool
    cuda: bool


def load_model(
    config: RunConfig,
    backend: str,
    model_path: str,
    vllm_share: float,
    gradient_checkpointing: bool = True,
) -> LoadedModel:
    """Load the base model the way the backend wants it.

    Unsloth loads it here (with its colocated vLLM when fast_inference is on) and adds the LoRA
    adapter itself; TRL gets the path and a `peft_config` (a ready PeftModel would get a second "ref"
    adapter with beta != 0, and resume would restore the wrong one).
    """
    import_backend(backend)
    import torch

    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    if backend == "unsloth":
        FastLanguageModel = _unsloth().FastLanguageModel
        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=model_path,
            max_seq_length=config.model.max_seq_length,
            load_in_4bit=config.model.load_in_4bit,
            fast_inference=config.model.fast_inference,
            max_lora_rank=config.lora.max_lora_rank,
            gpu_memory_utilization=vllm_share,
        )
        model = FastLanguageModel.get_peft_model(
            model,
            r=config.lora.rank,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules,
            use_gradient_checkpointing="unsloth" if gradient_checkpointing else False,
            random_state=config.grpo.seed,
        )
        loaded = LoadedModel(model, tokenizer, None, config.model.fast_inference, cuda)
    else:
        from peft import LoraConfig
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_path)
        peft_config = LoraConfig(
            r=config.lora.rank,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules,
            task_type="CAUSAL_LM",
        )
        has_vllm = environment.has_module("vllm")
        use_vllm = cuda and (config.grpo.use_vllm == "on" or (config.grpo.use_vllm == "auto" and has_vllm))
        loaded = LoadedModel(model_path, tokenizer, peft_config, use_vllm, cuda)
    if loaded.tokenizer.pad_token is None:
        loaded.tokenizer.pad_token = loaded.tokenizer.eos_token
    return loaded


def load_adapter_weights(model: Any, adapter_dir: Path) -> int:
    """Copy a saved LoRA adapter's weights into the trainer's PEFT model (`lora.init_from`): the run
    starts from them instead of LoRA's zero start. The shapes were checked before launch
    (`workbench.resume.init_from_problems`); a mismatch left now raises rather than training from zero.

    Returns:
        The number of tensors loaded.

    Raises:
        RuntimeError: the adapter's tensors do not fit the model (PEFT's size mismatch), or none matched.
    """
    from peft import set_peft_model_state_dict

    weights = adapter_dir / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors.torch import load_file

        state = load_file(str(weights))
    else:
        import torch

        state = torch.load(adapter_dir / "adapter_model.bin", map_location="cpu", weights_only=True)
    result = set_peft_model_state_dict(model, state)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if len(unexpected) == len(state):
        raise RuntimeError(
            f"none of the {len(state)} tensors of {adapter_dir} matches this model's LoRA layers"
        )
    return len(state) - len(unexpected)
