"""LoRA adapter checks that run before any inference server starts.

vLLM refuses a bad adapter only after it has spent a minute loading the base model and compiling CUDA
graphs, and then with a message about PEFT internals; the transformers fallback would load it and
generate nonsense. So every adapter a serve job is asked to load is checked here first, from its
adapter_config.json alone (no torch, no weights read), and each problem comes back with its fix:

* the directory or its adapter_config.json / weights is missing (a run that never saved, a half-written
  checkpoint);
* its LoRA rank is above the server's `--max-lora-rank` (vLLM sizes its LoRA buffers from that);
* it carries `modules_to_save`, DoRA or trained biases, none of which vLLM 0.24 can load;
* it was trained on another base model than the one being served (a 3B adapter on the 1B base fails
  with a shape error at best).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.config import VLLM_LORA_RANKS

WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
"""What PEFT writes for the adapter's tensors (safetensors unless told otherwise)."""
_QUANT_SUFFIX = re.compile(r"(-unsloth)?(-bnb)?-(4bit|8bit)$|-unsloth$", re.IGNORECASE)


class AdapterError(ValueError):
    """One or more adapters cannot be served; `problems` holds one line per problem, each with its fix."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class AdapterInfo:
    """What a serve job needs to know about one checked adapter."""

    name: str
    """The model name clients ask for (`adapter`, `checkpoint-N`)."""
    path: Path
    rank: int
    base_model: str
    """`base_model_name_or_path` as PEFT recorded it at training time."""


def read_adapter_config(path: Path) -> dict[str, Any]:
    """The adapter's adapter_config.json.

    Raises:
        AdapterError: the directory, the file or its JSON is missing or broken.
    """
    if not path.is_dir():
        raise AdapterError(
            [
                f"{path}: no such adapter directory; "
                "fix: pick a run that saved an adapter or a complete checkpoint"
            ]
        )
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise AdapterError(
            [
                f"{path}: no adapter_config.json, so this is not a PEFT adapter (or it is half-written); "
                "fix: pick the run's adapter/ or a complete checkpoint-N/ directory"
            ]
        )
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterError([f"{config_file}: unreadable ({exc}); fix: re-save the adapter"]) from None
    if not isinstance(data, dict):
        raise AdapterError([f"{config_file}: not a JSON object; fix: re-save the adapter"])
    return data


def model_key(name: str) -> str:
    """A base-model name reduced to what identifies the weights: the last path or hub-id component,
    lower case, without quantisation suffixes.

    Unsloth records `unsloth/Llama-3.2-1B-Instruct` (or a `-bnb-4bit` variant) for what the config calls
    `meta-llama/Llama-3.2-1B-Instruct`, and a locally built model keeps its directory name when the cache
    moves to another home; both must still count as the same base. A 1B and a 3B never do.
    """
    last = name.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1].lower()
    return _QUANT_SUFFIX.sub("", last)


def same_base_model(recorded: str, served: str) -> bool:
    """True when an adapter recorded as trained on `recorded` fits the base model `served`.

    Args:
        recorded: `base_model_name_or_path` from adapter_config.json.
        served: What the server loads: a hub id or a local directory.
    """
    if not recorded or not served:
        return True  # PEFT leaves it empty for adapters built by hand: nothing to compare against
    if recorded == served:
        return True
    recorded_path, served_path = Path(recorded).expanduser(), Path(served).expanduser()
    if recorded_path.exists() and served_path.exists() and recorded_path.resolve() == served_path.resolve():
        return True
    return model_key(recorded) == model_key(served)


def check_adapter(
    name: str, path: Path, *, base_model: str, max_lora_rank: int
) -> tuple[AdapterInfo, list[str]]:
    """Check one adapter against the server it is meant for.

    Args:
        name: The model name it will be served as.
        path: Its directory.
        base_model: The base model the server loads (hub id or directory).
        max_lora_rank: The server's `--max-lora-rank`.

    Returns:
        The adapter's facts and the list of problems (empty when it can be served).
    """
    problems: list[str] = []
    try:
        config = read_adapter_config(path)
    except AdapterError as exc:
        return AdapterInfo(name, path, 0, ""), [f"{name}: {p}" for p in exc.problems]
    rank = config.get("r")
    recorded = str(config.get("base_model_name_or_path") or "")
    info = AdapterInfo(name, path, rank if isinstance(rank, int) else 0, recorded)
    where = f"{name} ({path})"
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        problems.append(
            f"{where}: no {' or '.join(WEIGHT_FILES)}: the adapter was never fully written; "
            "fix: pick another checkpoint or the run's final adapter"
        )
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        problems.append(
            f"{where}: peft_type is {config.get('peft_type')!r}, not LORA; fix: serve a LoRA adapter"
        )
    if not isinstance(rank, int) or rank < 1:
        problems.append(
            f"{where}: adapter_config.json has no valid LoRA rank `r` ({rank!r}); fix: re-save it"
        )
    elif rank > max_lora_rank:
        fit = next((r for r in VLLM_LORA_RANKS if r >= rank), None)
        fix = f"serve with --max-lora-rank {fit}" if fit else f"retrain with a rank <= {VLLM_LORA_RANKS[-1]}"
        problems.append(f"{where}: LoRA rank {rank} is above --max-lora-rank {max_lora_rank}; fix: {fix}")
    if config.get("modules_to_save"):
        problems.append(
            f"{where}: trains modules_to_save {config['modules_to_save']}, which vLLM cannot load; "
            "fix: retrain without modules_to_save (LoRA on the projections only)"
        )
    if config.get("use_dora"):
        problems.append(f"{where}: is a DoRA adapter, which vLLM cannot load; fix: retrain with use_dora off")
    if str(config.get("bias", "none")) != "none":
        problems.append(
            f"{where}: trains biases (bias={config.get('bias')!r}), which vLLM cannot load; "
            "fix: retrain with bias='none'"
        )
    if not same_base_model(recorded, base_model):
        problems.append(
            f"{where}: was trained on {recorded!r} but the server loads {base_model!r}; "
            "fix: serve the run's own base model (model.name in its config.toml) "
            "or pick an adapter trained on it"
        )
    return info, problems


def check_adapters(adapters: Mapping[str, Path], *, base_model: str, max_lora_rank: int) -> list[AdapterInfo]:
    """Check every adapter; all problems of all of them are reported at once.

    Raises:
        AdapterError: at least one adapter cannot be served, or `max_lora_rank` is not a rank vLLM takes.
    """
    problems: list[str] = []
    if max_lora_rank not in VLLM_LORA_RANKS:
        fit = next((r for r in VLLM_LORA_RANKS if r >= max_lora_rank), VLLM_LORA_RANKS[-1])
        problems.append(
            f"--max-lora-rank {max_lora_rank} is not one vLLM accepts "
            f"({', '.join(map(str, VLLM_LORA_RANKS))}); fix: use {fit}"
        )
    infos = []
    for name, path in adapters.items():
        info, found = check_adapter(name, path, base_model=base_model, max_lora_rank=max_lora_rank)
        infos.append(info)
        problems += found
    if problems:
        raise AdapterError(problems)
    return infos


def smallest_lora_rank(ranks: Iterable[int], at_least: int = 1) -> int:
    """The smallest rank vLLM accepts as `--max-lora-rank` that fits every adapter (and `at_least`)."""
    needed = max([at_least, *ranks])
    return next((r for r in VLLM_LORA_RANKS if r >= needed), VLLM_LORA_RANKS[-1])
