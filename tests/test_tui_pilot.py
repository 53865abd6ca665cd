"""End to end through the TUI with real tiny CPU runs: launch from Configure, follow in Monitor, see it in
Runs, stop (with the confirmation), resume, stop again; and a run that outlives the app and is re-attached
by a new instance. Every wait polls the app's state with a timeout; nothing sleeps a fixed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from tui_helpers import FIXTURE_ROWS, live_home, wait_until

from screens.app import WorkbenchApp
from screens.configure import ConfigureScreen
from screens.dialogs import ConfirmScreen
from screens.monitor import MonitorScreen
from screens.runs import RunsScreen
from screens.widgets.plots import MetricPlot
from workbench.runs import RunDir, process_matches, resolve_state

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_model(tiny_preset_dir: Path) -> Path:
    return tiny_preset_dir


@pytest.fixture
def tui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> Iterator[Path]:
    """A private home with the tiny model; every run still alive under it is stopped at teardown."""
    with live_home(tmp_path, monkeypatch, tiny_model) as home:
        yield home


FAST_FIELDS = {
    "grpo.max_completion_length": "32",
    "grpo.save_steps": "5",
    "grpo.per_device_train_batch_size": "4",
    "grpo.num_generations": "4",
    "data.source": str(FIXTURE_ROWS),
    "data.held_out": "2",
    "lora.rank": "8",
    "lora.alpha": "16",
}
"""A real GRPO run on the tiny model at well under a second per step on one CPU core."""


async def launch_from_configure(pilot: Pilot[Any], max_steps: int) -> MonitorScreen:
    """Fill Configure, type the run's name, wait for Launch to enable, press Ctrl+L; returns the Monitor."""
    app = pilot.app
    assert isinstance(app, WorkbenchApp)
    screen = app.screen
    assert isinstance(screen, ConfigureScreen)
    for key, value in {**FAST_FIELDS, "grpo.max_steps": str(max_steps)}.items():
        screen.set_field(key, value)
    screen.query_one("#f-name").focus()
    await pilot.press("e", "2", "e")
    await wait_until(
        pilot, lambda: screen.can_launch, "Launch to enable (validation, machine checks, data)", 60
    )
    assert screen.config is not None and screen.config.name == "e2e"
    await pilot.press("ctrl+l")
    await wait_until(
        pilot,
        lambda: app.current_mode == "monitor" and app.attached is not None,
        "the app to attach to the launched run",
        30,
    )
    monitor = app.screen
    assert isinstance(monitor, MonitorScreen)
    return monitor


def _is_confirm(app: WorkbenchApp) -> bool:
    return isinstance(app.screen, ConfirmScreen)


async def stop_with_confirmation(pilot: Pilot[Any], monitor: MonitorScreen) -> None:
    app = pilot.app
    assert isinstance(app, WorkbenchApp)
    await pilot.press("s")
    await wait_until(pilot, lambda: _is_confirm(app), "the stop confirmation", 10)
    await pilot.press("y")
    await wait_until(
        pilot,
        lambda: monitor.status.state == "stopped" and not monitor.status.alive,
        "the run to stop (checkpoint, then exit)",
        120,
    )


async def test_launch_follow_stop_resume(tui_home: Path) -> None:
    app = WorkbenchApp(initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        monitor = await launch_from_configure(pilot, max_steps=40)
        run_id = app.attached
        assert run_id is not None

        reward = monitor.query_one("#plot-reward", MetricPlot)
        await wait_until(pilot, lambda: monitor.step >= 2, "two training steps in Monitor", 180)
        draws, points = reward.draw_count, len(monitor.metrics.get("reward")[0])
        await wait_until(
            pilot,
            lambda: len(monitor.metrics.get("reward")[0]) > points and reward.draw_count > draws,
            "the reward plot to advance",
            60,
        )
        rate = monitor.query_one("#rate")
        await wait_until(
            pilot, lambda: f"step {monitor.step}/40 " in str(rate.render()), "the step label", 10
        )
        split = monitor.query_one("#split")

        def step_split() -> str:
            """Where the last step went: beside the step, or on the line under it where it does not fit."""
            return f"{rate.render()} {split.render() if split.display else ''}"

        await wait_until(  # where the last step went, from the job's time/<phase> metrics
            pilot,
            lambda: "last step" in step_split() and "generate" in step_split(),
            "the step split",
            10,
        )

        await stop_with_confirmation(pilot, monitor)
        stopped_at = monitor.step
        assert 0 < stopped_at < 40

        await pilot.press("f3")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await wait_until(
            pilot,
            lambda: any(i.run.run_id == run_id and i.state == "stopped" for i in app.runs),
            "the stopped run in the runs list",
            10,
        )
        table = runs.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count >= 1, "the runs table", 10)
        assert run_id in [str(key.value) for key in table.rows]

        await pilot.press("r")  # resume the selected (only) run from Runs
        await pilot.press("f4")
        await wait_until(pilot, lambda: monitor.status.alive, "the resumed run to come alive", 30)
        await wait_until(pilot, lambda: monitor.step > stopped_at, "a step after the resume", 180)
        assert monitor.metrics.resumes, "the trainer logged the resume"

        await stop_with_confirmation(pilot, monitor)

    run = RunDir(tui_home / "runs" / run_id)
    state, alive, _ = resolve_state(run)
    assert (state, alive) == ("stopped", False)


async def test_run_outlives_the_app_and_is_reattached(tui_home: Path) -> None:
    app = WorkbenchApp(initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        monitor = await launch_from_configure(pilot, max_steps=80)
        run_id = app.attached
        assert run_id is not None
        await wait_until(pilot, lambda: monitor.step >= 1, "the first step", 180)

    run = RunDir(tui_home / "runs" / run_id)
    manifest = run.read_manifest()
    assert process_matches(manifest.pid, manifest.create_time), "quitting the app stopped the run"
    state, alive, _ = resolve_state(run)
    assert alive and state == "running"

    again = WorkbenchApp()  # no initial mode: it must find the live run and attach to it
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_until(
            pilot,
            lambda: again.current_mode == "monitor" and again.attached == run_id,
            "the new app to re-attach to the live run",
            10,
        )
        reattached = again.screen
        assert isinstance(reattached, MonitorScreen)
        monitor = reattached
        await wait_until(pilot, lambda: len(monitor.metrics) > 0, "the history replay", 30)
        assert monitor.metrics.get("reward")[0][0] == 1.0, "the whole history is shown, from step 1"
        seen = monitor.step
        await wait_until(pilot, lambda: monitor.step > seen, "the re-attached run to advance", 60)
        assert monitor.status.alive
