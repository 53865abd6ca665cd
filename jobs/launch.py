"""Start, stop and resume runs as detached OS processes (stdlib + psutil; no torch, no Textual).

A run is `python -m jobs.supervise RUN_DIR`, started in a new session with stdin from /dev/null and its
output appended to train.log, so a closed terminal, a hung-up SSH link or a quitting TUI never reaches
it, and no pipe can fill up and block it. The supervisor starts the trainer in its own process group;
stopping sends SIGTERM to that group (covering any children such as vLLM workers), which the trainer turns
into "save a checkpoint, then exit"; the supervisor escalates to SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from jobs.process import spawn_detached, stop_job, wait_for
from workbench import environment
from workbench.config import ConfigError, Problem, RunConfig, load
from workbench.resume import resume_mismatches
from workbench.runs import (
    FINAL_STATES,
    RunDir,
    checkpoint_step,
    create_run_dir,
    last_complete_checkpoint,
    merge_progress,
    resolve_state,
    resume_point,
    run_dirs,
)

STOP_GRACE_ENV = "GRPO_WORKBENCH_STOP_GRACE"
DEFAULT_STOP_GRACE = 300.0
"""Seconds the supervisor waits for a clean stop (a GPU checkpoint can take a while) before SIGKILL."""


class LaunchError(RuntimeError):
    """A run cannot be started, stopped or resumed; the message says why and what to do."""


def _spawn(run: RunDir, *extra: str) -> subprocess.Popen[bytes]:
    return spawn_detached([sys.executable, "-m", "jobs.supervise", str(run.path), *extra], run.log, run.path)


def gpu_owners(root: Path | None = None) -> dict[int, str]:
    """pid -> run id for every process of every live run under the runs home (supervisor, trainer and
    their children, such as vLLM workers): who owns what NVML shows on a GPU."""
    owners: dict[int, str] = {}
    for run in run_dirs(root):
        manifest = run.read_manifest()
        pid = manifest.pid
        if pid is None or not manifest.process.alive:
            continue
        owners[pid] = run.run_id
        try:
            for child in psutil.Process(pid).children(recursive=True):
                owners[child.pid] = run.run_id
        except psutil.Error:
            pass
    return owners


def check_gpus(
    root: Path | None = None,
    *,
    force: bool = False,
    warn: Callable[[str], None] | None = None,
    config: RunConfig | None = None,
) -> None:
    """Refuse to put a run on a GPU another job already uses (unless forced, which only warns).

    Args:
        root: The runs home whose runs own GPUs.
        force: Only warn.
        warn: Receives the warnings.
        config: The run's config: its `distributed.gpus` (and server GPU) are checked when set, else the
            first GPU of CUDA_VISIBLE_DEVICES.

    Raises:
        ConfigError: the GPU is busy and `force` is off; the message names the owner run and the fix.
    """
    from workbench import distributed

    selected = distributed.selected_gpus(config) if config is not None else []
    wanted = selected or environment.wanted_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"))
    if wanted == []:
        return
    uses = environment.gpu_uses()
    if not uses:
        return
    conflicts = environment.gpu_conflicts(uses, gpu_owners(root), wanted)
    if conflicts and not force:
        raise ConfigError([Problem("gpu", c.message()) for c in conflicts])
    for conflict in conflicts:
        if warn is not None:
            warn(conflict.message().split("; fix:")[0] + "; starting anyway (--force)")


def launch(
    config: RunConfig,
    *,
    check: bool = True,
    root: Path | None = None,
    force: bool = False,
    warn: Callable[[str], None] | None = None,
) -> tuple[RunDir, subprocess.Popen[bytes]]:
    """Validate against this machine, create the run directory, start the job detached.

    Args:
        config: A validated config.
        check: Run the pre-flight checks (backend, GPU, disk, a GPU already in use) first; nothing is
            created if they fail.
        root: The runs home (default: the configured one).
        force: Start even on a GPU another job uses (`warn` is told instead).
        warn: Receives warnings the launch goes ahead despite.

    Returns:
        The run directory and the supervisor's Popen (poll it to reap it while the caller lives).

    Custom reward files are checked whatever `check` says (`jobs.reward_check`: imported and called on
    bundled rows in a separate process under grpo.reward_timeout_s), then copied into the run directory.

    Raises:
        ConfigError: the config cannot run here, or a custom reward is broken; no directory was created.
        LaunchError: the run directory could not be written (disk full, read-only); it was removed again.
    """
    if check:
        problems = environment.preflight(config)
        if problems:
            raise ConfigError(problems)
        check_gpus(root, force=force, warn=warn, config=config)
        check_data(config)
        check_model_offline(config)
    if config.custom_rewards:
        from jobs import reward_check

        problems = reward_check.check(config)
        if problems:
            raise ConfigError(problems)
    run = create_run_dir(config.name or config.model.name, root)
    try:
        run.copy_custom_rewards(entry.file for entry in config.custom_rewards)
        config.save(run.config)
        run.write_status(
            state="pending", step=0, max_steps=config.grpo.max_steps, phase="launching", heartbeat=time.time()
        )
    except OSError as exc:
        # Half a run directory (no config, or no status) would show up as a broken run: take it back.
        shutil.rmtree(run.path, ignore_errors=True)
        raise LaunchError(
            f"cannot write the run directory {run.path} ({exc.strerror or exc}); nothing was started; "
            "fix: free space under the runs home or set GRPO_WORKBENCH_HOME to a writable disk"
        ) from None
    return run, _spawn(run)


def check_data(config: RunConfig) -> None:
    """Read the data source and split it as the run will (held-out rows, limit), as Configure's preview
    does, so that a source that cannot be read or leaves nothing to train on is refused before a run
    directory exists. Prompt lengths are not measured here (that needs the model's tokenizer on every
    row): the job drops the prompts that are too long and counts them in data.json. A hub dataset is
    fetched here into the Hugging Face cache, where the job then finds it.

    Raises:
        ConfigError: naming data.source, with the reader's message and its fix.
    """
    from workbench import data as wdata

    try:
        wdata.prepare(wdata.load_rows(config.data), config.data, config.grpo.max_prompt_length, None)
    except wdata.DataError as exc:
        raise ConfigError([Problem("data.source", str(exc))]) from None


def check_model_offline(config: RunConfig) -> None:
    """With HF_HUB_OFFLINE set, a hub model must already be in the Hugging Face cache: otherwise the
    trainer would fail at its first step with the hub client's connection error, which names neither
    model.name nor a fix.

    Raises:
        ConfigError: naming model.name and the fix.
    """
    from huggingface_hub import is_offline_mode, try_to_load_from_cache

    from workbench import presets

    if not is_offline_mode():  # HF_HUB_OFFLINE as the hub client that would fail reads it
        return
    name = presets.resolve_model_path(config.model.name, create=False)
    if Path(name).is_absolute():
        return  # a directory (the config resolves and checks those) or a local preset's build
    if not isinstance(try_to_load_from_cache(name, "config.json"), str):
        raise ConfigError(
            [
                Problem(
                    "model.name",
                    f"{name} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; fix: download it "
                    f"first (`huggingface-cli download {name}` on a machine with network, into HF_HOME), "
                    "unset HF_HUB_OFFLINE, or point model.name at a local directory",
                )
            ]
        )


def orphan_trainer(run: RunDir) -> int | None:
    """The trainer of the last attempt when it is still running without its supervisor (the supervisor
    was killed): its pid, checked against its recorded start time; None otherwise."""
    manifest = run.read_manifest()
    if manifest.process.alive or not manifest.trainer.alive:
        return None
    return manifest.trainer_pid


def resume(run: RunDir) -> subprocess.Popen[bytes]:
    """Continue a stopped, failed or crashed run from its last complete checkpoint, in the same directory.

    Raises:
        LaunchError: the run is live (or its trainer runs on without its supervisor), it completed (as
            its supervisor or, with the supervisor gone, its trainer recorded), its last checkpoint is
            already at grpo.max_steps, or its changed config.toml does not fit that checkpoint.
    """
    orphan = orphan_trainer(run)
    if orphan is not None:
        raise LaunchError(
            f"run {run.run_id} lost its supervisor but its trainer (pid {orphan}) is still running and "
            f"writing the run directory; a second trainer would corrupt it; fix: `grpo-workbench stop "
            f"{run.run_id}` (it stops that trainer with a checkpoint), then resume"
        )
    state, alive, _ = resolve_state(run)
    if alive or state not in FINAL_STATES:
        raise LaunchError(f"run {run.run_id} is {state}; only a finished run can be resumed (stop it first)")
    if state == "completed":
        raise LaunchError(
            f"run {run.run_id} completed all its steps; fix: start a new run from it to train further "
            f"(`grpo-workbench train --from {run.run_id} --set grpo.max_steps=N`)"
        )
    check_resumable(run)
    run.mark_resume(resume_point(run), time.time())
    return _spawn(run, "--resume")


def check_resumable(run: RunDir) -> None:
    """Refuse a resume whose config.toml no longer fits the last complete checkpoint (see
    `workbench.resume`), or whose last checkpoint already reached grpo.max_steps, before anything is
    written or started: status.json and the step stay as they are.

    Raises:
        LaunchError: one line per setting (checkpoint value, config value, fix), the config is invalid,
            or no step is left to train.
    """
    checkpoint = last_complete_checkpoint(run)
    try:
        config = load(run.config)
    except ConfigError as exc:
        if checkpoint is None:
            return  # nothing to restore: the trainer reports the config itself
        raise LaunchError(f"run {run.run_id} cannot resume: {exc}") from None
    missing = [e for e in config.custom_rewards if not run.custom_reward_file(e.file).is_file()]
    if missing:
        raise LaunchError(
            f"run {run.run_id} cannot resume: config.toml names custom reward(s) "
            f"{', '.join(e.label for e in missing)} that were not part of the run (no copy in "
            f"{run.custom_rewards}); fix: remove them from config.toml, or start a new run with them "
            f"(`grpo-workbench train --from {run.run_id}`)"
        )
    if checkpoint is None:
        return  # nothing to restore: the trainer starts from step 0 under the current config
    mismatches = resume_mismatches(config, checkpoint)
    if mismatches:
        raise LaunchError(
            f"run {run.run_id} cannot resume from {checkpoint.name} under its changed config.toml:\n"
            + "\n".join("  - " + m.message(checkpoint.name) for m in mismatches)
        )
    step = checkpoint_step(checkpoint) or 0
    if step >= config.grpo.max_steps:
        # TRL would train one step past it (and on): the run has trained every step it was set.
        raise LaunchError(
            f"run {run.run_id} cannot resume: {checkpoint.name} is already at grpo.max_steps "
            f"({config.grpo.max_steps}), so no step is left to train (its weights are that checkpoint); "
            f"fix: start a new run from it (`grpo-workbench train --from {run.run_id}:{checkpoint.name} "
            "--set grpo.max_steps=N`)"
        )


def stop(run: RunDir, *, wait: float = 600.0, poll: float = 0.2) -> str:
    """Ask a run to stop cleanly (SIGTERM: checkpoint, then exit) and wait for its final state.

    Args:
        run: The run.
        wait: Seconds to wait for the supervisor to record the end; after that the group is killed.
            0 sends the request and returns at once: the supervisor then escalates by itself after its
            grace period, so nothing is killed before it could checkpoint.
        poll: Seconds between checks.

    Returns:
        The final state, or "stopping" when `wait` is 0.
    """
    if not run.read_manifest().process.alive:
        orphan = orphan_trainer(run)
        if orphan is not None:
            return _stop_orphan(run, orphan, wait, poll)
        state, _, _ = resolve_state(run)
        return state
    return stop_job(run, wait=wait, poll=poll)


def _stop_orphan(run: RunDir, pid: int, wait: float, poll: float) -> str:
    """Stop a trainer whose supervisor is gone: SIGTERM (it checkpoints), then SIGKILL after `wait`, and
    record the end, since no supervisor is left to do it."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if wait <= 0:
        return "stopping"
    trainer = run.read_manifest().trainer
    killed = not wait_for(lambda: not trainer.alive, wait, poll)
    if killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # Record the end as the supervisor would have, with the trainer's own last step and outcome.
    progress = run.read_progress()
    outcome = progress.outcome if progress.outcome in ("completed", "stopped") and not killed else "stopped"
    run.write_status(
        state=outcome,
        heartbeat=time.time(),
        finished_at=time.time(),
        error="the supervisor was gone; its trainer was stopped directly"
        + ("; killed after the grace period" if killed else ""),
        **merge_progress(run.read_status(), progress),
    )
    return outcome
