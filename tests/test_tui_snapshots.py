"""Snapshots of every screen, fed by the frozen run directories in tests/fixtures/runs.

Workflow: run, open snapshot_report.html, look at each picture, and only then `--snapshot-update`.
The app gets a fixed clock, no live polling and no GPU; cursors do not blink.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_helpers import CPU_RUN, CRASHED_RUN, GPU_RUN, frozen_app, no_blink, settle, snapshots_in_tests_dir

from screens.configure import ConfigureScreen

WIDE = (120, 40)
SMALL = (80, 24)


@pytest.fixture
def snapshot(snapshot: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Store this module's snapshots under tests/snapshots/test_tui_snapshots/."""
    return snapshots_in_tests_dir(snapshot, monkeypatch)


@pytest.fixture(autouse=True)
def _in_fixture_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative data paths ("rows.jsonl") resolve to the fixture rows, the same on every machine."""
    monkeypatch.chdir(Path(__file__).parent / "fixtures" / "runs")


async def _ready(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    no_blink(pilot.app)  # type: ignore[arg-type]
    await pilot.pause()


class TestConfigure:
    def test_offline_default(self, snap_compare: Any, tmp_path: Path) -> None:
        """Configure at 120x40 on a machine without a GPU: the tiny model with its parameter count, the
        CPU note and GPU estimate, LoRA and reward weights; `✓ valid` and an enabled Launch."""

        async def run_before(pilot: Pilot[Any]) -> None:
            screen = pilot.app.screen
            assert isinstance(screen, ConfigureScreen)
            screen.set_field("data.source", "rows.jsonl")
            screen.set_field("data.held_out", "2")
            await _ready(pilot)

        assert snap_compare(
            frozen_app(tmp_path, initial_mode="configure"), terminal_size=WIDE, run_before=run_before
        )

    def test_data_preview(self, snap_compare: Any, tmp_path: Path) -> None:
        """The end of the form: the data section, the extraction statistics (6 kept, 1 dropped without
        an answer) and three formatted rows with their gold answers."""

        async def run_before(pilot: Pilot[Any]) -> None:
            screen = pilot.app.screen
            assert isinstance(screen, ConfigureScreen)
            screen.set_field("data.source", "rows.jsonl")
            screen.set_field("data.held_out", "2")
            await _ready(pilot)
            screen.query_one("#form").scroll_end(animate=False)
            await pilot.pause()

        assert snap_compare(
            frozen_app(tmp_path, initial_mode="configure"), terminal_size=WIDE, run_before=run_before
        )

    def test_bad_input_small(self, snap_compare: Any, tmp_path: Path) -> None:
        """80x24 with lora.rank = 0 and lora.alpha = x: each message on a line of its own under its field
        (the width of the form), the labels turn red, the status counts the problems and wraps the first
        one whole, and Launch is disabled."""

        async def run_before(pilot: Pilot[Any]) -> None:
            screen = pilot.app.screen
            assert isinstance(screen, ConfigureScreen)
            screen.set_field("data.source", "rows.jsonl")
            screen.set_field("lora.rank", "0")
            screen.set_field("lora.alpha", "x")
            await _ready(pilot)
            screen.query_one("#f-lora-rank").focus()
            await pilot.pause()
            no_blink(pilot.app)  # type: ignore[arg-type]
            await pilot.pause()

        assert snap_compare(
            frozen_app(tmp_path, initial_mode="configure"), terminal_size=SMALL, run_before=run_before
        )

    def test_choice_list_small(self, snap_compare: Any, tmp_path: Path) -> None:
        """80x24 with lr_scheduler_type's list open: the four choices under the field, the current one
        highlighted, the form still in view around the list."""

        async def run_before(pilot: Pilot[Any]) -> None:
            screen = pilot.app.screen
            assert isinstance(screen, ConfigureScreen)
            screen.set_field("data.source", "rows.jsonl")
            screen.set_field("data.held_out", "2")
            await _ready(pilot)
            screen.query_one("#f-grpo-lr_scheduler_type").focus()
            await settle(pilot, 0.3)  # the form scrolls the field into view
            await pilot.press("enter")
            await pilot.pause()

        assert snap_compare(
            frozen_app(tmp_path, initial_mode="configure"), terminal_size=SMALL, run_before=run_before
        )


class TestRuns:
    def test_runs_wide(self, snap_compare: Any, tmp_path: Path) -> None:
        """Three runs newest first: stopped 8/30, crashed 12/40 (dead supervisor), completed 24/24; with
        their latest reward, model and age against the frozen clock."""
        assert snap_compare(frozen_app(tmp_path, initial_mode="runs"), terminal_size=WIDE, run_before=_ready)

    def test_runs_small(self, snap_compare: Any, tmp_path: Path) -> None:
        """At 80 columns the model column gives way; the detail line names the selected run's model."""
        assert snap_compare(frozen_app(tmp_path, initial_mode="runs"), terminal_size=SMALL, run_before=_ready)

    def test_delete_asks_first(self, snap_compare: Any, tmp_path: Path) -> None:
        """`d` on the selected (stopped) run opens the confirmation; nothing is deleted without `y`."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await _ready(pilot)
            await pilot.press("d")
            await pilot.pause()

        assert snap_compare(
            frozen_app(tmp_path, initial_mode="runs"), terminal_size=SMALL, run_before=run_before
        )


class TestMonitor:
    def test_gpu_run_wide(self, snap_compare: Any, tmp_path: Path) -> None:
        """The completed two-GPU run: the total reward rising, beside it a 2x2 grid of small plots, one per
        reward function, each titled with its name, latest value and trend; under them completion length,
        loss with KL on the right axis, memory and utilisation of GPU 0 and 1; samples with <thinking> and
        <SOLUTION> styled apart; the end of train.log."""
        app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
        assert snap_compare(app, terminal_size=WIDE, run_before=_ready)

    def test_gpu_run_small(self, snap_compare: Any, tmp_path: Path) -> None:
        """80x24: the total beside two lines per reward function (title, then a one-row sparkline of its
        24 steps); completion length and loss under them; the GPUs on one line instead of a plot."""
        app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
        assert snap_compare(app, terminal_size=SMALL, run_before=_ready)

    def test_crashed_run_small(self, snap_compare: Any, tmp_path: Path) -> None:
        """80x24 shows the plots only: the crashed run (12/40) after a resume that repeated steps 9-10,
        plotted once each (the total, and a title and sparkline per reward function); no GPU samples. The
        run bar wraps why it crashed onto a second line; y ticks are round numbers (`0`, `-2`)."""
        app = frozen_app(tmp_path, initial_mode="monitor", attach=CRASHED_RUN)
        assert snap_compare(app, terminal_size=SMALL, run_before=_ready)

    def test_text_view_small(self, snap_compare: Any, tmp_path: Path) -> None:
        """`v` switches 80x24 to the text view (the tabs on the run bar's row say so): the latest samples,
        each reward's name beside its score, and train.log wrapped whole, side by side."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await _ready(pilot)
            await pilot.press("v")
            await pilot.pause()

        app = frozen_app(tmp_path, initial_mode="monitor", attach=CPU_RUN)
        assert snap_compare(app, terminal_size=SMALL, run_before=run_before)

    def test_rollouts_small(self, snap_compare: Any, tmp_path: Path) -> None:
        """`g` at 80x24: step 24 (live) of the two-GPU run, its two groups by best advantage (the
        zero-variance one last, `σ=0`), and the first group's best and worst completion side by side with
        advantage, total, length, each reward's score and the tags coloured; the footer's step keys."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await _ready(pilot)
            await pilot.press("g")
            await settle(pilot, 0.2)

        app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
        assert snap_compare(app, terminal_size=SMALL, run_before=run_before)

    def test_rollouts_wide(self, snap_compare: Any, tmp_path: Path) -> None:
        """`g` then Left at 120x40: step 23 picked (21-24 held); the best completion ended at 36 tokens,
        the worst one was cut at the limit (256 tokens, yellow)."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await _ready(pilot)
            await pilot.press("g", "left")
            await settle(pilot, 0.2)

        app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
        assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


class TestOther:
    def test_chat_empty(self, snap_compare: Any, tmp_path: Path) -> None:
        """Chat with no server yet: the run picker, sampling settings and the two empty answer columns."""
        assert snap_compare(frozen_app(tmp_path, initial_mode="chat"), terminal_size=SMALL, run_before=_ready)

    def test_chat_wide(self, snap_compare: Any, tmp_path: Path) -> None:
        """120x40 Chat with no server: the Start button beside the run picker, the status saying what
        Ctrl+T serves, the question box's hint."""
        assert snap_compare(frozen_app(tmp_path, initial_mode="chat"), terminal_size=WIDE, run_before=_ready)

    def test_help(self, snap_compare: Any, tmp_path: Path) -> None:
        """F1 lists the keys that work everywhere and those of each mode."""

        async def run_before(pilot: Pilot[Any]) -> None:
            await _ready(pilot)
            await pilot.press("f1")
            await pilot.pause()

        assert snap_compare(
            frozen_app(tmp_path, initial_mode="runs"), terminal_size=WIDE, run_before=run_before
        )
