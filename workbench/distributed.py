"""How a run uses several GPUs: the accelerate config, the launch command line, the environment, and in
server mode the `trl vllm-serve` command and the GRPOConfig settings that reach it.

Pure (stdlib + the config): the supervisor turns a config and the ports it picked into a `Launch` and
runs it; the trainer reads the same ports back from `distributed.json` in the run directory. A config at
its defaults (no `distributed.gpus`, colocated vLLM) gives exactly the single-process command and
environment the workbench always used.

Decisions, and why:

- One training process per GPU through `python -m accelerate.commands.launch` with a config written into
  the run directory from TRL's bundled accelerate configs (`trl/accelerate_configs/multi_gpu.yaml`,
  `zero2.yaml`, `zero3.yaml`, the same keys and values), so DDP and DeepSpeed behave as TRL documents.
- `distributed.gpus` are NVML indices, as `nvidia-smi`, the Monitor and the Configure picker number
  them: `CUDA_DEVICE_ORDER=PCI_BUS_ID` makes CUDA number GPUs the same way before
  `CUDA_VISIBLE_DEVICES` selects them (CUDA's default order, fastest first, can differ from NVML's).
- `NCCL_NVLS_ENABLE=0` whenever more than one GPU takes part: NVLink multicast stays off (measured 1.58x
  on two H200s that way; NOTES.md).
- `grpo.completions_per_step` is the effective batch of the whole run and is split evenly over the
  training processes: per-device micro-batch x accumulation x processes = completions per step. Each
  process gets whole GRPO groups (the config refuses a count that does not split so) and its shape is
  chosen by the single-GPU shaper for its share, so the memory estimate of one GPU stays the one that
  was measured: a colocated vLLM generates only that process's share. The manual shape
  (`completions_per_step = 0`) is per GPU, as in TRL: completions per step = micro-batch x accumulation
  x processes.
- The rendezvous port and, in server mode, the server's HTTP port and its NCCL weight-sync port are
  chosen free at every start on one machine (two runs on one host would otherwise collide on accelerate's
  29500 and TRL's 8000/51216); several machines must agree on fixed ones.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench import presets
from workbench.config import RunConfig

ACCELERATE_CONFIG = "accelerate.yaml"
"""The accelerate config written into the run directory (read by `accelerate launch --config_file`)."""
LAUNCH_FILE = "distributed.json"
"""Written by the supervisor at every start: the processes, GPUs and ports of this attempt; every training
process reads the ports from it."""
LOCAL_HOST = "127.0.0.1"
"""Where a one-machine run's vLLM server listens: loopback only, nothing else on the network reaches it."""
TRL_GROUP_PORT = 51216
"""TRL's default `vllm_group_port` (NCCL weight sync), used as the fixed one with several machines."""
SERVER_MEMORY_SHARE = 0.9
"""vLLM's share of its own GPU in server mode (TRL's `vllm-serve` default) unless
model.gpu_memory_utilization sets one."""
SERVER_START_TIMEOUT = 900.0
"""Seconds the supervisor waits for the vLLM server's /health (load, compile and CUDA graphs take
minutes) before it gives up and records the run as failed."""


def num_processes(config: RunConfig) -> int:
    """Training processes over every machine."""
    return config.distributed.num_processes


def uses_launcher(config: RunConfig) -> bool:
    """True when the run starts through `accelerate launch` (more than one training process)."""
    return num_processes(config) > 1


def uses_server(config: RunConfig) -> bool:
    """True when vLLM runs as a separate `trl vllm-serve` process on its own GPU."""
    return config.distributed.vllm_mode == "server"


def runs_server_here(config: RunConfig) -> bool:
    """True when this machine starts the vLLM server (machine 0 in server mode)."""
    return uses_server(config) and config.distributed.machine_rank == 0


