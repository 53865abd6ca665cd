"""Helpers for the fault-injection, bad-input, security and load tests (tests/test_faults*.py,
test_bad_input*.py, test_security*.py, test_load*.py).

* `cli` runs the real `grpo-workbench` entry point in a child process, optionally under a
  `preexec_fn` that injects a fault the child inherits: `unprivileged` (permission bits enforced even
  for root, by dropping CAP_DAC_OVERRIDE from the bounding set) and `file_size_limit` (RLIMIT_FSIZE:
  writes past it fail with EFBIG, as they fail with ENOSPC on a full disk).
* `PtyProcess` runs a command with a pseudo-terminal as its controlling terminal, draining its output,
  so a test can hang the terminal up (close the master) the way a dropped SSH link does.
* `make_run` writes a run directory by hand (frozen or for a fake writer); `tree_digest` fingerprints a
  directory tree so a test can prove nothing was written, deleted or overwritten.
* `start_writer` starts a stand-alone fake trainer (`writer_main`) that appends metrics and samples
  at a fixed rate.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import FAST
from workbench.atomic import write_json_atomic
from workbench.runs import RunDir, process_start_time
from workbench.tail import read_jsonl

REPO = Path(__file__).resolve().parent.parent
TestFunction = TypeVar("TestFunction", bound=Callable[..., Any])
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def live(test: TestFunction) -> TestFunction:
    """Mark a test that trains for real: the tiny preset in its home, every run reaped at the end, and
    `slow` (real CPU training steps), like tests/test_jobs.py."""
    return pytest.mark.slow(pytest.mark.usefixtures("home_with_tiny", "reap_runs")(test))


def sets(*overrides: str) -> list[str]:
    """`--set` arguments: the FAST overrides first, then `overrides`."""
    return [a for o in (*FAST, *overrides) for a in ("--set", o)]


def cli(
    *args: str,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `grpo-workbench` entry point in a child process and wait for it."""
    return subprocess.run(
        [sys.executable, "-m", "grpo_workbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else os.environ.copy(),
        cwd=REPO,
        preexec_fn=preexec,
        restore_signals=preexec is None,
    )


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll `predicate` until it is true; returns the seconds it took.

    Raises:
        AssertionError: after `timeout` seconds, naming `what` was awaited.
    """
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


def steps_logged(run: RunDir) -> list[int]:
    """The steps of metrics.jsonl that carry a reward (training steps, not events)."""
    return [r["step"] for r in read_jsonl(run.metrics) if "reward" in r]


# ----------------------------------------------------------------------------------------------------
# injected faults for child processes


def _drop_dac_override() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def unprivileged() -> None:
    """preexec_fn: make permission bits bind the child and everything it starts, even as root.

    Root ignores chmod through CAP_DAC_OVERRIDE; dropped from the bounding set before exec, it is gone
    from the child and from every process the child starts (supervisor, trainer). As a normal user this
    changes nothing, which is what we want: chmod already binds.
    """
    if os.geteuid() == 0:
        _drop_dac_override()


def permissions_bind() -> bool:
    """True when `unprivileged` children are refused a write into a 0500 directory (the skip test)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        locked = Path(tmp) / "locked"
        locked.mkdir(mode=0o500)
        try:
            probe = subprocess.run(
                [sys.executable, "-c", f"open({str(locked / 'x')!r}, 'w')"],
                preexec_fn=unprivileged,
                capture_output=True,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        finally:
            locked.chmod(0o700)
        return probe.returncode != 0


def file_size_limit(limit: int) -> Callable[[], None]:
    """preexec_fn: cap every file the child (and every process it starts) writes at `limit` bytes, with no
    core dumps: a full disk without a tiny filesystem to fill.

    Python ignores SIGXFSZ in every interpreter it starts, so a write past the limit fails with EFBIG
    (an OSError, as ENOSPC is on a full disk) instead of killing the process.
    """

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


# ----------------------------------------------------------------------------------------------------
# a controlling terminal


class PtyProcess:
    """A child whose controlling terminal is a fresh pty (as under an SSH login), output drained.

    Closing the master is a hang-up: the kernel sends SIGHUP to the session leader and to the
    terminal's foreground process group.
    """

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        cols: int = 120,
        rows: int = 40,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def take_terminal() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # setsid already ran: make the pty ours
            if preexec is not None:
                preexec()

        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=REPO,
            start_new_session=True,
            preexec_fn=take_terminal,
        )
        os.close(slave)
        self._output = bytearray()
        self._lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        # An undrained pty fills up and blocks the child's writes: a TUI would look hung when it is not.
        while not self._closed:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.1)
                if not ready:
                    continue
                chunk = os.read(self.master, 65536)
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return
                raise
            if not chunk:
                return
            with self._lock:
                self._output += chunk

    @property
    def output(self) -> bytes:
        with self._lock:
            return bytes(self._output)

    def hang_up(self) -> None:
        """Close the terminal, as a dropped connection does."""
        if not self._closed:
            self._closed = True
            self._reader.join(timeout=2)
            os.close(self.master)

    def close(self) -> None:
        """Kill the child if it still runs and release the terminal."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.hang_up()


# ----------------------------------------------------------------------------------------------------
# run directories by hand


def tree_digest(root: Path, skip: Callable[[Path], bool] | None = None) -> dict[str, str]:
    """relative path -> sha256 of every file (and "dir" for directories) under `root`."""
    digest: dict[str, str] = {}
    if not root.exists():
        return digest
    for path in sorted(root.rglob("*")):
        if skip is not None and skip(path):
            continue
        rel = str(path.relative_to(root))
        if path.is_dir():
            digest[rel] = "dir"
        else:
            digest[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def dead_pid() -> tuple[int, float]:
    """The pid and start time of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    created = process_start_time(proc.pid) or time.time()
    proc.wait()
    return proc.pid, created


