"""Resume of a run without a complete checkpoint, through the real launcher and run directory (only the
supervisor's spawn is stubbed, so no trainer loads): the UI asks before the run starts over, and from the
moment of the resume the Runs row and the Monitor show the new attempt's step, not the old one's speed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable
from tui_helpers import CRASHED_RUN, FIXTURE_RUNS, frozen_app, settle, shown_text

import jobs.launch
from screens.commands import RunCommands
from screens.dialogs import ConfirmScreen
from screens.monitor import MonitorScreen
from screens.runs import RunsScreen
from workbench.runs import RunDir, resume_point
from workbench.series import MetricsSeries
from workbench.tail import read_jsonl


@pytest.fixture
def crashed_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runs home holding a copy of the fixture run that crashed at step 12/40 without a checkpoint; the
    launcher's spawn starts a process that exits at once instead of the supervisor."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS / CRASHED_RUN, root / CRASHED_RUN)

    def spawn(run: RunDir, *extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(jobs.launch, "_spawn", spawn)
    return root


def test_a_resume_launch_marks_where_the_attempt_starts(crashed_home: Path) -> None:
    """The launcher writes the resume point at launch (status.json's step and a `resume` event), so the
    series drops the old attempt's steps and has no speed until the new attempt logs a step."""
    run = RunDir(crashed_home / CRASHED_RUN)
    assert resume_point(run) == 0 and run.read_status().step == 12
    jobs.launch.resume(run).wait()
    status = run.read_status()
    assert (status.state, status.phase, status.step) == ("pending", "resuming", 0)
    records = read_jsonl(run.metrics)
    assert records[-1]["event"] == "resume" and records[-1]["step"] == 0
    series = MetricsSeries()
    series.ingest(records)
    assert series.current_step == 0 and series.get("reward") == ([], [])
    assert series.steps_per_second() is None and series.eta_seconds(40) is None


async def test_resume_without_a_checkpoint_asks_and_then_shows_step_0(
    crashed_home: Path, tmp_path: Path
) -> None:
    app = frozen_app(tmp_path, runs_root=crashed_home, initial_mode="runs")
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        hits = {text: help_text for text, _, help_text in RunCommands(app.screen)._commands()}
        assert "checkpoint" not in hits[f"resume: {CRASHED_RUN}"].replace("no checkpoint", "")
        assert "step 0" in hits[f"resume: {CRASHED_RUN}"]
        await pilot.press("r")
        await settle(pilot, 0.2)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen), dialog
        assert "step 0" in dialog.question and "12 steps" in dialog.detail, (dialog.question, dialog.detail)
        await pilot.press("n")  # no: nothing happens
        await settle(pilot, 0.2)
        assert RunDir(crashed_home / CRASHED_RUN).read_status().step == 12
        await pilot.press("r")
        await settle(pilot, 0.2)
        await pilot.press("y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table: Any = screen.query_one(DataTable)
        row = [str(cell) for cell in table.get_row(CRASHED_RUN)]
        assert "0/40" in row and "12/40" not in row, row
        app.attach_run(CRASHED_RUN)
        await settle(pilot)
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen)
        rate = shown_text(app, monitor.query_one("#rate"))
        assert rate.startswith("step 0/40 · – steps/s · ETA ?"), rate
