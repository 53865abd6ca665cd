"""Fault injection on real runs: what a user's machine does to a training job, and what must survive it.

Each test injects one fault into real processes (the CLI, the supervisor, the trainer on the tiny model,
a TUI under a pseudo-terminal) and checks the contract of the run directory: the state says what
happened within the heartbeat window, every line already flushed to metrics.jsonl is still there
(data lost: 0), the previous checkpoint is intact, and the run can be resumed or re-attached. Waits poll
with generous deadlines (a shared 2-core machine); the measured figures are printed for the issue note
(`pytest -s tests/test_faults.py`).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from faultkit import (
    PtyProcess,
    cli,
    dead_pid,
    file_size_limit,
    live,
    make_run,
    permissions_bind,
    sets,
    start_writer,
    steps_logged,
    tree_digest,
    unprivileged,
    wait_until,
)
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState
from tui_helpers import frozen_app, settle
from tui_helpers import wait_until as pilot_wait

from jobs import launch
from screens.app import WorkbenchApp
from screens.monitor import MonitorScreen
from workbench import environment
from workbench.atomic import JsonlWriter
from workbench.environment import GpuUse, gpu_conflicts, wanted_gpus
from workbench.runs import (
    HEARTBEAT_SECONDS,
    RunDir,
    checkpoints,
    find_run,
    last_complete_checkpoint,
    list_runs,
    process_matches,
    process_start_time,
    resolve_state,
    run_info,
)
from workbench.tail import JsonlTail, read_jsonl

needs_permissions = pytest.mark.skipif(
    not permissions_bind(), reason="permission bits cannot be enforced for this user here"
)
CRASH_WINDOW = HEARTBEAT_SECONDS + 8.0
"""A supervisor notices a dead trainer at its next heartbeat; the rest is slack for a loaded machine."""


@pytest.fixture(autouse=True)
def short_stop_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop that hangs is killed after a minute, not after the 5-minute GPU default."""
    monkeypatch.setenv("GRPO_WORKBENCH_STOP_GRACE", "60")


def report(**figures: object) -> None:
    """Print measured figures for the issue note (shown with `pytest -s`)."""
    print("\nFIGURES " + json.dumps(figures, default=str))


def start_detached(*overrides: str) -> RunDir:
    result = cli("train", "--detach", *sets(*overrides))
    assert result.returncode == 0, result.stderr[-3000:]
    return find_run(result.stdout.strip().splitlines()[-1])


def metric_lines(run: RunDir) -> list[bytes]:
    return run.metrics.read_bytes().splitlines(keepends=True) if run.metrics.exists() else []


