"""The run supervisor: `python -m jobs.supervise RUN_DIR [--resume]` (stdlib + psutil only).

It is the process the launcher detaches, and the single writer of status.json. It records the manifest,
starts the trainer in its own process group, merges the trainer's progress.json into status.json with a
heartbeat every couple of seconds, and records how the trainer ended: `completed`, `stopped` (after
SIGTERM), `failed` (an exception, with its message) or `crashed` (killed by a signal). A watcher that is
not its parent (a re-attached TUI) cannot `wait()` for the trainer; this process can.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from jobs.launch import DEFAULT_STOP_GRACE, STOP_GRACE_ENV
from workbench.atomic import write_json_atomic
from workbench.runs import HEARTBEAT_SECONDS, RunDir, describe_manifest


def _log(message: str) -> None:
    print(f"[supervisor {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _tail_error(run: RunDir, lines: int = 8) -> str:
    """The last meaningful lines of train.log: the traceback's end when the trainer died of an exception."""
    try:
        with run.log.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip() and not line.startswith("[supervisor")]
    return "\n".join(kept[-lines:])


class Supervisor:
    """Runs one trainer attempt to its end and records it."""

    def __init__(self, run: RunDir, resume: bool):
        self.run = run
        self.resume = resume
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_requested_at: float | None = None
        self.grace = float(os.environ.get(STOP_GRACE_ENV, DEFAULT_STOP_GRACE))

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
            _log(f"received {signal.Signals(signum).name}: asking the trainer to checkpoint and stop")
        if self.child and self.child.poll() is None:
            # The group signal already reached the trainer; this covers a signal sent to our pid alone.
            try:
                self.child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def main(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        previous = self.run.read_manifest()
        attempt = int(previous.get("attempt", 0)) + 1
        manifest = describe_manifest(sys.argv, os.getpid(), attempt)
        manifest["history"] = previous.get("history", []) + (
            [{k: previous.get(k) for k in ("pid", "started_at", "attempt")}] if previous else []
        )
        write_json_atomic(self.run.manifest, manifest)
        if self.resume:
            # progress.json of the last attempt says how that one ended; this attempt starts afresh.
            self.run.progress.unlink(missing_ok=True)
        status = self.run.write_status(
            state="starting",
            phase="starting trainer",
            heartbeat=time.time(),
            pid=os.getpid(),
            attempt=attempt,
            exit_code=None,
            error=None,
        )
        _log(f"attempt {attempt}: starting trainer ({'resume' if self.resume else 'new run'})")
        cmd = [sys.executable, "-m", "jobs.train_grpo", str(self.run.path)] + (
            ["--resume"] if self.resume else []
        )
        with self.run.log.open("ab") as log:
            self.child = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.run.path
            )
        manifest["trainer_pid"] = self.child.pid
        write_json_atomic(self.run.manifest, manifest)
        killed = False
        while (code := self.child.poll()) is None:
            progress = self.run.read_progress()
            state = "stopping" if self.stop_requested_at is not None else "running"
            status = self.run.write_status(
                state=state,
                heartbeat=time.time(),
                phase=progress.get("phase", "starting"),
                step=progress.get("step", status.get("step", 0)),
                max_steps=progress.get("max_steps", status.get("max_steps")),
            )
            if self.stop_requested_at is not None and not killed:
                if time.monotonic() - self.stop_requested_at > self.grace:
                    _log(f"trainer did not stop within {self.grace:.0f}s; killing it")
                    self.child.kill()
                    killed = True
            time.sleep(HEARTBEAT_SECONDS if self.stop_requested_at is None else 0.2)
        return self._record_end(code, killed)

    def _record_end(self, code: int, killed: bool) -> int:
        progress = self.run.read_progress()
        outcome = progress.get("outcome")
        error = progress.get("error")
        if code == 0 and outcome in ("completed", "stopped"):
            state = outcome
        elif self.stop_requested_at is not None and (code == 0 or code < 0):
            state = "stopped"
            if killed:
                error = "killed after the stop grace period; resume starts from the last complete checkpoint"
        elif code < 0:
            state = "crashed"
            error = f"trainer killed by {signal.Signals(-code).name}"
        else:
            state = "failed"
            error = error or _tail_error(self.run) or f"trainer exited with code {code}"
        self.run.write_status(
            state=state,
            exit_code=code,
            error=error,
            heartbeat=time.time(),
            finished_at=time.time(),
            phase=progress.get("phase", "ended"),
            step=progress.get("step", self.run.read_status().get("step", 0)),
        )
        _log(f"trainer ended: {state} (exit code {code})" + (f": {error.splitlines()[-1]}" if error else ""))
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    return Supervisor(RunDir(args.run_dir.resolve()), args.resume).main()


if __name__ == "__main__":
    sys.exit(main())
