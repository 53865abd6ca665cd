"""The Evaluate mode: a frozen evaluated run (tests/fixtures/eval_runs) shown in the table and the plot, the
form's checks, the mode keys; and, end to end, an evaluation started from the screen on a real tiny run
(trained once per session by tests/test_eval_cli.py's fixture), followed until the table fills, then a
second one cancelled from the screen, which keeps its finished rows marked partial.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_eval_cli import copy_run, train_tiny_run
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, DataTable, Input, ProgressBar, SelectionList
from tui_helpers import frozen_app, live_home, no_blink, settle, snapshots_in_tests_dir, wait_until

from screens.app import WorkbenchApp
from screens.dialogs import HelpScreen
from screens.evaluate import EvaluateScreen, accuracy_lines, format_lines, trend_title
from screens.widgets.plots import MetricPlot
from workbench.runs import EvalDir, RunDir

EVAL_RUNS = Path(__file__).resolve().parent / "fixtures" / "eval_runs"
EVAL_RUN = "20261121-090000-eval-demo-f7a8"
SMALL = (80, 24)


@pytest.fixture
def snapshot(snapshot: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Store this module's snapshots under tests/snapshots/test_tui_evaluate/."""
    return snapshots_in_tests_dir(snapshot, monkeypatch)


@pytest.fixture
def eval_root(tmp_path: Path) -> Path:
    """A private copy of the frozen evaluated run: a test that presses Evaluate must never write into
    tests/fixtures."""
    root = tmp_path / "runs"
    shutil.copytree(EVAL_RUNS, root, ignore=shutil.ignore_patterns("*.py"))
    return root


def _screen(app: WorkbenchApp) -> EvaluateScreen:
    screen = app.screen
    assert isinstance(screen, EvaluateScreen), screen
    return screen


