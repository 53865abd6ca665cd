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
| manifest.json | supervisor | supervisor pid/pgid/start time, server pid and process group, the server argv |
| status.json | supervisor | state, url, models served, heartbeat, exit code, error |
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
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from workbench import paths
from workbench.atomic import read_json, write_json_atomic, write_text_atomic
from workbench.runs import LIVE_STATES as RUN_LIVE_STATES
from workbench.runs import STALE_AFTER, list_runs, process_matches

Backend = Literal["vllm", "transformers"]
FINAL_STATES = frozenset({"stopped", "failed", "crashed"})
LIVE_STATES = frozenset({"pending", "starting", "ready", "stopping"})
STARTING_STATES = frozenset({"pending", "starting"})
"""A server on its way up: not answering yet (vLLM spends minutes here on a GPU)."""
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


def new_serve_id(label: str, now: datetime | None = None) -> str:
    """A sortable, unique id: `20261123-083012-serve-<label>-<4 hex>`."""
    now = now or datetime.now()
    slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:24] or "model"
    return f"{now:%Y%m%d-%H%M%S}-serve-{slug}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class ServeDir:
    """Paths inside one serve directory."""

    path: Path

    @property
    def serve_id(self) -> str:
        return self.path.name

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def key_file(self) -> Path:
        return self.path / "key"

    @property
    def manifest(self) -> Path:
        return self.path / "manifest.json"

    @property
    def status(self) -> Path:
        return self.path / "status.json"

    @property
    def log(self) -> Path:
        return self.path / "serve.log"

    def read_spec(self) -> ServeSpec:
        return ServeSpec.from_dict(read_json(self.spec_file) or {"base_model": ""})

    def read_key(self) -> str:
        return self.key_file.read_text(encoding="utf-8").strip()

    def read_status(self) -> dict[str, Any]:
        return read_json(self.status) or {}

    def read_manifest(self) -> dict[str, Any]:
        return read_json(self.manifest) or {}

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into status.json (single writer: the supervisor, or the launcher before it)."""
        status = self.read_status()
        status.update(fields)
        status["updated_at"] = time.time()
        write_json_atomic(self.status, status)
        return status

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
    root = root or serves_dir()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for _ in range(10):
        path = root / new_serve_id(spec.label or spec.run_id or Path(spec.base_model).name)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        serve = ServeDir(path)
        write_json_atomic(serve.spec_file, spec.to_dict())
        write_text_atomic(serve.key_file, secrets.token_urlsafe(32) + "\n", mode=0o600)
        return serve
    raise RuntimeError(f"could not create a unique serve directory under {root}")


def resolve_state(serve: ServeDir, now: float | None = None) -> tuple[str, bool, dict[str, Any]]:
    """The job's real state: (state, supervisor alive, status). A live state without its supervisor
    (or with a reused pid) is `crashed`, unless it is a fresh `pending` the supervisor has yet to pick up."""
    status = serve.read_status()
    manifest = serve.read_manifest()
    state = status.get("state", "pending" if not manifest else "crashed")
    alive = process_matches(manifest.get("pid"), manifest.get("create_time"))
    if state in LIVE_STATES and not alive:
        heartbeat = status.get("heartbeat") or status.get("updated_at") or 0.0
        if state != "pending" or (now or time.time()) - heartbeat >= STALE_AFTER:
            state = "crashed"
    return state, alive, status


@dataclass
class ServeInfo:
    """A serve job as lists show it."""

    serve: ServeDir
    state: str
    alive: bool
    spec: ServeSpec
    url: str | None
    models: list[str]
    error: str | None
    started_at: float | None

    @property
    def serve_id(self) -> str:
        return self.serve.serve_id

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
    state, alive, status = resolve_state(serve)
    spec = serve.read_spec()
    return ServeInfo(
        serve=serve,
        state=state,
        alive=alive,
        spec=spec,
        url=status.get("url") or (spec.url if spec.port else None),
        models=list(status.get("models") or spec.models),
        error=status.get("error"),
        started_at=serve.read_manifest().get("started_at"),
    )


def list_serves(root: Path | None = None) -> list[ServeInfo]:
    """Every serve job, newest first."""
    root = root or serves_dir()
    if not root.is_dir():
        return []
    found = [ServeDir(p) for p in sorted(root.iterdir(), reverse=True) if (p / "spec.json").is_file()]
    return [serve_info(s) for s in found]


def find_serve(ref: str, root: Path | None = None) -> ServeDir:
    """A serve job by id, unique id prefix or substring, or path.

    Raises:
        LookupError: none or several match.
    """
    candidate = Path(ref).expanduser()
    if candidate.is_dir() and (candidate / "spec.json").is_file():
        return ServeDir(candidate.resolve())
    root = root or serves_dir()
    names = sorted(p.name for p in root.iterdir() if (p / "spec.json").is_file()) if root.is_dir() else []
    matches = [n for n in names if n == ref] or [n for n in names if n.startswith(ref)]
    matches = matches or [n for n in names if ref in n]
    if not matches:
        raise LookupError(
            f"no serve job matches {ref!r} under {root}; `grpo-workbench serve --list` lists them"
        )
    if len(matches) > 1:
        raise LookupError(
            f"{ref!r} matches {len(matches)} serve jobs ({', '.join(matches[:4])}...); give more"
        )
    return ServeDir(root / matches[0])


def live_training_runs(root: Path | None = None) -> list[str]:
    """Ids of training runs whose process is alive (they hold the GPU a vLLM server would want)."""
    try:
        infos = list_runs(root)
    except OSError:
        return []
    return [i.run.run_id for i in infos if i.alive or i.state in RUN_LIVE_STATES - {"pending"}]
