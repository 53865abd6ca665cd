"""Load: the TUI under a fast writer, and a runs home with 200 runs.

A fake trainer process appends 100 metric lines and 50 samples a second to a live run directory while
a Pilot-driven app follows it; key presses and screen switches must stay prompt and the app must end up
with every line. A home of 200 runs must list quickly in the Runs screen and in `grpo-workbench runs`.
Bounds are generous (a shared 2-core machine must not flake); the measured figures are printed for the
issue note (`pytest -s tests/test_load.py`).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

from faultkit import cli, dead_pid, make_run, start_writer
from textual.widgets import DataTable
from tui_helpers import wait_until

from screens.app import WorkbenchApp
from screens.monitor import MonitorScreen
from screens.runs import RunsScreen

WRITE_SECONDS = 8.0
METRICS_PER_SECOND = 100.0
SAMPLES_PER_SECOND = 50.0
SWITCH_BOUND = 5.0
"""Seconds a screen switch may take under load (typically well under one)."""
CATCH_UP_BOUND = 30.0
"""Seconds after the writer stops for the app to hold every line."""
RUNS = 200
LIST_BOUND = 30.0
"""Seconds for 200 runs to be listed (typically one or two)."""


def report(**figures: object) -> None:
    """Print measured figures for the issue note (shown with `pytest -s`)."""
    print("\nFIGURES " + json.dumps(figures, default=str))


async def test_the_tui_stays_responsive_under_100_metric_lines_and_50_samples_a_second(
    workbench_home: Path,
) -> None:
    run = make_run(workbench_home / "runs", "20261123-120000-load-aaaa", state="running", steps=0)
    writer = start_writer(run, WRITE_SECONDS, METRICS_PER_SECOND, SAMPLES_PER_SECOND)
    started = time.monotonic()
    app = WorkbenchApp(gpu_sampler=lambda: [])
    switches: list[float] = []
    lags: list[float] = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen), "the monitor", 30)
            monitor = app.screen
            assert isinstance(monitor, MonitorScreen) and app.attached == run.run_id
            while writer.poll() is None:
                for key, screen in (("f3", RunsScreen), ("f4", MonitorScreen)):
                    pressed = time.monotonic()
                    await pilot.press(key)
                    await wait_until(
                        pilot, lambda s=screen: isinstance(app.screen, s), f"{key} under load", SWITCH_BOUND
                    )
                    switches.append(time.monotonic() - pressed)
                expected = min(WRITE_SECONDS, time.monotonic() - started) * METRICS_PER_SECOND
                lags.append(max(0.0, expected - len(monitor.metrics)) / METRICS_PER_SECOND)
                await pilot.pause(0.3)
            out, _ = await asyncio.to_thread(writer.communicate, None, 30)
            written = json.loads(out)
            stopped = time.monotonic()
            await wait_until(
                pilot,
                lambda: (
                    len(monitor.metrics) == written["metrics"]
                    and bool(monitor.samples)
                    and monitor.samples[-1]["index"] == written["samples"]
                ),
                "every line written",
                CATCH_UP_BOUND,
            )
            catch_up = time.monotonic() - stopped
            assert monitor.step == written["metrics"]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert switches and max(switches) < SWITCH_BOUND
    report(
        load=f"{METRICS_PER_SECOND:.0f} metric lines/s + {SAMPLES_PER_SECOND:.0f} samples/s",
        seconds=WRITE_SECONDS,
        metric_lines=written["metrics"],
        samples=written["samples"],
        screen_switches=len(switches),
        switch_median_s=round(statistics.median(switches), 3),
        switch_max_s=round(max(switches), 3),
        max_lag_s=round(max(lags, default=0.0), 2),
        catch_up_s=round(catch_up, 2),
        lines_lost=0,
    )


def _two_hundred_runs(root: Path) -> list[str]:
    pid, created = dead_pid()
    states = ("completed", "stopped", "failed", "crashed", "running")
    ids = []
    for index in range(RUNS):
        run_id = f"20261201-{index:06d}-many-{index:04x}"
        state = states[index % len(states)]
        dead = state == "running"  # a live state with a dead supervisor: resolved to crashed
        make_run(root, run_id, state=state, steps=index % 7, pid=pid if dead else None, create_time=created)
        ids.append(run_id)
    return sorted(ids, reverse=True)


def test_200_runs_list_quickly_on_the_command_line(workbench_home: Path) -> None:
    ids = _two_hundred_runs(workbench_home / "runs")
    start = time.monotonic()
    table = cli("runs")
    table_seconds = time.monotonic() - start
    start = time.monotonic()
    listed = cli("runs", "--json")
    json_seconds = time.monotonic() - start
    assert table.returncode == 0 and listed.returncode == 0, table.stderr + listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == ids
    assert sum(1 for line in table.stdout.splitlines() if "-many-" in line) == RUNS
    assert table_seconds < LIST_BOUND and json_seconds < LIST_BOUND
    report(runs=RUNS, cli_table_s=round(table_seconds, 2), cli_json_s=round(json_seconds, 2))


async def test_200_runs_open_quickly_in_the_runs_screen(workbench_home: Path) -> None:
    ids = _two_hundred_runs(workbench_home / "runs")
    start = time.monotonic()
    app = WorkbenchApp(initial_mode="runs", gpu_sampler=lambda: [])
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == RUNS, "all 200 runs in the table", LIST_BOUND)
        opened = time.monotonic() - start
        assert [str(key.value) for key in table.rows] == ids
        pressed = time.monotonic()
        await pilot.press("ctrl+end")
        await wait_until(pilot, lambda: table.cursor_row == RUNS - 1, "the cursor at the last run", 10)
        scrolled = time.monotonic() - pressed
    assert opened < LIST_BOUND
    report(runs=RUNS, runs_screen_open_s=round(opened, 2), ctrl_end_key_s=round(scrolled, 3))