def selected_gpus(config: RunConfig) -> list[int]:
    """NVML indices of every GPU the run uses on this machine (training GPUs, then the server's); empty
    when the config leaves the choice to CUDA_VISIBLE_DEVICES (the single-GPU default)."""
    d = config.distributed
    server = [d.server_gpu] if runs_server_here(config) and d.server_gpu >= 0 else []
    return [*d.gpus, *server]


def rank_config(config: RunConfig) -> RunConfig:
    """The config one training process shapes its batch for: its share of grpo.completions_per_step.

    Returns `config` itself when one process trains or the shape is manual, so the single-GPU plan is
    exactly what it was.
    """
    n = num_processes(config)
    total = config.grpo.completions_per_step
    if n == 1 or not total:
        return config
    share = config.grpo.model_copy(update={"completions_per_step": total // n})
    return config.model_copy(update={"grpo": share})


def completions_per_step(per_device: int, accumulation: int, processes: int) -> int:
    """Completions per optimizer step of the whole run (TRL's generation batch with
    steps_per_generation = accumulation)."""
    return per_device * accumulation * processes


# ---------------------------------------------------------------------------------------------------------
# accelerate


def accelerate_config(config: RunConfig) -> dict[str, Any]:
    """The accelerate config for this run: TRL's bundled multi_gpu/zero2/zero3 file with this run's process
    and machine counts (and machine 0's address with several machines)."""
    d = config.distributed
    data: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "distributed_type": "MULTI_GPU" if d.strategy == "ddp" else "DEEPSPEED",
        "downcast_bf16": "no",
        "machine_rank": d.machine_rank,
        "main_training_function": "main",
        "mixed_precision": "bf16",
        "num_machines": d.num_machines,
        "num_processes": num_processes(config),
        "rdzv_backend": "static",
        "same_network": True,
        "tpu_env": [],
        "tpu_use_cluster": False,
        "tpu_use_sudo": False,
        "use_cpu": False,
    }
    if d.strategy == "ddp":
        data["gpu_ids"] = "all"  # all of CUDA_VISIBLE_DEVICES, which names distributed.gpus
    else:
        zero3 = d.strategy == "zero3"
        data["deepspeed_config"] = {
            "deepspeed_multinode_launcher": "standard",
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "zero3_init_flag": zero3,
            **({"zero3_save_16bit_model": True} if zero3 else {}),
            "zero_stage": 3 if zero3 else 2,
        }
    if d.num_machines > 1:
        data["main_process_ip"] = d.main_process_ip
        data["main_process_port"] = d.main_process_port
    return dict(sorted(data.items()))


def to_yaml(data: Mapping[str, Any]) -> str:
    """YAML for a flat mapping with one level of nested mappings (an accelerate config). Every scalar is
    written in JSON notation, which YAML reads as the same value, so strings such as 'no' stay strings
    (plain YAML 1.1 would read `no` as false)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines.append(f"{key}:")
            lines += [f"  {sub}: {json.dumps(item)}" for sub, item in value.items()]
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# ports


@dataclass(frozen=True)
class Ports:
    """The ports of one attempt (0 where unused)."""

    main_process_port: int = 0
    """The rendezvous of the training processes (accelerate's --main_process_port)."""
    server_port: int = 0
    """The vLLM server's HTTP port."""
    group_port: int = 0
    """The NCCL group that pushes the trained weights into the vLLM server (TRL's vllm_group_port)."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def free_port() -> int:
    """A TCP port free on this machine now (the kernel's pick; a race with another process binding it in
    the next instant is possible but harmless: that attempt fails to start and can be resumed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


def choose_ports(config: RunConfig, pick: Callable[[], int] = free_port) -> Ports:
    """The ports of this attempt: the configured ones, else free ones (one machine only: the config
    refuses 0 with several machines), else TRL's fixed group port with several machines."""
    d = config.distributed
    main = (d.main_process_port or pick()) if uses_launcher(config) else 0
    if not uses_server(config):
        return Ports(main_process_port=main)
    server = d.server_port or pick()
    group = TRL_GROUP_PORT if d.num_machines > 1 else pick()
    return Ports(main_process_port=main, server_port=server, group_port=group)


# ---------------------------------------------------------------------------------------------------------
# command lines and environments


def trainer_argv(config: RunConfig, run_dir: Path, ports: Ports, *, resume: bool, python: str) -> list[str]:
    """The training command: `python -m jobs.train_grpo RUN_DIR` for one process, else the same module
    under `python -m accelerate.commands.launch` (what the `accelerate launch` script runs, without
    depending on the venv's bin/ being on PATH)."""
    tail = ["--resume"] if resume else []
    if not uses_launcher(config):
        return [python, "-m", "jobs.train_grpo", str(run_dir), *tail]
    d = config.distributed
    argv = [
        python,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(run_dir / ACCELERATE_CONFIG),
        "--num_processes",
        str(num_processes(config)),
    ]
    if d.num_machines > 1:
        argv += [
            "--num_machines",
            str(d.num_machines),
            "--machine_rank",
            str(d.machine_rank),
            "--main_process_ip",
            d.main_process_ip,
        ]
    # Always explicit: on one machine it is the free port of this attempt, not accelerate's 29500.
    argv += ["--main_process_port", str(ports.main_process_port)]
    return [*argv, "-m", "jobs.train_grpo", str(run_dir), *tail]


def _gpu_env(indices: list[int]) -> dict[str, str]:
    return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": ",".join(map(str, indices))}


def trainer_env(config: RunConfig, base: Mapping[str, str], *, stop_grace: float) -> dict[str, str] | None:
    """The training command's environment, or None (inherit the supervisor's, unchanged) for a config
    that names no GPUs.

    Args:
        config: The run.
        base: The supervisor's environment.
        stop_grace: Seconds a stop may take before the supervisor kills; torch's elastic agent (behind
            accelerate launch) starts each rank in a session of its own, forwards SIGTERM to them and
            SIGKILLs them after TORCH_ELASTIC_SHUTDOWN_TIMEOUT (30 s by default), which would cut a
            checkpoint short: it gets the same grace.
    """
    d = config.distributed
    if not d.gpus:
        return None
    env = {**base, **_gpu_env(d.gpus)}
    if uses_launcher(config) or uses_server(config):
        env["NCCL_NVLS_ENABLE"] = "0"
    if uses_launcher(config):
        env["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] = str(max(1, int(stop_grace)))
    return env


def server_model(config: RunConfig) -> str:
    """What the vLLM server loads: the same hub id or local directory the trainer loads."""
    return presets.resolve_model_path(config.model.name)


def server_argv(config: RunConfig, ports: Ports, *, python: str) -> list[str]:
    """`trl vllm-serve` (TRL 1.15/1.16's flags) for one GPU: through `python -m trl.cli.main`, the `trl`
    script's own entry point. bfloat16 matches the trainer's weights (model_init_kwargs dtype), which are
    pushed into the server every step; the context is the longest prompt plus completion."""
    d = config.distributed
    g = config.grpo
    share = config.model.gpu_memory_utilization or SERVER_MEMORY_SHARE
    return [
        python,
        "-m",
        "trl.cli.main",
        "vllm-serve",
        "--model",
        server_model(config),
        "--tensor-parallel-size",
        "1",
        "--host",
        LOCAL_HOST if d.num_machines == 1 else "0.0.0.0",
        "--port",
        str(ports.server_port),
        "--gpu-memory-utilization",
        str(share),
        "--dtype",
        "bfloat16",
        "--max-model-len",
        str(g.max_prompt_length + g.max_completion_length),
    ]


def server_env(config: RunConfig, base: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: its GPU alone, NVLink multicast off for the weight-sync NCCL group, and
    no hub look-ups for a local model."""
    env = {**base, **_gpu_env([config.distributed.server_gpu]), "NCCL_NVLS_ENABLE": "0"}
    if server_model(config).startswith("/"):
        env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def server_host(config: RunConfig) -> str:
    """Where the training processes (and the supervisor's health check) reach the server."""
    d = config.distributed
    return LOCAL_HOST if d.num_machines == 1 or d.machine_rank == 0 else d.main_process_ip


def health_url(config: RunConfig, ports: Ports) -> str:
    """vLLM's health endpoint (TRL 1.15/1.16's `vllm-serve` execs vLLM's own server: `/health`, which
    TRL's client polls too)."""
    return f"http://{server_host(config)}:{ports.server_port}/health"


def grpo_kwargs(config: RunConfig, ports: Ports) -> dict[str, Any]:
    """GRPOConfig settings for server mode (none in colocate mode, whose settings the trainer sets)."""
    if not uses_server(config):
        return {}
    return {
        "use_vllm": True,
        "vllm_mode": "server",
        "vllm_server_host": server_host(config),
        "vllm_server_port": ports.server_port,
        "vllm_group_port": ports.group_port,
    }


# ---------------------------------------------------------------------------------------------------------
# one attempt


@dataclass(frozen=True)
class Launch:
    """Everything the supervisor starts for one attempt."""

    trainer_argv: list[str]
    trainer_env: dict[str, str] | None
    """None: inherit the supervisor's environment (the single-GPU default)."""
    ports: Ports
    files: dict[str, str]
    """File name -> text, written into the run directory before anything starts."""
    launcher: bool = False
    """The trainer runs under `accelerate launch`, whose ranks live in sessions of their own."""
    server_argv: list[str] | None = None
    server_env: dict[str, str] | None = None
    health_url: str | None = None
    """Set in server mode on every machine: wait for it before training starts."""


def plan_launch(
    config: RunConfig,
    run_dir: Path,
    ports: Ports,
    *,
    resume: bool,
    base_env: Mapping[str, str],
    stop_grace: float,
    python: str = sys.executable,
) -> Launch:
    """The commands, environments and files of one attempt of `config` in `run_dir`."""
    files: dict[str, str] = {}
    if uses_launcher(config):
        files[ACCELERATE_CONFIG] = to_yaml(accelerate_config(config))
    if config.distributed.gpus or uses_server(config):
        d = config.distributed
        record = {
            "num_processes": num_processes(config),
            "gpus": d.gpus,
            "strategy": d.strategy if uses_launcher(config) else None,
            "vllm_mode": d.vllm_mode,
            "server_gpu": d.server_gpu if runs_server_here(config) else None,
            "machine_rank": d.machine_rank,
            "num_machines": d.num_machines,
            "ports": ports.to_dict(),
        }
        files[LAUNCH_FILE] = json.dumps(record, indent=2) + "\n"
    server = runs_server_here(config)
    return Launch(
        trainer_argv=trainer_argv(config, run_dir, ports, resume=resume, python=python),
        trainer_env=trainer_env(config, base_env, stop_grace=stop_grace),
        ports=ports,
        files=files,
        launcher=uses_launcher(config),
        server_argv=server_argv(config, ports, python=python) if server else None,
        server_env=server_env(config, base_env) if server else None,
        health_url=health_url(config, ports) if uses_server(config) else None,
    )


def read_ports(run_dir: Path) -> Ports:
    """The ports the supervisor chose for this attempt (all 0 when it wrote none: one GPU, colocated)."""
    try:
        data = json.loads((run_dir / LAUNCH_FILE).read_text(encoding="utf-8"))
        return Ports(
            **{k: int(v) for k, v in data.get("ports", {}).items() if k in Ports.__dataclass_fields__}
        )
    except (OSError, ValueError, TypeError, AttributeError):
        return Ports()


def is_main_process(env: Mapping[str, str]) -> bool:
    """True in the one process that writes the run directory: global rank 0 (RANK, set by the launcher
    for every rank; absent in a single-process run)."""
    try:
        return int(env.get("RANK", "0")) == 0
    except ValueError:
        return True