def plant_half_written_checkpoint(run: RunDir, complete: Path, step: int) -> Path:
    """What a kill in the middle of a save leaves: the adapter, half an optimizer, no trainer_state."""
    half = run.checkpoints / f"checkpoint-{step}"
    half.mkdir(exist_ok=True)
    shutil.copy2(complete / "adapter_model.safetensors", half / "adapter_model.safetensors")
    optimizer = (complete / "optimizer.pt").read_bytes()
    (half / "optimizer.pt").write_bytes(optimizer[: len(optimizer) // 2])
    (half / "trainer_state.json").unlink(missing_ok=True)
    return half


# ------------------------------------------------------------------------------------------------------
# the trainer or the supervisor killed


@live
def test_sigkill_of_the_trainer_mid_step_is_crashed_and_resumes_from_the_last_complete_checkpoint() -> None:
    run = start_detached("grpo.max_steps=12", "grpo.save_steps=2")
    wait_until(
        lambda: len(steps_logged(run)) >= 3 and last_complete_checkpoint(run) is not None,
        240,
        "three logged steps and a checkpoint",
    )
    # Kill right after a step was logged: the next step has just begun, so the kill lands mid-step.
    seen = len(steps_logged(run))
    wait_until(lambda: len(steps_logged(run)) > seen, 120, "the next step")
    before = metric_lines(run)
    os.kill(run.read_manifest().trainer_pid, signal.SIGKILL)
    crash_seconds = wait_until(lambda: resolve_state(run)[0] == "crashed", CRASH_WINDOW, "state crashed")
    status = run.read_status()
    assert "SIGKILL" in status.error
    after_kill = metric_lines(run)
    assert after_kill[: len(before)] == before, "a flushed metrics line changed or vanished"
    assert JsonlTail(run.metrics).read_all() and all(line.endswith(b"\n") for line in after_kill)

    good = last_complete_checkpoint(run)
    assert good is not None
    good_step = int(good.name.split("-")[1])
    half = plant_half_written_checkpoint(run, good, good_step + 2)
    assert last_complete_checkpoint(run) == good, "the half-written checkpoint must be skipped"

    resumed = cli("resume", run.run_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    status = run.read_status()
    assert (status.state, status.step) == ("completed", 12)
    assert f"resuming from {good.name}" in run.log.read_text()
    final = metric_lines(run)
    assert final[: len(before)] == before, "resume rewrote history"
    records = read_jsonl(run.metrics)
    resume_at = next(r for r in records if r.get("event") == "resume")
    assert resume_at["step"] == good_step
    tail = JsonlTail(run.metrics)
    tail.read_all()
    assert tail.bad_lines == 0
    assert all(complete for _, _, complete in checkpoints(run)), "a half-written checkpoint was kept"
    assert last_complete_checkpoint(run) == run.checkpoints / "checkpoint-12"
    report(
        fault="trainer SIGKILL mid-step",
        crashed_after_s=round(crash_seconds, 2),
        metric_lines_before=len(before),
        metric_lines_kept=len(before),
        resumed_from=good.name,
        skipped=half.name,
    )


@live
def test_a_killed_supervisor_leaves_a_trainer_that_resume_refuses_and_stop_ends() -> None:
    """kill -9 of the supervisor alone (an OOM kill, a user's kill): the trainer keeps writing, so a
    resume next to it would mean two writers on one run; stop must reach it although nobody supervises."""
    run = start_detached("grpo.max_steps=400", "grpo.save_steps=50")
    wait_until(lambda: len(steps_logged(run)) >= 1, 240, "the first step")
    manifest = run.read_manifest()
    trainer = manifest.trainer_pid
    os.kill(manifest.pid, signal.SIGKILL)
    # The run is the orphan trainer's now: running and alive, its step the trainer's own, and it says
    # that its supervisor is gone (status.json keeps the step of the supervisor's last heartbeat).
    noticed = wait_until(lambda: not manifest.process.alive, CRASH_WINDOW, "the supervisor gone")
    stale = run.read_status().step
    wait_until(lambda: (run.read_progress().step or 0) > stale + 1, 240, "two more steps")
    info = run_info(run)
    assert (info.state, info.alive, info.status.supervisor_gone) == ("running", True, True)
    assert info.step >= stale + 2 and run.read_status().step == stale, "the list shows the live step"
    assert f"trainer (pid {trainer}) runs on unwatched" in (info.error or "")
    listed = cli("runs")
    assert "running" in listed.stdout and "supervisor (pid" in listed.stdout and "is gone" in listed.stdout
    assert launch.orphan_trainer(run) == trainer

    refused = cli("resume", run.run_id, "--detach")
    assert refused.returncode == 2
    assert f"trainer (pid {trainer}) is still running" in refused.stderr
    assert run.read_manifest().attempt == 1, "no second attempt was started"

    before = metric_lines(run)
    stopped = cli("stop", run.run_id, "--timeout", "120")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped
    assert not process_matches(trainer, manifest.trainer_create_time)
    assert metric_lines(run)[: len(before)] == before
    stop_step = max(steps_logged(run))
    assert (run.checkpoints / f"checkpoint-{stop_step}" / "trainer_state.json").is_file()

    resumed = cli("resume", run.run_id, "--detach")
    assert resumed.returncode == 0, resumed.stderr
    wait_until(
        lambda: any(r.get("event") == "resume" for r in read_jsonl(run.metrics)), 180, "the resumed trainer"
    )
    assert next(r for r in read_jsonl(run.metrics) if r.get("event") == "resume")["step"] == stop_step
    report(fault="supervisor SIGKILL", noticed_after_s=round(noticed, 2), orphan_stopped_at=stop_step)


@live
def test_a_trainer_that_completes_after_its_supervisor_was_killed_reads_completed_and_never_resumes() -> None:
    """kill -9 of the supervisor, then the trainer trains every step and records its end in progress.json:
    the run reads completed at its last step (it read crashed, and resume trained past max_steps). With
    that record gone too (a trainer killed after its last checkpoint), the checkpoint at max_steps still
    refuses a resume, and the trainer itself refuses to train past it."""
    run = start_detached("grpo.max_steps=6", "grpo.save_steps=3")
    wait_until(lambda: len(steps_logged(run)) >= 1, 240, "the first step")
    manifest = run.read_manifest()
    os.kill(manifest.pid, signal.SIGKILL)
    wait_until(lambda: not manifest.trainer.alive, 240, "the orphan trainer's end")
    assert run.read_status().state == "running", "nobody recorded the end in status.json"
    info = run_info(run)
    assert (info.state, info.alive, info.step, info.max_steps) == ("completed", False, 6, 6)
    assert info.status.supervisor_gone and "recorded its end itself: completed" in (info.error or "")
    assert [(r["state"], r["step"]) for r in json.loads(cli("runs", "--json").stdout)] == [("completed", 6)]

    refused = cli("resume", run.run_id, "--detach")
    assert refused.returncode == 2 and "completed all its steps" in refused.stderr, refused.stderr
    run.progress.unlink()  # as if the trainer had been killed between its last checkpoint and its record
    assert resolve_state(run)[0] == "crashed"
    refused = cli("resume", run.run_id, "--detach")
    assert refused.returncode == 2, refused.stderr
    assert "checkpoint-6 is already at grpo.max_steps (6)" in refused.stderr and "fix: " in refused.stderr
    assert run.read_manifest().attempt == 1, "no second attempt was started"

    trainer = subprocess.run(
        [sys.executable, "-m", "jobs.train_grpo", str(run.path), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trainer.returncode == 1 and run.read_progress().outcome == "failed"
    assert "no step is left to train" in (run.read_progress().error or "")
    assert [step for step, _, _ in checkpoints(run)] == [3, 6] and max(steps_logged(run)) == 6


# ------------------------------------------------------------------------------------------------------
# the terminal hung up, the TUI killed


def _session_env() -> dict[str, str]:
    return dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(Path(__file__).resolve().parent.parent))


@live
def test_terminal_hangup_of_a_foreground_train_leaves_the_run_running(workbench_home: Path) -> None:
    """`grpo-workbench train` in the foreground of a login shell, then the SSH link drops: the kernel
    hangs up the shell and its foreground job; the run lives in its own session and completes."""
    # Enough steps that the run is still going when the hang-up lands (the warm-started tiny model ends
    # its completions early, so a step can take well under a second).
    argv = [sys.executable, "-m", "grpo_workbench", "train", *sets("grpo.max_steps=40")]
    # `; true` keeps bash as the parent instead of exec'ing the CLI: the realistic login-shell shape.
    shell = PtyProcess(["bash", "-c", subprocess.list2cmdline(argv) + "; true"], _session_env())
    try:
        runs = workbench_home / "runs"
        wait_until(lambda: runs.is_dir() and any(runs.iterdir()), 60, "the run directory")
        run = RunDir(next(runs.iterdir()))
        wait_until(lambda: len(steps_logged(run)) >= 1, 240, "the first step")
        foreground = [p.pid for p in psutil.Process(shell.proc.pid).children()]
        assert foreground, "the CLI is the shell's child"
        shell.hang_up()
        assert shell.proc.wait(timeout=30) != 0
        for pid in foreground:
            wait_until(lambda pid=pid: not psutil.pid_exists(pid), 30, "the foreground CLI to die")
        state, alive, _ = resolve_state(run)
        assert state == "completed" or (alive and state in ("running", "starting")), state
        wait_until(lambda: resolve_state(run)[0] == "completed", 240, "the run to complete after the hang-up")
        assert steps_logged(run) == list(range(1, 41))
    finally:
        shell.close()
    report(fault="SIGHUP (terminal closed) to the foreground train and its shell", run_completed=True)


def _wait_for_tui(tui: PtyProcess, run_id: str) -> None:
    wait_until(lambda: run_id.encode() in tui.output, 60, "the TUI to show the run")
    wait_until(lambda: b"steps/s" in tui.output or b"step " in tui.output, 60, "the TUI to tail the run")


@live
async def test_tui_killed_or_hung_up_while_tailing_leaves_the_run_re_attachable() -> None:
    run = start_detached("grpo.max_steps=400", "grpo.save_steps=50")
    wait_until(lambda: len(steps_logged(run)) >= 1, 240, "the first step")
    argv = [sys.executable, "-m", "grpo_workbench"]
    for fault in ("SIGKILL", "SIGHUP"):
        tui = PtyProcess(argv, _session_env())
        try:
            _wait_for_tui(tui, run.run_id)
            if fault == "SIGKILL":
                tui.proc.kill()
            else:
                tui.hang_up()  # the terminal goes away: the kernel sends SIGHUP
            assert tui.proc.wait(timeout=30) != 0
        finally:
            tui.close()
        seen = len(steps_logged(run))
        wait_until(lambda seen=seen: len(steps_logged(run)) > seen, 120, f"a step after the TUI's {fault}")
        assert resolve_state(run)[:2] == ("running", True)

    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot_wait(
            pilot, lambda: app.attached == run.run_id and app.current_mode == "monitor", "re-attach", 30
        )
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen)
        await pilot_wait(pilot, lambda: len(monitor.metrics) > 0, "the history replay", 60)
        assert monitor.metrics.get("reward")[0][0] == 1.0, "the whole history, from step 1"
        shown = monitor.step
        await pilot_wait(pilot, lambda: monitor.step > shown, "the re-attached run to advance", 120)
    report(fault="TUI SIGKILL and SIGHUP while tailing", run_survived=True, reattached=True)


# ------------------------------------------------------------------------------------------------------
# the runs home read-only or full


@needs_permissions
def test_a_read_only_runs_home_refuses_a_launch_and_still_lists(workbench_home: Path) -> None:
    runs = workbench_home / "runs"
    make_run(runs, "20261101-000000-old-aaaa")
    before = tree_digest(workbench_home)
    runs.chmod(0o500)
    try:
        refused = cli("train", "--detach", *sets("grpo.max_steps=2"), preexec=unprivileged)
        listed = cli("runs", "--json", preexec=unprivileged)
    finally:
        runs.chmod(0o700)
    assert refused.returncode == 2, refused
    assert "is not writable (Permission denied)" in refused.stderr
    assert "GRPO_WORKBENCH_HOME" in refused.stderr
    assert tree_digest(workbench_home) == before
    assert listed.returncode == 0, listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == ["20261101-000000-old-aaaa"]


@needs_permissions
def test_an_unreadable_run_directory_is_left_out_of_the_list(workbench_home: Path) -> None:
    """Another user's run, or one chmod 000: the list shows every other run instead of failing."""
    runs = workbench_home / "runs"
    make_run(runs, "20261101-000000-mine-aaaa")
    locked = make_run(runs, "20261102-000000-locked-bbbb")
    locked.path.chmod(0)
    try:
        listed = cli("runs", "--json", preexec=unprivileged)
    finally:
        locked.path.chmod(0o700)
    assert listed.returncode == 0, listed.stderr
    assert [r["run_id"] for r in json.loads(listed.stdout)] == ["20261101-000000-mine-aaaa"]


@needs_permissions
def test_the_tui_starts_with_an_unreadable_run_directory(workbench_home: Path) -> None:
    runs = workbench_home / "runs"
    make_run(runs, "20261101-000000-mine-aaaa")
    locked = make_run(runs, "20261102-000000-locked-bbbb")
    locked.path.chmod(0)
    tui = PtyProcess([sys.executable, "-m", "grpo_workbench"], _session_env(), preexec=unprivileged)
    try:
        wait_until(
            lambda: b"20261101-000000-mine-aaaa" in tui.output or tui.proc.poll() is not None, 60, "the TUI"
        )
        assert tui.proc.poll() is None, tui.output.decode("utf-8", "replace")[-2000:]
    finally:
        tui.close()
        locked.path.chmod(0o700)


@live
@needs_permissions
def test_read_only_and_full_checkpoint_storage_fail_clearly_and_keep_the_previous_checkpoint() -> None:
    run = start_detached("grpo.max_steps=40", "grpo.save_steps=2")
    wait_until(lambda: last_complete_checkpoint(run) is not None, 240, "the first complete checkpoint")
    stopped = cli("stop", run.run_id, "--timeout", "120")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped
    good = last_complete_checkpoint(run)
    assert good is not None
    kept = tree_digest(good)
    config = run.config.read_bytes()

    def unchanged(phase: str, lines: list[bytes]) -> None:
        assert tree_digest(good) == kept, f"{phase}: the previous checkpoint changed"
        assert run.config.read_bytes() == config, f"{phase}: config.toml changed"
        assert metric_lines(run)[: len(lines)] == lines, f"{phase}: metrics lines were lost"

    # Read-only: the next save cannot create its directory.
    lines = metric_lines(run)
    run.checkpoints.chmod(0o500)
    try:
        failed = cli("resume", run.run_id, preexec=unprivileged, timeout=400)
    finally:
        run.checkpoints.chmod(0o700)
    assert failed.returncode == 1, failed.stderr[-2000:]
    status = run.read_status()
    assert status.state == "failed", status
    assert "Permission denied" in status.error and "checkpoint-" in status.error, status.error
    unchanged("read-only", lines)

    # Full: every file is capped at 128 KiB, less than a checkpoint's tokenizer and optimizer.
    lines = metric_lines(run)
    crashed = cli("resume", run.run_id, preexec=file_size_limit(128 * 1024), timeout=400)
    assert crashed.returncode == 1, crashed.stderr[-2000:]
    status = run.read_status()
    # Python processes ignore SIGXFSZ, so the write fails with EFBIG, as it would with ENOSPC.
    assert status.state == "failed" and "File too large" in status.error, status
    assert "the disk is full or a file-size limit" in status.error and "then resume" in status.error
    unchanged("full", lines)
    half = [path for _, path, complete in checkpoints(run) if not complete]
    assert half, "the cut-off save left a half-written checkpoint"
    assert last_complete_checkpoint(run) == good

    logged = len(run.log.read_bytes())
    resumed = cli("resume", run.run_id, "--detach")
    assert resumed.returncode == 0, resumed.stderr
    wait_until(
        lambda: f"resuming from {good.name}".encode() in run.log.read_bytes()[logged:],
        180,
        "a resume from the last complete checkpoint",
    )
    report(
        fault="checkpoints read-only, then files capped at 128 KiB",
        read_only_error=run.log.read_text().count("Permission denied") > 0,
        kept_checkpoint=good.name,
        half_written=[p.name for p in half],
    )


def test_a_config_write_that_fails_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "mine.toml"
    target.write_text('name = "keep me"\n', encoding="utf-8")
    capped = cli("config", "--set", "grpo.max_steps=7", "-o", str(target), preexec=file_size_limit(200))
    assert capped.returncode == 1, capped
    assert f"cannot write {target}: File too large" in capped.stderr
    assert target.read_text(encoding="utf-8") == 'name = "keep me"\n'
    assert [p.name for p in tmp_path.iterdir()] == ["mine.toml"], "a temp file was left behind"
    if permissions_bind():
        tmp_path.chmod(0o500)
        try:
            locked = cli("config", "-o", str(target), preexec=unprivileged)
        finally:
            tmp_path.chmod(0o700)
        assert locked.returncode == 1 and "Permission denied" in locked.stderr, locked
        assert target.read_text(encoding="utf-8") == 'name = "keep me"\n'


def test_a_launch_that_cannot_write_its_run_directory_leaves_nothing(workbench_home: Path) -> None:
    runs = workbench_home / "runs"
    runs.mkdir(mode=0o700)
    result = cli("train", "--detach", *sets("grpo.max_steps=2"), preexec=file_size_limit(512))
    assert result.returncode == 1, result
    assert "cannot write the run directory" in result.stderr and "File too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(runs.iterdir()) == [], "a half-made run directory was left behind"


# ------------------------------------------------------------------------------------------------------
# torn and mangled files in a run directory


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


def _torn_metrics(run: RunDir) -> None:
    _append(run.metrics, b'{"step": 4, "reward": 0.9, "lo')


CORRUPTIONS = {
    "torn last metrics line": _torn_metrics,
    "NUL tail after a crash": lambda r: _append(r.metrics, b"\0" * 4096),
    "non-UTF-8 metrics": lambda r: r.metrics.write_bytes(b'\xff\xfe{"step": 1}\n' + r.metrics.read_bytes()),
    "metrics line that is a list": lambda r: _append(r.metrics, b"[1, 2, 3]\n"),
    "reward that is a string": lambda r: _append(r.metrics, b'{"step": 9, "reward": "high"}\n'),
    "torn status.json": lambda r: r.status.write_text('{"state": "runn'),
    "status.json is a list": lambda r: r.status.write_text("[]"),
    "status.json wrong types": lambda r: r.status.write_text(
        json.dumps({"state": 5, "step": "abc", "max_steps": None, "heartbeat": "x", "error": {"a": 1}})
    ),
    "unknown state": lambda r: r.status.write_text(json.dumps({"state": "exploded", "step": 2})),
    "empty status.json": lambda r: r.status.write_bytes(b""),
    "manifest pid not a number": lambda r: r.manifest.write_text(
        json.dumps({"pid": "abc", "create_time": "x"})
    ),
    "manifest pid negative": lambda r: r.manifest.write_text(json.dumps({"pid": -1, "create_time": 1.0})),
    "manifest pid huge": lambda r: r.manifest.write_text(json.dumps({"pid": 2**62, "create_time": 1.0})),
    "manifest is a string": lambda r: r.manifest.write_text('"hello"'),
    "config.toml torn": lambda r: r.config.write_text('name = "x"\n[model\nna'),
    "config.toml non-UTF-8": lambda r: r.config.write_bytes(b'name = "\xff"\n'),
    "config.toml sections of the wrong type": lambda r: r.config.write_text('model = "x"\ngrpo = 5\n'),
    "checkpoints is a file": lambda r: r.checkpoints.write_text("not a directory"),
}
"""What a crash, a full disk or a hand edit can leave in a run directory: every viewer must survive it."""


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_a_mangled_run_directory_never_breaks_the_readers(corrupt: str, workbench_home: Path) -> None:
    run = make_run(workbench_home / "runs", "20261101-000000-mangled-aaaa", state="completed", steps=3)
    CORRUPTIONS[corrupt](run)
    info = run_info(run)
    assert info.run == run and isinstance(info.step, int) and isinstance(info.max_steps, int)
    assert info.latest_reward is None or isinstance(info.latest_reward, float)
    state, alive, status = resolve_state(run)
    assert isinstance(state, str) and not alive
    assert [i.run for i in list_runs()] == [run]
    assert last_complete_checkpoint(run) is None
    assert isinstance(launch.stop(run, wait=0.5), str)  # nothing to stop, and nothing signalled


def test_torn_last_line_is_kept_for_the_next_read_and_never_glued_to_the_next_writer(tmp_path: Path) -> None:
    run = make_run(tmp_path, "20261101-000000-torn-aaaa", steps=3)
    _torn_metrics(run)
    tail = JsonlTail(run.metrics)
    assert [r["step"] for r in tail.read_all()] == [1, 2, 3]
    assert run_info(run).latest_reward == pytest.approx(0.3), "the listing reads past the torn line"
    # A resumed trainer appends to the file a killed one tore: its records must not be lost.
    writer = JsonlWriter(run.metrics)
    writer.write({"event": "resume", "step": 2})
    writer.write({"step": 3, "reward": 0.5})
    writer.close()
    assert [r.get("event", r["step"]) for r in tail.read_all()] == ["resume", 3]
    assert tail.bad_lines == 1  # the torn line, ended by the new writer, is skipped and counted
    assert run_info(run).latest_reward == pytest.approx(0.5)


def test_the_runs_list_and_the_tui_survive_every_mangled_run_at_once(workbench_home: Path) -> None:
    runs = workbench_home / "runs"
    for index, corrupt in enumerate(CORRUPTIONS):
        run = make_run(runs, f"20261101-0000{index:02d}-mangled-{index:04x}", steps=3)
        CORRUPTIONS[corrupt](run)
    listed = cli("runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == len(CORRUPTIONS)
    table = cli("runs")
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr


async def test_the_runs_screen_and_monitor_show_mangled_runs(workbench_home: Path, tmp_path: Path) -> None:
    runs = workbench_home / "runs"
    ids = []
    for index, corrupt in enumerate(CORRUPTIONS):
        run = make_run(runs, f"20261101-0000{index:02d}-mangled-{index:04x}", steps=3)
        CORRUPTIONS[corrupt](run)
        ids.append(run.run_id)
    errors: list[str] = []

    def record_errors(message: object) -> None:
        if isinstance(message, Worker.StateChanged) and message.state == WorkerState.ERROR:
            errors.append(f"{message.worker.description}: {message.worker.error!r}")

    app = frozen_app(tmp_path, runs_root=runs, initial_mode="runs", clock=time.time)
    async with app.run_test(size=(120, 40), message_hook=record_errors) as pilot:
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        await pilot_wait(pilot, lambda: table.row_count == len(ids), "every mangled run in the table", 30)
        for run_id in ids:
            app.attach_run(run_id)
            await settle(pilot, 0.2)
        assert app.current_mode == "monitor"
    assert errors == [], "a worker failed on a mangled run"


# ------------------------------------------------------------------------------------------------------
# half-written checkpoints


HALF_WRITTEN = {
    "no trainer_state.json": ("trainer_state.json",),
    "no optimizer.pt": ("optimizer.pt",),
    "no adapter": ("adapter_model.safetensors",),
    "empty directory": ("trainer_state.json", "optimizer.pt", "adapter_model.safetensors"),
}


@pytest.mark.parametrize("missing", list(HALF_WRITTEN.values()), ids=list(HALF_WRITTEN))
def test_a_half_written_checkpoint_is_skipped_for_the_previous_one(
    missing: tuple[str, ...], tmp_path: Path
) -> None:
    run = RunDir(tmp_path)
    for step in (10, 20):
        path = run.checkpoints / f"checkpoint-{step}"
        path.mkdir(parents=True)
        for name in ("adapter_model.safetensors", "optimizer.pt", "trainer_state.json"):
            (path / name).write_bytes(b"x")
    for name in missing:
        (run.checkpoints / "checkpoint-20" / name).unlink()
    (run.checkpoints / "checkpoint-30").write_text("a file, not a directory")
    (run.checkpoints / "checkpoint-latest").mkdir()
    assert last_complete_checkpoint(run) == run.checkpoints / "checkpoint-10"


# ------------------------------------------------------------------------------------------------------
# two viewers on one live run


async def test_two_tuis_on_one_live_run_both_see_every_line_and_write_nothing(workbench_home: Path) -> None:
    runs = workbench_home / "runs"
    run = make_run(runs, "20261101-000000-shared-aaaa", state="running", steps=0)
    writer = start_writer(run, seconds=6, metric_rate=50, sample_rate=20)
    untouched = ("config.toml", "manifest.json", "train.log")
    fixed = {name: (run.path / name).read_bytes() for name in untouched}
    first, second = WorkbenchApp(gpu_sampler=lambda: []), WorkbenchApp(gpu_sampler=lambda: [])
    try:
        async with first.run_test(size=(120, 40)) as one, second.run_test(size=(100, 30)) as two:
            out, _ = await asyncio.to_thread(writer.communicate, None, 60)
            written = json.loads(out)["metrics"]
            final = tree_digest(run.path)
            for pilot, app in ((one, first), (two, second)):
                await pilot_wait(pilot, lambda app=app: app.attached == run.run_id, "attach", 30)
                monitor = app.screen
                assert isinstance(monitor, MonitorScreen)
                await pilot_wait(
                    pilot, lambda m=monitor: len(m.metrics) == written, f"all {written} lines", 60
                )
            await one.pause(1.0)
            assert tree_digest(run.path) == final, "a viewer wrote into the run directory"
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    for name, content in fixed.items():
        assert (run.path / name).read_bytes() == content
    report(fault="two TUIs on one live run", lines_written=written, seen_by_each=written)


# ------------------------------------------------------------------------------------------------------
# a second run on a GPU already in use


OWNERS = {101: "20261123-080000-first-aaaa", 102: "20261123-080000-first-aaaa", 301: "20261123-090000-b-bbbb"}
GPU_CASES = [
    ("idle GPU", [GpuUse(0, 500.0, 143_771.0)], [0], []),
    (
        "our run's trainer",
        [GpuUse(0, 60_000.0, 143_771.0, (102,))],
        [0],
        [(0, ("20261123-080000-first-aaaa",), ())],
    ),
    ("a foreign pid", [GpuUse(0, 9_000.0, 143_771.0, (777,))], [0], [(0, (), (777,))]),
    ("pids hidden, memory used", [GpuUse(0, 40_000.0, 143_771.0)], [0], [(0, (), ())]),
    ("busy GPU not wanted", [GpuUse(0, 1.0, 1.0), GpuUse(1, 9e4, 1.4e5, (301,))], [0], []),
    (
        "two runs and a stranger on one GPU",
        [GpuUse(0, 9e4, 1.4e5, (301, 101, 5))],
        None,
        [(0, ("20261123-080000-first-aaaa", "20261123-090000-b-bbbb"), (5,))],
    ),
    (
        "every GPU wanted",
        [GpuUse(1, 9e4, 1.4e5, (301,)), GpuUse(0, 2e3, 1.4e5)],
        None,
        [(0, (), ()), (1, ("20261123-090000-b-bbbb",), ())],
    ),
]


@pytest.mark.parametrize(
    ("uses", "wanted", "expected"), [c[1:] for c in GPU_CASES], ids=[c[0] for c in GPU_CASES]
)
def test_gpu_conflict_decision(uses: list[GpuUse], wanted: list[int] | None, expected: list[tuple]) -> None:
    conflicts = gpu_conflicts(uses, OWNERS, wanted)
    assert [(c.index, c.run_ids, c.other_pids) for c in conflicts] == expected
    for conflict in conflicts:
        message = conflict.message()
        assert f"GPU {conflict.index} is in use by " in message and "--force" in message
        for run_id in conflict.run_ids:
            assert f"run {run_id}" in message


@pytest.mark.parametrize(
    ("visible", "wanted"), [(None, [0]), ("2,3", [2]), ("", []), ("-1", []), ("GPU-1a2b,GPU-3c4d", None)]
)
def test_the_gpu_a_run_will_use(visible: str | None, wanted: list[int] | None) -> None:
    assert wanted_gpus(visible) == wanted


@live
def test_a_second_run_on_a_busy_gpu_is_refused_unless_forced(
    workbench_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No GPU here: NVML's reading is faked to show a live run's supervisor on GPU 0; the decision, the
    owner lookup and the CLI are the real ones."""
    from grpo_workbench import cli as wcli

    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        owner = make_run(
            workbench_home / "runs",
            "20261123-080000-owner-aaaa",
            state="running",
            pid=sleeper.pid,
            create_time=process_start_time(sleeper.pid),
        )
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        monkeypatch.setattr(environment, "gpu_uses", lambda: [GpuUse(0, 70_000.0, 143_771.0, (sleeper.pid,))])
        before = tree_digest(workbench_home / "runs")
        assert wcli.main(["train", "--detach", *sets("grpo.max_steps=2")]) == 2
        err = capsys.readouterr().err
        assert f"- gpu: GPU 0 is in use by run {owner.run_id} (68.4 of 140 GiB used)" in err, err
        assert f"grpo-workbench stop {owner.run_id}" in err and "--force" in err
        assert tree_digest(workbench_home / "runs") == before, "a refused launch created something"

        assert wcli.main(["train", "--detach", "--force", *sets("grpo.max_steps=2")]) == 0
        captured = capsys.readouterr()
        assert f"warning: GPU 0 is in use by run {owner.run_id}" in captured.err
        assert "starting anyway (--force)" in captured.err
        forced = find_run(captured.out.strip())
        assert forced != owner and forced.config.is_file()
    finally:
        sleeper.kill()
        sleeper.wait()


# ------------------------------------------------------------------------------------------------------
# pid reuse


def test_a_manifest_pointing_at_a_reused_pid_is_not_alive_and_nothing_is_signalled(
    workbench_home: Path,
) -> None:
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        started = process_start_time(stranger.pid)
        assert started is not None
        run = make_run(
            workbench_home / "runs",
            "20261101-000000-reused-aaaa",
            state="running",
            pid=stranger.pid,
            create_time=started - 3600,
        )
        manifest = run.read_manifest().replace(trainer_pid=stranger.pid, trainer_create_time=started - 3600)
        run.manifest.write_text(json.dumps(manifest.to_json()))
        assert resolve_state(run)[:2] == ("crashed", False)
        assert launch.orphan_trainer(run) is None
        listed = cli("runs", "--json")
        assert [(r["state"], r["alive"]) for r in json.loads(listed.stdout)] == [("crashed", False)]
        assert cli("stop", run.run_id, "--timeout", "5").returncode == 0
        assert stranger.poll() is None, "stop signalled an unrelated process that reused the pid"
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_signals_the_supervisor_group_it_verified_never_a_group_named_in_the_manifest(
    workbench_home: Path,
) -> None:
    """A mangled `pgid` of 0 would make killpg signal the caller's own group: the group comes from the
    verified live process instead."""
    supervisor = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        run = make_run(
            workbench_home / "runs",
            "20261101-000000-pgid-aaaa",
            state="running",
            pid=supervisor.pid,
            create_time=process_start_time(supervisor.pid),
        )
        manifest = run.read_manifest().replace(pgid=0)
        run.manifest.write_text(json.dumps(manifest.to_json()))
        assert launch.stop(run, wait=10) in ("crashed", "stopped")
        assert supervisor.wait(timeout=10) == -signal.SIGTERM
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_serve_stop_signals_a_server_group_only_while_its_leader_is_the_recorded_server(
    tmp_path: Path,
) -> None:
    """`serve --stop` of a job whose supervisor is gone signals the server's process group only when the
    group's leader is the process the manifest recorded, start time and all: a record without a start
    time (written before it was kept), or one whose pid now names another process, is not alive."""
    from jobs import serve as jserve
    from workbench.serving import ServeDir, ServeManifest

    gone, gone_created = dead_pid()
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)  # leads a group of its own
    serve = ServeDir(tmp_path / "serve")
    serve.path.mkdir()
    try:
        started = process_start_time(stranger.pid)
        assert started is not None
        for recorded in (None, started - 3600):
            serve.write_manifest(
                ServeManifest(
                    pid=gone,
                    create_time=gone_created,
                    server_pid=stranger.pid,
                    server_pgid=stranger.pid,
                    server_create_time=recorded,
                )
            )
            serve.write_status(state="ready", heartbeat=time.time())
            assert jserve.stop(serve, wait=5) == "crashed"
            assert stranger.poll() is None, f"a group was signalled on a record with start time {recorded}"
        serve.write_manifest(serve.read_manifest().replace(server_create_time=started))
        jserve.stop(serve, wait=10)
        assert stranger.wait(timeout=10) == -signal.SIGTERM, "the verified server's group is stopped"
    finally:
        if stranger.poll() is None:
            stranger.kill()
            stranger.wait()


def test_a_dead_pid_is_not_alive(workbench_home: Path) -> None:
    pid, created = dead_pid()
    run = make_run(
        workbench_home / "runs", "20261101-000000-dead-aaaa", state="running", pid=pid, create_time=created
    )
    assert resolve_state(run)[:2] == ("crashed", False)
