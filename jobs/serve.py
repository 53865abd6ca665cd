"""Serve jobs: plan, start, wait for, stop; and the supervisor, `python -m jobs.serve SERVE_DIR`
(stdlib + psutil; no torch, no Textual).

The launcher checks everything it can before a process starts (the base model is on this machine, every
adapter fits the server: `workbench.adapters`), writes the serve directory (`workbench.serving` documents
it), and starts the supervisor detached: its own session, stdin from /dev/null, output appended to
serve.log, never a pipe. The supervisor starts the server (vLLM or `jobs.serve_fallback`) in a process
group of its own, gives it the key through its environment, polls `/health` until it answers, records
the served models, heartbeats status.json and records how the server ended. Stopping sends SIGTERM to the
supervisor, which stops the server's whole group (vLLM's engine processes included) and SIGKILLs what is
left after a grace period, so a stop always frees the GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from jobs.process import (
    Heartbeat,
    exited,
    group_alive,
    job_env,
    kill_group,
    own_group,
    spawn_detached,
    stop_job,
    wait_for,
)
from workbench import presets
from workbench.adapters import AdapterError, check_adapters, smallest_lora_rank
from workbench.jobdir import FINAL_STATES, STARTING_STATES, describe_process, process_start_time
from workbench.runs import RunDir, checkpoints, resolve_state
from workbench.serving import (
    BASE_NAME,
    KEY_ENV,
    ServeDir,
    ServeManifest,
    ServeSpec,
    ServeStatus,
    choose_backend,
    create_serve_dir,
    fallback_argv,
    free_port,
    vllm_argv,
)

HEARTBEAT_SECONDS = 2.0
STOP_GRACE_SECONDS = 30.0
"""How long the server gets to exit after SIGTERM before its group is killed."""
READY_TIMEOUT = 900.0
"""vLLM's first start (download, compile, CUDA graphs) can take minutes."""


