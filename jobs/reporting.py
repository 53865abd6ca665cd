"""The training job's side of the run directory, and how it stops.

What the trainer writes while it runs, from one process only (`MAIN_PROCESS`, global rank 0):
progress.json (`Progress`, merged into status.json by the supervisor), metrics.jsonl (the TrainerCallback
of `make_callback`, each step with where its time went), samples.jsonl (`SampleRecorder`, around the
reward functions) and gpu.jsonl (`gpu_sampler`); the log lines on stdout (`log`). SIGTERM becomes a
checkpoint at the end of the step (`StopFlag`), agreed by every rank (`stop_agreed`). Heavy imports live
inside the functions.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from jobs.phases import PhaseClock
from workbench import distributed, gpu, health, rollouts, runs
from workbench.atomic import JsonlWriter
from workbench.rewards import completion_text, get_reward
from workbench.runs import RunDir
from workbench.series import phase_key

GPU_SAMPLE_SECONDS = 2.0
MAIN_PROCESS = distributed.is_main_process(os.environ)
"""Global rank 0, or the only process: the one writer of the run directory (progress, metrics, samples,
GPU samples, plan, data files). Every rank of a multi-GPU run trains; one reports."""


class StopRequested(Exception):
    """SIGTERM arrived before training began: nothing to checkpoint, exit as stopped."""


class Progress:
    """Writes progress.json (phase, step, outcome); the supervisor merges it into status.json."""

    def __init__(self, run: RunDir):
        self.run = run
        # No step until the trainer knows it: the supervisor keeps the last attempt's step meanwhile, so a
        # resumed run does not read `running 0/200` while it loads.
        self.record = runs.Progress(phase="starting")

    def update(self, **fields: Any) -> None:
        """Merge `fields` (`workbench.runs.Progress` fields; another name raises) and write the file."""
        self.record = self.record.replace(**fields, updated_at=time.time())
        if MAIN_PROCESS:
            self.run.write_progress(self.record)

    def phase(self, name: str) -> None:
        log(name)
        self.update(phase=name)

    def message(self, text: str) -> None:
        """A line of a model build's output (`presets.BuildProgress`): the log only."""
        log(text)

    def step(self, phase: str, done: int, total: int) -> None:
        """A model build's warm-start progress (`presets.BuildProgress`), for the TUI's progress bar."""
        self.update(phase=phase, build_step=done, build_total=total)


def log(message: str) -> None:
    who = "trainer" if MAIN_PROCESS else f"trainer rank {os.environ.get('RANK')}"
    print(f"[{who} {time.strftime('%H:%M:%S')}] {message}", flush=True)


class StopFlag:
    """Turns SIGTERM into a graceful stop: before training, abort at once; during training, finish the
    step, save a checkpoint and exit."""

    def __init__(self) -> None:
        self.requested = False
        self.training = False
        self.failure: str | None = None
        """Why training was stopped as failed (a non-finite loss): the run's error, no adapter saved."""

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = not self.requested
        self.requested = True
        if first:
            log(f"{signal.Signals(signum).name} received: stopping after this step with a checkpoint")
        if not self.training:
            raise StopRequested()


