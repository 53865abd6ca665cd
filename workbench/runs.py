"""The run directory: the only contract between a training run's processes and whoever watches it.

This module owns every file a run has, as typed records with the functions that read and write them;
the jobs, the screens and the CLI all go through it. Layout of `<runs home>/<run id>/`:

| file | written by | record | what |
| --- | --- | --- | --- |
| config.toml | launcher, before the job starts | `RunConfig` | the validated config |
| manifest.json | supervisor | `jobdir.Manifest` | pid, pgid, process start time, host, command, attempts |
| status.json | supervisor (merges progress.json) | `jobdir.Status` | state, heartbeat, step, exit, error |
| progress.json | trainer | `Progress` | phase, step, max_steps, outcome |
| plan.json | trainer | `Plan` | the batch shape, vLLM share and memory estimate it chose |
| distributed.json, accelerate.yaml | supervisor (several GPUs) | `distributed.Ports` | GPUs, ports |
| metrics.jsonl | trainer | `MetricsRecord` | one object per logged step, TRL's key names + `time/<phase>` |
| samples.jsonl | trainer | `Sample` | a few prompt/completion/per-reward rows per step |
| gpu.jsonl | trainer | `gpu.GpuSample` | NVML memory and utilisation samples (GPU machines only) |
| data.json | trainer | `data.DataStats` | data statistics |
| heldout.jsonl | trainer | `HeldOutRow` | the held-out rows (never trained on) |
| train.log | trainer and supervisor (append mode) | text | the human log |
| checkpoints/checkpoint-N/ | trainer | TRL | adapter, optimizer, scheduler, RNG, trainer state |
| adapter/ | trainer | PEFT | the final LoRA adapter |
| eval/ | evaluation job | `EvalDir` | progress.json, eval-*.json, rows-*.jsonl, summary.csv, eval.log |
| notify.json | notifier (`jobs.notify`) | `Notification` | how the webhook at the run's end went (no URL) |

Serve jobs live beside runs (`workbench.serving.ServeDir`), on the same job model (`workbench.jobdir`).
A run is alive only if its supervisor pid exists, is not a zombie and started at the time the manifest
recorded (pid-reuse guard); otherwise status.json is believed, and a non-final state with a dead
supervisor means the run crashed.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.atomic import JsonlWriter, read_json, write_json_atomic
from workbench.jobdir import (
    FINAL_STATES,
    HEARTBEAT_SECONDS,
    LIVE_STATES,
    STALE_AFTER,
    JobDir,
    JobState,
    JobView,
    Manifest,
    ProcessRef,
    Record,
    Status,
    as_mapping,
    create_job_dir,
    find_job,
    job_dirs,
    number,
    process_matches,
    process_start_time,
)

__all__ = [
    "FINAL_STATES",
    "HEARTBEAT_SECONDS",
    "LIVE_STATES",
    "STALE_AFTER",
    "JobState",
    "Manifest",
    "ProcessRef",
    "Status",
    "process_matches",
    "process_start_time",
]
"""The job-model names the run contract re-exports: a run's manifest and status are those of any job."""

MetricsRecord = dict[str, Any]
"""One metrics.jsonl line: TRL's logged keys (`reward`, `rewards/<name>/mean`, `loss`, ...) as numbers,
`step`, `time`, and `time/<phase>` seconds (`workbench.series.phase_key`); an `event` line marks a resume."""
HeldOutRow = dict[str, Any]
"""One heldout.jsonl line: a formatted row of `workbench.data` (prompt, answer, question, type, ...)."""


@dataclass(frozen=True)
class Progress(Record):
    """progress.json: what the trainer is doing, merged into status.json by the supervisor."""

    phase: str = "starting"
    step: int | None = None
    """None until the trainer knows it (a resume's status keeps the last attempt's step until then)."""
    max_steps: int | None = None
    build_step: int = 0
    build_total: int = 0
    last_checkpoint: int | None = None
    outcome: str | None = None
    """How training ended as the trainer saw it: `completed`, `stopped` or `failed`."""
    error: str | None = None
    updated_at: float | None = None


