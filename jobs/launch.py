"""Start, stop and resume runs as detached OS processes (stdlib + psutil; no torch, no Textual).

A run is `python -m jobs.supervise RUN_DIR`, started in a new session with stdin from /dev/null and its
output appended to train.log, so a closed terminal, a hung-up SSH link or a quitting TUI never reaches
it, and no pipe can fill up and block it. The supervisor starts the trainer in its own process group;
stopping sends SIGTERM to that group (covering any children such as vLLM workers), which the trainer turns
into "save a checkpoint, then exit"; the supervisor escalates to SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from workbench import environment
from workbench.config import ConfigError, RunConfig
from workbench.runs import FINAL_STATES, RunDir, create_run_dir, process_matches, resolve_state

STOP_GRACE_ENV = "GRPO_WORKBENCH_STOP_GRACE"
DEFAULT_STOP_GRACE = 300.0
"""Seconds the supervisor waits for a clean stop (a GPU checkpoint can take a while) before SIGKILL."""


class LaunchError(RuntimeError):
    """A run cannot be started, stopped or resumed; the message says why and what to do."""


def _spawn(run: RunDir, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # The job must import this checkout's packages even when the caller's cwd is elsewhere.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    with run.log.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "jobs.supervise", str(run.path), *extra],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd=run.path,
        )


def launch(
    config: RunConfig, *, check: bool = True, root: Path | None = None
) -> tuple[RunDir, subprocess.Popen[bytes]]:
    """Validate against this machine, create the run directory, start the job detached.

    Args:
        config: A validated config.
        check: Run the pre-flight checks (backend, GPU, disk) first; nothing is created if they fail.
        root: The runs home (default: the configured one).

    Returns:
        The run directory and the supervisor's Popen (poll it to reap it while the caller lives).

    Raises:
        ConfigError: the config cannot run here; no directory was created.
    """
    if check:
        problems = environment.preflight(config)
        if problems:
            raise ConfigError(problems)
    run = create_run_dir(config.name or config.model.name, root)
    config.save(run.config)
    run.write_status(
        state="pending", step=0, max_steps=config.grpo.max_steps, phase="launching", heartbeat=time.time()
    )
    return run, _spawn(run)


def resume(run: RunDir) -> subprocess.Popen[bytes]:
    """Continue a stopped, failed or crashed run from its last complete checkpoint, in the same directory."""
    state, alive, _ = resolve_state(run)
    if alive or state not in FINAL_STATES:
        raise LaunchError(f"run {run.run_id} is {state}; only a finished run can be resumed (stop it first)")
    if state == "completed":
        raise LaunchError(f"run {run.run_id} completed all its steps; start a new run to train further")
    run.write_status(state="pending", phase="resuming", heartbeat=time.time(), exit_code=None, error=None)
    return _spawn(run, "--resume")


def stop(run: RunDir, *, wait: float = 600.0, poll: float = 0.2) -> str:
    """Ask a run to stop cleanly (SIGTERM: checkpoint, then exit) and wait for its final state.

    Args:
        run: The run.
        wait: Seconds to wait for the supervisor to record the end; after that the group is killed.
            0 sends the request and returns at once: the supervisor then escalates by itself after its
            grace period, so nothing is killed before it could checkpoint.
        poll: Seconds between checks.

    Returns:
        The final state, or "stopping" when `wait` is 0.
    """
    manifest = run.read_manifest()
    pid, pgid = manifest.get("pid"), manifest.get("pgid")
    if not process_matches(pid, manifest.get("create_time")):
        state, _, _ = resolve_state(run)
        return state
    try:
        os.killpg(int(pgid or pid), signal.SIGTERM)
    except ProcessLookupError:
        pass
    if wait <= 0:
        return "stopping"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        state, alive, _ = resolve_state(run)
        if state in FINAL_STATES and not alive:
            return state
        time.sleep(poll)
    try:
        os.killpg(int(pgid or pid), signal.SIGKILL)
    except ProcessLookupError:
        pass
    run.write_status(
        state="stopped", error="did not stop within the grace period; killed", heartbeat=time.time()
    )
    return "stopped"
