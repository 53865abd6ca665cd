"""`presets.ensure_model`: hub ids and directories pass through, a local preset is built once on first use
and its build is reported through the caller's `BuildProgress` (builders replaced by fakes: no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workbench import modelbuild, presets, warmstart


class Recorded:
    """A `BuildProgress` that keeps what it hears."""

    def __init__(self) -> None:
        self.phases: list[str] = []
        self.messages: list[str] = []
        self.steps: list[tuple[str, int, int]] = []

    def phase(self, name: str) -> None:
        self.phases.append(name)

    def message(self, text: str) -> None:
        self.messages.append(text)

    def step(self, phase: str, done: int, total: int) -> None:
        self.steps.append((phase, done, total))


def fake_build(out: Path) -> Path:
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")
    return out


def test_hub_ids_and_directories_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modelbuild, "build_model", lambda *a, **k: pytest.fail("nothing to build"))
    assert presets.ensure_model("llama-3.2-1b") == "meta-llama/Llama-3.2-1B-Instruct"
    assert presets.ensure_model("some/hub-model") == "some/hub-model"
    assert presets.ensure_model("/models/mine", Recorded()) == "/models/mine"


def test_a_random_preset_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[tuple[str, Path]] = []

    def build_model(architecture: str, out: Path, progress: Any = None, **_: Any) -> Path:
        builds.append((architecture, out))
        progress("built")
        return fake_build(out)

    monkeypatch.setattr(modelbuild, "build_model", build_model)
    heard = Recorded()
    path = presets.ensure_model("random-1b", heard)
    assert path == presets.local_build_dir(presets.PRESETS["random-1b"])
    assert builds == [("1b", Path(path))]
    assert heard.phases == ["building the random-1b model (first use only)"]
    assert heard.messages == ["built"]
    assert presets.ensure_model("random-1b", heard) == path
    assert len(builds) == 1 and len(heard.phases) == 1


def test_the_tiny_preset_is_warm_started_and_its_steps_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def build_tiny(out: Path, progress: Any = None, on_step: Any = None, **_: Any) -> Path:
        for step in range(1, 26):
            on_step(step, 25)
        progress("warm start: done")
        return fake_build(out)

    monkeypatch.setattr(warmstart, "build_tiny", build_tiny)
    heard = Recorded()
    path = presets.ensure_model("tiny", heard)
    assert (Path(path) / "config.json").exists()
    assert heard.phases == ["building the tiny model (first use only)"]
    assert heard.messages == ["warm start: done"]
    stage = "warm-starting the tiny model (first use only)"
    assert heard.steps == [(stage, 10, 25), (stage, 20, 25), (stage, 25, 25)]
    assert presets.ensure_model("tiny") == path  # no progress given: silent
