"""The Monitor's rollout view, health line and KL plot under Pilot: keys move the step, live follows the
latest step a run writes, the health alerts of a run show in the Monitor and on the Runs screen."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from tui_helpers import CPU_RUN, FIXTURE_RUNS, GPU_RUN, frozen_app, settle, wait_until

from screens.monitor import MonitorScreen
from screens.runs import RunsScreen
from screens.widgets.plots import MetricPlot
from screens.widgets.textline import TextLine
from tests.test_rollouts import make_step
from workbench.runs import RolloutWriter, RunDir


def text_of(widget: Any) -> str:
    """What a Static or TextLine shows, as plain text."""
    renderable = widget.render() if isinstance(widget, TextLine) else widget.content
    out = io.StringIO()
    Console(width=200, file=out, color_system=None).print(renderable)
    return out.getvalue()


def monitor(pilot: Pilot[Any]) -> MonitorScreen:
    screen = pilot.app.screen
    assert isinstance(screen, MonitorScreen)
    return screen


async def test_keys_move_the_step(tmp_path: Path) -> None:
    """g opens the view on the latest step (live); Left picks earlier steps down to the first held, Right
    later ones and past the last one follows the latest again, as does l; Down selects the next group,
    the zero-variance one, whose panes say so."""
    app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = monitor(pilot)
        assert screen.rollout_steps == [21, 22, 23, 24]
        assert not screen.query_one("#rollouts").display
        await pilot.press("g")
        await settle(pilot, 0.1)
        assert screen.query_one("#rollouts").display and not screen.query_one("#plots").display
        assert screen.rollout_record is not None and screen.rollout_record.step == 24
        head = text_of(screen.query_one("#rollout-head", TextLine))
        assert "step 24 (21–24) · live" in head and "σ=0 1/2" in head

        shown = []
        for key in ("left", "left", "left", "left", "right", "right", "right", "right"):
            await pilot.press(key)
            await settle(pilot, 0.05)
            assert screen.rollout_record is not None
            shown.append((screen.rollout_record.step, screen.rollout_step is None))
        assert shown == [
            (23, False),
            (22, False),
            (21, False),
            (21, False),  # the first step held: Left stays
            (22, False),
            (23, False),
            (24, False),
            (24, True),  # past the last: live again
        ]
        await pilot.press("left", "left", "l")
        await settle(pilot, 0.05)
        assert (screen.rollout_record.step, screen.rollout_step) == (24, None)

        groups = text_of(screen.query_one("#rollout-groups"))
        assert "▶" in groups.splitlines()[1] and "σ=0" in groups.splitlines()[2]
        best = text_of(screen.query_one("#rollout-best-body"))
        assert best.startswith("best adv +") and "match_format_exactly +3.00" in best
        worst = text_of(screen.query_one("#rollout-worst-body"))
        assert worst.startswith("worst adv -")
        await pilot.press("down")
        await settle(pilot, 0.05)
        assert "σ=0: all 8 completions scored -4.00" in text_of(screen.query_one("#rollout-best-body"))

        await pilot.press("g")
        await settle(pilot, 0.1)
        assert screen.query_one("#plots").display and not screen.query_one("#rollouts").display
        await pilot.press("left")  # outside the view the arrows are not the view's
        assert screen.rollout_step is None


async def test_live_follows_the_latest_step(tmp_path: Path) -> None:
    """While a run writes rollouts, the view shows each new step; a picked step stays picked while the
    run goes on, and l returns to the latest."""
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS / CPU_RUN, runs / CPU_RUN)
    run = RunDir(runs / CPU_RUN)
    writer = RolloutWriter(run)
    for step in (1, 2):
        writer.write(make_step(step))
    app = frozen_app(tmp_path, runs_root=runs, follow=True, initial_mode="monitor", attach=CPU_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = monitor(pilot)
        await wait_until(pilot, lambda: screen.rollout_steps == [1, 2], "the replayed steps")
        await pilot.press("g")

        def showing(step: int) -> bool:
            return screen.rollout_record is not None and screen.rollout_record.step == step

        await wait_until(pilot, lambda: showing(2), "step 2")
        writer.write(make_step(3))
        await wait_until(pilot, lambda: showing(3), "the new step 3, live")
        await pilot.press("left")
        await wait_until(pilot, lambda: showing(2), "step 2, picked")
        writer.write(make_step(4))
        await wait_until(pilot, lambda: screen.rollout_steps[-1] == 4, "step 4 indexed")
        await pilot.pause(0.3)
        assert showing(2)
        await pilot.press("l")
        await wait_until(pilot, lambda: showing(4), "the latest, step 4")
    writer.close()


async def test_no_rollouts_says_so(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="monitor", attach=CPU_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot, 0.1)
        text = text_of(monitor(pilot).query_one("#rollout-groups"))
        assert "no rollout groups yet" in text and "grpo.rollout_groups_per_step" in text


async def test_health_line_and_runs_screen(tmp_path: Path) -> None:
    """The tiny CPU fixture run has two warnings: the Monitor's line names both, the Runs screen marks the
    run and its detail line names them; a run without alerts shows no line."""
    app = frozen_app(tmp_path, initial_mode="monitor", attach=CPU_RUN)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = monitor(pilot)
        line = screen.query_one("#health", TextLine)
        assert line.display
        text = text_of(line)
        assert (
            "⚠ zero reward variance since step 5" in text and "all completions clipped since step 7" in text
        )
        app.switch_mode("runs")
        await settle(pilot)
        runs = pilot.app.screen
        assert isinstance(runs, RunsScreen)
        assert runs.selected is not None and runs.selected.run.run_id == CPU_RUN
        detail = text_of(runs.query_one("#runs-detail"))
        assert "⚠ zero reward variance since step 5" in detail
    app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not monitor(pilot).query_one("#health", TextLine).display


async def test_kl_is_plotted_only_when_beta_is_not_zero(tmp_path: Path) -> None:
    """A run at beta 0 whose trainer logged a `kl` anyway (Unsloth logs zeros) plots no KL; the fixture
    run at beta 0.04 does."""
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS / GPU_RUN, runs / GPU_RUN)
    config = runs / GPU_RUN / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("beta = 0.04", "beta = 0.0"), encoding="utf-8"
    )
    assert "kl" in json.loads((runs / GPU_RUN / "metrics.jsonl").read_text().splitlines()[0])
    for root, expected in ((FIXTURE_RUNS, True), (runs, False)):
        app = frozen_app(tmp_path, runs_root=root, initial_mode="monitor", attach=GPU_RUN)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            plot = monitor(pilot).query_one("#plot-loss", MetricPlot)
            labels = [line.label for line in plot._lines]
            assert ("kl" in labels) is expected, labels
