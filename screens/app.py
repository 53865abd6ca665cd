"""The workbench app: a runs list that re-attaches to live runs, launch of the offline default, stop.

This is the foundation's minimal app; Configure, Monitor and Chat build on it. It never imports torch
and never blocks: the run scan runs in a thread worker, launching and stopping are OS-process calls.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from workbench.runs import RunInfo, list_runs

REFRESH_SECONDS = 2.0


def _age(ts: float | None) -> str:
    if not ts:
        return ""
    seconds = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class WorkbenchApp(App[None]):
    """grpo-workbench."""

    TITLE = "grpo-workbench"
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=True, id="quit", tooltip="Quit (runs keep going)"),
        Binding("n", "launch_default", "New run", id="launch", tooltip="Launch the offline default run"),
        Binding("s", "stop_run", "Stop", id="stop", tooltip="Stop the selected run (it checkpoints)"),
        Binding("r", "refresh", "Refresh", id="refresh", tooltip="Rescan the runs home"),
    ]
    CSS = """
    #summary { height: 1; padding: 0 1; color: $text-muted; }
    DataTable { height: 1fr; }
    """

    def __init__(self, runs_root: Path | None = None):
        super().__init__()
        self.runs_root = runs_root
        self.infos: list[RunInfo] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("scanning runs...", id="summary")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("run", "state", "step", "reward", "model", "age")
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)

    def action_refresh(self) -> None:
        self._scan_runs()

    @work(thread=True, exclusive=True, group="scan", description="scan runs", exit_on_error=False)
    def _scan_runs(self) -> list[RunInfo]:
        return list_runs(self.runs_root)

    @on(Worker.StateChanged)
    def handle_worker_state(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.state == WorkerState.ERROR:
            self.notify(f"{worker.description}: {worker.error}", severity="error")
        elif worker.state == WorkerState.SUCCESS and worker.group == "scan":
            self._show(worker.result or [])

    def _show(self, infos: list[RunInfo]) -> None:
        self.infos = infos
        table = self.query_one(DataTable)
        selected = table.cursor_row
        table.clear()
        for info in infos:
            reward = f"{info.latest_reward:.3f}" if info.latest_reward is not None else ""
            table.add_row(info.run.run_id, info.state, f"{info.step}/{info.max_steps}", reward, info.model,
                          _age(info.started_at), key=info.run.run_id)
        if infos:
            table.move_cursor(row=min(selected, len(infos) - 1))
        live = sum(1 for i in infos if i.alive)
        self.query_one("#summary", Static).update(f"{len(infos)} runs, {live} live")

    def action_launch_default(self) -> None:
        self._launch_default()

    @work(thread=True, exclusive=True, group="launch", description="launch run", exit_on_error=False)
    def _launch_default(self) -> None:
        from jobs.launch import launch
        from workbench.config import ConfigError, RunConfig

        try:
            run, _ = launch(RunConfig(), root=self.runs_root)
        except ConfigError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.call_from_thread(self.notify, f"launched {run.run_id}")
        self.call_from_thread(self.action_refresh)

    def action_stop_run(self) -> None:
        table = self.query_one(DataTable)
        if not self.infos or table.cursor_row >= len(self.infos):
            return
        self._stop(self.infos[table.cursor_row])

    @work(thread=True, group="stop", description="stop run", exit_on_error=False)
    def _stop(self, info: RunInfo) -> None:
        from jobs.launch import stop

        self.call_from_thread(self.notify, f"stopping {info.run.run_id}...")
        state = stop(info.run)
        self.call_from_thread(self.notify, f"{info.run.run_id}: {state}")
        self.call_from_thread(self.action_refresh)


def run_app(runs_root: Path | None = None) -> None:
    """Run the TUI until the user quits; runs keep going after it exits."""
    WorkbenchApp(runs_root).run()
