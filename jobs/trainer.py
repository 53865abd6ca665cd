"""Trainer assembly: TRL's GRPOTrainer for a run, from its config, its plan and this machine.

`build_trainer` is what the training job runs: the model (`presets.ensure_model`, then
`jobs.backends.load_model`), the batch shape (`workbench.plan`, written to plan.json), the rows (data
statistics and held-out rows written to the run directory), the reward functions wrapped by the
`SampleRecorder` (with the `RolloutRecorder` of rollouts.jsonl), the GRPOConfig (`grpo_args`) and the
trainer with the run directory's callback and its `HealthWatch` (`make_trainer`). The bench assembles
its own trainers from the same pieces (`grpo_args`, `training_rows`, `to_dataset`, `make_trainer`).
Heavy imports live inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.backends import LoadedModel, import_backend, load_model
from jobs.phases import PhaseClock
from jobs.reporting import (
    MAIN_PROCESS,
    HealthWatch,
    Progress,
    RolloutRecorder,
    SampleRecorder,
    StopFlag,
    log,
    make_callback,
)
from workbench import data as wdata
from workbench import distributed, presets, runs
from workbench.config import RunConfig
from workbench.custom_rewards import training_functions
from workbench.plan import RunPlan, plan
from workbench.rewards import set_scoring_timeout
from workbench.runs import RunDir


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
        report_to=[t for t in g.report_to if t != "none"] or "none",
        # transformers replaces a NaN or infinite loss by the mean of the earlier ones in its logs by
        # default, which would hide the very thing the health signals stop a run for
        logging_nan_inf_filter=False,
        run_name=output_dir.parent.name,
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
            # Overlapped generation trains one step off-policy: the correction is what keeps it sound.
            vllm_importance_sampling_correction=g.vllm_importance_sampling_correction
            or config.distributed.overlap_generation,
        )
        if distributed.uses_server(config):
            # The server's own --gpu-memory-utilization sizes it; these reach it and its weight sync.
            kwargs.pop("vllm_gpu_memory_utilization")
            kwargs.update(distributed.grpo_kwargs(config, ports or distributed.Ports()))
    if backend == "trl":
        kwargs["model_init_kwargs"] = {"dtype": "bfloat16" if cuda else "float32"}
    return GRPOConfig(**kwargs)


def tracker_env(config: RunConfig, run: RunDir) -> dict[str, str]:
    """The environment TRL's reporters read, pointing each tracker of grpo.report_to at its directory
    under the run's trackers/ (TensorBoard's event files, wandb's offline run, trackio's database), the
    project named after the workbench and the run, wandb offline unless grpo.report_offline is off.
    Variables the user set themselves win (a WANDB_PROJECT of their own, say)."""
    chosen = [t for t in config.grpo.report_to if t != "none"]
    env: dict[str, str] = {}
    if "tensorboard" in chosen:
        env["TENSORBOARD_LOGGING_DIR"] = str(run.tracker_dir("tensorboard"))
    if "wandb" in chosen:
        env["WANDB_DIR"] = str(run.trackers)  # wandb adds its own wandb/ below
        env["WANDB_PROJECT"] = "grpo-workbench"
        env["WANDB_MODE"] = "offline" if config.grpo.report_offline else "online"
    if "trackio" in chosen:
        env["TRACKIO_DIR"] = str(run.tracker_dir("trackio"))
        env["TRACKIO_PROJECT"] = "grpo-workbench"
    return env


def apply_tracker_env(config: RunConfig, run: RunDir) -> None:
    """Create the trackers' directories and set `tracker_env` in this process (the user's own values
    kept), before the trainer builds its reporting callbacks."""
    import os

    for name, value in tracker_env(config, run).items():
        if name.endswith("_DIR"):
            Path(value).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(name, value)


def training_rows(config: RunConfig, tokenizer: Any) -> wdata.PreparedData:
    """Load, filter and split the rows, measuring prompts with the model's own chat template (the same
    function as `grpo-workbench preview` and the Configure preview)."""
    return wdata.prepare_for_run(wdata.load_rows(config.data), config, tokenizer)


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
    overlap: bool = False,
    group_by_length: bool = True,
    one_pass_importance_sampling: bool = True,
) -> Any:
    """GRPOTrainer with our callbacks instead of transformers' stdout printer, its colocated vLLM engine
    trimmed (`jobs.colocate`) unless `trim_vllm` is off, its update on length-grouped micro-batches
    (`jobs.length_groups`) unless `group_by_length` is off, its importance-sampling correction taken from
    the update's forward (`jobs.importance_sampling`) unless `one_pass_importance_sampling` is off, and
    with `overlap` its generation overlapped with training (`jobs.overlap`; vLLM server mode only:
    ValueError otherwise)."""
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOTrainer

    from jobs import colocate, forced_lengths, importance_sampling, length_groups

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
    grouped = length_groups.install(trainer) if group_by_length else None
    if grouped:
        log("update: " + grouped)
    one_pass = importance_sampling.install(trainer) if one_pass_importance_sampling else None
    if one_pass:
        log("correction: " + one_pass)
    elif one_pass_importance_sampling and (why := importance_sampling.declined(trainer)):
        log(f"correction: TRL's extra forward pass ({why})")
    forced = forced_lengths.install(trainer)
    if forced:
        log("bench workload: " + forced)
    if overlap:
        from jobs import overlap as overlapped

        trainer._overlap_state = overlapped.install(trainer)  # type: ignore[attr-defined]
        log(
            "overlapped generation: the server generates the next step while this one trains "
            f"(staleness <= {overlapped.MAX_STALENESS}, importance sampling correction on)"
        )
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
    import_backend(backend)  # Unsloth first: a first-use build of the model imports trl
    model_path = presets.ensure_model(config.model.name, progress)
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
    custom = training_functions(config, run.custom_reward_files(config.custom_rewards))  # the run's copies
    set_scoring_timeout(config.grpo.scoring_timeout_s)
    samples = run.samples_writer() if MAIN_PROCESS else None
    groups_per_step = config.grpo.rollout_groups_per_step
    groups = RolloutRecorder(
        names,
        config.rewards,
        config.grpo.num_generations,
        groups_per_step,
        run.rollout_writer() if MAIN_PROCESS and groups_per_step else None,
    )
    recorder = SampleRecorder(names, config.rewards, samples, config.grpo.samples_per_step, groups)
    watch = HealthWatch(run, config.grpo.stop_on_nan_loss, groups, resume)
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
    if MAIN_PROCESS:
        apply_tracker_env(config, run)
    progress.phase("building trainer" + (" (vLLM warm-up can take minutes)" if loaded.use_vllm else ""))
    clock = PhaseClock()
    clock.install()
    trainer = make_trainer(
        loaded,
        args,
        [recorder.wrap(n, custom.get(n)) for n in names],
        to_dataset(prepared.train),
        [make_callback(run, progress, stop, config.grpo.max_steps, clock, watch, resume)],
        trim_vllm=config.grpo.trim_vllm_overhead,
        overlap=config.distributed.overlap_generation,
        group_by_length=config.grpo.group_by_length,
        one_pass_importance_sampling=config.grpo.one_pass_importance_sampling,
    )
    groups.configure(trainer)
    return trainer
