"""The training job: `python -m jobs.train_grpo RUN_DIR [--resume]`, started by the supervisor.

A thin script over the library (modelled on open-r1's grpo.py): it reads config.toml from the run
directory, prepares the data, builds TRL's GRPOTrainer with a LoRA `peft_config` (backend trl, CPU or
GPU) or Unsloth's FastLanguageModel (backend unsloth, GPU only, imported first in this process because it
patches TRL for the whole process), and reports only through files in the run directory. SIGTERM asks
for a checkpoint at the end of the current step and a clean exit; `--resume` continues from the last
complete checkpoint. Heavy imports live inside functions so `--help` and errors stay fast.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from jobs.phases import PhaseClock
from workbench import data as wdata
from workbench import distributed, environment, gpu, presets, runs
from workbench.atomic import JsonlWriter
from workbench.config import RunConfig, load
from workbench.plan import RunPlan, plan
from workbench.rewards import completion_text, get_reward
from workbench.runs import RunDir, last_complete_checkpoint
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


def log(message: str) -> None:
    who = "trainer" if MAIN_PROCESS else f"trainer rank {os.environ.get('RANK')}"
    print(f"[{who} {time.strftime('%H:%M:%S')}] {message}", flush=True)


class StopFlag:
    """Turns SIGTERM into a graceful stop: before training, abort at once; during training, finish the
    step, save a checkpoint and exit."""

    def __init__(self) -> None:
        self.requested = False
        self.training = False

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
        self, names: list[str], weights: dict[str, float], writer: JsonlWriter | None, per_step: int
    ):
        self.names = names
        self.weights = weights
        self.writer = writer
        self.per_step = per_step
        self.scores: dict[str, list[float | None]] = {}

    def wrap(self, name: str) -> Callable[..., list[float | None]]:
        fn = get_reward(name)

        def recorded(
            prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any
        ) -> list[float | None]:
            scores = fn(prompts=prompts, completions=completions, **kwargs)
            self.scores[name] = scores
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


def ensure_model(config: RunConfig, progress: Progress) -> str:
    """The path or hub id to load; builds a locally built preset (tiny, random-*) on first use."""
    preset = presets.PRESETS.get(config.model.name)
    if preset is None or preset.hub_id:
        return presets.resolve_model_path(config.model.name)
    target = Path(presets.local_build_dir(preset))
    if (target / "config.json").exists():
        return str(target)
    import fcntl

    from workbench import modelbuild

    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs starting at once build it once
        if not (target / "config.json").exists():
            progress.phase(f"building the {preset.name} model (first use only)")
            if preset.warm_start:
                from workbench import warmstart

                def on_step(step: int, total: int) -> None:
                    if step % 10 == 0 or step == total:
                        progress.update(
                            phase=f"warm-starting the {preset.name} model (first use only)",
                            build_step=step,
                            build_total=total,
                        )

                warmstart.build_tiny(target, progress=log, on_step=on_step)
            else:
                modelbuild.build_model(preset.architecture, target, progress=log)
    return str(target)


def offline_if_local(config: RunConfig) -> None:
    """With a local model and local data nothing needs the hub: say so, so machines without network never
    wait on hub timeouts."""
    model_is_local = presets.resolve_model_path(config.model.name).startswith("/")
    data_is_local = config.data.source == "bundled" or config.data.source.startswith("/")
    if model_is_local and data_is_local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def prompt_length_counter(tokenizer: Any) -> Callable[[list[dict[str, str]]], int]:
    def count(messages: list[dict[str, str]]) -> int:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


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


def make_callback(
    run: RunDir, progress: Progress, stop: StopFlag, max_steps: int, clock: PhaseClock | None = None
) -> Any:
    """The TrainerCallback that streams TRL's logs into the run directory, each step's record with where
    the step went (`time/<phase>` seconds, from `clock`)."""
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
            if state.global_step and self.metrics is not None:
                self.metrics.write({"event": "resume", "step": state.global_step, "time": time.time()})
            log(f"training from step {state.global_step} to {max_steps}")

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if not logs or self.metrics is None:
                return
            record: dict[str, Any] = {"step": state.global_step, "time": time.time(), **logs}
            if "train_runtime" in logs:
                record["event"] = "summary"  # the end-of-training totals, not a step
            elif self.split is not None and self.split[0] == state.global_step:
                record.update({phase_key(k): round(v, 4) for k, v in self.split[1].items()})
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


def grpo_args(
    config: RunConfig,
    run_plan: RunPlan,
    output_dir: Path,
    cuda: bool,
    use_vllm: bool,
    weights: list[float],
    backend: str,
    ports: distributed.Ports | None = None,
) -> Any:
    """TRL GRPOConfig from the run config and the plan (transformers 5: warmup_steps < 1 is a ratio)."""
    from trl import GRPOConfig

    g = config.grpo
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        learning_rate=g.learning_rate,
        weight_decay=g.weight_decay,
        warmup_steps=g.warmup_ratio,
        lr_scheduler_type=g.lr_scheduler_type,
        max_grad_norm=g.max_grad_norm,
        optim=g.optim,
        per_device_train_batch_size=run_plan.per_device_train_batch_size,
        gradient_accumulation_steps=run_plan.gradient_accumulation_steps,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        top_p=g.top_p,
        beta=g.beta,
        loss_type=g.loss_type,
        max_steps=g.max_steps,
        save_steps=g.save_steps,
        save_total_limit=g.save_total_limit,
        logging_steps=g.logging_steps,
        seed=g.seed,
        data_seed=g.seed,
        reward_weights=weights,
        report_to="none",
        disable_tqdm=True,
        save_only_model=False,
        bf16=cuda,
        use_cpu=not cuda,
        dataloader_num_workers=0,
    )
    kwargs["gradient_checkpointing"] = run_plan.gradient_checkpointing
    if use_vllm:
        kwargs.update(
            use_vllm=True,
            vllm_mode="colocate",
            vllm_gpu_memory_utilization=run_plan.vllm_share,
            vllm_importance_sampling_correction=g.vllm_importance_sampling_correction,
        )
        if distributed.uses_server(config):
            # The server's own --gpu-memory-utilization sizes it; these reach it and its weight sync.
            kwargs.pop("vllm_gpu_memory_utilization")
            kwargs.update(distributed.grpo_kwargs(config, ports or distributed.Ports()))
    if backend == "trl":
        kwargs["model_init_kwargs"] = {"dtype": "bfloat16" if cuda else "float32"}
    return GRPOConfig(**kwargs)


@dataclass
class LoadedModel:
    """A model ready for GRPOTrainer: the model (or its path, for TRL to load), tokenizer and LoRA config."""

    model: Any
    tokenizer: Any
    peft_config: Any
    use_vllm: bool
    cuda: bool


def load_model(
    config: RunConfig,
    backend: str,
    model_path: str,
    vllm_share: float,
    gradient_checkpointing: bool = True,
) -> LoadedModel:
    """Load the base model the way the backend wants it.

    Unsloth loads it here (with its colocated vLLM when fast_inference is on) and adds the LoRA
    adapter itself; TRL gets the path and a `peft_config` (a ready PeftModel would get a second "ref"
    adapter with beta != 0, and resume would restore the wrong one).
    """
    if backend == "unsloth":
        import unsloth  # noqa: F401  - must come before trl/transformers: it patches them process-wide
    import torch

    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    if backend == "unsloth":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=model_path,
            max_seq_length=config.model.max_seq_length,
            load_in_4bit=config.model.load_in_4bit,
            fast_inference=config.model.fast_inference,
            max_lora_rank=config.lora.max_lora_rank,
            gpu_memory_utilization=vllm_share,
        )
        model = FastLanguageModel.get_peft_model(
            model,
            r=config.lora.rank,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules,
            use_gradient_checkpointing="unsloth" if gradient_checkpointing else False,
            random_state=config.grpo.seed,
        )
        loaded = LoadedModel(model, tokenizer, None, config.model.fast_inference, cuda)
    else:
        from peft import LoraConfig
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_path)
        peft_config = LoraConfig(
            r=config.lora.rank,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules,
            task_type="CAUSAL_LM",
        )
        has_vllm = environment.has_module("vllm")
        use_vllm = cuda and (config.grpo.use_vllm == "on" or (config.grpo.use_vllm == "auto" and has_vllm))
        loaded = LoadedModel(model_path, tokenizer, peft_config, use_vllm, cuda)
    if loaded.tokenizer.pad_token is None:
        loaded.tokenizer.pad_token = loaded.tokenizer.eos_token
    return loaded


def training_rows(config: RunConfig, tokenizer: Any) -> wdata.PreparedData:
    """Load, filter and split the rows, measuring prompts with the model's own chat template."""
    rows = wdata.load_rows(config.data)
    return wdata.prepare(rows, config.data, config.grpo.max_prompt_length, prompt_length_counter(tokenizer))


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    """The columns the trainer sees: `prompt` for generation; `answer` and `type` reach the rewards."""
    from datasets import Dataset

    return Dataset.from_list(
        [{"prompt": r["prompt"], "answer": r["answer"], "type": r["type"]} for r in rows]
    )