def _cells(table: DataTable[Any], key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


async def test_frozen_run_fills_the_table_and_the_plot(tmp_path: Path, eval_root: Path) -> None:
    app = frozen_app(tmp_path, runs_root=eval_root, initial_mode="evaluate")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = _screen(app)
        await wait_until(pilot, lambda: screen.view is not None, "the eval/ read", 10)
        assert screen.run_id == EVAL_RUN
        table = screen.query_one(DataTable)
        assert [str(key.value) for key in table.rows] == [
            "base/greedy",
            "base/sample-n4",
            "checkpoint-10/greedy",
            "checkpoint-20/greedy",
            "adapter/greedy",
            "adapter/sample-n4",
        ]
        assert _cells(table, "base/greedy")[:3] == ["base", "greedy", "12.5% [2–47]"]
        assert _cells(table, "adapter/greedy")[2:4] == ["75.0% [41–93]", "100% [68–100]"]
        assert _cells(table, "base/greedy")[3] == "25% [7–59]"  # format with its interval too
        assert _cells(table, "adapter/sample-n4")[4] == "@4 88%"
        assert _cells(table, "adapter/greedy")[5:7] == ["80%", "67%"]  # GSM 4/5, MATH 2/3
        assert _cells(table, "checkpoint-20/greedy")[0] == "checkpoint-20*"
        assert _cells(table, "checkpoint-20/greedy")[-1] == "5/8"
        assert _cells(table, "adapter/greedy")[-1] == "8/8"

        # base at step 0, checkpoint-N at N, the adapter at the run's final step (30)
        greedy, sampled = accuracy_lines(screen.results, 30)
        assert (list(greedy.xs), list(greedy.ys)) == ([0.0, 10.0, 20.0, 30.0], [12.5, 37.5, 80.0, 75.0])
        assert list(sampled.xs) == [0.0, 30.0] and sampled.ys[-1] == pytest.approx(56.25)
        # format beside accuracy, where the offline demo's learning shows
        greedy_format, sampled_format = format_lines(screen.results, 30)
        assert greedy_format.label == "greedy format"
        assert list(greedy_format.ys) == [25.0, 62.5, 100.0, 100.0]
        plot = screen.query_one("#eval-plot", MetricPlot)
        assert plot.draw_count >= 2
        assert trend_title([greedy], [greedy_format, sampled_format]) == (
            "held-out % by step · greedy: accuracy 12.5 → 75.0, format 25.0 → 100.0"
        )

        targets = screen.query_one("#eval-targets", SelectionList)
        names = [str(targets.get_option_at_index(i).value) for i in range(targets.option_count)]
        assert names == ["base", "checkpoint-10", "checkpoint-20", "checkpoint-30", "adapter"]
        assert targets.selected == ["base", "adapter"]  # the run's default: before and after
        assert "16/16 rows" in str(screen.query_one("#eval-rate").render())
        assert "evaluation completed" in str(screen.query_one("#eval-bar").render())  # not the run's state
        assert not screen.query_one("#eval-start", Button).disabled
        assert screen.query_one("#eval-cancel", Button).disabled


async def test_the_default_targets_follow_a_run_that_completes(tmp_path: Path, eval_root: Path) -> None:
    """A run first shown while it trained (no final adapter: base and its newest checkpoint by default)
    ticks base and the adapter once it completes, as `grpo-workbench evaluate` does with no --targets:
    a review saw only `base` ticked on a completed run, the defaults read once and kept as choices."""
    adapter = RunDir(eval_root / EVAL_RUN).adapter
    parked = tmp_path / "adapter"
    adapter.rename(parked)
    app = frozen_app(tmp_path, runs_root=eval_root, initial_mode="evaluate")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = _screen(app)
        await wait_until(pilot, lambda: screen.view is not None, "the eval/ read", 10)
        targets = screen.query_one("#eval-targets", SelectionList)
        assert targets.selected == ["base", "checkpoint-30"]
        parked.rename(adapter)  # the run completes
        screen._poll(force=True)
        await wait_until(pilot, lambda: targets.option_count == 5, "the adapter", 10)
        assert targets.selected == ["base", "adapter"]
        # choices the user made are kept when a target appears
        targets.deselect("adapter")
        adapter.rename(parked)
        screen._poll(force=True)
        await wait_until(pilot, lambda: targets.option_count == 4, "the adapter gone", 10)
        parked.rename(adapter)
        screen._poll(force=True)
        await wait_until(pilot, lambda: targets.option_count == 5, "the adapter back", 10)
        assert targets.selected == ["base"]


async def test_form_problems_are_refused_before_anything_starts(tmp_path: Path, eval_root: Path) -> None:
    app = frozen_app(tmp_path, runs_root=eval_root, initial_mode="evaluate")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = _screen(app)
        await wait_until(pilot, lambda: screen.view is not None, "the eval/ read", 10)
        progress = EvalDir.of(RunDir(eval_root / EVAL_RUN)).progress
        before = progress.read_text()
        screen.query_one("#eval-targets", SelectionList).deselect_all()
        screen.query_one("#eval-samples", Input).value = "1"
        choices = screen.choices()
        assert "tick at least one target" in choices.problems
        assert any("at least 2" in p for p in choices.problems)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert progress.read_text() == before, "nothing may start with problems in the form"
        assert any("cannot evaluate" in n.message for n in app._notifications)


async def test_mode_keys_help_and_palette(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, runs_root=EVAL_RUNS, initial_mode="runs")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await pilot.pause()
        assert app.current_mode == "evaluate"
        await pilot.press("f3", "f6")
        await pilot.pause()
        assert app.current_mode == "evaluate"
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert any(section.title == "Evaluate" for section in app.help_sections())
        await pilot.press("escape", "f3")
        await pilot.pause()
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Mode: Evaluate" in commands


async def _evaluate_read(pilot: Pilot[Any]) -> None:
    """Both snapshots' wait: the Evaluate screen has read the frozen run's eval/ and nothing blinks."""
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, EvaluateScreen)
    await wait_until(pilot, lambda: screen.view is not None, "the eval/ read", 10)
    await settle(pilot)
    no_blink(pilot.app)  # type: ignore[arg-type]
    await pilot.pause()