@dataclass(frozen=True)
class Plan(Record):
    """plan.json: what the run actually uses (the batch shape chosen by `workbench.shaping`)."""

    per_device_train_batch_size: int = 0
    gradient_accumulation_steps: int = 0
    vllm_share: float | None = None
    gpu_total_gib: float | None = None
    estimate: dict[str, Any] | None = None
    """The memory estimate (`workbench.memory`), GiB by part."""
    gradient_checkpointing: bool = True
    describe: str = ""
    num_processes: int = 1


@dataclass(frozen=True)
class Sample(Record):
    """One samples.jsonl line: a completion of a training step with each reward's score."""

    step: int = 0
    time: float | None = None
    index: int = 0
    """The completion's position in the step's batch."""
    question: str = ""
    answer: str | None = None
    completion: str = ""
    rewards: dict[str, Any] = field(default_factory=dict)
    """Reward function name -> score (None where the function gave none)."""
    total: float | None = None
    """The weighted sum TRL logs as `reward`."""


@dataclass(frozen=True)
class Notification(Record):
    """notify.json: how the webhook announcing the run's end went (`workbench.notify`); never the URL."""

    state: str | None = None
    """The ending announced: completed, failed or crashed."""
    attempt: int = 0
    """The run attempt that ended (a resumed run that ends again is announced again)."""
    delivered: bool = False
    tries: int = 0
    """POSTs made (at most `workbench.notify.ATTEMPTS`)."""
    http_status: int | None = None
    """The last answer's status, None when none came (timeout, refused)."""
    error: str | None = None
    """Why it was not delivered, with the URL redacted."""
    sent_at: float | None = None


@dataclass(frozen=True)
class RunDir(JobDir):
    """Paths inside one run directory, and the reads and writes of its records."""

    LOG_NAME = "train.log"

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    @property
    def progress(self) -> Path:
        return self.path / "progress.json"

    @property
    def plan(self) -> Path:
        return self.path / "plan.json"

    @property
    def distributed(self) -> Path:
        return self.path / "distributed.json"

    @property
    def accelerate_config(self) -> Path:
        return self.path / "accelerate.yaml"

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

    @property
    def eval(self) -> EvalDir:
        return EvalDir(self.path / "eval")

    @property
    def notification(self) -> Path:
        return self.path / "notify.json"

    def read_notification(self) -> Notification | None:
        """notify.json, or None while no webhook was sent for the run."""
        data = read_json(self.notification)
        return Notification.from_json(data) if isinstance(data, Mapping) else None

    def write_notification(self, notification: Notification) -> None:
        write_json_atomic(self.notification, notification.to_json())

    def read_progress(self) -> Progress:
        return Progress.from_json(read_json(self.progress))

    def write_progress(self, progress: Progress) -> None:
        write_json_atomic(self.progress, progress.to_json())

    def read_plan(self) -> Plan | None:
        """plan.json, or None before the trainer chose its batch shape."""
        data = read_json(self.plan)
        return Plan.from_json(data) if isinstance(data, Mapping) else None

    def write_plan(self, plan: Plan) -> None:
        write_json_atomic(self.plan, plan.to_json())

    def read_data_stats(self) -> dict[str, Any]:
        """data.json (`workbench.data.DataStats.to_dict`), or {} before the data was prepared."""
        return dict(as_mapping(read_json(self.data_stats)))

    def write_data_stats(self, stats: Mapping[str, Any]) -> None:
        write_json_atomic(self.data_stats, dict(stats))

    def write_held_out(self, rows: Iterable[HeldOutRow]) -> None:
        """Write heldout.jsonl whole (a resume keeps the first attempt's rows: call only when absent)."""
        with self.held_out.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def read_held_out(self, limit: int | None = None) -> list[HeldOutRow]:
        """The run's held-out rows (the first `limit` of them).

        Raises:
            FileNotFoundError: the run never got as far as preparing its data (or data.held_out was 0).
        """
        if not self.held_out.is_file():
            raise FileNotFoundError(
                f"{self.held_out} does not exist: the run never got as far as preparing its data "
                "(or data.held_out was 0)"
            )
        text = self.held_out.read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line]
        return rows[:limit] if limit else rows

    def metrics_writer(self) -> JsonlWriter:
        return JsonlWriter(self.metrics)

    def samples_writer(self) -> JsonlWriter:
        return JsonlWriter(self.samples)

    def gpu_writer(self) -> JsonlWriter:
        return JsonlWriter(self.gpu)


