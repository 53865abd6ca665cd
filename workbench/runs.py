"""The run directory: the only contract between a training run's processes and whoever watches it.

This module owns every file a run has, as typed records with the functions that read and write them;
the jobs, the screens and the CLI all go through it. Layout of `<runs home>/<run id>/`:

| file | written by | record | what |
| --- | --- | --- | --- |
| config.toml | launcher, before the job starts | `RunConfig` | the validated config |
| custom_rewards/ | launcher, before the job starts | Python files | copies of the custom reward files |
| manifest.json | supervisor | `RunManifest` | pid, pgid, start time, host, command, attempts, trainer |
| status.json | supervisor (+progress.json), launcher | `TrainingStatus` | state, heartbeat, step, exit |
| progress.json | trainer | `Progress` | phase, step, max_steps, outcome |
| plan.json | trainer | `Plan` | the batch shape, vLLM share and memory estimate it chose |
| distributed.json, accelerate.yaml | supervisor (several GPUs) | `distributed.Ports` | GPUs, ports |
| metrics.jsonl | trainer, launcher (resume) | `MetricsRecord` | one line a step, TRL's keys, `time/<phase>` |
| samples.jsonl | trainer | `Sample` | a few prompt/completion/per-reward rows per step |
| rollouts.jsonl | trainer | `RolloutStep` | whole groups of each step: scores, advantages, lengths |
| rollouts.1.jsonl | trainer | `RolloutStep` | the rollouts before the last rotation (`RolloutWriter`) |
| health.json | trainer | `HealthReport` | health signals active now, and the last that cleared |
| gpu.jsonl | trainer | `gpu.GpuSample` | NVML memory and utilisation samples (GPU machines only) |
| data.json | trainer | `data.DataStats` | data statistics |
| heldout.jsonl | trainer | `HeldOutRow` | the held-out rows (never trained on) |
| train.log | trainer and supervisor (append mode) | text | the human log |
| checkpoints/checkpoint-N/ | trainer | TRL | adapter, optimizer, scheduler, RNG, trainer state |
| checkpoints/README.md | trainer | TRL | TRL's model card, rewritten at each save (never read here) |
| adapter/ | trainer | PEFT | the final LoRA adapter |
| eval/ | evaluation job | `EvalDir` | progress.json, eval-*.json, rows-*.jsonl, summary.csv, eval.log |
| exports/ | export job | `ExportDir` | status.json, manifest.json, export.log; the default outputs |
| exports/<format>[-ckpt]/ | export job | `ExportRecord` | merged model, GGUF or adapter + export.json |
| trackers/ | trainer (TRL's reporters) | `tracker_dir` | tensorboard/ events, wandb/ offline runs, trackio/ |
| notify.json | notifier (`jobs.notify`) | `Notification` | how the webhook at the run's end went (no URL) |

Serve jobs live beside runs (`workbench.serving.ServeDir`), on the same job model (`workbench.jobdir`).
A run is alive only if its supervisor pid exists, is not a zombie and started at the time the manifest
recorded (pid-reuse guard); otherwise status.json is believed. A non-final state with a dead supervisor
is judged from the trainer (`RunDir.resolve`): still running (an orphan: alive, its live step), or the
outcome its progress.json recorded, else crashed.
"""

from __future__ import annotations

import json
import os
import re
import threading
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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

_S = TypeVar("_S", bound=Status)
MetricsRecord = dict[str, Any]
"""One metrics.jsonl line: TRL's logged keys (`reward`, `rewards/<name>/mean`, `loss`, ...) as numbers,
`step`, `time`, and `time/<phase>` seconds (`workbench.series.phase_key`); an `event` line marks a resume."""
HeldOutRow = dict[str, Any]
"""One heldout.jsonl line: a formatted row of `workbench.data` (prompt, answer, question, type, ...)."""


@dataclass(frozen=True)
class RunManifest(Manifest):
    """A run's manifest.json: its supervisor (the job's process, `Manifest`'s fields) and the processes
    the supervisor started for this attempt."""

    trainer_pid: int | None = None
    trainer_create_time: float | None = None
    """The trainer's start time: a trainer left running by a killed supervisor can be told from a process
    that reused its pid."""
    server_pid: int | None = None
    """The vLLM server of a run in server mode (`distributed.mode = "server"`, machine 0)."""
    server_create_time: float | None = None

    @property
    def trainer(self) -> ProcessRef:
        return ProcessRef(self.trainer_pid, self.trainer_create_time)


