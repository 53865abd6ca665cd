"""A real TRL GRPOTrainer on the tiny model for the tests of the trainer's speed-ups (tests/test_colocate.py,
tests/test_length_groups.py, tests/test_importance_sampling.py): one step on CPU, no trackers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def tiny_grpo_trainer(
    model_dir: Path,
    output_dir: Path,
    prompts: list[str],
    reward: Callable[..., list[float | None]],
    adapter: bool = False,
    lora_dropout: float = 0.0,
    **settings: Any,
) -> Any:
    """GRPOTrainer over `prompts` (one user message each) scored by `reward`, with GRPOConfig `settings`
    over a one-step CPU run; with `adapter`, a LoRA adapter (r=4 on q_proj and v_proj, `lora_dropout`)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(output_dir), use_cpu=True, bf16=False, max_steps=1, report_to="none", **settings
    )
    rows = Dataset.from_list([{"prompt": [{"role": "user", "content": p}]} for p in prompts])
    peft = LoraConfig(r=4, lora_alpha=8, lora_dropout=lora_dropout, target_modules=["q_proj", "v_proj"])
    return GRPOTrainer(
        model=str(model_dir),
        reward_funcs=[reward],
        args=args,
        train_dataset=rows,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
        peft_config=peft if adapter else None,
    )
