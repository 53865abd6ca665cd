"""Adapter checks before a server starts (workbench/adapters.py): every way an adapter cannot be served is
caught from adapter_config.json, with a message that names the problem and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workbench.adapters import (
    AdapterError,
    check_adapter,
    check_adapters,
    model_key,
    same_base_model,
    smallest_lora_rank,
)

BASE = "meta-llama/Llama-3.2-1B-Instruct"


def make_adapter(path: Path, weights: bool = True, **fields: Any) -> Path:
    """An adapter directory as PEFT 0.21 writes it (the config fields that matter, and a weights file)."""
    config = {
        "base_model_name_or_path": BASE,
        "bias": "none",
        "lora_alpha": 64,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": 64,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "task_type": "CAUSAL_LM",
        "use_dora": False,
    }
    config.update(fields)
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    if weights:
        (path / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    return path


def problems(path: Path, base: str = BASE, max_lora_rank: int = 64) -> list[str]:
    return check_adapter("adapter", path, base_model=base, max_lora_rank=max_lora_rank)[1]


def test_a_plain_lora_adapter_passes(tmp_path: Path) -> None:
    info, found = check_adapter("adapter", make_adapter(tmp_path / "a"), base_model=BASE, max_lora_rank=64)
    assert found == []
    assert (info.rank, info.base_model) == (64, BASE)


def test_a_missing_directory_names_the_fix(tmp_path: Path) -> None:
    [message] = problems(tmp_path / "nowhere")
    assert "no such adapter directory" in message and "fix:" in message


def test_a_directory_without_adapter_config_is_not_an_adapter(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    [message] = problems(tmp_path / "half")
    assert "no adapter_config.json" in message
    assert "fix: pick the run's adapter/ or a complete checkpoint-N/" in message


def test_an_adapter_without_weights_is_half_written(tmp_path: Path) -> None:
    [message] = problems(make_adapter(tmp_path / "a", weights=False))
    assert "adapter_model.safetensors" in message and "never fully written" in message


def test_a_rank_above_max_lora_rank_says_which_rank_fits(tmp_path: Path) -> None:
    [message] = problems(make_adapter(tmp_path / "a", r=128), max_lora_rank=64)
    assert "LoRA rank 128 is above --max-lora-rank 64" in message
    assert "fix: serve with --max-lora-rank 128" in message


def test_modules_to_save_is_refused_as_vllm_would(tmp_path: Path) -> None:
    [message] = problems(make_adapter(tmp_path / "a", modules_to_save=["lm_head"]))
    assert "modules_to_save ['lm_head']" in message and "vLLM cannot load" in message
    assert "fix: retrain without modules_to_save" in message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"bias": "lora_only"}, "trains biases"),
        ({"peft_type": "IA3"}, "not LORA"),
    ],
)
def test_other_adapters_vllm_cannot_load(tmp_path: Path, fields: dict[str, Any], expected: str) -> None:
    [message] = problems(make_adapter(tmp_path / "a", **fields))
    assert expected in message and "fix:" in message


def test_an_adapter_of_another_base_model_is_refused(tmp_path: Path) -> None:
    path = make_adapter(tmp_path / "a", base_model_name_or_path="meta-llama/Llama-3.2-3B-Instruct")
    [message] = problems(path)
    assert "was trained on 'meta-llama/Llama-3.2-3B-Instruct' but the server loads" in message
    assert BASE in message and "fix: serve the run's own base model" in message


@pytest.mark.parametrize(
    ("recorded", "served", "same"),
    [
        ("unsloth/Llama-3.2-1B-Instruct", BASE, True),  # Unsloth's mirror of the same weights
        ("unsloth/llama-3.2-1b-instruct-bnb-4bit", BASE, True),  # its 4-bit variant
        ("/old/home/cache/models/tiny-v2", "/new/home/cache/models/tiny-v2", True),  # a moved cache
        ("meta-llama/Llama-3.2-3B-Instruct", BASE, False),
        ("/home/cache/models/tiny-v1", "/home/cache/models/tiny-v2", False),  # an older build
        ("", BASE, True),  # nothing recorded: nothing to compare
    ],
)
def test_same_base_model(recorded: str, served: str, same: bool) -> None:
    assert same_base_model(recorded, served) is same


def test_model_key_strips_org_and_quantisation() -> None:
    assert model_key("unsloth/Llama-3.2-3B-Instruct-unsloth-bnb-4bit") == "llama-3.2-3b-instruct"


def test_all_problems_of_all_adapters_come_at_once(tmp_path: Path) -> None:
    adapters = {
        "checkpoint-5": make_adapter(tmp_path / "c5", r=128),
        "adapter": make_adapter(tmp_path / "a", modules_to_save=["embed_tokens"]),
        "good": make_adapter(tmp_path / "g"),
    }
    with pytest.raises(AdapterError) as caught:
        check_adapters(adapters, base_model=BASE, max_lora_rank=100)
    found = caught.value.problems
    assert len(found) == 3
    assert "--max-lora-rank 100 is not one vLLM accepts" in found[0] and "fix: use 128" in found[0]
    assert found[1].startswith("checkpoint-5 (") and "LoRA rank 128 is above" in found[1]
    assert found[2].startswith("adapter (") and "modules_to_save" in found[2]


def test_smallest_lora_rank_is_one_vllm_takes() -> None:
    assert smallest_lora_rank([8]) == 8
    assert smallest_lora_rank([8], at_least=16) == 16
    assert smallest_lora_rank([33, 8]) == 64
    assert smallest_lora_rank([]) == 1
