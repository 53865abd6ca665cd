"""One job directory model for every kind of job: training runs, evaluations, serve jobs (and exports).

A job is an OS process that outlives whoever started it, and a directory that is the only contract
between it and its watchers. Every kind shares this model (stdlib + psutil; no torch, no Textual):

- an id (`<yyyymmdd-hhmmss>-<label>-<4 hex>`, sortable) and a private (0700) directory;
- `manifest.json`: who the job's process is (`Manifest`: pid, process group, the process's start time as
  the OS reports it, host, argv, attempt), written by the job itself when it starts;
- a status file (`Status`: state, heartbeat, phase, step, exit code, error, ...), written by one writer;
- one set of states (`JobState`), and one rule for liveness: a job is alive only while the pid its
  manifest names exists, is not a zombie and started at the recorded time (a pid reused by another
  process is not the job; a manifest without a start time names no process we can vouch for). A job
  whose status says it is live while its process is gone has crashed.

Records are frozen dataclasses read tolerantly (a field that a crash, a hand edit or a foreign writer
left as the wrong type reads as absent, never as an exception in a viewer) and written whole and
atomically. Updating a status names its fields as keywords, so a misspelt or renamed field raises.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, cast, get_args

import psutil

from workbench.atomic import read_json, write_json_atomic

JobState = Literal[
    "pending", "starting", "running", "ready", "stopping", "completed", "stopped", "failed", "crashed"
]
"""Every state a job can be in. `ready` is a server's `running`: up and answering requests."""
JOB_STATES: tuple[JobState, ...] = get_args(JobState)
STARTING_STATES: frozenset[JobState] = frozenset({"pending", "starting"})
"""On its way up: started (or about to be), not yet doing its work."""
LIVE_STATES: frozenset[JobState] = frozenset({"pending", "starting", "running", "ready", "stopping"})
FINAL_STATES: frozenset[JobState] = frozenset({"completed", "stopped", "failed", "crashed"})
HEARTBEAT_SECONDS = 2.0
"""How often a job's supervisor refreshes its status."""
STALE_AFTER = 15.0
"""A heartbeat older than this, with no live process, means the job is gone."""
_SAFE = re.compile(r"[^a-z0-9]+")


# ------------------------------------------------------------------------------------------- values


def number(value: Any) -> float | None:
    """A finite number from a state file, or None for anything else (strings, bools, null, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def integer(value: Any) -> int | None:
    """An int from a state file (a float with no fraction counts), or None for anything else."""
    value = number(value)
    return int(value) if value is not None and value == int(value) else None


def text(value: Any) -> str | None:
    """A string from a state file (other values are shown as text), or None when absent."""
    return None if value is None else value if isinstance(value, str) else str(value)


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A JSON state file's object, or {} when it held something else (a list, a number, garbage)."""
    return value if isinstance(value, Mapping) else {}


_R = TypeVar("_R", bound="Record")


