"""The run supervisor: `python -m jobs.supervise RUN_DIR [--resume]` (stdlib + psutil only).

It is the process the launcher detaches, and the single writer of status.json. It records the manifest,
starts the trainer in its own process group, merges the trainer's progress.json into status.json with a
heartbeat every couple of seconds, and records how the trainer ended: `completed`, `stopped` (after
SIGTERM), `failed` (an exception, with its message) or `crashed` (killed by a signal). A watcher that is
not its parent (a re-attached TUI) cannot `wait()` for the trainer; this process can. Once the end is
recorded it hands the webhook announcing it (settings.toml `[notify]`) to a detached `jobs.notify`, so a
slow or failing webhook never holds the run.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

import psutil

from jobs.launch import DEFAULT_STOP_GRACE, STOP_GRACE_ENV
from jobs.notify import announce_end
from jobs.process import Heartbeat, exited, kill_group, wait_exited
from workbench import distributed
from workbench.atomic import write_text_atomic
from workbench.config import ConfigError, load
from workbench.jobdir import describe_process, process_start_time
from workbench.runs import HEARTBEAT_SECONDS, RunDir, RunManifest, merge_progress

_STORAGE_FULL = (
    "No space left on device",
    "File too large",
    "Disk quota exceeded",
    "os error 28",
    "os error 27",
)
"""How a full disk, a quota or a file-size limit shows in the trainer's error (Python's and Rust's words)."""
_STORAGE_FIX = (
    "the disk is full or a file-size limit (ulimit -f, quota) was hit while writing; fix: free space under "
    "the runs home (or raise the limit), then resume: it continues from the last complete checkpoint"
)


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
        self.heartbeat = Heartbeat(run, _log)
        self.manifest = RunManifest()
        """This attempt's manifest.json, rewritten as the processes it starts are known."""
        self.server: subprocess.Popen[bytes] | None = None
        """The vLLM server (server mode, machine 0), in a session of its own: see `_start_server`."""
        self.ranks: dict[int, psutil.Process] = {}
        """The training ranks under `accelerate launch`, each in a session of its own: see `_track_ranks`."""
        self.launcher = False
        """The trainer runs under `accelerate launch` (several processes)."""

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
        attempt = previous.attempt + 1
        self._record_manifest(describe_process(sys.argv, os.getpid(), attempt, previous))
        if self.resume:
            # progress.json of the last attempt says how that one ended; this attempt starts afresh.
            self.run.progress.unlink(missing_ok=True)
        self.run.write_status(
            state="starting",
            phase="starting trainer",
            heartbeat=time.time(),
            pid=os.getpid(),
            attempt=attempt,
            exit_code=None,
            error=None,
            finished_at=None,
        )
        launch = self._plan_launch()
        self.launcher = launch is not None and launch.launcher
        if launch is not None and launch.health_url is not None:
            failure = self._start_server(launch)
            if failure is not None:
                return self._end_before_training(failure)
        _log(f"attempt {attempt}: starting trainer ({'resume' if self.resume else 'new run'})")
        cmd = [sys.executable, "-m", "jobs.train_grpo", str(self.run.path)] + (
            ["--resume"] if self.resume else []
        )
        if launch is not None:
            cmd = launch.trainer_argv
        with self.run.log.open("ab") as log:
            self.child = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.run.path,
                env=launch.trainer_env if launch is not None else None,
            )
        # With its start time, a trainer left running by a killed supervisor can be told from a process
        # that reused its pid (resume refuses to start a second writer next to it; stop ends it).
        self._record_manifest(
            self.manifest.replace(
                trainer_pid=self.child.pid, trainer_create_time=process_start_time(self.child.pid)
            )
        )
        killed = False
        while (code := self.child.poll()) is None:
            self._track_ranks()
            progress = self.run.read_progress()
            state = "stopping" if self.stop_requested_at is not None else "running"
            self.heartbeat.beat(state=state, **merge_progress(self.heartbeat.last, progress))
            if self.stop_requested_at is not None and not killed:
                if time.monotonic() - self.stop_requested_at > self.grace:
                    _log(f"trainer did not stop within {self.grace:.0f}s; killing it")
                    self.child.kill()
                    self._kill_ranks()
                    killed = True
            time.sleep(HEARTBEAT_SECONDS if self.stop_requested_at is None else 0.2)
        killed = self._reap_ranks() or killed
        self._stop_server()
        if self.ranks and not killed and self.stop_requested_at is not None and code > 0:
            if self.run.read_progress().outcome in ("completed", "stopped"):
                # The elastic agent behind accelerate launch exits 1 on the SIGTERM it forwarded to its
                # ranks, even when every rank then stopped cleanly with a checkpoint (rank 0 says so).
                code = 0
        return self._record_end(code, killed)

    def _plan_launch(self) -> distributed.Launch | None:
        """This attempt's commands, environments and files from config.toml (for a config naming no GPUs,
        the single-process command and the inherited environment); None when the config cannot be read,
        which the trainer then reports as the run's failure."""
        try:
            config = load(self.run.config)
        except ConfigError:
            return None
        launch = distributed.plan_launch(
            config,
            self.run.path,
            distributed.choose_ports(config),
            resume=self.resume,
            base_env=os.environ,
            stop_grace=self.grace,
        )
        for name, text in launch.files.items():
            write_text_atomic(self.run.path / name, text)
        if launch.files:
            _log("training command: " + " ".join(launch.trainer_argv))
        return launch

    def _record_manifest(self, manifest: RunManifest) -> None:
        self.manifest = manifest
        self.run.write_manifest(manifest)

    def _start_server(self, launch: distributed.Launch) -> str | None:
        """Start vLLM's server (machine 0 in server mode) and wait for its /health; another machine only
        waits for machine 0's. The server gets a session of its own, not the run's process group: a stop
        (SIGTERM to that group) must let the trainer finish its step, which generates through the server,
        and checkpoint; the supervisor ends the server after the trainer (`_stop_server`).

        Returns:
            None once the server answers, else why the attempt ends before training.
        """
        url = launch.health_url or ""
        if launch.server_argv is not None:
            with self.run.log.open("ab") as log:
                self.server = subprocess.Popen(
                    launch.server_argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.run.path,
                    env=launch.server_env,
                    start_new_session=True,
                )
            self._record_manifest(
                self.manifest.replace(
                    server_pid=self.server.pid, server_create_time=process_start_time(self.server.pid)
                )
            )
            _log(f"starting the vLLM server (pid {self.server.pid}): {' '.join(launch.server_argv)}")
        deadline = time.monotonic() + distributed.SERVER_START_TIMEOUT
        while not _answers(url):
            if self.stop_requested_at is not None:
                return "stopped before training began"
            if self.server is not None and (code := exited(self.server)) is not None:
                return f"the vLLM server exited with code {code} before it was ready (its log: train.log)"
            if time.monotonic() > deadline:
                waited = distributed.SERVER_START_TIMEOUT
                return (
                    f"the vLLM server did not answer {url} within {waited:.0f}s; fix: read train.log (on "
                    "machine 0 with several machines), then resume"
                )
            self.heartbeat.beat(state="starting", phase="starting vLLM server")
            time.sleep(HEARTBEAT_SECONDS)
        _log(f"vLLM server ready at {url}")
        return None

    def _end_before_training(self, error: str) -> int:
        """Record an attempt that ended while the vLLM server was starting: stopped, or failed with why."""
        self._stop_server()
        stopped = self.stop_requested_at is not None
        self.run.write_status(
            state="stopped" if stopped else "failed",
            error=None if stopped else error,
            heartbeat=time.time(),
            finished_at=time.time(),
            phase="stopped before training" if stopped else "vLLM server failed",
        )
        _log(f"trainer not started: {error}")
        return 0

    def _stop_server(self) -> None:
        """End the vLLM server's session: SIGTERM (vLLM shuts its engine processes down), SIGKILL after
        30 s, then SIGKILL to whatever of its session is left."""
        server = self.server
        if server is None:
            return
        # The server stays unreaped (`exited`) until its session is killed: its zombie keeps the id
        # signalled here from being given to another process group meanwhile.
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            if exited(server) is not None:
                break
            _log(f"stopping the vLLM server ({sig.name})")
            kill_group(server.pid, sig)
            wait_exited(server, wait)
        kill_group(server.pid, signal.SIGKILL)
        server.wait()
        self.server = None

    def _track_ranks(self) -> None:
        """Remember the processes under `accelerate launch`. Torch's elastic agent starts every rank with
        start_new_session=True, so the run's process group (what `stop` signals) holds the launcher but
        not the ranks: the agent forwards SIGTERM to them and SIGKILLs them after
        TORCH_ELASTIC_SHUTDOWN_TIMEOUT. Knowing them lets the supervisor wait for them when the launcher
        ends first, and kill them when it escalates."""
        if not self.launcher or self.child is None or self.child.poll() is not None:
            return
        try:
            for process in psutil.Process(self.child.pid).children(recursive=True):
                self.ranks.setdefault(process.pid, process)
        except psutil.Error:
            pass

    def _kill_ranks(self) -> None:
        for process in self.ranks.values():
            try:
                process.kill()
            except psutil.Error:
                pass

    def _reap_ranks(self) -> bool:
        """After the launcher ended: ask ranks still running to stop (they checkpoint), wait out the rest of
        the grace period, kill what is left. Returns True when something had to be killed."""
        alive = [p for p in self.ranks.values() if _running(p)]
        if not alive:
            return False
        _log(f"the launcher ended with {len(alive)} rank process(es) still running; asking them to stop")
        for process in alive:
            try:
                process.terminate()
            except psutil.Error:
                pass
        started = self.stop_requested_at if self.stop_requested_at is not None else time.monotonic()
        alive = _wait_gone(alive, max(1.0, self.grace - (time.monotonic() - started)))
        if not alive:
            return False
        _log(f"{len(alive)} rank process(es) did not stop within the grace period; killing them")
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass
        _wait_gone(alive, 10.0)
        return True

    def _record_end(self, code: int, killed: bool) -> int:
        progress = self.run.read_progress()
        outcome = progress.outcome
        error = progress.error
        if code == 0 and outcome in ("completed", "stopped"):
            state = outcome
        elif self.stop_requested_at is not None and (code == 0 or code < 0):
            state = "stopped"
            if killed:
                error = "killed after the stop grace period; resume starts from the last complete checkpoint"
        elif code < 0:
            state = "crashed"
            error = f"trainer killed by {signal.Signals(-code).name}"
            if -code == signal.SIGXFSZ:
                error += f"\n{_STORAGE_FIX}"
        else:
            state = "failed"
            error = error or _tail_error(self.run) or f"trainer exited with code {code}"
            if any(sign in error for sign in _STORAGE_FULL):
                error += f"\n{_STORAGE_FIX}"
        self.run.write_status(
            state=state,
            exit_code=code,
            error=error,
            heartbeat=time.time(),
            finished_at=time.time(),
            phase=progress.phase if self.run.progress.exists() else "ended",
            step=self.run.read_status().step if progress.step is None else progress.step,
        )
        _log(f"trainer ended: {state} (exit code {code})" + (f": {error.splitlines()[-1]}" if error else ""))
        return 0


def _running(process: psutil.Process) -> bool:
    """True while `process` (checked against its start time by psutil) runs and is not a zombie."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` seconds for `processes` to end; returns those still running. Polls rather than
    psutil.wait_procs: these are not our children, and an orphan nobody reaps stays a zombie (ended)."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in processes if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def _answers(url: str) -> bool:
    """True when `url` answers 200 now. No proxy: the server is on this machine or machine 0, and an
    http_proxy in the environment must not carry a loopback request elsewhere."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return int(response.status) == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir.resolve())
    code = Supervisor(run, args.resume).main()
    announce_end(run)  # after the final state is recorded; starts a detached process and returns
    return code


if __name__ == "__main__":
    sys.exit(main())