class SampleRecorder:
    """Wraps the reward functions to record per-completion scores, and writes a few samples per step.

    TRL calls the reward functions one after the other on the same batch; when the last one returns, the
    recorder has every score of every completion and writes `samples_per_step` of them, spread over the
    prompts, to samples.jsonl.
    """

    def __init__(
        self,
        names: list[str],
        weights: dict[str, float],
        writer: JsonlWriter | None,
        per_step: int,
        rollouts: RolloutRecorder | None = None,
    ):
        self.names = names
        self.weights = weights
        self.writer = writer
        self.per_step = per_step
        self.rollouts = rollouts
        """Handed every score of every completion once per step (rollout groups and their statistics)."""
        self.scores: dict[str, list[float | None]] = {}

    def wrap(
        self, name: str, fn: Callable[..., list[float | None]] | None = None
    ) -> Callable[..., list[float | None]]:
        """The reward `name` (built-in, or `fn`: a custom one) recording its scores under its name."""
        fn = fn or get_reward(name)

        def recorded(
            prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any
        ) -> list[float | None]:
            scores = fn(prompts=prompts, completions=completions, **kwargs)
            self.scores[name] = scores
            if name == self.names[-1] and self.rollouts is not None:
                self.rollouts.record(prompts or [], completions or [], kwargs, self.scores)
            if name == self.names[-1] and self.per_step and self.writer is not None:
                self._write(prompts or [], completions or [], kwargs)
            return scores

        recorded.__name__ = name  # TRL logs rewards/<__name__>/mean
        recorded.__doc__ = fn.__doc__
        return recorded

    def _write(self, prompts: list[Any], completions: list[Any], kwargs: dict[str, Any]) -> None:
        count = len(completions)
        if not count:
            return
        state = kwargs.get("trainer_state")
        step = int(getattr(state, "global_step", 0)) + 1
        stride = max(1, count // self.per_step)
        assert self.writer is not None
        for index in list(range(0, count, stride))[: self.per_step]:
            rewards = {n: self.scores[n][index] for n in self.names if n in self.scores}
            prompt = prompts[index] if index < len(prompts) else ""
            question = prompt[-1]["content"] if isinstance(prompt, list) and prompt else str(prompt)
            answers = kwargs.get("answer") or []
            sample = runs.Sample(
                step=step,
                time=time.time(),
                index=index,
                question=question,
                answer=answers[index] if index < len(answers) else None,
                completion=completion_text(completions[index]),
                rewards=rewards,
                total=sum(self.weights[n] * (s or 0.0) for n, s in rewards.items()),
            )
            self.writer.write(sample.to_json())
        self.scores = {}


@dataclass(frozen=True)
class GroupStats:
    """What one step's groups said, for the health signals: the share of zero-variance groups and of
    truncated completions (on this process)."""

    step: int
    zero_std: float
    clipped: float | None


class RolloutRecorder:
    """Scores each step's batch as TRL does (`workbench.rollouts.grpo_advantages`) and writes whole groups
    to rollouts.jsonl (`groups_per_step` of them, spread over the batch; rank 0 only).

    `configure(trainer)` takes the run's scale_rewards, multi_objective_aggregation and end-of-sequence
    tokens from the trainer TRL built. Every rank computes (in a multi-process run whose advantages need
    the whole batch, `batch` scaling or normalize_then_sum, the scores are gathered from every rank, so
    every rank must record); only the writer's rank writes.
    """

    def __init__(
        self,
        names: list[str],
        weights: dict[str, float],
        num_generations: int,
        groups_per_step: int,
        writer: runs.RolloutWriter | None,
    ):
        self.names = names
        self.weights = [weights[n] for n in names]
        self.num_generations = num_generations
        self.groups_per_step = groups_per_step
        self.writer = writer
        self.scale_rewards = "group"
        self.aggregation = "sum_then_normalize"
        self.stop_tokens: frozenset[int] | None = None
        """TRL's end-of-sequence ids and the pad id: a completion not ending in one was truncated."""
        self.last: GroupStats | None = None
        """The statistics of the last step recorded."""
        self.bytes_written = 0

    def configure(self, trainer: Any) -> None:
        """Read the run's advantage settings and stop tokens from the GRPOTrainer."""
        args = trainer.args
        scale = getattr(args, "scale_rewards", "group")
        self.scale_rewards = "group" if scale is True else "none" if scale is False else str(scale)
        self.aggregation = str(getattr(args, "multi_objective_aggregation", "sum_then_normalize"))
        tokenizer = getattr(trainer, "_tokenizer", None) or getattr(trainer, "processing_class", None)
        tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps its tokenizer
        eos: list[Any] | None = getattr(trainer, "eos_token_ids", None)
        stops = {int(t) for t in (eos or [getattr(tokenizer, "eos_token_id", None)]) if t is not None}
        pad = getattr(tokenizer, "pad_token_id", None)
        if pad is not None:
            stops.add(int(pad))
        self.stop_tokens = frozenset(stops) if stops else None

    def record(
        self, prompts: list[Any], completions: list[Any], kwargs: dict[str, Any], scores: dict[str, Any]
    ) -> None:
        """One step's batch, every reward function's scores in `scores`."""
        count = len(completions)
        if not count or count % self.num_generations or any(n not in scores for n in self.names):
            return
        state = kwargs.get("trainer_state")
        step = int(getattr(state, "global_step", 0)) + 1
        found = kwargs.get("completion_ids")
        ids: list[Any] = found if isinstance(found, list) and len(found) == count else []
        lengths = [len(x) for x in ids] if ids else None
        stops = self.stop_tokens
        truncated = [not x or int(x[-1]) not in stops for x in ids] if ids and stops is not None else None
        rows = [[_score(scores[n][i]) for n in self.names] for i in range(count)]
        scored = self._advantages(rows)
        zero = scored.zero_std
        self.last = GroupStats(
            step=step,
            zero_std=sum(zero) / len(zero),
            clipped=sum(truncated) / count if truncated is not None else None,
        )
        if self.writer is None or not self.groups_per_step:
            return
        record = rollouts.build_step(
            step=step,
            at=time.time(),
            names=self.names,
            weights=self.weights,
            scores={n: [row[k] for row in rows] for k, n in enumerate(self.names)},
            texts=[completion_text(c) for c in completions],
            prompts=prompts,
            answers=list(kwargs.get("answer") or []),
            num_generations=self.num_generations,
            groups_wanted=self.groups_per_step,
            lengths=lengths,
            truncated=truncated,
            scale_rewards=self.scale_rewards,
            aggregation=self.aggregation,
            advantages=scored,
        )
        self.bytes_written += self.writer.write(record)

    def _advantages(self, rows: list[list[float | None]]) -> rollouts.Advantages:
        """This process's advantages; over every process's batch where TRL's need the whole batch."""
        batch_wide = self.scale_rewards == "batch" or self.aggregation == "normalize_then_sum"
        world, rank = _world()
        if not batch_wide or world == 1:
            return rollouts.grpo_advantages(
                rows, self.weights, self.num_generations, self.scale_rewards, self.aggregation
            )
        import torch.distributed as dist

        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, rows)
        everything = [row for part in gathered for row in part]
        whole = rollouts.grpo_advantages(
            everything, self.weights, self.num_generations, self.scale_rewards, self.aggregation
        )
        start, groups = rank * len(rows), len(rows) // self.num_generations
        first = rank * groups
        return rollouts.Advantages(
            totals=whole.totals[start : start + len(rows)],
            advantages=whole.advantages[start : start + len(rows)],
            group_means=whole.group_means[first : first + groups],
            group_stds=whole.group_stds[first : first + groups],
        )