class Record:
    """A typed JSON record: `from_json` reads tolerantly by the dataclass's annotations, `to_json` writes
    every field. Subclasses are frozen dataclasses whose fields are int, float, str, bool (optional or
    with defaults), tuples of str, or JSON-shaped dicts."""

    @classmethod
    def from_json(cls, data: Any) -> Self:
        data = as_mapping(data)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                value = _coerce(str(f.type), data[f.name])
                if value is not _ABSENT:
                    values[f.name] = value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`; an unknown field name raises TypeError (a renamed field fails loudly)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


_ABSENT = object()


def _coerce(annotation: str, value: Any) -> Any:
    """`value` as the annotated type, or _ABSENT when it is not one (the field keeps its default)."""
    optional = annotation.endswith("| None")
    kind = annotation.removesuffix("| None").strip()
    if value is None:
        return None if optional else _ABSENT
    if kind == "int":
        result: Any = integer(value)
    elif kind == "float":
        result = number(value)
    elif kind == "bool":
        result = value if isinstance(value, bool) else None
    elif kind == "str":
        result = text(value)
    elif kind.startswith("tuple[str"):
        result = tuple(str(v) for v in value) if isinstance(value, list | tuple) else None
    elif kind.startswith("tuple[dict"):
        result = (
            tuple(v for v in value if isinstance(v, Mapping)) if isinstance(value, list | tuple) else None
        )
    elif kind.startswith("dict"):
        result = dict(value) if isinstance(value, Mapping) else None
    else:
        result = value
    return _ABSENT if result is None else result


# ---------------------------------------------------------------------------------------- processes


def process_start_time(pid: int) -> float | None:
    """The start time the OS reports for `pid` (None if it does not exist)."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def process_matches(pid: Any, create_time: Any) -> bool:
    """True when `pid` is running, is not a zombie, and started at `create_time` (within a second).

    Without a start time nothing is vouched for: a bare pid may have been reused by any process since.
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or number(create_time) is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - float(create_time)) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError, OverflowError):
        return False


@dataclass(frozen=True)
class ProcessRef:
    """One process as a job directory records it: its pid and the start time that proves it is still the
    same process."""

    pid: int | None = None
    create_time: float | None = None

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        """The live process `pid`, with its start time read now."""
        return cls(pid, process_start_time(pid))

    @property
    def alive(self) -> bool:
        return process_matches(self.pid, self.create_time)


# ---------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Manifest(Record):
    """manifest.json: the job's own process (a supervisor for runs and servers, the job itself for an
    evaluation), written by that process when it starts. Each job kind adds the processes it starts in
    a subclass (`runs.RunManifest`, `serving.ServeManifest`), so a file holds only its kind's fields."""

    pid: int | None = None
    pgid: int | None = None
    create_time: float | None = None
    """The process's start time as the OS reports it (seconds since the epoch): the pid-reuse guard."""
    host: str = ""
    argv: tuple[str, ...] = ()
    started_at: float | None = None
    started_at_iso: str = ""
    attempt: int = 0
    """1 for the first start of a run, 2 after its first resume, ..."""
    history: tuple[dict[str, Any], ...] = ()
    """pid, started_at and attempt of each earlier attempt."""

    @property
    def process(self) -> ProcessRef:
        return ProcessRef(self.pid, self.create_time)

    @property
    def recorded(self) -> bool:
        """A manifest was written (the job's process started at some point)."""
        return self != type(self)()

    @property
    def first_started_at(self) -> float | None:
        """When the job's first attempt started: a run's creation, however often it was resumed since
        (`started_at` is this attempt's start)."""
        for earlier in self.history:
            value = earlier.get("started_at")
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return self.started_at


_M = TypeVar("_M", bound=Manifest)


def describe_process(
    argv: list[str], pid: int, attempt: int, previous: _M | None = None, kind: type[_M] | None = None
) -> _M:
    """The manifest (of class `kind`, default `previous`'s or `Manifest`) of the current process `pid`
    (this attempt), keeping `previous` attempts' history."""
    cls: type[Any] = kind or (type(previous) if previous is not None else Manifest)
    history = previous.history if previous is not None else ()
    if previous is not None and previous.recorded:
        history += ({"pid": previous.pid, "started_at": previous.started_at, "attempt": previous.attempt},)
    manifest: _M = cls(
        pid=pid,
        pgid=os.getpgid(pid),
        create_time=process_start_time(pid),
        host=socket.gethostname(),
        argv=tuple(argv),
        started_at=time.time(),
        started_at_iso=datetime.now(UTC).isoformat(timespec="seconds"),
        attempt=attempt,
        history=history,
    )
    return manifest


# ------------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Status(Record):
    """A job's status file: what the job is doing and how it ended. One writer at a time (the supervisor,
    or the launcher before the supervisor starts). Each job kind adds its own fields in a subclass
    (`runs.TrainingStatus`: steps; `serving.ServeStatus`: url, models), so a file holds only its kind's
    fields; a field of another kind in an old file is ignored when read."""

    state: str | None = None
    """A `JobState` as written; None when nothing was written yet. Judge it with `JobDir.resolve`."""
    heartbeat: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    phase: str = ""
    """What the job does now, in words (`loading model`, `training`, ...)."""
    exit_code: int | None = None
    error: str | None = None
    pid: int | None = None
    attempt: int = 0


_S = TypeVar("_S", bound=Status)


def judge_state(
    recorded: str | None, heartbeat: float | None, alive: bool, started: bool, now: float
) -> JobState:
    """The real state of a job from what its status file says and whether its process is alive.

    Args:
        recorded: The status file's state (None when there is none).
        heartbeat: The status's last heartbeat (or update) time.
        alive: The process the manifest names is running (`ProcessRef.alive`).
        started: A manifest exists (the job's process started at some point).
        now: The current time.

    Returns:
        `recorded` when it is consistent with the process table. A live state without a live process is
        `crashed`, except a fresh `pending` (the launcher wrote it, the process has yet to start). A state
        no writer records (a hand edit) is judged by the process alone.
    """
    if recorded is None:
        return "crashed" if started else "pending"
    if recorded not in JOB_STATES:
        return ("running" if alive else "crashed") if started else "pending"
    state: JobState = recorded  # type: ignore[assignment]
    if state in LIVE_STATES and not alive:
        fresh = now - (heartbeat or 0.0) < STALE_AFTER
        if state != "pending" or not fresh:
            return "crashed"
    return state


@dataclass(frozen=True)
class JobView(Generic[_S, _M]):
    """A job's state resolved against the process table, with the records it was judged from."""

    state: JobState
    alive: bool
    """The job's work goes on: its process runs (or, for a run, its trainer runs on without it)."""
    status: _S
    manifest: _M
    unsupervised: bool = False
    """The job's supervisor is gone without recording an end; the state was judged from what its worker
    (a run's trainer) wrote itself."""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES and not self.alive


# -------------------------------------------------------------------------------------- directories


def new_job_id(label: str, now: datetime | None = None, kind: str = "") -> str:
    """A sortable, unique, filesystem-safe id: `20261123-083012-[<kind>-]<label>-<4 hex>`."""
    now = now or datetime.now()
    slug = _SAFE.sub("-", label.lower()).strip("-")[:32] or "run"
    return f"{now:%Y%m%d-%H%M%S}-{kind + '-' if kind else ''}{slug}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class JobDir(Generic[_S, _M]):
    """One job's directory. Subclasses name the files and the records of their kind (`STATUS`,
    `MANIFEST`: the Status and Manifest subclasses its files hold); creating one never touches disk."""

    path: Path
    STATUS_NAME: ClassVar[str] = "status.json"
    MANIFEST_NAME: ClassVar[str] = "manifest.json"
    LOG_NAME: ClassVar[str] = "job.log"
    STATUS: ClassVar[type[Status]] = Status
    MANIFEST: ClassVar[type[Manifest]] = Manifest

    @property
    def job_id(self) -> str:
        return self.path.name

    @property
    def manifest(self) -> Path:
        return self.path / self.MANIFEST_NAME

    @property
    def status(self) -> Path:
        return self.path / self.STATUS_NAME

    @property
    def log(self) -> Path:
        return self.path / self.LOG_NAME

    def read_manifest(self) -> _M:
        return cast(_M, self.MANIFEST.from_json(read_json(self.manifest)))

    def write_manifest(self, manifest: _M) -> None:
        write_json_atomic(self.manifest, manifest.to_json())

    def read_status(self) -> _S:
        return cast(_S, self.STATUS.from_json(read_json(self.status)))

    def write_status(self, **changes: Any) -> _S:
        """Merge `changes` (fields of this kind's Status) into the status file and stamp `updated_at`.

        Raises:
            TypeError: a name that is not a field of this kind's Status (`url` for a run, `step` for a
                server).
            OSError: the file could not be written (the old one stays whole).
        """
        status = self.read_status().replace(**changes, updated_at=time.time())
        write_json_atomic(self.status, status.to_json())
        return status

    def resolve(self, now: float | None = None) -> JobView[_S, _M]:
        """The job's real state (see `judge_state`)."""
        status = self.read_status()
        manifest = self.read_manifest()
        alive = manifest.process.alive
        heartbeat = status.heartbeat or status.updated_at
        state = judge_state(status.state, heartbeat, alive, manifest.recorded, now or time.time())
        return JobView(state, alive, status, manifest)


_J = TypeVar("_J", bound=JobDir[Any, Any])


def create_job_dir(cls: type[_J], root: Path, label: str, kind: str = "") -> _J:
    """A fresh, private (0700) job directory of class `cls` under `root`.

    Raises:
        RuntimeError: no unique name could be made (ten collisions in a row).
        OSError: `root` cannot be written.
    """
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for _ in range(10):
        path = root / new_job_id(label, kind=kind)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return cls(path)
    raise RuntimeError(f"could not create a unique job directory under {root}")


def find_job(ref: str, root: Path, marker: str, what: str, listing: str) -> Path:
    """A job directory by path, exact id, unique id prefix or unique substring.

    Args:
        ref: What the user typed.
        root: Where jobs of this kind live.
        marker: A file every directory of this kind has (config.toml, spec.json).
        what: The kind in words, for errors (`run`, `serve job`).
        listing: The command that lists them, for errors.

    Raises:
        LookupError: nothing or several match; the message says what to do.
    """
    if not ref.strip():
        raise LookupError(
            f"no {what} given (an empty name would match every {what}); give an id or directory"
        )
    candidate = Path(ref).expanduser()
    if candidate.is_dir() and (candidate / marker).is_file():
        return candidate.resolve()
    try:
        names = sorted(p.name for p in root.iterdir() if (p / marker).is_file()) if root.is_dir() else []
    except OSError:
        names = []
    matches = [n for n in names if n == ref] or [n for n in names if n.startswith(ref)]
    matches = matches or [n for n in names if ref in n]
    if not matches:
        raise LookupError(f"no {what} matches {ref!r} under {root}; `{listing}` lists them")
    if len(matches) > 1:
        raise LookupError(
            f"{ref!r} matches {len(matches)} {what}s ({', '.join(matches[:5])}...); give more of the id"
        )
    return root / matches[0]


def job_dirs(root: Path, marker: str) -> list[Path]:
    """Every job directory under `root` holding `marker`, newest first. Entries that cannot be inspected
    (another user's directory, a chmod 000 one) are left out instead of failing the whole list."""
    try:
        entries = sorted(root.iterdir(), reverse=True)
    except OSError:
        return []
    found = []
    for path in entries:
        try:
            if path.is_dir() and (path / marker).is_file():
                found.append(path)
        except OSError:
            continue
    return found
