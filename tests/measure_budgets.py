"""Measure the TUI's budgets (issue 17 item 9) under Pilot: `python tests/measure_budgets.py` (`--keys`: only
the keystroke figures).

* first paint: from before `import screens.app` to the first frame the app hands its driver (a fresh
  interpreter each time, so imports count);
* keystroke to screen in Configure: from a key's arrival to the next frame, typing in the run name (no
  re-layout), in model.name (which re-sizes the model and re-estimates memory), and with a choice list:
  the first opening of each of ten choice fields, then opening one, moving in it and picking with Enter;
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
    from textual.widgets import Input
    from tui_helpers import frozen_app, no_blink, send_burst, settle

    frames: list[tuple[float, bool]] = []
    """(when, whether a choice list showed) of each frame handed to the driver."""
    showing: list[Any] = [lambda: False]
    original = App._display

    def display(self: App[Any], screen: Any, update: Any) -> None:
        frames.append((time.perf_counter(), showing[0]()))
        original(self, screen, update)

    App._display = display  # type: ignore[method-assign]
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = frozen_app(Path(tmp), initial_mode="configure")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            no_blink(app)
            figures.update(await choice_lists(pilot, frames, showing))
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
                    lags.append((frames[0][0] - sent) * 1000)
                    await pilot.pause(0.1)
                figures[field] = _summary(lags)
    App._display = original  # type: ignore[method-assign]
    return figures


CHOICE_FIELDS = (
    "#f-backend",
    "#model-preset",
    "#f-model-load_in_4bit",
    "#f-model-gradient_checkpointing",
    "#f-grpo-lr_scheduler_type",
    "#f-grpo-optim",
    "#f-grpo-loss_type",
    "#f-grpo-use_vllm",
    "#f-distributed-strategy",
    "#f-distributed-overlap_generation",
)
"""Choice fields of every section (a field's first opening can cost more than its later ones)."""


async def choice_lists(pilot: Any, frames: list[tuple[float, bool]], showing: list[Any]) -> dict[str, Any]:
    """Open, move in and pick from Configure's choice lists: milliseconds from the key to the first frame
    that shows its effect. Measured first, on the settled form, so "first open" is a user's first.

    Follows either kind of choice field: Textual's `Select` (an inline overlay: `expanded`) or one that
    opens its list on a screen of its own (a dialog on top of Configure)."""
    from textual.widgets import OptionList
    from tui_helpers import send_burst, settle

    app = pilot.app
    form = app.screen
    field: Any = None
    """The choice field being measured."""

    def open_list() -> Any:
        """The choice list showing now, or None."""
        screen = app.screen
        holder = screen if screen is not form else field if getattr(field, "expanded", False) else None
        for options in holder.query(OptionList) if holder is not None else ():
            if options.region.height:
                return options
        return None

    async def key(name: str, done: Any) -> float:
        """Send `name`; milliseconds to the first frame after which `done()` held when it was drawn."""
        frames.clear()
        showing[0] = done
        sent = time.perf_counter()
        send_burst(app, [name])
        deadline = sent + 10
        while not any(shown for _, shown in frames):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{name}: no frame showed its effect")
            await asyncio.sleep(0.0005)
        return (next(when for when, shown in frames if shown) - sent) * 1000

    firsts, opens, moves, picks = [], [], [], []
    for name in CHOICE_FIELDS:
        field = form.query_one(name)
        field.focus()
        await settle(pilot, 0.2)
        firsts.append(await key("enter", lambda: open_list() is not None))
        await settle(pilot, 0.2)
        send_burst(app, ["escape"])
        await settle(pilot, 0.2)
    field = form.query_one("#f-grpo-lr_scheduler_type")
    field.focus()
    await settle(pilot, 0.2)
    for _ in range(30):
        opens.append(await key("enter", lambda: open_list() is not None))
        await pilot.pause(0.1)
        options = open_list()
        before = options.highlighted
        step = "down" if before < options.option_count - 1 else "home"
        moves.append(await key(step, lambda o=options, b=before: o.highlighted != b))
        await pilot.pause(0.1)
        value = field.value
        picks.append(await key("enter", lambda v=value: open_list() is None and field.value != v))
        await settle(pilot, 0.2)
    showing[0] = lambda: False
    return {
        "first open of a choice list (each of 10 fields)": _summary(firsts),
        "open a choice list": _summary(opens),
        "move in an open choice list": _summary(moves),
        "pick from a choice list (Enter)": _summary(picks),
    }


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
    if "--keys" in sys.argv[1:]:  # the keystroke figures alone (a minute instead of several)
        keys = {"keystroke_to_screen_configure": asyncio.run(keystrokes()), "load_average": os.getloadavg()}
        print(json.dumps(keys, indent=2))
        return
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
