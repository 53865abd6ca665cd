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
    """The tiny preset built once for the whole session (a few seconds)."""
    from workbench import modelbuild

    out = tmp_path_factory.mktemp("models") / "tiny-v1"
    modelbuild.build_model("tiny", out)
    return out


@pytest.fixture(autouse=True)
def workbench_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point GRPO_WORKBENCH_HOME at a fresh directory so no test sees the developer's runs (outside
    tmp_path, which stays the test's own)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GRPO_WORKBENCH_HOME", str(home))
    return home


@pytest.fixture
def home_with_tiny(workbench_home: Path, tiny_model_dir: Path) -> Path:
    """A home whose model cache already holds the tiny preset, so runs skip the build."""
    models = workbench_home / "cache" / "models"
    models.mkdir(parents=True)
    shutil.copytree(tiny_model_dir, models / "tiny-v1")
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