@dataclass(frozen=True)
class TrainingStatus(Status):
    """A run's status.json: `Status` plus how far training got (merged from the trainer's progress.json
    by the supervisor, `merge_progress`)."""

    step: int = 0
    max_steps: int = 0
    build_step: int = 0
    """Progress of a first-use model build (the tiny preset's warm start) before training starts."""
    build_total: int = 0


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


def merge_progress(last: TrainingStatus, progress: Progress) -> dict[str, Any]:
    """The status.json fields taken from the trainer's progress.json (by the supervisor at each heartbeat,
    and by readers when the supervisor is gone). A step the trainer does not know yet (a resume loading
    its model) keeps the last one written, so a resumed run never reads `0/200` between attempts."""
    return {
        "phase": progress.phase,
        "step": last.step if progress.step is None else progress.step,
        "max_steps": last.max_steps if progress.max_steps is None else progress.max_steps,
        "build_step": progress.build_step,
        "build_total": progress.build_total,
    }


SUPERVISED_STATES: frozenset[str] = frozenset({"starting", "running", "stopping"})
"""The states only a live supervisor writes: with the supervisor gone, the trainer's word is taken."""
TRAINER_OUTCOMES: frozenset[str] = frozenset({"completed", "stopped", "failed"})


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
class RolloutCompletion(Record):
    """One completion of a rollout group: its scores, its GRPO advantage, its length."""

    completion: str = ""
    rewards: dict[str, Any] = field(default_factory=dict)
    """Reward function name -> score (None where the function gave none)."""
    total: float | None = None
    """The weighted sum of the scores (functions that gave None left out), as TRL sums them; None when
    every function gave None (TRL then forces the advantage to 0)."""
    advantage: float = 0.0
    """The advantage TRL trained this completion with (`workbench.rollouts.grpo_advantages`)."""
    length: int | None = None
    """Completion tokens (TRL's `completions/*_length` count them the same way); None if unknown."""
    truncated: bool | None = None
    """True when the completion hit grpo.max_completion_length without an end-of-sequence token (TRL's
    `completions/clipped_ratio` counts these)."""


