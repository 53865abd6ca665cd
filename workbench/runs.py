"""Run directories: the only contract between a training job and whoever watches it.

Layout of `<runs home>/<run id>/`:

| file | written by | what |
| --- | --- | --- |
| config.toml | launcher, before the job starts | the validated RunConfig |
| manifest.json | supervisor | pid, pgid, process start time, host, command, attempts |
| status.json | supervisor (merging the trainer's progress.json) | state, heartbeat, step, exit code, error |
| progress.json | trainer | phase, step, max_steps, outcome |
| metrics.jsonl | trainer | one object per logged step, TRL's key names + `time/<phase>` seconds |
| samples.jsonl | trainer | a few prompt/completion/per-reward rows per step |
| gpu.jsonl | trainer | NVML memory and utilisation samples (GPU machines only) |
| data.json, heldout.jsonl | trainer | data statistics and the held-out rows (never trained on) |
| train.log | trainer and supervisor (stdout/stderr, append mode) | the human log |
| checkpoints/checkpoint-N/ | trainer | adapter, optimizer, scheduler, RNG, trainer state |
| adapter/ | trainer | the final LoRA adapter |

A run is alive only if its supervisor pid exists, is not a zombie and started at the time the manifest
recorded (pid reuse guard); otherwise status.json is believed, and a non-final state with a dead
supervisor means the run crashed.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from workbench import paths
from workbench.atomic import read_json, write_json_atomic

FINAL_STATES = frozenset({"completed", "stopped", "failed", "crashed"})
LIVE_STATES = frozenset({"pending", "starting", "running", "stopping"})
HEARTBEAT_SECONDS = 2.0
"""How often the supervisor refreshes status.json."""
STALE_AFTER = 15.0
"""A heartbeat older than this, with no live supervisor, means the run is gone."""
_SAFE = re.compile(r"[^a-z0-9]+")
_NUMERIC_STATUS = (
    "step",
    "max_steps",
    "heartbeat",
    "updated_at",
    "finished_at",
    "exit_code",
    "pid",
    "attempt",
    "build_step",
    "build_total",
)


def _as_dict(value: Any) -> dict[str, Any]:
    """A JSON state file's object, or {} when it held something else (a list, a number, garbage): the
    run directory is read by viewers that must survive whatever a crash or a hand edit left there."""
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    """A finite number from a state file, or None for anything else (strings, bools, null)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


def new_run_id(label: str, now: datetime | None = None) -> str:
    """A sortable, unique, filesystem-safe id: `20261123-083012-<label>-<4 hex>`."""
    now = now or datetime.now()
    slug = _SAFE.sub("-", label.lower()).strip("-")[:32] or "run"
    return f"{now:%Y%m%d-%H%M%S}-{slug}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory; creating one never touches the files."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @property
    def status(self) -> Path:
        return self.path / "status.json"

    @property
    def progress(self) -> Path:
        return self.path / "progress.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.path / "samples.jsonl"

    @property
    def gpu(self) -> Path:
        return self.path / "gpu.jsonl"

    @property
    def log(self) -> Path:
        return self.path / "train.log"

    @property
    def data_stats(self) -> Path:
        return self.path / "data.json"

    @property
    def held_out(self) -> Path:
        return self.path / "heldout.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    def read_status(self) -> dict[str, Any]:
        """status.json, with numeric fields that are not numbers (a hand edit, a foreign writer) left out,
        so every reader can use them as numbers."""
        status = _as_dict(read_json(self.status))
        for key in _NUMERIC_STATUS:
            if status.get(key) is not None and _number(status[key]) is None:
                del status[key]
        if status.get("error") is not None and not isinstance(status["error"], str):
            status["error"] = str(status["error"])
        return status

    def read_manifest(self) -> dict[str, Any]:
        return _as_dict(read_json(self.manifest))

    def read_progress(self) -> dict[str, Any]:
        return _as_dict(read_json(self.progress))

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into status.json (single writer: the supervisor, or a launcher before it starts)."""
        status = self.read_status()
        status.update(fields)
        status["updated_at"] = time.time()
        write_json_atomic(self.status, status)
        return status


def create_run_dir(label: str, root: Path | None = None) -> RunDir:
    """Make a fresh, private (0700) run directory."""
    root = root or paths.runs_dir()
    for _ in range(10):
        path = root / new_run_id(label)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return RunDir(path)
    raise RuntimeError(f"could not create a unique run directory under {root}")


def find_run(ref: str, root: Path | None = None) -> RunDir:
    """A run by id, unique id prefix, unique label substring, or path.

    Raises:
        LookupError: no run or several runs match.
    """
    if not ref.strip():
        raise LookupError("no run given (an empty RUN would match every run); give a run id or directory")
    candidate = Path(ref).expanduser()
    if candidate.is_dir() and (candidate / "config.toml").exists():
        return RunDir(candidate.resolve())
    root = root or paths.runs_dir()
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []
    exact = [n for n in names if n == ref]
    matches = exact or [n for n in names if n.startswith(ref)] or [n for n in names if ref in n]
    if not matches:
        raise LookupError(f"no run matches {ref!r} under {root}; `grpo-workbench runs` lists them")
    if len(matches) > 1:
        raise LookupError(
            f"{ref!r} matches {len(matches)} runs ({', '.join(matches[:5])}...); give more of the id"
        )
    return RunDir(root / matches[0])


def process_start_time(pid: int) -> float | None:
    """The start time the OS reports for `pid` (None if it does not exist)."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def process_matches(pid: int | None, create_time: float | None) -> bool:
    """True when `pid` is running, is not a zombie, and is the same process the manifest recorded."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False  # a missing or mangled manifest names no process we could vouch for
    if create_time is not None and _number(create_time) is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError, OverflowError):
        return False


def describe_manifest(argv: list[str], pid: int, attempt: int) -> dict[str, Any]:
    """The manifest fields of the current process."""
    return {
        "pid": pid,
        "pgid": os.getpgid(pid),
        "create_time": process_start_time(pid),
        "host": socket.gethostname(),
        "argv": argv,
        "started_at": time.time(),
        "started_at_iso": datetime.now(UTC).isoformat(timespec="seconds"),
        "attempt": attempt,
    }


@dataclass
class RunInfo:
    """A run as the runs list shows it: state resolved against the live process table."""

    run: RunDir
    state: str
    step: int
    max_steps: int
    alive: bool
    label: str
    model: str
    started_at: float | None
    updated_at: float | None
    latest_reward: float | None
    error: str | None
    phase: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run.run_id,
            "path": str(self.run.path),
            "state": self.state,
            "step": self.step,
            "max_steps": self.max_steps,
            "alive": self.alive,
            "label": self.label,
            "model": self.model,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "latest_reward": self.latest_reward,
            "error": self.error,
            "phase": self.phase,
        }


def resolve_state(run: RunDir, now: float | None = None) -> tuple[str, bool, dict[str, Any]]:
    """The run's real state: (state, supervisor alive, status dict).

    A live state whose supervisor is gone (or is another process with a reused pid) becomes `crashed`.
    """
    status = run.read_status()
    manifest = run.read_manifest()
    state = status.get("state", "pending" if not manifest else "crashed")
    alive = process_matches(manifest.get("pid"), manifest.get("create_time"))
    if state not in LIVE_STATES and state not in FINAL_STATES:
        # Not a state our writers record (a hand edit, a foreign file): judge by the process alone.
        state = ("running" if alive else "crashed") if manifest else "pending"
    if state in LIVE_STATES and not alive:
        heartbeat = _number(status.get("heartbeat")) or _number(status.get("updated_at")) or 0.0
        fresh = (now or time.time()) - heartbeat < STALE_AFTER
        if state != "pending" or not fresh:
            state = "crashed"
    return state, alive, status


def last_reward(run: RunDir) -> float | None:
    """The `reward` of the last metrics line, read from the file's tail only."""
    import json

    try:
        with run.metrics.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and _number(record.get("reward")) is not None:
            return float(record["reward"])
    return None


