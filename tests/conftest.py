"""Shared fixtures: a hermetic workbench home per test, a tiny model built once per session, and
no run process left behind."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FAST = [
    "grpo.max_completion_length=24",
    "grpo.per_device_train_batch_size=4",
    "grpo.num_generations=4",
    "data.limit=64",
    "data.held_out=8",
    "lora.rank=8",
    "lora.alpha=16",
]
"""Overrides that keep a real CPU GRPO step well under a second on the tiny model."""


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny *architecture* at its random initialisation, built once for the session (a few seconds):
    for tests of the model builder itself; runs use `tiny_preset_dir`."""
    from workbench import modelbuild

    out = tmp_path_factory.mktemp("models") / "tiny-random"
    modelbuild.build_model("tiny", out)
    return out


@pytest.fixture(scope="session")
def tiny_preset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `tiny` preset exactly as a run builds it on first use (random init + the supervised warm start
    of `workbench.warmstart`), built once for the whole session (about a minute on 2 cores), or
    GRPO_WORKBENCH_TEST_MODELS/tiny-v2 when that holds a prebuilt one."""
    from workbench import presets, warmstart

    name = presets.build_dir_name(presets.PRESETS["tiny"])
    prebuilt = Path(os.environ.get("GRPO_WORKBENCH_TEST_MODELS", "/nonexistent")) / name
    if (prebuilt / "config.json").is_file():  # a developer's prebuilt copy (never written to by tests)
        return prebuilt
    return warmstart.build_tiny(tmp_path_factory.mktemp("preset") / name)


def install_tiny_preset(home: Path, preset_dir: Path) -> Path:
    """Copy a model directory into `home`'s model cache under the name a run of the `tiny` preset looks
    for (whatever the source directory is called)."""
    from workbench import presets

    models = home / "cache" / "models"
    models.mkdir(parents=True, exist_ok=True)
    target = models / presets.build_dir_name(presets.PRESETS["tiny"])
    shutil.copytree(preset_dir, target)
    return target


@pytest.fixture(autouse=True)
def workbench_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point GRPO_WORKBENCH_HOME at a fresh directory so no test sees the developer's runs (outside
    tmp_path, which stays the test's own)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GRPO_WORKBENCH_HOME", str(home))
    return home


@pytest.fixture
def home_with_tiny(workbench_home: Path, tiny_preset_dir: Path) -> Path:
    """A home whose model cache already holds the tiny preset, so runs skip the build."""
    install_tiny_preset(workbench_home, tiny_preset_dir)
    return workbench_home


@pytest.fixture
def reap_runs(workbench_home: Path) -> Iterator[None]:
    """Stop every run still alive under the test's home when the test ends, pass or fail."""
    yield
    from jobs.launch import stop
    from workbench.runs import RunDir

    runs = workbench_home / "runs"
    if runs.is_dir():
        for path in runs.iterdir():
            if path.is_dir():
                stop(RunDir(path), wait=60)


def run_directory_table() -> list[str]:
    """The paths README's run-directory table names (`config.toml`, `checkpoints/checkpoint-N/`, ...):
    every backticked name in the first column of its rows."""
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## The run directory") :].split("\n## ", 1)[0]
    names = []
    for line in table.splitlines():
        cells = line.split("|")
        if line.startswith("| `") and len(cells) > 2:
            names += re.findall(r"`([^`]+)`", cells[1])
    return names


def outside_run_directory_table(run_dir: Path) -> list[str]:
    """Every file under `run_dir` (relative, POSIX) that no row of README's run-directory table covers.
    A row naming a directory (`adapter/`) covers everything below it; `N` stands for a step number."""
    import re

    patterns = []
    for name in run_directory_table():
        body = re.escape(name).replace("N", r"\d+")
        patterns.append(re.compile(body + (".*" if name.endswith("/") else "")))
    found = [p.relative_to(run_dir).as_posix() for p in sorted(run_dir.rglob("*")) if not p.is_dir()]
    return [path for path in found if not any(p.fullmatch(path) for p in patterns)]
