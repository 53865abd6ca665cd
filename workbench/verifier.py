"""math-verify under a wall-clock limit that really stops it.

math-verify (sympy underneath) can run for ever on a completion such as a tower of powers, and its own
timeouts cannot help: they use SIGALRM, which works only on the main thread (TRL may call reward
functions from other threads, so the workbench switched them off) and cannot interrupt a long C-level
computation anyway. So every comparison runs in a worker process (`workbench/_verify_worker.py`); when
an answer is late the worker is killed and a fresh one replaces it on the next comparison (about a
second to start on a laptop CPU). A comparison that ran out of time counts as not equal and is reported
as TIMEOUT so that callers can count it.

Workers are kept between calls (each compares one pair at a time over a pipe: tens of microseconds of
overhead per pair), one per thread that is comparing at that moment, and are killed when the process
exits. Should the process die without exiting cleanly, an idle worker reads end-of-file and exits, and
a busy one runs into the CPU-time limit it sets itself before each comparison. math-verify's warnings
stay in the worker, whose stderr goes nowhere. Nothing here imports math_verify.
"""

from __future__ import annotations

import atexit
import enum
import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

DEFAULT_TIMEOUT_S = 3.0
"""Wall-clock seconds one comparison may take (grpo.scoring_timeout_s)."""
STARTUP_TIMEOUT_S = 120.0
"""Seconds a new worker may take to import math_verify (minutes only on a badly overloaded machine)."""
WORKER_SCRIPT = Path(__file__).with_name("_verify_worker.py")


class Verdict(enum.Enum):
    """The outcome of one comparison."""

    EQUAL = "equal"
    DIFFERENT = "different"
    TIMEOUT = "timeout"
    """math-verify did not finish in time: the worker was killed; counts as not equal."""


class VerifierError(RuntimeError):
    """math-verify cannot run at all (not installed, or its worker cannot start); the message says why."""


class _WorkerDied(Exception):
    """The worker exited while comparing (crash, or a signal meant for it)."""


class _Worker:
    """One worker process and the buffered read end of its stdout."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-P", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self.buffer = b""
        _ALL.add(self)
        try:
            line = self._read_line(STARTUP_TIMEOUT_S)
        except _WorkerDied:
            line = None
        if line != b"ready":
            self.kill()
            detail = line.decode("utf-8", "replace") if line else "it did not start in time"
            raise VerifierError(
                f"math-verify cannot run ({detail}); fix: install the project's dependencies "
                "(math-verify) into this Python environment"
            )

    def compare(self, gold: str, prediction: str, timeout_s: float) -> Verdict:
        """One comparison; kills the worker on time-out. Raises _WorkerDied when it dies instead."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps([gold, prediction, timeout_s]).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.kill()
            raise _WorkerDied from exc
        line = self._read_line(timeout_s)
        if line is None:
            self.kill()
            return Verdict.TIMEOUT
        return Verdict.EQUAL if line == b"1" else Verdict.DIFFERENT

    def _read_line(self, timeout_s: float) -> bytes | None:
        """The next line from the worker, or None when it does not come within `timeout_s`."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                self.kill()
                raise _WorkerDied
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.strip()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and self.owner == os.getpid()

    def kill(self) -> None:
        if self.owner != os.getpid():
            return  # a forked child's copy: the worker belongs to the parent
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


_ALL: weakref.WeakSet[_Worker] = weakref.WeakSet()
_IDLE: list[_Worker] = []
_LOCK = threading.Lock()


def _take() -> _Worker:
    """An idle worker of this process, or a new one."""
    with _LOCK:
        while _IDLE:
            worker = _IDLE.pop()
            if worker.alive:
                return worker
    return _Worker()


def _give_back(worker: _Worker) -> None:
    if worker.alive:
        with _LOCK:
            _IDLE.append(worker)


def verify_many(pairs: Sequence[tuple[str, str]], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Verdict]:
    """Compare each (gold, prediction) pair of LaTeX strings with math-verify, each within `timeout_s`.

    Thread-safe: concurrent callers get workers of their own. A worker that dies while comparing (not a
    time-out) is replaced and the pair tried once more; a second death counts the pair as different.

    Raises:
        VerifierError: math-verify cannot run in this environment.
    """
    verdicts: list[Verdict] = []
    worker: _Worker | None = None
    try:
        for gold, prediction in pairs:
            verdict = Verdict.DIFFERENT
            for _attempt in range(2):
                if worker is None or not worker.alive:
                    worker = _take()
                try:
                    verdict = worker.compare(gold, prediction, timeout_s)
                    break
                except _WorkerDied:
                    worker = None
            verdicts.append(verdict)
    finally:
        if worker is not None:
            _give_back(worker)
    return verdicts


def shutdown() -> None:
    """Kill every worker this process started (also run at exit)."""
    with _LOCK:
        _IDLE.clear()
    for worker in list(_ALL):
        worker.kill()


atexit.register(shutdown)
