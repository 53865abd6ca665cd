"""Serve jobs: an OpenAI-compatible inference server for a base model and its LoRA adapters, run and
watched like a training run (stdlib + psutil; no torch, no Textual).

A serve job is a detached supervisor (`python -m jobs.serve SERVE_DIR`) that starts the server in its own
process group, polls its /health until it answers, records the models it serves and how it ended. Two
servers speak the same API (`/v1/models`, `/v1/chat/completions` with SSE streaming, `/health`):

* `vllm`: vLLM's own server, `vllm serve BASE --enable-lora --lora-modules ...` (a GPU with vLLM);
* `transformers`: `jobs/serve_fallback.py`, FastAPI + uvicorn over transformers + PEFT (CPU, tests).

The base model is always served as `base`; adapters under the names the runs use (`adapter`,
`checkpoint-N`), so a client (the chat pane, `jobs.chat_bench`) never cares which server it talks to.

State lives in `<data dir>/serves/<serve id>/` (0700), the only contract between the job and its
watchers:

| file | written by | what |
| --- | --- | --- |
| spec.json | launcher, before the start | base model, adapters (name -> dir), backend, host, port, limits |
| key | launcher | the API key of this launch (`secrets.token_urlsafe`), mode 0600; never in argv or logs |
| manifest.json | supervisor | `ServeManifest`: its pid/pgid/start time; server pid, group, start time, argv |
| status.json | supervisor | `ServeStatus`: state, url, models served, heartbeat, exit code, error |
| serve.log | supervisor and server (append mode) | the human log |

States: `pending` (launcher), `starting` (loading the model), `ready`, `stopping`, then `stopped`,
`failed` (the server exited by itself; the error holds the log's tail) or `crashed` (the supervisor
vanished). The server binds 127.0.0.1 only and checks the key on every API request (vLLM's `/health` and
`/metrics` stay open, as in vLLM; loopback only).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from workbench import paths
from workbench.atomic import read_json, write_json_atomic, write_text_atomic
from workbench.jobdir import (
    LIVE_STATES,
    JobDir,
    JobState,
    JobView,
    Manifest,
    ProcessRef,
    Status,
    create_job_dir,
    find_job,
    job_dirs,
)
from workbench.runs import list_runs

Backend = Literal["vllm", "transformers"]
HOST = "127.0.0.1"
"""Loopback only: the server is for this machine's user (reach it from elsewhere over SSH port forwarding)."""
BASE_NAME = "base"
"""The model name of the base model, on both servers."""
KEY_ENV = "VLLM_API_KEY"
"""vLLM reads its key from this variable, which keeps it out of argv (readable by every user via /proc)."""
_LOG_PREFIX = re.compile(
    r"^(?:\(\w+ pid=\d+\)\s*)*"  # the process tags
    r"(?:(?:INFO|WARNING|DEBUG|ERROR)\s+\d\d-\d\d \d\d:\d\d:\d\d\s+\[[^\]]*\]\s*)?"  # level, time, source
)
"""vLLM's line prefix: `(APIServer pid=1) (EngineCore pid=2) INFO 11-23 17:26:39 [core.py:1214] `."""
DEFAULT_GPU_MEMORY = 0.85
"""vLLM's share of the GPU for a serve job (its own default is 0.9)."""


def serves_dir() -> Path:
    """Where serve jobs are kept (next to runs)."""
    path = paths.data_dir() / "serves"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@dataclass(frozen=True)
