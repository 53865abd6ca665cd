"""Helpers for the TUI tests (tests/test_tui_*.py); their fixtures are thin wrappers over these.

* Frozen apps: the run directories under tests/fixtures/runs, a fixed clock, no live polling, no GPU.
* Live homes: a GRPO_WORKBENCH_HOME under tmp_path with the tiny model prebuilt, and every run still
  alive under it stopped at teardown with `jobs.launch.stop`, pass or fail.
* Snapshots are stored under tests/snapshots/<test module>/ instead of syrupy's __snapshots__.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_textual_snapshot
from textual import events
from textual.geometry import Region
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, TextArea

from screens.app import WorkbenchApp

TESTS = Path(__file__).resolve().parent
FIXTURE_RUNS = TESTS / "fixtures" / "runs"
FIXTURE_ROWS = FIXTURE_RUNS / "rows.jsonl"
FROZEN_NOW = 1_795_300_000.0
"""The injected clock of frozen apps: 2026-11-21 21:46:40 UTC, a day after the newest fixture run."""
GPU_RUN = "20261118-101500-gpu-demo-a1b2"
CRASHED_RUN = "20261119-093000-crashed-c3d4"
CPU_RUN = "20261120-080000-tiny-cpu-e5f6"


class SnapshotsDirExtension(pytest_textual_snapshot.SVGImageExtension):
    """pytest-textual-snapshot's SVG extension, stored in tests/snapshots/<module>/ (the project's place)."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)


def snapshots_in_tests_dir(snapshot: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """syrupy's `snapshot`, with snap_compare's SVG extension swapped for the tests/snapshots/ one (for a
    module's own `snapshot` fixture, which snap_compare then uses)."""
    monkeypatch.setattr(pytest_textual_snapshot, "SVGImageExtension", SnapshotsDirExtension)
    return snapshot


def frozen_app(tmp_path: Path, **kwargs: Any) -> WorkbenchApp:
    """An app over the frozen fixture runs: fixed clock, no polling, no GPU, no saved config."""
    options: dict[str, Any] = dict(
        runs_root=FIXTURE_RUNS,
        clock=lambda: FROZEN_NOW,
        follow=False,
        gpu_sampler=lambda: [],
        config_path=tmp_path / "no-config.toml",
        settings_file=tmp_path / "no-settings.toml",
    )
    options.update(kwargs)
    return WorkbenchApp(**options)


def no_blink(app: WorkbenchApp) -> None:
    """Freeze every text cursor on the current screen (a blinking cursor makes snapshots flaky)."""
    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    for area in app.screen.query(TextArea):  # Chat's question box and system prompt
        area.cursor_blink = False


def screen_rows(app: WorkbenchApp, region: Region | None = None) -> list[str]:
    """The text the screen shows now, row by row, as a terminal would (what is scrolled away or hidden
    under another widget is not there): the whole screen, or the cells of `region` (screen coordinates)."""
    strips = app.screen._compositor.render_strips()
    if region is None:
        return [strip.text for strip in strips]
    return [strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)]


def shown_text(app: WorkbenchApp, widget: Widget) -> str:
    """What `widget` shows on the screen now, its rows joined by spaces and its whitespace collapsed (to
    compare with the one-line text it was given): only the part of it inside the screen and not scrolled
    out of its container's view."""
    region = widget.content_region.intersection(app.screen.find_widget(widget).visible_region)
    return " ".join(" ".join(screen_rows(app, region)).split())


async def settle(pilot: Pilot[Any], delay: float = 0.6) -> None:
    """Let debounce timers fire and every worker finish, then let the screen repaint."""
    await pilot.pause(delay)
    await _workers_done(pilot)
    await pilot.pause(0.2)
    await _workers_done(pilot)
    await pilot.pause()


async def _workers_done(pilot: Pilot[Any]) -> None:
    """Wait for the workers running now. An exclusive worker group (a poll, a debounced read) cancels
    its older worker when a newer one starts; a cancelled worker is done, not a failure, though
    Textual's `wait_for_complete` raises WorkerCancelled for it (seen under load in CI, on Runs'
    export poll)."""
    from textual.worker import WorkerCancelled

    for _ in range(50):
        try:
            await pilot.app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], bool], what: str, timeout: float = 60.0
) -> None:
    """Poll the app's state (never a fixed sleep) until `predicate` holds.

    Raises:
        AssertionError: after `timeout` seconds, naming `what` was awaited.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.1)


def send_burst(app: Any, keys: list[str]) -> None:
    """Send `keys` the way a terminal read of a burst does: every key event at once, without waiting for
    one to be handled before the next (unlike `Pilot.press`, which waits for the app to go idle after each
    key and so never sees keys overtake each other).

    Args:
        app: The running app (under `run_test`).
        keys: Single characters (typed as is) or key names such as `backspace`, `tab`, `enter`.
    """
    for key in keys:
        if len(key) == 1:
            event = events.Key(key if key.isalnum() else _character_to_key(key), key)
        else:
            event = events.Key(key, None)
        event.set_sender(app)
        app._driver.send_message(event)


def stop_live_runs(runs: Path) -> None:
    """Stop every run under `runs` that is still alive (the launcher's own clean stop)."""
    from jobs.launch import stop
    from workbench.runs import RunDir

    if not runs.is_dir():
        return
    for path in runs.iterdir():
        if path.is_dir() and (path / "config.toml").exists():
            stop(RunDir(path), wait=60)


@contextmanager
def live_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> Iterator[Path]:
    """A private GRPO_WORKBENCH_HOME with the tiny preset (conftest's `tiny_preset_dir`) in its cache;
    live runs are stopped on exit."""
    from conftest import install_tiny_preset

    home = tmp_path / "tui-home"
    install_tiny_preset(home, tiny_model)
    monkeypatch.setenv("GRPO_WORKBENCH_HOME", str(home))
    monkeypatch.setenv("GRPO_WORKBENCH_STOP_GRACE", "60")
    try:
        yield home
    finally:
        stop_live_runs(home / "runs")
