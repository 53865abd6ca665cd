"""Model presets: the names a user picks instead of a hub id or a directory.

`tiny` is the offline default: a small Llama-architecture model built locally (no hub, no GPU) and
given a short supervised warm start on the bundled rows (`workbench.warmstart`), so a new user can watch
GRPO raise the format rewards within minutes on a laptop CPU. `llama-3.2-1b` / `llama-3.2-3b` are the real
Instruct models on the hub. `random-1b` / `random-3b` are locally built random-init models of the exact
1B/3B architecture: the same compute and memory as the real ones, for benchmarks on machines without
hub access.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench import paths


@dataclass(frozen=True)
class Preset:
    """A named model choice."""

    name: str
    """What the user types in `model.name`."""
    architecture: str
    """Key into `workbench.modelbuild.ARCHITECTURES` (tiny, 1b, 3b)."""
    hub_id: str | None
    """The hub repository, or None for models the workbench builds locally."""
    description: str
    warm_start: bool = False
    """Built with the supervised warm start of `workbench.warmstart` (the tiny preset) rather than left
    at its random initialisation."""
    build_version: int = 1
    """Bumped when the local build changes, so a stale cached build is never loaded for a new one."""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "tiny",
            "tiny",
            None,
            "offline demo model, built and warm-started locally; learns the tags on a laptop CPU",
            warm_start=True,
            build_version=2,
        ),
        Preset("llama-3.2-1b", "1b", "meta-llama/Llama-3.2-1B-Instruct", "Llama 3.2 1B Instruct (hub)"),
        Preset("llama-3.2-3b", "3b", "meta-llama/Llama-3.2-3B-Instruct", "Llama 3.2 3B Instruct (hub)"),
        Preset("random-1b", "1b", None, "random-init Llama-3.2-1B architecture, built locally (benchmarks)"),
        Preset("random-3b", "3b", None, "random-init Llama-3.2-3B architecture, built locally (benchmarks)"),
    )
}


def build_dir_name(preset: Preset) -> str:
    """The directory name of a locally built preset in the model cache (versioned, so a changed build is
    never confused with a cached older one)."""
    return f"{preset.name}-v{preset.build_version}"


def local_build_dir(preset: Preset, create: bool = True) -> str:
    """Where a locally built preset lives (the cache dir; built on first use by the job)."""
    return str(paths.models_dir(create) / build_dir_name(preset))


def resolve_model_path(name: str, create: bool = True) -> str:
    """The string to hand to `from_pretrained`: a hub id or a local directory.

    Args:
        name: `model.name` from the config: a preset, a hub id or a directory.
        create: Create the model cache directory of a local preset (False: only look).
    """
    preset = PRESETS.get(name)
    if preset is None:
        return name
    return preset.hub_id or local_build_dir(preset, create)


def architecture_of(name: str) -> str | None:
    """The architecture key of a preset, or None for arbitrary hub ids and directories."""
    preset = PRESETS.get(name)
    return preset.architecture if preset else None
