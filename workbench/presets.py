"""Model presets: the names a user picks instead of a hub id or a directory.

`tiny` is the offline default: a small Llama-architecture model built locally (no hub, no GPU) and
given a short supervised warm start on the bundled rows (`workbench.warmstart`), so a new user can watch
GRPO raise the format rewards within minutes on a laptop CPU. `llama-3.2-1b` / `llama-3.2-3b` are the real
Instruct models on the hub. `random-1b` / `random-3b` are locally built random-init models of the exact
1B/3B architecture: the same compute and memory as the real ones, for benchmarks on machines without
hub access.

`ensure_model` makes sure the model a config names is there to load, building a local preset on first
use; the jobs that load a model (training, bench, evaluation) call it with their own `BuildProgress`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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
            build_version=3,
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


class BuildProgress(Protocol):
    """What `ensure_model` tells its caller while it builds a model on first use; each job shows it its
    own way (the training job in progress.json and its log, the bench and the evaluation on stdout)."""

    def phase(self, name: str) -> None:
        """A build began, e.g. "building the tiny model (first use only)"."""

    def message(self, text: str) -> None:
        """One line of the builder's own output (what it built, the warm start's loss)."""

    def step(self, phase: str, done: int, total: int) -> None:
        """`done` of `total` warm-start steps (every tenth and the last); `phase` names the stage."""


class _Silent:
    """A `BuildProgress` that shows nothing."""

    def phase(self, name: str) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def step(self, phase: str, done: int, total: int) -> None:
        pass


def ensure_model(name: str, progress: BuildProgress | None = None) -> str:
    """The path or hub id to load; builds a locally built preset (tiny, random-*) on first use.

    The tiny preset is built with its warm start (`workbench.warmstart`), random-1b/3b at their random
    initialisation (`workbench.modelbuild`). Processes starting at once build it once (a file lock beside
    the directory); the others wait and load it. Imports torch only when it builds.

    Args:
        name: `model.name` from the config: a preset, a hub id or a directory.
        progress: Hears about a build; None: nothing is shown.

    Returns:
        What `resolve_model_path` returns, a local preset's directory now complete.
    """
    preset = PRESETS.get(name)
    if preset is None or preset.hub_id:
        return resolve_model_path(name)
    target = Path(local_build_dir(preset))
    if (target / "config.json").exists():
        return str(target)
    import fcntl

    from workbench import modelbuild

    report = progress or _Silent()
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs starting at once build it once
        if not (target / "config.json").exists():
            report.phase(f"building the {preset.name} model (first use only)")
            if preset.warm_start:
                from workbench import warmstart

                def on_step(step: int, total: int) -> None:
                    if step % 10 == 0 or step == total:
                        report.step(f"warm-starting the {preset.name} model (first use only)", step, total)

                warmstart.build_tiny(target, progress=report.message, on_step=on_step)
            else:
                modelbuild.build_model(preset.architecture, target, progress=report.message)
    return str(target)
