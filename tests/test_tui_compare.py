"""Compare and clone in the TUI, under Pilot: runs marked in Runs (✓), the comparison's differing settings
and its overlaid curves (asserted on the plots' data), "clone with changes" into Configure, and snapshots
of the comparison at 80x24 and 120x40. The runs are written by hand (tests/compare_runs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from compare_runs import BETA, GONE_ADAPTER, LR_HIGH, LR_LOW, metrics, write_compared_runs
from textual.pilot import Pilot
from textual.widgets import DataTable, Input
from tui_helpers import frozen_app, no_blink, screen_rows, settle, snapshots_in_tests_dir, wait_until

from screens.compare import CompareScreen, plot_id
from screens.configure import ConfigureScreen
from screens.runs import RunsScreen
from screens.widgets.plots import PALETTE, MetricPlot
from workbench.compare import COMPARED_METRICS

WIDE = (120, 40)
SMALL = (80, 24)


@pytest.fixture
def snapshot(snapshot: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Store this module's snapshots under tests/snapshots/test_tui_compare/."""
    return snapshots_in_tests_dir(snapshot, monkeypatch)


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    assert write_compared_runs(root) == [BETA, LR_LOW, LR_HIGH]
    return root


def _row(table: DataTable[Any], key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


async def _mark_and_compare(pilot: Pilot[Any], marks: int) -> None:
    """Mark the first `marks` runs of the table (Space on each, moving down), then press C."""
    await settle(pilot)
    for index in range(marks):
        if index:
            await pilot.press("down")
        await pilot.press("space")
    await pilot.press("c")
    await settle(pilot)


async def test_marked_runs_are_compared_settings_and_curves(tmp_path: Path, runs_root: Path) -> None:
    app = frozen_app(tmp_path, runs_root=runs_root, initial_mode="runs")
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await pilot.press("space", "down", "space", "down", "space", "space")  # the last one unmarked
        assert runs.marked == [BETA, LR_LOW]
        table = runs.query_one(DataTable)
        assert _row(table, BETA)[0].startswith(" ✓") and _row(table, LR_HIGH)[0].startswith("  ")
        assert "2 marked · C compares" in str(runs.query_one("#runs-summary").render())
        await pilot.press("space", "c")  # mark lr-high again: three runs, in the order marked
        await settle(pilot)

        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.comparison is not None
        assert [run.run_id for run in screen.comparison.runs] == [BETA, LR_LOW, LR_HIGH]
        diff = screen.query_one("#compare-diff", DataTable)
        assert [str(key.value) for key in diff.rows] == [
            "name", "lora.init_from", "grpo.learning_rate", "grpo.beta",
        ]  # fmt: skip
        assert _row(diff, "grpo.learning_rate") == ["grpo.learning_rate", "0.001", "0.0001", "0.001"]
        assert _row(diff, "grpo.beta") == ["grpo.beta", "0.04", "0", "0"]
        assert _row(diff, "name") == ["name", "beta", "lr-low", "lr-high"]
        assert _row(diff, "lora.init_from") == ["lora.init_from", '""', GONE_ADAPTER, '""']
        title = str(screen.query_one("#compare-title").render())
        assert "Comparing 3 runs · 4 of" in title and "settings differ" in title

        # Every plot overlays one line per run, in the run's colour, holding exactly its metrics.
        for _, key in COMPARED_METRICS:
            plot = screen.query_one(f"#{plot_id(key)}", MetricPlot)
            assert [line.label for line in plot.lines] == ["A", "B", "C"], key
            assert [line.color for line in plot.lines] == list(PALETTE[:3]), key
            for line, run_id in zip(plot.lines, (BETA, LR_LOW, LR_HIGH), strict=True):
                records = metrics(run_id)
                assert list(line.xs) == [float(r["step"]) for r in records], (key, run_id)
                assert list(line.ys) == [r[key] for r in records], (key, run_id)
            legend = " ".join(str(row) for row in plot.legend_lines(200))
            assert all(f"━ {letter} " in legend for letter in "ABC"), legend

        await pilot.press("escape")
        assert app.screen is runs and runs.marked == [BETA, LR_LOW, LR_HIGH], "marks outlive the comparison"


@pytest.mark.parametrize("size", [SMALL, (80, 20)], ids=["80x24", "80x20"])
async def test_every_run_is_in_every_legend_at_80_columns(
    tmp_path: Path, runs_root: Path, size: tuple[int, int]
) -> None:
    """At 80 columns the three plots sit in a row, each under 30 columns: a review saw C cut off every
    legend (`━ A -0.103 ↑  ━ B 1.58 ↑ …`) where more settings differed and the plots had room for one
    legend row (80x20 here). Entries shorten (arrow, then digits) before a series is lost."""
    app = frozen_app(tmp_path, runs_root=runs_root, initial_mode="runs")
    async with app.run_test(size=size) as pilot:
        await _mark_and_compare(pilot, 3)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        for _, key in COMPARED_METRICS:
            plot = screen.query_one(f"#{plot_id(key)}", MetricPlot)
            rows = screen_rows(app, plot.content_region)
            legend = " ".join(row for row in rows if "━" in row)
            assert all(f"━ {letter}" in legend for letter in "ABC"), (key, rows)
            assert "…" not in legend, (key, rows)


async def test_one_mark_compares_with_the_selected_run_and_none_asks_for_marks(
    tmp_path: Path, runs_root: Path
) -> None:
    app = frozen_app(tmp_path, runs_root=runs_root, initial_mode="runs")
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        runs = app.screen
        await pilot.press("c")
        assert app.screen is runs, "nothing marked: no comparison"
        assert any("mark two or more runs" in n.message for n in app._notifications)
        await pilot.press("space", "down", "down", "c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.comparison is not None
        assert [run.run_id for run in screen.comparison.runs] == [BETA, LR_HIGH]
        assert screen.comparison.runs[0].state == "failed" and screen.comparison.runs[1].step == 30


async def test_clone_with_changes_opens_configure_filled_from_the_run(
    tmp_path: Path, runs_root: Path
) -> None:
    """L on lr-low: Configure shows its settings, less lora.init_from (whose directory is gone, so the clone
    is valid only because it is not copied)."""
    app = frozen_app(tmp_path, runs_root=runs_root, initial_mode="runs")
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        await pilot.press("down", "l")
        # (before the data preview's worker, which can outlast the notification's few seconds)
        await wait_until(
            pilot,
            lambda: any("settings of " + LR_LOW in n.message for n in app._notifications),
            "the clone's notification",
            10,
        )
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfigureScreen)

        def field(key: str) -> str:
            return str(screen.query_one(f"#f-{key.replace('.', '-')}", Input).value)

        assert field("name") == "lr-low"
        assert field("grpo.learning_rate") == "0.0001"
        assert field("grpo.max_completion_length") == "96"
        assert field("lora.init_from") == "", "a clone starts from a fresh adapter"
        assert screen.config is not None and screen.config.grpo.learning_rate == 1e-4
        # Clone again, of another run, while Configure already exists: the form follows.
        await pilot.press("f3")
        await settle(pilot)
        await pilot.press("down", "l")  # the cursor was on lr-low: now lr-high
        await settle(pilot)
        assert app.screen is screen and field("name") == "lr-high"
        assert field("grpo.learning_rate") == "0.001"


class TestSnapshots:
    def test_compare_wide(self, snap_compare: Any, tmp_path: Path, runs_root: Path) -> None:
        """120x40, three runs: the key (A beta failed 20/30, B lr-low, C lr-high), the four settings that
        differ side by side, the reward plot across the top and length and loss under it, each with three
        coloured lines and a legend under the data."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await _mark_and_compare(pilot, 3)
            no_blink(pilot.app)  # type: ignore[arg-type]

        app = frozen_app(tmp_path, runs_root=runs_root, initial_mode="runs")
        assert snap_compare(app, terminal_size=WIDE, run_before=run_before)

    def test_compare_small(self, snap_compare: Any, tmp_path: Path, runs_root: Path) -> None:
        """80x24, three runs: the key, the settings table, and the three plots in a row under it, each
        legend under its data."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await _mark_and_compare(pilot, 3)
            no_blink(pilot.app)  # type: ignore[arg-type]

        app = frozen_app(tmp_path, runs_root=runs_root, initial_mode="runs")
        assert snap_compare(app, terminal_size=SMALL, run_before=run_before)

    def test_runs_marked_small(self, snap_compare: Any, tmp_path: Path, runs_root: Path) -> None:
        """80x24 Runs with beta and lr-high marked (✓ before their ids) and the summary counting them."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press("space", "down", "down", "space")
            await settle(pilot)

        app = frozen_app(tmp_path, runs_root=runs_root, initial_mode="runs")
        assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


async def test_home_and_end_go_to_the_first_and_last_run(tmp_path: Path, runs_root: Path) -> None:
    """Home and End move the Runs cursor to the first and last row (DataTable gave them to its columns,
    and a review's Home moved nothing)."""
    app = frozen_app(tmp_path, runs_root=runs_root, initial_mode="runs")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#runs-table", DataTable)
        assert table.row_count == 3 and table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == 2
        await pilot.press("home")
        assert table.cursor_row == 0