def run_info(run: RunDir) -> RunInfo:
    """Everything the runs list needs about one run, cheaply (no full metrics replay)."""
    import tomllib

    state, alive, status = resolve_state(run)
    try:
        config = tomllib.loads(run.config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    manifest = run.read_manifest()
    grpo, model = _as_dict(config.get("grpo")), _as_dict(config.get("model"))
    error = status.get("error")
    return RunInfo(
        run=run,
        state=state,
        step=_int(status.get("step")),
        max_steps=_int(status.get("max_steps")) or _int(grpo.get("max_steps")),
        alive=alive,
        label=str(config.get("name") or ""),
        model=str(model.get("name", "?")),
        started_at=_number(manifest.get("started_at")),
        updated_at=_number(status.get("updated_at")),
        latest_reward=last_reward(run),
        error=None if error is None else str(error),
        phase=str(status.get("phase") or ""),
    )


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run under the runs home, newest first."""
    return [run_info(r) for r in run_dirs(root)]


def run_dirs(root: Path | None = None) -> list[RunDir]:
    """Every run directory under the runs home, newest first. Entries that cannot be inspected (another
    user's directory, a chmod 000 one) are left out instead of failing the whole list."""
    root = root or paths.runs_dir()
    try:
        entries = sorted(root.iterdir(), reverse=True)
    except OSError:
        return []
    runs = []
    for path in entries:
        try:
            if path.is_dir() and (path / "config.toml").is_file():
                runs.append(RunDir(path))
        except OSError:
            continue
    return runs


def checkpoint_step(path: Path) -> int | None:
    """N of a `checkpoint-N` directory, or None for other names."""
    match = re.fullmatch(r"checkpoint-(\d+)", path.name)
    return int(match.group(1)) if match else None


def is_complete_checkpoint(path: Path) -> bool:
    """A checkpoint is usable only when the trainer finished writing it (trainer_state.json comes last)
    and it holds an adapter and the optimizer state."""
    try:
        has_adapter = (path / "adapter_model.safetensors").exists() or (path / "adapter_model.bin").exists()
        return (path / "trainer_state.json").is_file() and has_adapter and (path / "optimizer.pt").is_file()
    except OSError:
        return False  # unreadable (permissions): unusable for a resume, so the previous one is taken


def checkpoints(run: RunDir) -> list[tuple[int, Path, bool]]:
    """(step, path, complete) for every checkpoint directory, in step order."""
    try:
        if not run.checkpoints.is_dir():
            return []
        found = [(checkpoint_step(p), p) for p in run.checkpoints.iterdir() if p.is_dir()]
    except OSError:
        return []
    return sorted((step, p, is_complete_checkpoint(p)) for step, p in found if step is not None)


def last_complete_checkpoint(run: RunDir) -> Path | None:
    """The newest checkpoint that was fully written; half-written ones are skipped."""
    complete = [p for _, p, ok in checkpoints(run) if ok]
    return complete[-1] if complete else None