def make_run(
    root: Path,
    run_id: str,
    *,
    state: str = "completed",
    steps: int = 3,
    pid: int | None = None,
    create_time: float | None = None,
    model: str = "tiny",
    max_steps: int = 10,
) -> RunDir:
    """A run directory written by hand, in the format the supervisor and trainer write."""
    path = root / run_id
    path.mkdir(parents=True, mode=0o700)
    run = RunDir(path)
    run.config.write_text(
        f'name = "{run_id[-8:]}"\n[model]\nname = "{model}"\n[grpo]\nmax_steps = {max_steps}\n',
        encoding="utf-8",
    )
    now = time.time()
    manifest: dict[str, Any] = {"started_at": now - 60, "attempt": 1, "host": "test"}
    if pid is not None:
        manifest.update(pid=pid, pgid=pid, create_time=create_time)
    write_json_atomic(run.manifest, manifest)
    write_json_atomic(
        run.status,
        {"state": state, "step": steps, "max_steps": max_steps, "heartbeat": now, "updated_at": now},
    )
    with run.metrics.open("w", encoding="utf-8") as fh:
        for step in range(1, steps + 1):
            fh.write(json.dumps({"step": step, "time": now - 60 + step, "reward": step / 10}) + "\n")
    run.log.write_text("[trainer] hand-made run\n", encoding="utf-8")
    return run


def writer_main(argv: list[str]) -> int:
    """A fake trainer: `python tests/faultkit.py RUN_DIR SECONDS METRICS_PER_S SAMPLES_PER_S` appends whole
    lines at the given rates for SECONDS, heartbeats status.json once a second, and prints how many lines
    it wrote (a separate process, so the viewer under test does not share its interpreter lock)."""
    run = RunDir(Path(argv[0]))
    seconds, metric_rate, sample_rate = (float(a) for a in argv[1:4])
    start = time.monotonic()
    written = sampled = 0
    last_status = 0.0
    with (
        run.metrics.open("a", encoding="utf-8") as metrics,
        run.samples.open("a", encoding="utf-8") as samples,
    ):
        while (elapsed := time.monotonic() - start) < seconds:
            while written < int(elapsed * metric_rate) + 1:
                written += 1
                record = {
                    "step": written,
                    "time": time.time(),
                    "reward": (written % 97) / 97,
                    "loss": 1.0 / written,
                    "completions/mean_length": 20 + written % 7,
                }
                metrics.write(json.dumps(record) + "\n")
            metrics.flush()
            while sampled < int(elapsed * sample_rate) + 1:
                sampled += 1
                sample = {
                    "step": written,
                    "time": time.time(),
                    "index": sampled,
                    "question": f"Lan có {sampled} quả táo?",
                    "answer": str(sampled),
                    "completion": "<thinking>x</thinking><SOLUTION>1</SOLUTION>" * 3,
                    "rewards": {"match_format_exactly": 3.0},
                    "total": 3.0,
                }
                samples.write(json.dumps(sample, ensure_ascii=False) + "\n")
            samples.flush()
            if time.monotonic() - last_status > 1.0:
                last_status = time.monotonic()
                now = time.time()
                state = {"state": "running", "step": written, "max_steps": 10**6, "phase": "training"}
                write_json_atomic(run.status, {**state, "heartbeat": now, "updated_at": now})
            time.sleep(0.01)
    print(json.dumps({"metrics": written, "samples": sampled}), flush=True)
    return 0


def start_writer(
    run: RunDir, seconds: float, metric_rate: float, sample_rate: float
) -> subprocess.Popen[str]:
    """Start the fake trainer and make the run's manifest point at it, so the run resolves as alive."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, __file__, str(run.path), str(seconds), str(metric_rate), str(sample_rate)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    write_json_atomic(
        run.manifest,
        {
            "pid": proc.pid,
            "pgid": proc.pid,
            "create_time": process_start_time(proc.pid),
            "started_at": time.time(),
            "attempt": 1,
        },
    )
    return proc


if __name__ == "__main__":
    sys.exit(writer_main(sys.argv[1:]))