class TestSnapshot:
    def test_evaluated_run_small(self, snap_compare: Any, tmp_path: Path) -> None:
        """80x24: the form above the results (the run picker whole, targets beside the options), the
        frozen run's six results in every column (checkpoint-20*: partial, in yellow), accuracy and
        format each with its interval, base
        and adapter ticked, greedy on, the finished progress (16/16 rows) and, in place of the plot, its
        trend line (greedy: accuracy 12.5 -> 75.0, format 25.0 -> 100.0)."""

        app = frozen_app(tmp_path, runs_root=EVAL_RUNS, initial_mode="evaluate")
        assert snap_compare(app, terminal_size=SMALL, run_before=_evaluate_read)

    def test_evaluated_run_wide(self, snap_compare: Any, tmp_path: Path) -> None:
        """120x40: the form beside the results; all eight columns, accuracy and format each with its
        interval, and the plot of accuracy and format by step under the table."""

        app = frozen_app(tmp_path, runs_root=EVAL_RUNS, initial_mode="evaluate")
        assert snap_compare(app, terminal_size=(120, 40), run_before=_evaluate_read)


# --------------------------------------------------------------------------------------------------------
# a real evaluation job on a real tiny run


@pytest.fixture
def live_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_preset_dir: Path,
) -> Iterator[RunDir]:
    """A copy of the session's trained tiny run in a live home; an evaluation left running is killed."""
    trained = train_tiny_run(tmp_path_factory, tiny_preset_dir)
    with live_home(tmp_path, monkeypatch, tiny_preset_dir) as home:
        run = copy_run(trained, home)
        try:
            yield run
        finally:
            from jobs.evaluate import running_pid

            pid = running_pid(run)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
async def test_evaluate_from_the_screen_then_cancel(live_run: RunDir) -> None:
    app = WorkbenchApp(initial_mode="evaluate")
    async with app.run_test(size=SMALL) as pilot:
        screen = _screen(app)
        targets = screen.query_one("#eval-targets", SelectionList)
        await wait_until(
            pilot, lambda: screen.run_id == live_run.run_id and targets.option_count == 4, "the run", 20
        )
        assert targets.selected == ["base", "adapter"]
        targets.deselect("adapter")
        targets.select("checkpoint-2")
        screen.query_one("#eval-samples", Input).value = "2"
        screen.query_one("#eval-limit", Input).value = "2"
        screen.query_one("#eval-max-tokens", Input).value = "6"
        await pilot.pause()
        await pilot.press("ctrl+l")
        table = screen.query_one(DataTable)
        await wait_until(
            pilot,
            lambda: screen.view is not None and screen.view.state == "completed" and table.row_count == 4,
            "the evaluation to finish and fill the table",
            240,
        )
        assert [str(key.value) for key in table.rows] == [
            "base/greedy",
            "base/sample-n2",
            "checkpoint-2/greedy",
            "checkpoint-2/sample-n2",
        ]
        assert all(_cells(table, str(key.value))[-1] == "2/2" for key in table.rows)
        bar = screen.query_one("#eval-progress", ProgressBar)
        assert (bar.progress, bar.total) == (8, 8)
        assert [line.xs for line in accuracy_lines(screen.results, 2)] == [[0.0, 2.0], [0.0, 2.0]]
        assert (EvalDir.of(live_run).path / "eval.log").is_file()
        assert screen.view is not None
        first_pid = screen.view.progress.pid

        # A long evaluation (every target, 24 rows of 4 samples, one row per batch), cancelled from the
        # screen once its first rows are in.
        targets.select("adapter")
        targets.select("checkpoint-1")
        screen.query_one("#eval-greedy", Checkbox).value = False
        screen.query_one("#eval-samples", Input).value = "4"
        screen.query_one("#eval-limit", Input).value = ""
        screen.query_one("#eval-max-tokens", Input).value = "48"
        screen.query_one("#eval-batch", Input).value = "1"
        await pilot.pause()
        await pilot.press("ctrl+l")
        await wait_until(
            pilot,
            lambda: (
                screen.view is not None
                and screen.view.pid not in (None, first_pid)
                and bool(screen.view.progress.done)
            ),
            "the second evaluation's first rows",
            180,
        )
        assert screen.query_one("#eval-start", Button).disabled
        await pilot.press("ctrl+g")
        await wait_until(
            pilot,
            lambda: screen.view is not None and screen.view.state == "stopped",
            "the cancelled evaluation to stop",
            120,
        )
        partial = [r.data for r in screen.results if r.partial]
        assert len(partial) == 1 and partial[0]["rows_done"] < 24
        key = f"{partial[0]['target']}/{partial[0]['decoding']['name']}"
        await wait_until(pilot, lambda: _cells(table, key)[0].endswith("*"), "the partial mark", 10)
        assert not screen.query_one("#eval-start", Button).disabled