# ------------------------------------------------------------------------------------------ eval/

EVAL_LOG = "eval.log"
"""The evaluation job's log inside eval/ (jobs started from the TUI append their output there)."""


@dataclass(frozen=True)
class EvalProgress(Record):
    """eval/progress.json: the evaluation job's status (its state and process, and how far it got).

    The launcher writes it (`starting`, with the job's pid and start time) before the job runs; from its
    first batch on the job rewrites it.
    """

    state: str | None = None
    """A `JobState`: starting, running, completed, stopped, failed (crashed is judged, never written)."""
    pid: int | None = None
    create_time: float | None = None
    tasks: tuple[str, ...] = ()
    """`<target>/<decoding>` of every task, in order."""
    task: int = 0
    target: str | None = None
    decoding: str | None = None
    done: int = 0
    total: int | None = None
    elapsed_s: float | None = None
    rows_per_s: float | None = None
    eta_s: float | None = None
    started_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    command: tuple[str, ...] = ()
    error: str | None = None

    @property
    def process(self) -> ProcessRef:
        return ProcessRef(self.pid, self.create_time)


@dataclass(frozen=True)
class Estimate(Record):
    """A proportion or mean with its 95% interval."""

    value: float = 0.0
    ci_low: float = 0.0
    ci_high: float = 0.0


@dataclass(frozen=True)
class GroupMetrics:
    """The metrics of one group of rows (all, a family such as GSM, a type) in an eval result."""

    rows: int = 0
    samples: int = 0
    scoring_timeouts: int = 0
    """Completions whose comparison with the gold answer ran past grpo.scoring_timeout_s (counted wrong)."""
    accuracy: Estimate | None = None
    format: Estimate | None = None
    mean_length: Estimate | None = None
    pass_at_k: dict[int, Estimate] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> GroupMetrics:
        m = as_mapping(data)

        def estimate(key: str) -> Estimate | None:
            return Estimate.from_json(m[key]) if isinstance(m.get(key), Mapping) else None

        passes = {
            int(k): Estimate.from_json(v) for k, v in as_mapping(m.get("pass_at_k")).items() if k.isdigit()
        }
        return cls(
            rows=int(number(m.get("rows")) or 0),
            samples=int(number(m.get("samples")) or 0),
            scoring_timeouts=int(number(m.get("scoring_timeouts")) or 0),
            accuracy=estimate("accuracy"),
            format=estimate("format"),
            mean_length=estimate("mean_length"),
            pass_at_k=dict(sorted(passes.items())),
        )


@dataclass(frozen=True)
class EvalResult:
    """One eval-<target>-<decoding>.json, typed for readers; `data` keeps the whole file."""

    target: str
    decoding: str
    """The decoding's name: `greedy` or `sample-n<N>`."""
    rows_done: int
    rows_total: int
    partial: bool
    overall: GroupMetrics
    by_family: dict[str, GroupMetrics]
    by_type: dict[str, GroupMetrics]
    data: dict[str, Any]

    @classmethod
    def from_json(cls, data: Any) -> EvalResult:
        d = dict(as_mapping(data))
        metrics = as_mapping(d.get("metrics"))
        return cls(
            target=str(d.get("target", "?")),
            decoding=str(as_mapping(d.get("decoding")).get("name", "?")),
            rows_done=int(number(d.get("rows_done")) or 0),
            rows_total=int(number(d.get("rows_total")) or 0),
            partial=bool(d.get("partial")),
            overall=GroupMetrics.from_json(metrics.get("overall")),
            by_family={
                str(k): GroupMetrics.from_json(v) for k, v in as_mapping(metrics.get("by_family")).items()
            },
            by_type={
                str(k): GroupMetrics.from_json(v) for k, v in as_mapping(metrics.get("by_type")).items()
            },
            data=d,
        )

    @property
    def label(self) -> str:
        """The target, with `*` when the evaluation was cut short (as every table marks it)."""
        return self.target + ("*" if self.partial else "")