@dataclass(frozen=True)
class RolloutGroup(Record):
    """The G completions of one prompt in one step (GRPO's group), with its reward mean and spread."""

    index: int = 0
    """The group's position in the step's batch on the writing process (prompt number)."""
    question: str = ""
    answer: str | None = None
    mean: float | None = None
    """Mean total reward of the group (TRL's baseline)."""
    std: float | None = None
    """Standard deviation of the group's totals (Bessel-corrected, as TRL's `nanstd`)."""
    zero_std: bool = False
    """Every completion scored the same: every advantage is 0, the group teaches nothing."""
    completions: tuple[RolloutCompletion, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> RolloutGroup:
        m = as_mapping(data)
        base = super().from_json({k: v for k, v in m.items() if k != "completions"})
        items = m.get("completions")
        found = items if isinstance(items, list) else []
        return base.replace(
            completions=tuple(RolloutCompletion.from_json(c) for c in found if isinstance(c, Mapping))
        )

    @property
    def best(self) -> RolloutCompletion | None:
        """The completion with the highest advantage (the first of equals)."""
        return max(self.completions, key=lambda c: c.advantage, default=None)

    @property
    def worst(self) -> RolloutCompletion | None:
        """The completion with the lowest advantage (the last of equals, so never `best` in a group of
        two or more)."""
        return min(reversed(self.completions), key=lambda c: c.advantage, default=None)

    @property
    def top_advantage(self) -> float:
        return max((c.advantage for c in self.completions), default=0.0)


@dataclass(frozen=True)
class RolloutStep(Record):
    """One rollouts.jsonl line: the whole groups written for one training step.

    `step` is the first key of every line, so a reader indexes the file without parsing the lines.
    """

    step: int = 0
    time: float | None = None
    num_generations: int = 0
    scale_rewards: str = "group"
    """TRL's scale_rewards for the run: `group` (divide by the group's std + 1e-4), `batch` (by the
    batch's), `none`."""
    aggregation: str = "sum_then_normalize"
    """TRL's multi_objective_aggregation for the run."""
    groups_in_batch: int = 0
    """Groups the writing process scored this step (the groups below are some of them)."""
    zero_std_groups: int = 0
    """How many of those had zero reward variance."""
    truncated: int = 0
    """How many of the step's completions on the writing process were truncated."""
    groups: tuple[RolloutGroup, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> RolloutStep:
        m = as_mapping(data)
        base = super().from_json({k: v for k, v in m.items() if k != "groups"})
        items = m.get("groups")
        found = items if isinstance(items, list) else []
        return base.replace(groups=tuple(RolloutGroup.from_json(g) for g in found if isinstance(g, Mapping)))


@dataclass(frozen=True)
class HealthAlert(Record):
    """One health signal of a run (`workbench.health` decides them): what is wrong, since when, the fix."""

    signal: str = ""
    """`zero_std`, `clipped`, `entropy_collapse`, `nan_loss` or `slow_step`."""
    severity: str = "warning"
    """`warning` (training goes on) or `error` (the run stops, or should)."""
    since_step: int = 0
    step: int = 0
    """The last step at which the condition held."""
    value: float | None = None
    message: str = ""
    """What is wrong, with the numbers, and what to do about it."""
    cleared_step: int | None = None
    """The step at which the condition stopped holding (past alerts only)."""

    @property
    def title(self) -> str:
        """A short name for lists: `zero reward variance`, `all clipped`, ..."""
        return HEALTH_TITLES.get(self.signal, self.signal)


HEALTH_TITLES = {
    "zero_std": "zero reward variance",
    "clipped": "all completions clipped",
    "entropy_collapse": "entropy collapse",
    "nan_loss": "loss not finite",
    "slow_step": "slow step",
}
"""Short names of the health signals, for lists and tables."""


@dataclass(frozen=True)
class HealthReport(Record):
    """health.json: the run's health signals as the trainer last judged them."""

    step: int = 0
    updated_at: float | None = None
    active: tuple[HealthAlert, ...] = ()
    """The signals whose condition holds at `step`."""
    past: tuple[HealthAlert, ...] = ()
    """Signals that held earlier and cleared (the latest `HEALTH_PAST_KEPT`), oldest first."""

    @classmethod
    def from_json(cls, data: Any) -> HealthReport:
        m = as_mapping(data)
        base = super().from_json({k: v for k, v in m.items() if k not in ("active", "past")})

        def alerts(key: str) -> tuple[HealthAlert, ...]:
            items = m.get(key)
            found = items if isinstance(items, list) else []
            return tuple(HealthAlert.from_json(a) for a in found if isinstance(a, Mapping))

        return base.replace(active=alerts("active"), past=alerts("past"))

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "updated_at": self.updated_at,
            "active": [a.to_json() for a in self.active],
            "past": [a.to_json() for a in self.past],
        }


HEALTH_PAST_KEPT = 20
"""Cleared alerts health.json keeps."""


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
class RunDir(JobDir[TrainingStatus, RunManifest]):
    """Paths inside one run directory, and the reads and writes of its records."""

    LOG_NAME = "train.log"
    STATUS = TrainingStatus
    MANIFEST = RunManifest

    def resolve(self, now: float | None = None) -> JobView[TrainingStatus, RunManifest]:
        """The run's real state: `JobDir.resolve`, and when the supervisor is gone without recording an end
        (killed: status.json still says starting, running or stopping), what its trainer says.

        The trainer writes its own progress.json (step, phase, and how it ended). A trainer still running
        without its supervisor (an orphan) makes the run `running` (`stopping` if a stop was under way)
        and alive, with its live step; a trainer that ended makes it the outcome it recorded (`completed`,
        `stopped`, `failed`), else `crashed`. Either way the view is `unsupervised` and its error says the
        supervisor is gone. Only this attempt's progress counts (written after the supervisor started).
        Nothing is written: a reader never changes the run directory.
        """
        view = super().resolve(now)
        if view.alive or view.status.state not in SUPERVISED_STATES:
            return view
        manifest, status = view.manifest, view.status
        progress = self.read_progress()
        fresh = (
            progress.updated_at is not None
            and manifest.started_at is not None
            and progress.updated_at >= manifest.started_at
        )
        if fresh:
            status = status.replace(**merge_progress(status, progress))
        gone = f"the supervisor (pid {manifest.pid}) is gone"
        if manifest.trainer.alive:
            state: JobState = "stopping" if status.state == "stopping" else "running"
            error = (
                f"{gone}; its trainer (pid {manifest.trainer_pid}) runs on unwatched: `grpo-workbench stop "
                f"{self.run_id}` stops it with a checkpoint"
            )
            return JobView(state, True, status.replace(error=error), manifest, unsupervised=True)
        if fresh and progress.outcome in TRAINER_OUTCOMES:
            outcome: JobState = progress.outcome  # type: ignore[assignment]
            error = f"{gone}; the trainer recorded its end itself: {outcome}"
            if progress.error:
                error = f"{progress.error}\n{error}"
            ended = status.replace(error=error, finished_at=progress.updated_at)
            return JobView(outcome, False, ended, manifest, unsupervised=True)
        error = f"{gone}, and its trainer ended without recording how (killed?)"
        return JobView("crashed", False, status.replace(error=error), manifest, unsupervised=True)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    @property
    def custom_rewards(self) -> Path:
        return self.path / "custom_rewards"

    def custom_reward_file(self, file: str) -> Path:
        """The run's copy of a custom reward file (config.toml keeps the path it was copied from; the
        config refuses two files of one name)."""
        return self.custom_rewards / Path(file).name

    def custom_reward_files(self, entries: Iterable[Any]) -> dict[str, str]:
        """Function name -> the run's copy of its file, for every `CustomReward` entry."""
        return {entry.function: str(self.custom_reward_file(entry.file)) for entry in entries}

    def copy_custom_rewards(self, files: Iterable[str]) -> None:
        """Copy each custom reward file into custom_rewards/ (read-only: the run's code must not change).

        Raises:
            OSError: a file cannot be read, or the copy cannot be written.
        """
        for file in dict.fromkeys(files):
            target = self.custom_reward_file(file)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = Path(file).read_bytes()
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            tmp.chmod(0o444)
            os.replace(tmp, target)

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
    def rollouts(self) -> Path:
        """The rollout groups being written (`RolloutWriter`)."""
        return self.path / "rollouts.jsonl"

    @property
    def rollouts_rotated(self) -> Path:
        """The previous rollouts.jsonl once it reached `ROLLOUT_FILE_BYTES` (one is kept)."""
        return self.path / "rollouts.1.jsonl"

    @property
    def health(self) -> Path:
        return self.path / "health.json"

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
    def model_card(self) -> Path:
        """checkpoints/README.md: the model card TRL's trainer writes beside its checkpoints (rewritten
        at each save; the workbench never reads it)."""
        return self.checkpoints / "README.md"

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def eval(self) -> EvalDir:
        return EvalDir(self.path / "eval")

    @property
    def exports(self) -> ExportDir:
        return ExportDir(self.path / "exports")

    @property
    def trackers(self) -> Path:
        """Where the experiment trackers of `grpo.report_to` write (`tracker_dir` names each one's)."""
        return self.path / "trackers"

    def tracker_dir(self, tracker: str) -> Path:
        """trackers/<tracker>/: TensorBoard's event files, wandb's offline runs, trackio's database."""
        return self.trackers / tracker

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

    def mark_resume(self, step: int, now: float) -> None:
        """Record, as a resume is launched, where its attempt starts: status.json (pending, resuming, at
        `step`) and a `resume` event at `step` in metrics.jsonl.

        The trainer writes its own `resume` event only once its model is loaded, minutes later; until
        then readers showed the last attempt's step, steps/s and ETA as current (`running 8/30`, `3.33
        steps/s`) and jumped to step 1 after a resume without a checkpoint. With the event at launch
        they read `step/max · – steps/s · ETA ?` until the new attempt logs its first step
        (`workbench.series.MetricsSeries` drops the steps past a resume and times speed from it).
        """
        self.progress.unlink(missing_ok=True)  # the last attempt's step and outcome: not this attempt's
        self.write_status(
            state="pending",
            phase="resuming",
            heartbeat=now,
            step=step,
            exit_code=None,
            error=None,
            finished_at=None,
        )
        writer = self.metrics_writer()
        try:
            writer.write({"event": "resume", "step": step, "time": now})
        finally:
            writer.close()

    def samples_writer(self) -> JsonlWriter:
        return JsonlWriter(self.samples)

    def gpu_writer(self) -> JsonlWriter:
        return JsonlWriter(self.gpu)

    def rollout_writer(self, max_bytes: int | None = None) -> RolloutWriter:
        return RolloutWriter(self, max_bytes or ROLLOUT_FILE_BYTES)

    def read_health(self) -> HealthReport:
        """health.json; an empty report (no alerts) when there is none or it cannot be read."""
        return HealthReport.from_json(read_json(self.health))

    def write_health(self, report: HealthReport) -> None:
        write_json_atomic(self.health, report.to_json())


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
    rewards: dict[str, float | None] = field(default_factory=dict)
    """Each custom reward's mean score over the group's completions (None where it gave none)."""

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
            rewards={str(k): number(v) for k, v in as_mapping(m.get("rewards")).items()},
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
    def custom_rewards(self) -> Path:
        return self.path / "custom_rewards"

    def custom_reward_file(self, file: str) -> Path:
        """The run's copy of a custom reward file (config.toml keeps the path it was copied from; the
        config refuses two files of one name)."""
        return self.custom_rewards / Path(file).name

    def custom_reward_files(self, entries: Iterable[Any]) -> dict[str, str]:
        """Function name -> the run's copy of its file, for every `CustomReward` entry."""
        return {entry.function: str(self.custom_reward_file(entry.file)) for entry in entries}

    def copy_custom_rewards(self, files: Iterable[str]) -> None:
        """Copy each custom reward file into custom_rewards/ (read-only: the run's code must not change).

        Raises:
            OSError: a file cannot be read, or the copy cannot be written.
        """
        for file in dict.fromkeys(files):
            target = self.custom_reward_file(file)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = Path(file).read_bytes()
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            tmp.chmod(0o444)
            os.replace(tmp, target)

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


# -------------------------------------------------------------------------------------- rollouts

ROLLOUT_FILE_BYTES = 8 * 2**20
"""rollouts.jsonl is rotated to rollouts.1.jsonl (replacing the one before) before it would pass this size,
so a run keeps at most twice this much of its rollout groups, the latest steps."""
_STEP_PREFIX = re.compile(rb'\{"step": (\d+)[,}]')


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class RolloutWriter:
    """Appends one `RolloutStep` per line to rollouts.jsonl, rotating the file at `max_bytes`.

    Each line is written whole and flushed (a torn line left by a killed writer is ended by the next
    writer, as `JsonlWriter` does). Before a line would take the file past `max_bytes`, the file is renamed
    to rollouts.1.jsonl (replacing the previous one) and a new one is started, so the run directory holds
    at most 2 x `max_bytes` of rollouts.
    """

    def __init__(self, run: RunDir, max_bytes: int = ROLLOUT_FILE_BYTES):
        self.run = run
        self.max_bytes = max_bytes
        self._out = JsonlWriter(run.rollouts)
        self._size = run.rollouts.stat().st_size

    def write(self, record: RolloutStep) -> int:
        """Append `record` (NaN and infinities written as null); returns the bytes written."""
        line = json.dumps(_finite(record.to_json()), ensure_ascii=False, allow_nan=False) + "\n"
        size = len(line.encode("utf-8"))
        if self._size and self._size + size > self.max_bytes:
            self._out.close()
            os.replace(self.run.rollouts, self.run.rollouts_rotated)
            self._out = JsonlWriter(self.run.rollouts)
            self._size = 0
        self._out.write_line(line)
        self._size += size
        return size

    def close(self) -> None:
        self._out.close()


@dataclass
class _RolloutFile:
    """Where the index got to in one rollout file (known by its inode and its first bytes)."""

    head: bytes
    offset: int = 0


class RolloutIndex:
    """Which steps rollouts.jsonl and rollouts.1.jsonl hold, and where: a tolerant, incremental reader.

    `scan` reads only the bytes added since the last call (at most `chunk` per file and call) and indexes
    each complete line by the step its first key names, without parsing it; `read(step)` then reads that
    one line. A rotation is followed (the file being read keeps its inode under its new name; lines of a
    file that is gone are forgotten), a torn last line waits for its end, a line that is not a step is
    skipped, and a step written twice (a resumed run repeats steps) is the later line. Thread-safe: a UI
    can scan in one thread and read in another.
    """

    HEAD_BYTES = 32
    """The first bytes of a file, kept to tell a new file from an old one with a reused inode."""

    def __init__(self, run: RunDir, chunk: int = 256 * 1024):
        self.run = run
        self.chunk = chunk
        self._files: dict[int, _RolloutFile] = {}
        self._where: dict[int, tuple[int, int, int]] = {}
        """step -> (inode, offset, length) of its line."""
        self.bad_lines = 0
        """Lines skipped because they did not start with a step."""
        self._lock = threading.Lock()

    @property
    def steps(self) -> list[int]:
        """Every step indexed, in order."""
        with self._lock:
            return sorted(self._where)

    def _stat(self) -> list[tuple[Path, os.stat_result]]:
        found = []
        for path in (self.run.rollouts_rotated, self.run.rollouts):  # older file first
            try:
                found.append((path, path.stat()))
            except OSError:
                pass
        return found

    def scan(self) -> bool:
        """Index the lines added since the last scan (at most `chunk` bytes of each file, more only for
        a single longer line); True when the indexed steps changed."""
        with self._lock:
            changed = False
            opened: list[tuple[Any, os.stat_result]] = []
            try:
                for path in (self.run.rollouts_rotated, self.run.rollouts):  # older file first
                    try:
                        fh = path.open("rb")
                    except OSError:
                        continue
                    # inode, size and bytes all from one open file: a rotation between them cannot mix
                    # two files up
                    opened.append((fh, os.fstat(fh.fileno())))
                present = {st.st_ino for _, st in opened}
                for inode in [i for i in self._files if i not in present]:
                    changed |= self._forget(inode)
                for fh, st in opened:
                    changed |= self._scan_file(fh, st)
            finally:
                for fh, _ in opened:
                    fh.close()
            return changed

    def scan_all(self) -> None:
        """Scan until every complete line is indexed (a replay; a torn last line stays for later)."""
        while True:
            before = sum(f.offset for f in self._files.values())
            self.scan()
            if sum(f.offset for f in self._files.values()) == before:
                return

    def _scan_file(self, fh: Any, st: os.stat_result) -> bool:
        changed = False
        head = fh.read(self.HEAD_BYTES)
        known = self._files.get(st.st_ino)
        if known is not None and (st.st_size < known.offset or head[: len(known.head)] != known.head):
            changed |= self._forget(st.st_ino)  # another file under a reused inode, or truncated
            known = None
        if known is None:
            known = self._files[st.st_ino] = _RolloutFile(head)
        elif len(known.head) < self.HEAD_BYTES:
            known.head = head
        if st.st_size <= known.offset:
            return changed
        want = self.chunk
        while True:
            fh.seek(known.offset)
            data = fh.read(min(want, st.st_size - known.offset))
            cut = data.rfind(b"\n")
            if cut >= 0:
                break
            if known.offset + len(data) >= st.st_size:
                return changed  # a torn last line: wait for the rest
            want *= 2  # one line longer than the chunk
        position = known.offset
        for line in data[:cut].split(b"\n"):
            match = _STEP_PREFIX.match(line)
            if match:
                self._where[int(match.group(1))] = (st.st_ino, position, len(line))
                changed = True
            elif line.strip():
                self.bad_lines += 1
            position += len(line) + 1
        known.offset += cut + 1
        return changed

    @property
    def pending(self) -> bool:
        """True when a file holds bytes not indexed yet."""
        with self._lock:
            return any(
                st.st_size > self._files[st.st_ino].offset if st.st_ino in self._files else st.st_size > 0
                for _, st in self._stat()
            )

    def _forget(self, inode: int) -> bool:
        self._files.pop(inode, None)
        gone = [step for step, (i, _, _) in self._where.items() if i == inode]
        for step in gone:
            del self._where[step]
        return bool(gone)

    def read(self, step: int) -> RolloutStep | None:
        """The record of `step`, or None when it is not indexed, its file is gone or the line is not a
        readable record."""
        with self._lock:
            where = self._where.get(step)
            files = self._stat()
        if where is None:
            return None
        inode, offset, length = where
        path = next((p for p, st in files if st.st_ino == inode), None)
        if path is None:
            return None
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                line = fh.read(length)
            record = json.loads(line)
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("step") != step:
            return None
        return RolloutStep.from_json(record)


def read_rollouts(run: RunDir) -> list[RolloutStep]:
    """Every rollout step the run directory holds, in step order (tests and tools; a viewer indexes)."""
    index = RolloutIndex(run)
    index.scan_all()
    return [r for r in (index.read(step) for step in index.steps) if r is not None]


# --------------------------------------------------------------------------------------- exports/

EXPORT_RECORD = "export.json"
"""The file every export output directory holds about itself (`ExportRecord`)."""


@dataclass(frozen=True)
class ExportStatus(Status):
    """exports/status.json: `Status` plus how far the export got, in percent."""

    step: int = 0
    """Percent done of the export (0-100); `phase` names the stage."""
    max_steps: int = 100


@dataclass(frozen=True)
class ExportDir(JobDir[ExportStatus, Manifest]):
    """`<run>/exports/`: the export job's directory (one export of a run at a time) and, by default, its
    outputs. status.json is an `ExportStatus` (percent done, `phase` names the stage); manifest.json
    names the export process."""

    LOG_NAME = "export.log"
    STATUS = ExportStatus

    def output(self, fmt: str, checkpoint: int | None = None) -> Path:
        """The default output directory of an export: `merged`, `gguf`, `adapter`, with
        `-checkpoint-N` when it comes from a checkpoint rather than the final adapter."""
        return self.path / (fmt if checkpoint is None else f"{fmt}-checkpoint-{checkpoint}")

    def ensure(self) -> ExportDir:
        """Create the directory (0700) if missing."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self


@dataclass(frozen=True)
class ExportRecord(Record):
    """export.json inside an export's output directory: what it is, where it came from, how it was
    checked. Written last, just before the directory is renamed into place."""

    format: str = ""
    """`merged`, `gguf` or `adapter`."""
    run_id: str = ""
    source: str = ""
    """The adapter directory exported (the run's adapter/ or a checkpoint-N/)."""
    checkpoint: int | None = None
    base_model: str = ""
    """The base model as the run names it (a preset, hub id or directory)."""
    dtype: str = ""
    """merged: the saved weights' dtype (the base model's own)."""
    quants: tuple[str, ...] = ()
    """gguf: the tensor types written (`f16`, `q8_0`), one file each."""
    files: dict[str, Any] = field(default_factory=dict)
    """File name -> bytes."""
    bytes: int = 0
    estimate_bytes: int = 0
    elapsed_s: float | None = None
    verification: dict[str, Any] = field(default_factory=dict)
    """What the check after writing measured (logit differences, tensor counts, tokens generated)."""
    created_at: float | None = None
    pushed_to: str | None = None
    """The hub repository it was uploaded to (`--push`), when it was."""


def read_export_record(directory: Path) -> ExportRecord | None:
    """An export directory's export.json, or None when it has none (not an export, or half written)."""
    data = read_json(directory / EXPORT_RECORD)
    return ExportRecord.from_json(data) if isinstance(data, Mapping) else None


def write_export_record(directory: Path, record: ExportRecord) -> None:
    write_json_atomic(directory / EXPORT_RECORD, record.to_json())


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


def resolve_state(job: JobDir[_S, Any], now: float | None = None) -> tuple[JobState, bool, _S]:
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
    supervisor_gone: bool = False
    """The supervisor died without recording an end: the state and step are the trainer's own (an orphan
    trainer still running, or how it ended), and `error` says so."""

    @classmethod
    def of(cls, view: JobView[TrainingStatus, RunManifest]) -> RunStatus:
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
            supervisor_gone=view.unsupervised,
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
    health: tuple[HealthAlert, ...] = ()
    """The health signals active at the run's last judged step (health.json)."""
    resume_step: int = 0
    """The step a resume starts from: its last complete checkpoint's, 0 without one (a resume then
    starts training again and drops the steps logged so far, which the UI says before it happens)."""

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
            "supervisor_gone": self.status.supervisor_gone,
            "health": [alert.to_json() for alert in self.health],
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
        health=run.read_health().active,
        resume_step=resume_point(run),
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


def resume_point(run: RunDir) -> int:
    """The step a resume of `run` starts from: its last complete checkpoint's, 0 without one."""
    complete = [step for step, _, ok in checkpoints(run) if ok]
    return complete[-1] if complete else 0