def make_trainer(
    loaded: LoadedModel,
    args: Any,
    reward_funcs: list[Any],
    train: Any,
    callbacks: list[Any],
    trim_vllm: bool = True,
) -> Any:
    """GRPOTrainer with our callbacks instead of transformers' stdout printer, its colocated vLLM engine
    trimmed (`jobs.colocate`) unless `trim_vllm` is off."""
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOTrainer

    from jobs import colocate

    trainer = GRPOTrainer(
        model=loaded.model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=train,
        processing_class=loaded.tokenizer,
        peft_config=loaded.peft_config,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # our callback writes one compact line per step instead
    trimmed = colocate.trim(trainer, trim_vllm)
    if trimmed:
        log("colocated vLLM: " + ", ".join(trimmed))
    freeze_heap()
    return trainer


def freeze_heap() -> None:
    """Put everything built so far (model, data, trainer, vLLM engine) out of the garbage collector's
    sight. A step allocates many short-lived objects (vLLM requests and outputs, completions, log rows),
    and every full collection would otherwise walk the whole heap of a process that holds torch,
    transformers and vLLM. vLLM freezes its own start-up heap the same way; `gc.unfreeze()` undoes it
    (the bench does, between variants, so a finished trainer can be collected)."""
    import gc

    gc.collect()
    gc.freeze()


def gpu_total_gib() -> float | None:
    import torch

    return torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else None


def build_trainer(
    config: RunConfig, run: RunDir, backend: str, progress: Progress, stop: StopFlag, resume: bool
) -> Any:
    """Load model and data, and assemble GRPOTrainer with our rewards and callback."""
    if backend == "unsloth":
        import unsloth  # noqa: F401  - must come before trl/transformers: it patches them process-wide
    model_path = ensure_model(config, progress)
    # Each process shapes its share of completions_per_step (the whole config with one process).
    run_plan = plan(distributed.rank_config(config), gpu_total_gib(), backend)
    processes = distributed.num_processes(config)
    each = f" per process, x {processes} processes" if processes > 1 else ""
    log("batch: " + run_plan.shape.describe() + each)
    if MAIN_PROCESS:
        run.write_plan(runs.Plan.from_json({**run_plan.to_dict(), "num_processes": processes}))
    progress.phase(f"loading model {config.model.name}")
    loaded = load_model(config, backend, model_path, run_plan.vllm_share, run_plan.gradient_checkpointing)

    progress.phase("preparing data")
    prepared = training_rows(config, loaded.tokenizer)
    log(prepared.stats.summary())
    if MAIN_PROCESS:
        run.write_data_stats(prepared.stats.to_dict())
    if MAIN_PROCESS and (not resume or not run.held_out.exists()):
        run.write_held_out(prepared.held_out)

    names = config.active_rewards
    samples = run.samples_writer() if MAIN_PROCESS else None
    recorder = SampleRecorder(names, config.rewards, samples, config.grpo.samples_per_step)
    args = grpo_args(
        config,
        run_plan,
        run.checkpoints,
        loaded.cuda,
        loaded.use_vllm,
        [config.rewards[n] for n in names],
        backend,
        distributed.read_ports(run.path),
    )
    progress.phase("building trainer" + (" (vLLM warm-up can take minutes)" if loaded.use_vllm else ""))
    clock = PhaseClock()
    clock.install()
    return make_trainer(
        loaded,
        args,
        [recorder.wrap(n) for n in names],
        to_dataset(prepared.train),
        [make_callback(run, progress, stop, config.grpo.max_steps, clock)],
        trim_vllm=config.grpo.trim_vllm_overhead,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run GRPO training for one run directory.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir.resolve())
    progress = Progress(run)
    stop = StopFlag()
    stop.install()
    sampler_stop = threading.Event()
    try:
        progress.phase("reading config")
        config = load(run.config)
        offline_if_local(config)
        machine = environment.Machine.detect()
        backend = environment.resolve_backend(config, machine)
        log(f"backend {backend}; GPUs visible to NVML: {machine.gpus}")
        if machine.gpus and MAIN_PROCESS:
            indices = distributed.selected_gpus(config) or None  # None: every GPU, as without a choice
            threading.Thread(target=gpu_sampler, args=(run, sampler_stop, indices), daemon=True).start()
        trainer = build_trainer(config, run, backend, progress, stop, args.resume)
        checkpoint = last_complete_checkpoint(run) if args.resume else None
        if args.resume and checkpoint is None:
            log("no complete checkpoint to resume from: starting from step 0")
        elif checkpoint is not None:
            log(f"resuming from {checkpoint.name}")
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        outcome = "stopped" if stop.requested else "completed"
        progress.phase("saving adapter")
        trainer.save_model(str(run.adapter))
        progress.update(phase="done", outcome=outcome, step=trainer.state.global_step)
        log(f"{outcome} at step {trainer.state.global_step}; adapter saved to {run.adapter}")
        return 0
    except StopRequested:
        progress.update(phase="stopped before training", outcome="stopped")
        log("stopped before training began")
        return 0
    except Exception as exc:
        traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}"
        progress.update(phase="failed", outcome="failed", error=message)
        return 1
    finally:
        sampler_stop.set()


if __name__ == "__main__":
    sys.exit(main())
