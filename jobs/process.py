"""The one lifecycle of a job process, for every kind (training runs, evaluations, serve jobs, exports):
start it detached, keep its heartbeat, signal it and its process group, wait for it, kill it after a
grace period (stdlib + psutil; no torch, no Textual). What a job *is* (its directory, manifest, status,
states and liveness) is `workbench.jobdir`; this module only acts on processes.

A job runs in a new session with stdin from /dev/null and its output appended to a log file, so a closed
terminal, a hung-up SSH link or a quitting TUI never reaches it, and no pipe can fill up and block it.
Its environment makes this checkout's packages importable whatever the caller's cwd.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import psutil

from workbench.jobdir import JobDir, ProcessRef, Status

_S = TypeVar("_S", bound=Status)

ROOT = Path(__file__).resolve().parent.parent
"""The checkout whose `workbench`, `jobs` and `screens` packages the job imports."""


def job_env(drop: Iterable[str] = ()) -> dict[str, str]:
    """The caller's environment for a job: unbuffered output, no tokenizers fork warnings, this checkout
    first on PYTHONPATH, and without the variables named in `drop` (secrets the job must not inherit)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in drop:
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def spawn_detached(
    argv: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session, output appended to `log`, in `cwd`.

    Args:
        argv: The command (no shell is involved).
        log: The log file (created if missing, appended to otherwise).
        cwd: The job's working directory.
        env: The environment; default `job_env()`.

    Returns:
        The Popen; poll it to reap the process while the caller lives.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env if env is not None else job_env(),
            cwd=cwd,
        )


def own_group(ref: ProcessRef) -> int | None:
    """The process group the (verified) process leads, read from the live process, never from a
    manifest: a mangled `pgid` of 0 or 1 there would signal the caller's own group or init's. None when
    the process is gone or is not a group leader."""
    if not ref.alive or ref.pid is None:
        return None
    try:
        group = os.getpgid(ref.pid)
    except ProcessLookupError:
        return None
    return group if group == ref.pid else None


def send(ref: ProcessRef, sig: signal.Signals, *, group: bool = True) -> bool:
    """Signal a job's process, verified against its start time first (a reused pid is never signalled),
    and its whole process group when it leads one and `group` is set.

    Returns:
        True when a signal was sent.
    """
    if not ref.alive or ref.pid is None:
        return False
    leader = own_group(ref) if group else None
    try:
        if leader is not None:
            os.killpg(leader, sig)
        else:
            os.kill(ref.pid, sig)
    except ProcessLookupError:
        return False
    return True


def kill_group(pgid: int | None, sig: int) -> None:
    """Signal every process of group `pgid` (one the job's supervisor recorded for a child it started in
    a group of its own); nothing when there is no such group. A pgid below 2 is never signalled."""
    if not pgid or pgid < 2:
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int | None) -> bool:
    """True while any process of group `pgid` is alive (zombies do not count)."""
    if not pgid:
        return False
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.info["pid"]) == pgid:
                return True
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return False


def exited(proc: subprocess.Popen[bytes]) -> int | None:
    """`proc`'s exit status once it has ended (negative: the signal that killed it), None while it runs;
    unlike `poll`, the process is left unreaped. Its zombie keeps its pid, and so the id of the process
    group it led, from being given to a new process while the caller still signals that group (what is
    left of a server's group after the server exited). Reap it with `proc.wait()` afterwards."""
    try:
        result = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped
        return proc.poll()
    if result is None:
        return None
    if result.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return -result.si_status
    return result.si_status


def wait_exited(proc: subprocess.Popen[bytes], timeout: float, poll: float = 0.1) -> int | None:
    """`exited` after waiting up to `timeout` seconds for it (still unreaped); None if it still runs."""
    wait_for(lambda: exited(proc) is not None, timeout, poll)
    return exited(proc)


def wait_for(done: Callable[[], bool], timeout: float, poll: float = 0.2) -> bool:
    """Poll `done` every `poll` seconds for up to `timeout` seconds. Returns whether it came true."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def stop_job(
    job: JobDir[Any, Any],
    *,
    wait: float,
    poll: float = 0.2,
    group: bool = True,
    gone: Callable[[], bool] | None = None,
    on_kill: Callable[[], None] | None = None,
) -> str:
    """The stop every job kind shares: SIGTERM to the job's verified process (and its group), wait up
    to `wait` seconds for it to end, then SIGKILL and record the job as stopped.

    Args:
        job: The job directory; its manifest names the process.
        wait: Seconds to wait before killing; 0 only asks (the job's supervisor escalates by itself).
        poll: Seconds between checks.
        group: Signal the process group the job leads (its trainer, server, workers), not the pid alone.
        gone: When the job has ended (default: its state is final and its process gone).
        on_kill: Called after the SIGKILL, before the status is written (kill what the group missed).

    Returns:
        The final state; "stopping" when `wait` is 0; the recorded state when nothing was running.
    """
    ref = job.read_manifest().process
    if not send(ref, signal.SIGTERM, group=group):
        return job.resolve().state
    if wait <= 0:
        return "stopping"
    if wait_for(gone or (lambda: job.resolve().final), wait, poll):
        return job.resolve().state
    leader = own_group(ref) if group else None
    if leader is not None:
        kill_group(leader, signal.SIGKILL)
    else:
        send(ref, signal.SIGKILL, group=False)
    if on_kill is not None:
        on_kill()
    job.write_status(
        state="stopped", error="did not stop within the grace period; killed", heartbeat=time.time()
    )
    return "stopped"


class Heartbeat(Generic[_S]):
    """A supervisor's writes to its job's status file (a run's, an evaluation's, a server's). A failed
    write (disk full, read-only remount) is logged once and retried on the next beat instead of killing
    the supervisor, which would leave the job's process running unwatched."""

    def __init__(self, job: JobDir[_S, Any], log: Callable[[str], None]):
        self.job = job
        self.log = log
        self.failed = False
        self.last: _S = job.read_status()

    def beat(self, **changes: Any) -> _S:
        """Write `changes` with a fresh heartbeat; on OSError keep (and return) the last status."""
        try:
            self.last = self.job.write_status(heartbeat=time.time(), **changes)
        except OSError as exc:
            if not self.failed:
                self.log(f"cannot write {self.job.status.name} ({exc.strerror or exc}); still supervising")
            self.failed = True
        return self.last
