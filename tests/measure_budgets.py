"""Measure the TUI's budgets (issue 17 item 9) under Pilot: `python tests/measure_budgets.py`.

* first paint: from before `import screens.app` to the first frame the app hands its driver (a fresh
  interpreter each time, so imports count);
* keystroke to screen in Configure: from a key's arrival to the next frame, typing in the run name (no
  re-layout), in model.name (which re-sizes the model and re-estimates memory) and opening a choice list;
* following a live run: the app's CPU time (all its threads) over wall time while it shows the Monitor
  of a run whose fake trainer (tests/faultkit.py) writes metric lines and samples.

Prints one JSON object. Figures depend on the machine and its load; the note that quotes them says where.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
sys.path[:0] = [str(REPO), str(TESTS)]

FIRST_PAINT = """
import time
start = time.perf_counter()
import asyncio
from textual.app import App
from screens.app import WorkbenchApp
shown = []
original = App._display
def display(self, screen, update):
    if not shown:
        shown.append(time.perf_counter())
    return original(self, screen, update)
App._display = display
async def main():
    app = WorkbenchApp(runs_root=__import__("pathlib").Path({root!r}), gpu_sampler=lambda: [],
                       follow=False, config_path=__import__("pathlib").Path({root!r}) / "none.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        while not shown:
            await asyncio.sleep(0.001)
asyncio.run(main())
print(shown[0] - start)
"""


def first_paint(runs: int = 3, runs_root: Path | None = None) -> list[float]:
    """Seconds to the first frame, in fresh interpreters: Configure for an empty runs home, Runs for the
    fixture runs (`runs_root`)."""
    times = []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", FIRST_PAINT.format(root=str(runs_root or root))],
                capture_output=True,
                text=True,
                cwd=REPO,
                env=dict(os.environ, PYTHONPATH=str(REPO), GRPO_WORKBENCH_HOME=root),
                check=True,
            ).stdout
            times.append(float(out.strip().splitlines()[-1]))
    return times


async def keystrokes() -> dict[str, Any]:
    """Milliseconds from a key to the next frame in Configure (frozen app, 120x40)."""
    from textual.app import App
    from textual.widgets import Input, Select
    from tui_helpers import frozen_app, no_blink, send_burst, settle

    frames: list[float] = []
    original = App._display

    def display(self: App[Any], screen: Any, update: Any) -> None:
        frames.append(time.perf_counter())
        original(self, screen, update)

    App._display = display  # type: ignore[method-assign]
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = frozen_app(Path(tmp), initial_mode="configure")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            no_blink(app)
            for field in ("#f-name", "#f-model-name"):
                widget = app.screen.query_one(field, Input)
                widget.focus()
                await settle(pilot, 0.2)
                lags = []
                for index in range(60):
                    key = "abcdefghij"[index % 10]
                    before = len(widget.value)
                    frames.clear()
                    sent = time.perf_counter()
                    send_burst(app, [key])
                    while not (len(widget.value) > before and frames):
                        await asyncio.sleep(0.0005)
                    lags.append((frames[0] - sent) * 1000)
                    await pilot.pause(0.1)
                figures[field] = _summary(lags)
            select = app.screen.query_one("#f-grpo-lr_scheduler_type", Select)
            select.focus()
            await settle(pilot, 0.2)
            lags = []
            for _ in range(10):
                frames.clear()
                sent = time.perf_counter()
                send_burst(app, ["enter"])
                while not (select.expanded and frames):
                    await asyncio.sleep(0.0005)
                lags.append((frames[0] - sent) * 1000)
                send_burst(app, ["escape"])
                await settle(pilot, 0.2)
            figures["open a choice list"] = _summary(lags)
    App._display = original  # type: ignore[method-assign]
    return figures


async def following(seconds: float = 20.0, metrics: float = 5.0, samples: float = 20.0) -> dict[str, Any]:
    """The app's share of one core while the Monitor follows a run writing `metrics` lines and
    `samples` samples a second (a fast tiny run on a CPU logs about 3 steps a second)."""
    from faultkit import make_run, start_writer

    from screens.app import WorkbenchApp
    from screens.monitor import MonitorScreen

    with tempfile.TemporaryDirectory() as home:
        os.environ["GRPO_WORKBENCH_HOME"] = home
        run = make_run(Path(home) / "runs", "20261123-120000-live-aaaa", state="running", steps=0)
        writer = start_writer(run, seconds + 10, metrics, samples)
        try:
            app = WorkbenchApp(runs_root=Path(home) / "runs", gpu_sampler=lambda: [])
            async with app.run_test(size=(120, 40)) as pilot:
                while not isinstance(app.screen, MonitorScreen):
                    await pilot.pause(0.1)
                await pilot.pause(3.0)  # past the start and the replay
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.sleep(seconds)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                steps = app.screen.step
        finally:
            writer.kill()
            writer.wait()
    return {
        "load": f"{metrics:g} metric lines/s + {samples:g} samples/s",
        "seconds": round(wall, 1),
        "cpu_percent_of_a_core": round(100 * cpu / wall, 1),
        "steps_followed": steps,
    }


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def main() -> None:
    paint = first_paint()
    paint_runs = first_paint(runs_root=TESTS / "fixtures" / "runs")
    figures = {
        "first_paint_configure_s": {
            "runs": [round(t, 3) for t in paint],
            "median": round(statistics.median(paint), 3),
        },
        "first_paint_runs_s": {
            "runs": [round(t, 3) for t in paint_runs],
            "median": round(statistics.median(paint_runs), 3),
        },
        "keystroke_to_screen_configure": asyncio.run(keystrokes()),
        "following_a_live_run": [
            asyncio.run(following(metrics=1.0, samples=4.0)),  # a step a second, four samples each
            asyncio.run(following(metrics=5.0, samples=20.0)),  # a fast tiny run on a CPU
        ],
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
