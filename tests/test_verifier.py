"""math-verify under a wall-clock limit: a late comparison is stopped by killing its worker process,
from any thread, without math-verify's warnings reaching the user, and no worker outlives its job."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psutil
import pytest

from workbench import verifier
from workbench.verifier import Verdict, verify_many

TOWER = "\\frac{5^{\\left(5^{\\left(5^{\\left(5^5\\right)}\\right)} - 4\\right)} - 5}{16}"


def test_a_late_comparison_is_stopped_and_the_next_one_gets_a_fresh_worker(
    capfd: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    verdicts = verify_many([("5", TOWER), ("2\\sqrt{3}", "\\sqrt{12}"), ("5", "6")], timeout_s=1.0)
    assert verdicts == [Verdict.TIMEOUT, Verdict.EQUAL, Verdict.DIFFERENT]
    assert time.monotonic() - started < 8
    out, err = capfd.readouterr()
    assert "Timeout is disabled" not in out + err and not err.strip()


def test_threads_compare_concurrently_with_workers_of_their_own() -> None:
    results: dict[int, list[Verdict]] = {}

    def work(index: int) -> None:
        results[index] = verify_many([("\\frac{\\pi}{2}", "\\pi/2"), ("x^2", "x \\cdot x")] * 5)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {i: [Verdict.EQUAL] * 10 for i in range(3)}


def test_a_worker_dies_with_the_process_that_started_it() -> None:
    """Even a worker stuck in a computation when its parent dies without cleaning up (no atexit): its
    own CPU-time limit stops it."""
    code = (
        "import os, sys, threading\n"
        "from workbench import verifier\n"
        "worker = verifier._take()\n"
        "print(worker.proc.pid, flush=True)\n"
        f"threading.Thread(target=worker.compare, args=('5', {TOWER!r}, 2.0), daemon=True).start()\n"
        "import time; time.sleep(1.5)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"worker {pid} outlived its parent")


def test_a_missing_math_verify_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verifier, "_IDLE", [])
    monkeypatch.setattr(verifier.sys, "executable", "/bin/false")
    with pytest.raises(verifier.VerifierError, match="math-verify cannot run"):
        verify_many([("1", "\\sqrt{1}")])