@dataclass(frozen=True)
class EvalDir:
    """`<run>/eval/`: the evaluation job's directory inside its run."""

    path: Path

    @classmethod
    def of(cls, run: RunDir) -> EvalDir:
        return run.eval

    @property
    def progress(self) -> Path:
        return self.path / "progress.json"

    @property
    def summary_csv(self) -> Path:
        return self.path / "summary.csv"

    @property
    def log(self) -> Path:
        return self.path / EVAL_LOG

    def rows(self, target: str, decoding: str) -> Path:
        return self.path / f"rows-{target}-{decoding}.jsonl"

    def result(self, target: str, decoding: str) -> Path:
        return self.path / f"eval-{target}-{decoding}.json"

    def ensure(self) -> EvalDir:
        """Create the directory (0700) if missing."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self

    def results(self) -> list[EvalResult]:
        """Every eval-*.json of the run, by file name."""
        found = [read_json(p) for p in sorted(self.path.glob("eval-*.json"))] if self.path.is_dir() else []
        return [EvalResult.from_json(r) for r in found if isinstance(r, Mapping)]

    def write_result(self, result: Mapping[str, Any]) -> EvalResult:
        """Write one eval result (`workbench.evaluation` builds it) as eval-<target>-<decoding>.json."""
        typed = EvalResult.from_json(result)
        write_json_atomic(self.result(typed.target, typed.decoding), dict(result))
        return typed

    def read_progress(self) -> EvalProgress:
        """progress.json; an empty record (state None) when there is none or it cannot be read."""
        return EvalProgress.from_json(read_json(self.progress))

    def write_progress(self, progress: EvalProgress) -> None:
        self.ensure()
        write_json_atomic(self.progress, progress.to_json())

    def results_signature(self) -> tuple[tuple[str, int, int], ...]:
        """(name, size, mtime) of every eval-*.json: a watcher re-reads the results only when it changes."""
        if not self.path.is_dir():
            return ()
        found = []
        for path in sorted(self.path.glob("eval-*.json")):
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((path.name, stat.st_size, stat.st_mtime_ns))
        return tuple(found)


# ------------------------------------------------------------------------------------- run lookup


def create_run_dir(label: str, root: Path | None = None) -> RunDir:
    """Make a fresh, private (0700) run directory."""
    return create_job_dir(RunDir, root or paths.runs_dir(), label)


def find_run(ref: str, root: Path | None = None) -> RunDir:
    """A run by id, unique id prefix, unique label substring, or path.

    Raises:
        LookupError: no run or several runs match.
    """
    path = find_job(ref, root or paths.runs_dir(), "config.toml", "run", "grpo-workbench runs")
    return RunDir(path)


def resolve_state(job: JobDir, now: float | None = None) -> tuple[JobState, bool, Status]:
    """(state, process alive, status) of a run or any job: `JobDir.resolve` as a tuple."""
    view = job.resolve(now)
    return view.state, view.alive, view.status


@dataclass(frozen=True)
class RunStatus:
    """What a viewer shows of a run's status: status.json resolved against the process table (cheap: two
    small JSON files and one process lookup). Compared by value, so a watcher posts only real changes
    (heartbeats alone are not one)."""

    state: str = "unknown"
    """A `JobState`, or `unknown` before the first read."""
    alive: bool = False
    step: int = 0
    max_steps: int = 0
    phase: str = ""
    error: str | None = None
    build_step: int = 0
    """Progress of a first-use model build (the tiny preset's warm start) before training starts."""
    build_total: int = 0

    @classmethod
    def of(cls, view: JobView) -> RunStatus:
        status = view.status
        return cls(
            state=view.state,
            alive=view.alive,
            step=status.step,
            max_steps=status.max_steps,
            phase=status.phase,
            error=status.error,
            build_step=status.build_step,
            build_total=status.build_total,
        )

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES and not self.alive


def read_run_status(run: RunDir) -> RunStatus:
    """The run's state now (see `RunStatus`)."""
    return RunStatus.of(run.resolve())


@dataclass(frozen=True)
class RunInfo:
    """A run as lists show it: its `RunStatus`, and the few facts that come from its manifest, its config
    and its last metrics line (no full metrics replay)."""

    run: RunDir
    status: RunStatus
    label: str
    model: str
    max_steps: int
    """status.json's max_steps, else the config's grpo.max_steps."""
    started_at: float | None
    """When this attempt started (a resume starts a new one)."""
    updated_at: float | None
    latest_reward: float | None
    created_at: float | None = None
    """When the run's first attempt started: its age, however often it was resumed."""
    attempt: int = 0
    """1 for the first start, 2 after the first resume, ... (0: never started)."""
    finished_at: float | None = None
    """When this attempt ended (None while it runs)."""

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def alive(self) -> bool:
        return self.status.alive

    @property
    def step(self) -> int:
        return self.status.step

    @property
    def phase(self) -> str:
        return self.status.phase

    @property
    def error(self) -> str | None:
        return self.status.error

    def to_dict(self) -> dict[str, Any]:
        """The `runs --json` object."""
        return {
            "run_id": self.run.run_id,
            "path": str(self.run.path),
            "state": self.state,
            "step": self.step,
            "max_steps": self.max_steps,
            "alive": self.alive,
            "label": self.label,
            "model": self.model,
            "created_at": self.created_at,
            "attempt": self.attempt,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "updated_at": self.updated_at,
            "latest_reward": self.latest_reward,
            "error": self.error,
            "phase": self.phase,
        }


def last_reward(run: RunDir) -> float | None:
    """The `reward` of the last metrics line, read from the file's tail only."""
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
        if isinstance(record, dict) and number(record.get("reward")) is not None:
            return float(record["reward"])
    return None


def read_config_table(run: RunDir, *, strict: bool = False) -> dict[str, Any]:
    """config.toml as plain TOML (not validated: a list must show a run whose config no longer loads).

    Args:
        run: The run.
        strict: Raise when the file cannot be read or parsed, instead of returning {}.

    Raises:
        OSError, ValueError: with `strict`, the file is missing or unreadable, or not TOML (UTF-8).
    """
    try:
        return tomllib.loads(run.config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        if strict:
            raise
        return {}


def run_info(run: RunDir) -> RunInfo:
    """Everything the runs list needs about one run, cheaply (no full metrics replay)."""
    view = run.resolve()
    config = read_config_table(run)
    grpo, model = as_mapping(config.get("grpo")), as_mapping(config.get("model"))
    configured = number(grpo.get("max_steps"))
    return RunInfo(
        run=run,
        status=RunStatus.of(view),
        label=str(config.get("name") or ""),
        model=str(model.get("name", "?")),
        max_steps=view.status.max_steps or (int(configured) if configured else 0),
        started_at=view.manifest.started_at,
        updated_at=view.status.updated_at,
        latest_reward=last_reward(run),
        created_at=view.manifest.first_started_at,
        attempt=view.manifest.attempt,
        finished_at=view.status.finished_at,
    )


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run under the runs home, newest first."""
    return [run_info(r) for r in run_dirs(root)]


def run_dirs(root: Path | None = None) -> list[RunDir]:
    """Every run directory under the runs home, newest first (unreadable entries left out)."""
    return [RunDir(p) for p in job_dirs(root or paths.runs_dir(), "config.toml")]


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
