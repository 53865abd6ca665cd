"""The training job: `python -m jobs.train_grpo RUN_DIR [--resume]`, started by the supervisor.

A thin script over the library (modelled on open-r1's grpo.py): it reads config.toml from the run
directory, resolves the backend for this machine, has `jobs.trainer` assemble the GRPOTrainer (the model
through `jobs.backends`: TRL with a LoRA `peft_config` on CPU or GPU, or Unsloth, GPU only, imported
first in this process because it patches TRL for the whole process), trains, saves the adapter and
writes the outcome. It reports only through files in the run directory (`jobs.reporting`). SIGTERM asks
for a checkpoint at the end of the current step and a clean exit; `--resume` continues from the last
complete checkpoint. Heavy imports live inside functions so `--help` and errors stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import traceback
from pathlib import Path

from jobs.backends import load_adapter_weights
from jobs.reporting import MAIN_PROCESS, Progress, StopFlag, StopRequested, gpu_sampler, log
from jobs.trainer import build_trainer
from workbench import distributed, environment, presets
from workbench.config import RunConfig, load
from workbench.runs import RunDir, checkpoint_step, last_complete_checkpoint


def offline_if_local(config: RunConfig) -> None:
    """With a local model and local data nothing needs the hub: say so, so machines without network never
    wait on hub timeouts."""
    model_is_local = presets.resolve_model_path(config.model.name).startswith("/")
    data_is_local = config.data.source == "bundled" or config.data.source.startswith("/")
    if model_is_local and data_is_local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


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
            if (checkpoint_step(checkpoint) or 0) >= config.grpo.max_steps:
                # transformers would still take one step past max_steps from here (and save it).
                raise ValueError(
                    f"{checkpoint.name} is already at grpo.max_steps ({config.grpo.max_steps}): no step is "
                    f"left to train; fix: start a new run from it (train --from RUN:{checkpoint.name})"
                )
        if config.lora.init_from and checkpoint is None:
            count = load_adapter_weights(trainer.model, Path(config.lora.init_from))
            log(f"starting from the adapter {config.lora.init_from}: {count} LoRA tensors loaded")
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        if getattr(trainer, "_overlap_state", None) is not None:
            from jobs.overlap import drain

            drain(trainer._overlap_state)
        if stop.failure is not None:  # a non-finite loss: these weights must not become the adapter
            progress.update(
                phase="failed", outcome="failed", error=stop.failure, step=trainer.state.global_step
            )
            return 1
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
