"""Whether a run's last checkpoint can continue under its config.toml as it is now.

`train(resume_from_checkpoint=True)` restores the LoRA weights, the optimizer, the scheduler and the RNG
from `checkpoint-N/`. A config edited since then either cannot load that state at all (a different LoRA
rank, alpha or set of projections: PEFT's "size mismatch" after the model and data have loaded) or loads
it into a different run than the one asked for (another base model; another max_steps, where the old
learning-rate schedule silently comes back). Such a resume is refused before anything starts, one line per
setting, with the checkpoint's value, the config's value and the fix.

Settings that may change on resume: everything else (reward weights, logging and checkpoint intervals,
samples per step, the scoring time limit, the data source's extra rows...). The learning rate and its
schedule always come from the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import presets
from workbench.atomic import read_json
from workbench.config import Problem, RunConfig
from workbench.jobdir import as_mapping


@dataclass(frozen=True)
class Mismatch:
    """One setting whose checkpoint value and config value differ."""

    field: str
    """The config key, e.g. `lora.rank`."""
    checkpoint: str
    config: str

    def message(self, checkpoint: str) -> str:
        return (
            f"{self.field}: {checkpoint} was trained with {self.checkpoint}, config.toml now says "
            f"{self.config}; fix: set {self.field} back to {self.checkpoint} to resume, or start a new run "
            "with the new value"
        )


def _modules(value: Any) -> str:
    """PEFT writes target_modules as a list (or one name): compared as a sorted set."""
    names = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
    return ", ".join(sorted(str(n) for n in names))


def _model(value: str) -> str:
    """A local model directory is compared by its name (a moved GRPO_WORKBENCH_HOME is the same model)."""
    return Path(value).name if value.startswith(("/", "~", ".")) else value


def _preset_of(model: str) -> str:
    """The preset name a checkpoint's base model path or hub id belongs to, else the path or id itself."""
    for name, preset in presets.PRESETS.items():
        if model == preset.hub_id or _model(model) == presets.build_dir_name(preset):
            return name
    return model


def adapter_mismatches(config: RunConfig, adapter_dir: Path) -> list[Mismatch]:
    """The LoRA settings and base model of `config` that the adapter in `adapter_dir` was not made with
    (its adapter_config.json, as PEFT writes it); a key it lacks compares nothing."""
    adapter = as_mapping(read_json(adapter_dir / "adapter_config.json"))
    found: list[Mismatch] = []

    def compare(field: str, saved: Any, now: Any) -> None:
        if saved is not None and str(saved) != str(now):
            found.append(Mismatch(field, str(saved), str(now)))

    compare("lora.rank", adapter.get("r"), config.lora.rank)
    compare("lora.alpha", adapter.get("lora_alpha"), config.lora.alpha)
    if "target_modules" in adapter:
        compare(
            "lora.target_modules", _modules(adapter["target_modules"]), _modules(config.lora.target_modules)
        )
    base = adapter.get("base_model_name_or_path")
    if isinstance(base, str) and base:
        now = presets.resolve_model_path(config.model.name, create=False)
        if _model(base) != _model(now):
            found.append(Mismatch("model.name", _preset_of(base), config.model.name))
    return found


def resume_mismatches(config: RunConfig, checkpoint: Path) -> list[Mismatch]:
    """The settings of `config` that `checkpoint` cannot resume under (empty: it can).

    Args:
        config: The run's config.toml as it is now.
        checkpoint: A complete `checkpoint-N/` directory (adapter_config.json, trainer_state.json).

    Returns:
        One `Mismatch` per changed setting; a file the checkpoint lacks compares nothing.
    """
    found = adapter_mismatches(config, checkpoint)
    saved = as_mapping(read_json(checkpoint / "trainer_state.json")).get("max_steps")
    if saved is not None and str(saved) != str(config.grpo.max_steps):
        found.append(Mismatch("grpo.max_steps", str(saved), str(config.grpo.max_steps)))
    return found


def init_from_problems(config: RunConfig) -> list[Problem]:
    """Why `lora.init_from` cannot start this run (empty when unset or usable), each naming the fix."""
    source = config.lora.init_from
    if not source:
        return []
    path = Path(source).expanduser()
    has_weights = (path / "adapter_model.safetensors").is_file() or (path / "adapter_model.bin").is_file()
    if not (path / "adapter_config.json").is_file() or not has_weights:
        return [
            Problem(
                "lora.init_from",
                f"{source} holds no LoRA adapter (adapter_config.json and adapter_model.safetensors); fix: "
                "name a run's adapter/ or checkpoint-N/ directory (train --from RUN[:checkpoint-N])",
            )
        ]
    return [
        Problem(
            "lora.init_from",
            f"the adapter was made with {m.field} = {m.checkpoint}, this run has {m.config}; fix: set "
            f"{m.field} = {m.checkpoint} (an adapter's shape and base model cannot change)",
        )
        for m in adapter_mismatches(config, path)
    ]