class ServeSpec:
    """What to serve and how: written to spec.json before the job starts, read by the supervisor."""

    base_model: str
    """A hub id or a local model directory (what `from_pretrained` / `vllm serve` takes)."""
    adapters: dict[str, str] = field(default_factory=dict)
    """Model name -> adapter directory (checked by `workbench.adapters` before the launch)."""
    backend: Backend = "transformers"
    port: int = 0
    """0: a free port is chosen at launch."""
    host: str = HOST
    max_lora_rank: int = 64
    max_model_len: int = 2048
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY
    run_id: str | None = None
    """The run the adapters come from (None for a bare model)."""
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServeSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    @property
    def url(self) -> str:
        """The OpenAI base URL clients use."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def models(self) -> list[str]:
        """Every model name the server answers to: the base first."""
        return [BASE_NAME, *self.adapters]


def vllm_argv(spec: ServeSpec, vllm: list[str] | None = None) -> list[str]:
    """The vLLM 0.24 OpenAI server command for `spec` (the key goes in `VLLM_API_KEY`, not here).

    The base is served under the name `base`; each adapter is one `--lora-modules` entry in vLLM's JSON
    form (the `name=path` form breaks on paths holding `=` or `,`), with `base_model_name` so /v1/models
    lists it as a child of the base. `--max-loras 2` lets two adapters share a batch (comparing two
    checkpoints side by side); the others wait in vLLM's CPU cache (`--max-cpu-loras`), and every
    adapter is loaded once at start, so a broken one fails the launch rather than a chat.

    Args:
        spec: The serve spec (its port must be chosen).
        vllm: The command that runs vLLM's CLI (default: `vllm`).
    """
    argv = [*(vllm or ["vllm"]), "serve", spec.base_model]
    argv += ["--served-model-name", BASE_NAME, "--host", spec.host, "--port", str(spec.port)]
    argv += ["--max-model-len", str(spec.max_model_len)]
    argv += ["--gpu-memory-utilization", f"{spec.gpu_memory_utilization:g}"]
    if spec.adapters:
        argv += ["--enable-lora", "--max-lora-rank", str(spec.max_lora_rank)]
        argv += ["--max-loras", str(min(2, len(spec.adapters)))]
        argv += ["--max-cpu-loras", str(max(2, len(spec.adapters)))]
        argv.append("--lora-modules")
        argv += [
            json.dumps({"name": name, "path": path, "base_model_name": BASE_NAME}, separators=(",", ":"))
            for name, path in spec.adapters.items()
        ]
    return argv


def fallback_argv(serve_dir: Path, python: str) -> list[str]:
    """The transformers + PEFT fallback server's command; it reads spec.json and the key file itself."""
    return [python, "-m", "jobs.serve_fallback", str(serve_dir)]


def choose_backend(gpus: int, has_vllm: bool, requested: str = "auto") -> Backend:
    """vLLM on a machine with a GPU and vLLM installed, else the transformers fallback.

    Raises:
        ValueError: `vllm` was asked for where it cannot run.
    """
    if requested == "transformers":
        return "transformers"
    if requested == "vllm":
        if not (gpus and has_vllm):
            raise ValueError(
                "--backend vllm needs an NVIDIA GPU and the vllm package (pip install -e '.[gpu]'); "
                "fix: use --backend transformers (slow, but runs anywhere)"
            )
        return "vllm"
    if requested != "auto":
        raise ValueError(f"unknown backend {requested!r}; choose auto, vllm or transformers")
    return "vllm" if gpus and has_vllm else "transformers"


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServeManifest(Manifest):
    """A serve job's manifest.json: its supervisor (`Manifest`'s fields) and the server it started, in a
    process group of its own that the server leads."""

    server_pid: int | None = None
    server_pgid: int | None = None
    server_create_time: float | None = None
    """The server's start time: its group is signalled only while its leader is still this process
    (`server`); a record without it names no process we can vouch for."""
    server_argv: tuple[str, ...] = ()

    @property
    def server(self) -> ProcessRef:
        """The server process, verified against its start time (`ProcessRef.alive`)."""
        return ProcessRef(self.server_pid, self.server_create_time)


@dataclass(frozen=True)
class ServeStatus(Status):
    """A serve job's status.json: `Status` plus where the server answers and what it serves."""

    url: str | None = None
    """The server's OpenAI base URL."""
    backend: str | None = None
    models: tuple[str, ...] = ()
    """The model names the server answers to."""
    ready_at: float | None = None