class ServeError(RuntimeError):
    """A serve job cannot be planned, started or reached; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------- planning


def base_model_for(model_name: str) -> str:
    """The hub id or local directory of a run's `model.name`, checked to exist when it is local.

    Raises:
        ServeError: a locally built preset that this machine has not built.
    """
    preset = presets.PRESETS.get(model_name)
    path = presets.resolve_model_path(model_name)
    local = preset is not None and not preset.hub_id
    if (local or path.startswith(("/", "."))) and not (Path(path) / "config.json").is_file():
        fix = (
            f"build it with `grpo-workbench build-model {preset.architecture} {path}` or train once"
            if preset is not None
            else "point model.name at an existing model directory"
        )
        raise ServeError(f"the base model {model_name!r} is not on this machine ({path}); fix: {fix}")
    return path


def recorded_base(run: RunDir) -> str | None:
    """The local base-model directory the run's adapters were trained on, when it still exists here.

    A locally built preset is rebuilt under a new directory when its build changes (`tiny-v1` became
    `tiny-v2`): an older run's adapters only fit the build they were trained on, which PEFT recorded.
    Hub ids return None (the config's `model.name` is used).
    """
    candidates = [run.adapter] + [path for _, path, ok in reversed(checkpoints(run)) if ok]
    for path in candidates:
        try:
            recorded = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        base = str(recorded.get("base_model_name_or_path") or "") if isinstance(recorded, dict) else ""
        if base.startswith("/") and (Path(base) / "config.json").is_file():
            return base
    return None


def run_adapters(run: RunDir, checkpoint: int | None = None) -> dict[str, Path]:
    """The adapters a run offers by model name: every complete checkpoint and the final adapter, or only
    checkpoint `checkpoint`.

    Raises:
        ServeError: the run has no such checkpoint, or nothing to serve.
    """
    complete = {step: path for step, path, ok in checkpoints(run) if ok}
    if checkpoint is not None:
        if checkpoint not in complete:
            have = ", ".join(str(s) for s in complete) or "none"
            raise ServeError(
                f"run {run.run_id} has no complete checkpoint {checkpoint} (complete ones: {have}); "
                "fix: pick one of those, or leave --checkpoint out to serve the final adapter"
            )
        return {f"checkpoint-{checkpoint}": complete[checkpoint]}
    found = {f"checkpoint-{step}": path for step, path in complete.items()}
    if run.adapter.is_dir():
        found["adapter"] = run.adapter
    if not found:
        raise ServeError(
            f"run {run.run_id} has no adapter and no complete checkpoint yet; fix: wait for its first "
            "checkpoint, or serve the base model alone with --base-only"
        )
    return found


def plan(
    base_model: str,
    adapters: dict[str, Path],
    *,
    backend: str = "auto",
    gpus: int = 0,
    has_vllm: bool = False,
    port: int = 0,
    max_lora_rank: int | None = None,
    max_model_len: int = 2048,
    gpu_memory_utilization: float = 0.85,
    run_id: str | None = None,
    label: str = "",
) -> ServeSpec:
    """Check a base model and its adapters against the server that would load them; nothing starts.

    Args:
        base_model: Hub id or local directory.
        adapters: Model name -> adapter directory (`base` is reserved for the base model).
        backend: auto, vllm or transformers.
        gpus: GPUs on this machine (NVML).
        has_vllm: Whether vLLM is installed.
        port: 0 picks a free port at start.
        max_lora_rank: vLLM's `--max-lora-rank`; default: the smallest vLLM rank that fits the adapters.
        max_model_len: Context length the server allows.
        gpu_memory_utilization: vLLM's share of the GPU.
        run_id: The run the adapters come from.
        label: A word for the serve id.

    Raises:
        ServeError: the backend cannot run here, or an adapter cannot be served (every problem listed).
    """
    try:
        chosen = choose_backend(gpus, has_vllm, backend)
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    if BASE_NAME in adapters:
        raise ServeError(f"an adapter cannot be called {BASE_NAME!r}: that name is the base model")
    if max_lora_rank is None:
        ranks = []
        for path in adapters.values():
            try:
                rank = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("r")
            except (OSError, ValueError):
                continue  # check_adapters names the problem
            if isinstance(rank, int):
                ranks.append(rank)
        max_lora_rank = smallest_lora_rank(ranks, at_least=8)
    try:
        check_adapters(adapters, base_model=base_model, max_lora_rank=max_lora_rank)
    except AdapterError as exc:
        raise ServeError("cannot serve these adapters:\n" + str(exc)) from None
    if not 1 <= port <= 65535 and port != 0:
        raise ServeError(f"--port {port} is not a TCP port; fix: use 1024-65535, or leave it out")
    return ServeSpec(
        base_model=base_model,
        adapters={name: str(path.resolve()) for name, path in adapters.items()},
        backend=chosen,
        port=port,
        max_lora_rank=max_lora_rank,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        run_id=run_id,
        label=label,
    )


def plan_for_run(
    run: RunDir,
    *,
    checkpoint: int | None = None,
    base_only: bool = False,
    backend: str = "auto",
    gpus: int = 0,
    has_vllm: bool = False,
    port: int = 0,
    max_lora_rank: int | None = None,
    gpu_memory_utilization: float = 0.85,
) -> ServeSpec:
    """`plan` for a run: its base model (model.name), its adapters, its context length and LoRA limit.

    Raises:
        ServeError: see `plan`, `run_adapters` and `base_model_for`.
    """
    from workbench.config import ConfigError, load

    try:
        config = load(run.config)
    except (OSError, ConfigError) as exc:
        raise ServeError(f"run {run.run_id}: cannot read its config.toml ({exc})") from None
    adapters = {} if base_only else run_adapters(run, checkpoint)
    return plan(
        recorded_base(run) or base_model_for(config.model.name),
        adapters,
        backend=backend,
        gpus=gpus,
        has_vllm=has_vllm,
        port=port,
        max_lora_rank=max_lora_rank or config.lora.max_lora_rank,
        max_model_len=config.model.max_seq_length,
        gpu_memory_utilization=gpu_memory_utilization,
        run_id=run.run_id,
        label=config.name or config.model.name,
    )


def plan_model(
    model: str,
    adapters: list[str],
    *,
    backend: str = "auto",
    gpus: int = 0,
    has_vllm: bool = False,
    port: int = 0,
    max_lora_rank: int | None = None,
    max_model_len: int = 2048,
    gpu_memory_utilization: float = 0.85,
) -> ServeSpec:
    """`plan` for a model named directly (a preset, a hub id or a directory) and adapters given as
    `DIR` or `NAME=DIR` (a bare first one is called `adapter`, later ones by their directory name).

    Raises:
        ServeError: see `plan` and `base_model_for`.
    """
    base = str(Path(model).resolve()) if Path(model).is_dir() else base_model_for(model)
    named: dict[str, Path] = {}
    for index, item in enumerate(adapters):
        name, sep, path = item.partition("=")
        if not sep or "/" in name:
            name, path = ("adapter" if index == 0 else Path(item).name), item
        if name in named:
            raise ServeError(f"two adapters are called {name!r}; fix: name them, e.g. --adapter a=DIR")
        named[name] = Path(path).expanduser()
    return plan(
        base,
        named,
        backend=backend,
        gpus=gpus,
        has_vllm=has_vllm,
        port=port,
        max_lora_rank=max_lora_rank,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        label=Path(model).name,
    )


# ---------------------------------------------------------------------------------------------- launcher


def _job_env() -> dict[str, str]:
    return job_env(drop=(KEY_ENV,))  # a key of the caller's must never reach this job's log or children


def start(spec: ServeSpec, root: Path | None = None) -> tuple[ServeDir, subprocess.Popen[bytes]]:
    """Create the serve directory (spec, key) and start its supervisor detached.

    Returns:
        The serve directory and the supervisor's Popen (poll it to reap it while the caller lives).
    """
    if spec.port == 0:
        spec = ServeSpec.from_dict({**spec.to_dict(), "port": free_port(spec.host)})
    serve = create_serve_dir(spec, root)
    serve.write_status(state="pending", heartbeat=time.time(), url=spec.url, backend=spec.backend)
    proc = spawn_detached(
        [sys.executable, "-m", "jobs.serve", str(serve.path)], serve.log, serve.path, _job_env()
    )
    return serve, proc


def wait_ready(serve: ServeDir, timeout: float = READY_TIMEOUT, poll: float = 0.25) -> ServeStatus:
    """Block until the server answers (status `ready`) and return its status.

    Raises:
        ServeError: the job ended first (the message holds the log's tail), or `timeout` passed.
    """
    deadline = time.monotonic() + timeout
    while True:
        state, alive, status = resolve_state(serve)
        if state == "ready" and alive:
            return status
        if state in FINAL_STATES:
            error = status.error or serve.log_tail()
            raise ServeError(f"the server did not start ({state}):\n{error}")
        if time.monotonic() > deadline:
            raise ServeError(
                f"the server was not ready after {timeout:.0f}s (still {state}); see {serve.log}\n"
                + serve.log_tail()
            )
        time.sleep(poll)


def stop(serve: ServeDir, *, wait: float = 60.0, poll: float = 0.2) -> str:
    """Stop the server and its supervisor and wait until no process of either is left.

    Args:
        serve: The serve job.
        wait: Seconds to wait for a clean exit before everything left is killed; 0 only asks.
        poll: Seconds between checks.

    Returns:
        The final state, or "stopping" when `wait` is 0.
    """
    # Just launched: wait (10 s at most) for the supervisor to record its server, then stop both.
    wait_for(
        lambda: bool(serve.read_manifest().server_pgid) or resolve_state(serve)[0] not in STARTING_STATES,
        10,
        poll,
    )
    manifest = serve.read_manifest()
    supervisor = manifest.process
    # The server's group, only while its leader is still the server the manifest recorded (its start
    # time checked, as for every process a job signals): a pid, and so a group id, can be reused, and a
    # record without a start time names no process we can vouch for.
    server_group = own_group(manifest.server)

    def gone() -> bool:
        return not supervisor.alive and not (server_group and group_alive(server_group))

    if not supervisor.alive:
        if server_group is None:
            return resolve_state(serve)[0]
        kill_group(server_group, signal.SIGTERM)  # an orphaned server (its supervisor was killed)
        if wait <= 0:
            return "stopping"
        if not wait_for(gone, wait, poll):
            kill_group(server_group, signal.SIGKILL)
    else:
        # The supervisor stops its server, then records the end.
        def kill_server() -> None:
            if server_group is not None:
                kill_group(server_group, signal.SIGKILL)

        if stop_job(serve, wait=wait, poll=poll, gone=gone, on_kill=kill_server) == "stopping":
            return "stopping"
    state, _, _ = resolve_state(serve)
    if state not in FINAL_STATES:
        serve.write_status(state="stopped", heartbeat=time.time())
        state = "stopped"
    return state


# ---------------------------------------------------------------------------------------------- supervisor


def _log(message: str) -> None:
    print(f"[serve {time.strftime('%H:%M:%S')}] {message}", flush=True)


def vllm_command() -> list[str]:
    """How to run vLLM's CLI from this environment: its `vllm` script next to this Python, else on PATH."""
    beside = Path(sys.executable).with_name("vllm")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("vllm")
    return [found] if found else [sys.executable, "-m", "vllm.entrypoints.cli.main"]


def http_get(url: str, key: str | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    """A GET with an optional bearer key: (status, body); (0, b"") when nothing answers."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (OSError, ValueError):
        return 0, b""


class Supervisor:
    """Runs one server to its end and records it in status.json."""

    def __init__(self, serve: ServeDir):
        self.serve = serve
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_requested_at: float | None = None
        self.heartbeat = Heartbeat(serve, _log)
        self.ready_fields: dict[str, object] = {}
        """What the status says once the server answers (models, ready_at), repeated at every beat so a
        write lost to a full disk is made good by the next one."""

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
            _log(f"received {signal.Signals(signum).name}: stopping the server")
        if self.child is not None and self.child.poll() is None:
            kill_group(self.child.pid, signal.SIGTERM)

    def _command(self, spec: ServeSpec) -> tuple[list[str], dict[str, str]]:
        env = _job_env()
        if spec.base_model.startswith("/"):
            env.setdefault("HF_HUB_OFFLINE", "1")
        if spec.backend == "vllm":
            env[KEY_ENV] = self.serve.read_key()
            env.setdefault("VLLM_NO_USAGE_STATS", "1")
            return vllm_argv(spec, vllm_command()), env
        return fallback_argv(self.serve.path, sys.executable), env

    def main(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        spec = self.serve.read_spec()
        argv, env = self._command(spec)
        manifest = describe_process(sys.argv, os.getpid(), 1, kind=ServeManifest)
        self.serve.write_manifest(manifest)
        self.serve.write_status(
            state="starting", heartbeat=time.time(), pid=os.getpid(), url=spec.url, backend=spec.backend
        )
        _log(f"starting the {spec.backend} server on {spec.url}: {spec.base_model} + {list(spec.adapters)}")
        with self.serve.log.open("ab") as log:
            self.child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.serve.path,
                env=env,
                process_group=0,  # its own group: a stop reaches vLLM's engine processes, never us
            )
        self.serve.write_manifest(
            manifest.replace(
                server_pid=self.child.pid,
                server_pgid=self.child.pid,
                server_create_time=process_start_time(self.child.pid),
                server_argv=tuple(argv),
            )
        )
        if self.stop_requested_at is not None:  # a stop that came while we were starting it
            kill_group(self.child.pid, signal.SIGTERM)
        ready = False
        killed = False
        root = spec.url.removesuffix("/v1")
        last_beat = 0.0
        # `exited` leaves the server unreaped until its group is cleaned up below: while its zombie holds
        # the pid, the group id signalled here cannot belong to anyone else.
        while (code := exited(self.child)) is None:
            now = time.monotonic()
            if self.stop_requested_at is not None:
                if not killed and now - self.stop_requested_at > STOP_GRACE_SECONDS:
                    _log(f"the server did not exit within {STOP_GRACE_SECONDS:.0f}s; killing it")
                    kill_group(self.child.pid, signal.SIGKILL)
                    killed = True
                if now - last_beat > 0.5:
                    self.heartbeat.beat(state="stopping")
                    last_beat = now
            elif not ready and http_get(f"{root}/health", timeout=1.0)[0] == 200:
                ready = self._record_ready(spec, root)
                last_beat = now
            elif now - last_beat >= HEARTBEAT_SECONDS:
                self.heartbeat.beat(state="ready" if ready else "starting", **self.ready_fields)
                last_beat = now
            time.sleep(0.25 if not ready or self.stop_requested_at else 0.5)
        # vLLM's engine processes may outlive the API server by a moment: nothing of the group may stay.
        deadline = time.monotonic() + 10
        while group_alive(self.child.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        kill_group(self.child.pid, signal.SIGKILL)
        self.child.wait()  # reaped only now: the group id was ours until here
        return self._record_end(code)

    def _record_ready(self, spec: ServeSpec, root: str) -> bool:
        status, body = http_get(f"{root}/v1/models", self.serve.read_key(), timeout=5.0)
        if status != 200:
            return False
        try:
            models = [m["id"] for m in json.loads(body)["data"]]
        except (ValueError, KeyError, TypeError):
            models = spec.models
        self.ready_fields = {"ready_at": time.time(), "models": tuple(models)}
        self.heartbeat.beat(state="ready", **self.ready_fields)
        _log(f"ready on {spec.url}: {', '.join(models)}")
        return True

    def _record_end(self, code: int) -> int:
        if self.stop_requested_at is not None:
            state, error = "stopped", None
        elif code < 0:
            state, error = "crashed", f"the server was killed by {signal.Signals(-code).name}"
        else:
            state = "failed"
            error = self.serve.log_tail() or f"the server exited with code {code}"
        self.heartbeat.beat(state=state, exit_code=code, error=error, finished_at=time.time())
        _log(f"server ended: {state} (exit code {code})")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Supervise one serve job (started by `grpo-workbench serve`)."
    )
    parser.add_argument("serve_dir", type=Path)
    args = parser.parse_args(argv)
    return Supervisor(ServeDir(args.serve_dir.resolve())).main()


if __name__ == "__main__":
    sys.exit(main())