def _score(value: Any) -> float | None:
    """A reward function's score as TRL reads it (None stays None: NaN to TRL)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _world() -> tuple[int, int]:
    """(processes, this one's rank) of the torch.distributed group, (1, 0) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def gpu_sampler(run: RunDir, stop: threading.Event, indices: list[int] | None = None) -> None:
    """Append NVML samples of every GPU the run uses (`indices`; None: every GPU) to gpu.jsonl until
    `stop` is set."""
    writer = run.gpu_writer()
    try:
        while not stop.wait(GPU_SAMPLE_SECONDS):
            for sample in gpu.sample(indices):
                writer.write(sample.to_dict())
    finally:
        writer.close()


def stop_agreed(requested: bool) -> bool:
    """True when any training process was asked to stop. Ranks get SIGTERM at slightly different moments
    (the launcher forwards it to one after the other); a rank that stopped a step before the others would
    leave them waiting in a collective forever, so every rank takes the same decision at the end of every
    step (one all-reduce of a single number). One process: `requested` itself, nothing else runs."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return requested
    import torch

    on_gpu = dist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    flag = torch.tensor([1 if requested else 0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


class HealthWatch:
    """The health signals in the job (`workbench.health`): judged at every logged step from TRL's metrics
    and the step's rollout groups, health.json rewritten when they change (rank 0 only). Every rank
    judges, so every rank takes the same decision on a non-finite loss (the loss TRL logs is already
    averaged over the ranks)."""

    KEYS = frozenset(
        {
            "step", "time", "event", "loss", "grad_norm", "reward", "entropy", "step_time",
            health.ZERO_STD_KEY, health.CLIPPED_KEY, health.GROUP_ZERO_STD_KEY, health.GROUP_CLIPPED_KEY,
        }
    )  # fmt: skip
    """The keys the signals read: the history keeps only these."""

    def __init__(
        self, run: RunDir, stop_on_nan: bool, groups: RolloutRecorder | None = None, resume: bool = False
    ):
        self.run = run
        self.stop_on_nan = stop_on_nan
        self.groups = groups
        self.tracker = health.HealthTracker()
        if resume and run.health.exists():
            self.tracker.report = run.read_health()
        if resume:
            from workbench.tail import read_jsonl

            self.tracker.prime([self._slim(r) for r in read_jsonl(run.metrics)])

    def _slim(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k in self.KEYS}

    def observe(self, record: dict[str, Any]) -> runs.HealthAlert | None:
        """Judge the run with `record` (a metrics.jsonl record); returns the non-finite loss alert when
        the run must stop."""
        slim = self._slim(record)
        last = self.groups.last if self.groups is not None else None
        if last is not None and last.step == record.get("step"):
            slim[health.GROUP_ZERO_STD_KEY] = last.zero_std
            if last.clipped is not None:
                slim[health.GROUP_CLIPPED_KEY] = last.clipped
        changed = self.tracker.observe(slim, time.time())
        # rewritten while an alert holds (its step and message move on), else only when one clears
        if MAIN_PROCESS and (changed or self.tracker.report.active):
            self.run.write_health(self.tracker.report)
        for alert in self.tracker.raised:
            log(f"health: {alert.title}: {alert.message}")
        return self.tracker.nan_loss if self.stop_on_nan else None


def make_callback(
    run: RunDir,
    progress: Progress,
    stop: StopFlag,
    max_steps: int,
    clock: PhaseClock | None = None,
    watch: HealthWatch | None = None,
    resume: bool = False,
) -> Any:
    """The TrainerCallback that streams TRL's logs into the run directory, each step's record with where
    the step went (`time/<phase>` seconds, from `clock`), and judges the run's health with `watch` (a
    non-finite loss stops training without a checkpoint of those weights: `StopFlag.failure`). A resumed
    attempt (`resume`) begins with a `resume` event at the step it starts from, 0 when there was no
    checkpoint, so readers drop the earlier attempt's steps past it (`workbench.series`)."""
    from transformers import TrainerCallback

    class RunDirCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.metrics = run.metrics_writer() if MAIN_PROCESS else None
            self.last_time = time.time()
            self.split: tuple[int, dict[str, float]] | None = None
            """(step, seconds per phase) of the step that ended last, for its log record."""

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if clock is not None:
                clock.start_step()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            stop.training = True
            if stop.requested:
                control.should_training_stop = True
            progress.update(
                phase="warming up" if state.global_step == 0 else "training",
                step=state.global_step,
                max_steps=max_steps,
            )
            if (state.global_step or resume) and self.metrics is not None:
                self.metrics.write({"event": "resume", "step": state.global_step, "time": time.time()})
            log(f"training from step {state.global_step} to {max_steps}")

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if not logs:
                return
            record: dict[str, Any] = {"step": state.global_step, "time": time.time(), **logs}
            if "train_runtime" in logs:
                record["event"] = "summary"  # the end-of-training totals, not a step
            elif self.split is not None and self.split[0] == state.global_step:
                record.update({phase_key(k): round(v, 4) for k, v in self.split[1].items()})
            failed = watch.observe(record) if watch is not None and "event" not in record else None
            if failed is not None and stop.failure is None:
                checkpoint = runs.last_complete_checkpoint(run)
                kept = f"the last good checkpoint is {checkpoint.name}" if checkpoint else "no checkpoint yet"
                stop.failure = (
                    f"stopped at step {state.global_step}: {failed.message}. These weights were not saved; "
                    f"{kept} (grpo.stop_on_nan_loss = false trains on)"
                )
                log(stop.failure)
                control.should_save = False
                control.should_training_stop = True
            if self.metrics is None:
                return
            import torch

            if torch.cuda.is_available():
                record["gpu/max_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
            self.metrics.write(record)
            if "reward" in logs:
                log(
                    f"step {state.global_step}/{max_steps} reward {logs['reward']:.3f} "
                    f"loss {logs.get('loss', float('nan')):.4f}"
                )

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if clock is not None and clock.installed:
                self.split = (state.global_step, clock.end_step()[1])
            progress.update(phase="training", step=state.global_step, max_steps=max_steps)
            if stop_agreed(stop.requested):
                stop.requested = True
                control.should_save = True
                control.should_training_stop = True

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            progress.update(last_checkpoint=state.global_step)
            log(f"checkpoint saved at step {state.global_step}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.metrics is not None:
                self.metrics.close()

    return RunDirCallback()
