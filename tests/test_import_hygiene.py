"""The layers hold at run time: the domain core and the TUI load neither torch nor the training stack,
and the domain core and jobs load no Textual (checked in a fresh interpreter, by inspecting sys.modules)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "trl", "peft", "vllm", "unsloth", "datasets", "math_verify")


def loaded_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "module",
    [
        "workbench.config",
        "workbench.data",
        "workbench.rewards",
        "workbench.runs",
        "workbench.environment",
        "workbench.modelbuild",
        "grpo_workbench.cli",
        "workbench.doctor",
        "jobs.launch",
        "jobs.supervise",
        "workbench.evaluation",
        "workbench.adapters",
        "workbench.serving",
        "workbench.chat",
        "jobs.serve",
        "jobs.train_grpo",
        "jobs.trainer",
        "jobs.backends",
        "jobs.reporting",
        "jobs.bench",
        "jobs.overlap",
    ],
)
def test_core_and_launcher_stay_light(module: str) -> None:
    modules = loaded_after(f"import {module}")
    assert not {m.split(".")[0] for m in modules} & set(HEAVY), module
    assert "textual" not in modules


def test_tui_never_loads_the_training_stack() -> None:
    """The app and every mode's screen (imported when the mode is first shown: import them all here)."""
    modules = loaded_after("import screens.app\nfor spec in screens.app.MODE_SPECS: spec.screen")
    assert {"screens.configure", "screens.monitor", "screens.chat", "screens.evaluate"} <= modules
    assert not {m.split(".")[0] for m in modules} & set(HEAVY)


def test_the_app_imports_only_what_its_first_frame_needs() -> None:
    """First paint (issue 17 item 9): a mode's screen, the config's pydantic models and plotext are
    imported when a mode needs them, not with the app."""
    modules = loaded_after("import screens.app")
    deferred = {"screens.configure", "screens.monitor", "screens.chat", "screens.evaluate", "screens.runs"}
    assert not modules & (deferred | {"workbench.config", "plotext", "textual_plotext"})


def test_import_contracts() -> None:
    """import-linter's contracts from pyproject.toml (static: every import statement, lazy ones too)."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_screens_start_and_stop_jobs_through_the_jobs_api_not_the_cli() -> None:
    """The TUI never shells out to the command line (`python -m grpo_workbench ...`): it calls jobs/."""
    root = Path(__file__).parent.parent / "screens"
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "grpo_workbench" not in text and "workbench.cli" not in text, path


def test_one_place_imports_unsloth() -> None:
    """`import unsloth` patches trl and transformers for the whole process and must come first: one
    function does it (`jobs.backends._unsloth`), and everything else goes through it."""
    root = Path(__file__).parent.parent
    statement = re.compile(r"^\s*(import unsloth\b|from unsloth\b)", re.MULTILINE)
    found = [
        (str(path.relative_to(root)), len(statement.findall(path.read_text(encoding="utf-8"))))
        for package in ("workbench", "jobs", "screens", "grpo_workbench", "tests")
        for path in sorted((root / package).rglob("*.py"))
        if statement.search(path.read_text(encoding="utf-8"))
    ]
    assert found == [("jobs/backends.py", 1)]