@dataclass(frozen=True)
class ServeDir(JobDir[ServeStatus, ServeManifest]):
    """Paths inside one serve directory (manifest.json and status.json as for every job)."""

    LOG_NAME = "serve.log"
    STATUS = ServeStatus
    MANIFEST = ServeManifest

    @property
    def serve_id(self) -> str:
        return self.path.name

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def key_file(self) -> Path:
        return self.path / "key"

    def read_spec(self) -> ServeSpec:
        return ServeSpec.from_dict(read_json(self.spec_file) or {"base_model": ""})

    def read_key(self) -> str:
        return self.key_file.read_text(encoding="utf-8").strip()

    def log_tail(self, lines: int = 12) -> str:
        """The last meaningful lines of serve.log (the error when a server dies while loading)."""
        try:
            with self.log.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 16384))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if line.strip() and not line.startswith("[serve ")]
        return "\n".join(kept[-lines:])

    def activity(self, width: int = 80) -> str:
        """What a starting server is doing now: the last line of serve.log without vLLM's process, level,
        time and source prefix, cut to `width`. vLLM takes minutes to start on a GPU (110-200 s measured
        for a 1B model with a LoRA on an H200: weights, torch.compile, CUDA graphs); this shows that it
        moves."""
        line = _LOG_PREFIX.sub("", self.log_tail(lines=1).strip()).strip()
        return line if len(line) <= width else line[: width - 1] + "…"


def create_serve_dir(spec: ServeSpec, root: Path | None = None) -> ServeDir:
    """A fresh private serve directory holding spec.json and a new key (0600)."""
    label = spec.label or spec.run_id or Path(spec.base_model).name
    serve = create_job_dir(ServeDir, root or serves_dir(), label, kind="serve")
    write_json_atomic(serve.spec_file, spec.to_dict())
    write_text_atomic(serve.key_file, secrets.token_urlsafe(32) + "\n", mode=0o600)
    return serve


@dataclass(frozen=True)
class ServeInfo:
    """A serve job as lists show it."""

    serve: ServeDir
    view: JobView[ServeStatus, ServeManifest]
    spec: ServeSpec

    @property
    def serve_id(self) -> str:
        return self.serve.serve_id

    @property
    def state(self) -> JobState:
        return self.view.state

    @property
    def alive(self) -> bool:
        return self.view.alive

    @property
    def url(self) -> str | None:
        return self.view.status.url or (self.spec.url if self.spec.port else None)

    @property
    def models(self) -> list[str]:
        return list(self.view.status.models or self.spec.models)

    @property
    def error(self) -> str | None:
        return self.view.status.error

    @property
    def started_at(self) -> float | None:
        return self.view.manifest.started_at

    @property
    def ready(self) -> bool:
        return self.alive and self.state == "ready"

    def to_dict(self) -> dict[str, Any]:
        return {
            "serve_id": self.serve_id,
            "path": str(self.serve.path),
            "state": self.state,
            "alive": self.alive,
            "backend": self.spec.backend,
            "run_id": self.spec.run_id,
            "base_model": self.spec.base_model,
            "url": self.url,
            "key_file": str(self.serve.key_file),
            "models": self.models,
            "error": self.error,
            "started_at": self.started_at,
        }


def serve_info(serve: ServeDir) -> ServeInfo:
    return ServeInfo(serve=serve, view=serve.resolve(), spec=serve.read_spec())


def list_serves(root: Path | None = None) -> list[ServeInfo]:
    """Every serve job, newest first."""
    return [serve_info(ServeDir(p)) for p in job_dirs(root or serves_dir(), "spec.json")]


def find_serve(ref: str, root: Path | None = None) -> ServeDir:
    """A serve job by id, unique id prefix or substring, or path.

    Raises:
        LookupError: none or several match.
    """
    return ServeDir(
        find_job(ref, root or serves_dir(), "spec.json", "serve job", "grpo-workbench serve --list")
    )


def live_training_runs(root: Path | None = None) -> list[str]:
    """Ids of training runs whose process is alive (they hold the GPU a vLLM server would want)."""
    try:
        infos = list_runs(root)
    except OSError:
        return []
    return [i.run.run_id for i in infos if i.alive or i.state in LIVE_STATES - {"pending"}]
