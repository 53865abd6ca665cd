"""Several GPUs, on a machine without them: the `[distributed]` config and its checks, the accelerate
config (against TRL's bundled files and accelerate's own loader), the launch and vllm-serve command lines
(through accelerate's and TRL's own parsers), the environment, the ports, per-process batch shaping, the
pre-flight checks, the Configure form's GPU fields, the supervisor's health check and the trainer's
stop agreement between ranks (two real gloo processes). A config at its defaults must still give the old
single-process command, untouched.

What needs GPUs (a real 2-GPU run, server mode) is in tests/test_gpu.py and skips without them.
"""

from __future__ import annotations

import dataclasses
import http.server
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench import distributed as D
from workbench.config import ConfigError, RunConfig, apply_overrides, validate
from workbench.environment import Machine, distributed_problems, memory_problems, resolve_backend
from workbench.plan import plan

PY = "/venv/bin/python"
RUN = Path("/runs/20260101-000000-demo-abcd")


def config(**sections: Any) -> RunConfig:
    return validate(sections)


def two_gpus(**distributed: Any) -> RunConfig:
    return config(backend="trl", distributed={"gpus": [0, 1], **distributed})


def server(**distributed: Any) -> RunConfig:
    return config(
        backend="trl", distributed={"gpus": [0], "vllm_mode": "server", "server_gpu": 1, **distributed}
    )


def no_ports() -> int:
    raise AssertionError("a config naming no GPUs must not pick ports")


def launch(cfg: RunConfig, ports: D.Ports | None = None, resume: bool = False, **env: str) -> D.Launch:
    return D.plan_launch(
        cfg, RUN, ports or D.choose_ports(cfg), resume=resume, base_env=env, stop_grace=300, python=PY
    )


# ---------------------------------------------------------------------------------------------------------
# the default stays the single-process run


@pytest.mark.parametrize("resume", [False, True])
def test_default_config_gives_the_old_single_process_command(resume: bool) -> None:
    cfg = RunConfig()
    ports = D.choose_ports(cfg, pick=no_ports)
    result = D.plan_launch(
        cfg, RUN, ports, resume=resume, base_env={"PATH": "/bin"}, stop_grace=300, python=PY
    )
    assert result.trainer_argv == [PY, "-m", "jobs.train_grpo", str(RUN), *(["--resume"] if resume else [])]
    assert result.trainer_env is None, "no GPUs named: the supervisor's environment, inherited untouched"
    assert (result.files, result.launcher, result.server_argv, result.health_url) == ({}, False, None, None)
    assert D.grpo_kwargs(cfg, ports) == {}
    assert D.rank_config(cfg) is cfg
    assert D.selected_gpus(cfg) == []


def test_gpu_machine_default_is_still_one_process() -> None:
    from workbench.config import machine_default

    cfg = machine_default(gpus=8)
    assert D.plan_launch(
        cfg, RUN, D.choose_ports(cfg, pick=no_ports), resume=False, base_env={}, stop_grace=1, python=PY
    ).trainer_argv == [PY, "-m", "jobs.train_grpo", str(RUN)]
    assert D.rank_config(cfg) is cfg


def test_one_chosen_gpu_runs_one_process_on_it() -> None:
    result = launch(config(distributed={"gpus": [3]}), PATH="/bin")
    assert result.trainer_argv == [PY, "-m", "jobs.train_grpo", str(RUN)]
    assert result.trainer_env == {
        "PATH": "/bin",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": "3",
    }
    assert json.loads(result.files[D.LAUNCH_FILE])["num_processes"] == 1


# ---------------------------------------------------------------------------------------------------------
# validation: the field and the fix


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        (
            {"distributed": {"gpus": [0, 1, 0]}},
            "distributed.gpus",
            "GPU 0 is listed twice; fix: list each GPU once, e.g. [0, 1]",
        ),
        ({"distributed": {"gpus": [-1]}}, "distributed.gpus", "negative"),
        (
            {"backend": "unsloth", "distributed": {"gpus": [0, 1]}},
            "backend",
            "Unsloth is the single-GPU backend",
        ),
        ({"backend": "unsloth", "distributed": {"gpus": [0, 1]}}, "backend", 'fix: backend = "trl"'),
        (
            {"distributed": {"vllm_mode": "server", "gpus": [0, 1], "server_gpu": 1}},
            "distributed.server_gpu",
            "GPU 1 also trains",
        ),
        ({"distributed": {"vllm_mode": "server", "gpus": [0, 1]}}, "distributed.server_gpu", "e.g. 2"),
        (
            {"distributed": {"vllm_mode": "server", "server_gpu": 1}},
            "distributed.gpus",
            "distributed.gpus = [0]",
        ),
        ({"distributed": {"server_gpu": 1}}, "distributed.server_gpu", 'distributed.vllm_mode = "server"'),
        (
            {"backend": "unsloth", "distributed": {"vllm_mode": "server", "gpus": [0], "server_gpu": 1}},
            "backend",
            "no server mode",
        ),
        (
            {
                "grpo": {"use_vllm": "off"},
                "distributed": {"vllm_mode": "server", "gpus": [0], "server_gpu": 1},
            },
            "distributed.vllm_mode",
            'grpo.use_vllm = "auto"',
        ),
        (
            {"grpo": {"completions_per_step": 120}, "distributed": {"gpus": [0, 1]}},
            "grpo.completions_per_step",
            "a multiple of 8 x 2 = 16, e.g. 112 or 128",
        ),
        (
            {"distributed": {"machine_rank": 2, "num_machines": 2, "gpus": [0]}},
            "distributed.machine_rank",
            "0 to 1",
        ),
        ({"distributed": {"num_machines": 2}}, "distributed.gpus", "same count on every machine"),
        (
            {"distributed": {"num_machines": 2, "gpus": [0]}},
            "distributed.main_process_ip",
            "machine 0's address",
        ),
        (
            {"distributed": {"num_machines": 2, "gpus": [0], "main_process_ip": "10.0.0.1"}},
            "distributed.main_process_port",
            "29500",
        ),
        (
            {
                "distributed": {
                    "num_machines": 2,
                    "gpus": [0],
                    "main_process_ip": "10.0.0.1",
                    "main_process_port": 29500,
                    "vllm_mode": "server",
                    "server_gpu": 1,
                }
            },
            "distributed.server_port",
            "fixed one",
        ),
        (
            {"distributed": {"main_process_ip": "10.0.0.1 10.0.0.2"}},
            "distributed.main_process_ip",
            "one address",
        ),
        ({"distributed": {"strategy": "fsdp"}}, "distributed.strategy", "ddp"),
        (
            {"distributed": {"main_process_ip": "10.0.0.1"}},
            "distributed.main_process_ip",
            "num_machines is 1",
        ),
    ],
)
def test_invalid_distributed_settings_name_the_field_and_the_fix(
    data: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(data)
    problems = {p.field: p.message for p in caught.value.problems}
    assert field in problems, problems
    assert says in problems[field]


def test_valid_setups_and_overrides() -> None:
    data = apply_overrides({}, ["distributed.gpus=[0,1]", "distributed.strategy=zero2", "backend=trl"])
    assert validate(data).distributed.gpus == [0, 1]
    assert server().distributed.num_processes == 1
    multi = two_gpus(num_machines=2, machine_rank=1, main_process_ip=" 10.0.0.1 ", main_process_port=29500)
    assert (multi.distributed.num_processes, multi.distributed.main_process_ip) == (4, "10.0.0.1")
    saved = RunConfig.model_validate_json(two_gpus().model_dump_json())
    assert saved == two_gpus(), "the section survives a save and a load"
    assert "[distributed]" in two_gpus().to_toml()


# ---------------------------------------------------------------------------------------------------------
# accelerate


def trl_accelerate_config(name: str) -> dict[str, Any]:
    spec = importlib.util.find_spec("trl")
    assert spec is not None and spec.submodule_search_locations
    path = Path(list(spec.submodule_search_locations)[0]) / "accelerate_configs" / f"{name}.yaml"
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("strategy", "trl_file"), [("ddp", "multi_gpu"), ("zero2", "zero2"), ("zero3", "zero3")]
)
def test_accelerate_config_is_trls_bundled_one_with_our_process_count(
    strategy: str, trl_file: str, tmp_path: Path
) -> None:
    cfg = two_gpus(strategy=strategy)
    written = yaml.safe_load(D.to_yaml(D.accelerate_config(cfg)))
    assert written == {**trl_accelerate_config(trl_file), "num_processes": 2}

    from accelerate.commands.config.config_args import load_config_from_file

    path = tmp_path / D.ACCELERATE_CONFIG
    path.write_text(launch(cfg).files[D.ACCELERATE_CONFIG], encoding="utf-8")
    loaded = load_config_from_file(str(path))  # accelerate's own reader refuses unknown keys
    assert loaded.num_processes == 2
    assert str(loaded.distributed_type).endswith("MULTI_GPU" if strategy == "ddp" else "DEEPSPEED")
    assert loaded.mixed_precision == "bf16" and loaded.downcast_bf16 == "no"
    if strategy != "ddp":
        assert loaded.deepspeed_config["zero_stage"] == int(strategy[-1])


def test_launch_argv_on_one_machine_parses_as_accelerate_launch() -> None:
    from accelerate.commands.launch import launch_command_parser

    result = launch(two_gpus(), D.Ports(main_process_port=41000), resume=True)
    argv = result.trainer_argv
    assert argv[:3] == [PY, "-m", "accelerate.commands.launch"]
    assert argv[-4:] == ["-m", "jobs.train_grpo", str(RUN), "--resume"]
    args = launch_command_parser().parse_args(argv[3:])
    assert args.config_file == str(RUN / D.ACCELERATE_CONFIG)
    assert (args.num_processes, args.main_process_port, args.num_machines, args.machine_rank) == (
        2,
        41000,
        None,
        None,
    )
    assert args.module and args.training_script == "jobs.train_grpo"
    assert args.training_script_args == [str(RUN), "--resume"]
    assert result.launcher


def test_launch_argv_with_several_machines() -> None:
    from accelerate.commands.launch import launch_command_parser

    cfg = two_gpus(num_machines=2, machine_rank=1, main_process_ip="10.0.0.1", main_process_port=29500)
    ports = D.choose_ports(cfg, pick=no_ports)
    assert ports == D.Ports(main_process_port=29500)
    result = launch(cfg, ports)
    args = launch_command_parser().parse_args(result.trainer_argv[3:])
    assert (args.num_processes, args.num_machines, args.machine_rank) == (4, 2, 1)
    assert (args.main_process_ip, args.main_process_port) == ("10.0.0.1", 29500)
    written = yaml.safe_load(result.files[D.ACCELERATE_CONFIG])
    assert (written["num_machines"], written["machine_rank"], written["num_processes"]) == (2, 1, 4)
    assert (written["main_process_ip"], written["main_process_port"]) == ("10.0.0.1", 29500)


def test_environment_keeps_nvlink_multicast_off() -> None:
    env = launch(two_gpus(gpus=[2, 5]), PATH="/bin", CUDA_VISIBLE_DEVICES="0").trainer_env
    assert env is not None
    assert env["NCCL_NVLS_ENABLE"] == "0"
    assert env["CUDA_VISIBLE_DEVICES"] == "2,5", "distributed.gpus replaces the caller's CUDA_VISIBLE_DEVICES"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID", "CUDA numbers GPUs as NVML and the picker do"
    assert env["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] == "300", "the ranks get the stop grace to checkpoint"
    assert env["PATH"] == "/bin"


def test_ports_are_free_distinct_and_recorded_for_the_ranks(tmp_path: Path) -> None:
    cfg = two_gpus(vllm_mode="server", server_gpu=2)
    ports = D.choose_ports(cfg)
    values = [ports.main_process_port, ports.server_port, ports.group_port]
    assert all(values) and len(set(values)) == 3
    for name, text in launch(cfg, ports).files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert D.read_ports(tmp_path) == ports
    assert D.read_ports(tmp_path / "missing") == D.Ports()
    fixed = two_gpus(vllm_mode="server", server_gpu=2, server_port=8000, main_process_port=29500)
    assert D.choose_ports(fixed).server_port == 8000 and D.choose_ports(fixed).main_process_port == 29500


# ---------------------------------------------------------------------------------------------------------
# server mode


def test_server_argv_parses_as_trl_vllm_serve() -> None:
    from trl.scripts.vllm_serve import make_parser

    cfg = server()
    result = launch(cfg, D.Ports(server_port=8123, group_port=51300), PATH="/bin")
    argv = result.server_argv
    assert argv is not None and argv[:4] == [PY, "-m", "trl.cli.main", "vllm-serve"]
    assert importlib.util.find_spec("trl.cli.main") is not None, "the `trl` script's entry point"
    args, extra = make_parser().parse_args_and_config(args=argv[4:], return_remaining_strings=True)
    assert extra == []
    assert (args.model, args.tensor_parallel_size, args.port, args.host) == (
        D.server_model(cfg),
        1,
        8123,
        "127.0.0.1",
    )
    assert (args.dtype, args.max_model_len, args.gpu_memory_utilization) == ("bfloat16", 256 + 256, 0.9)
    assert result.server_env is not None
    assert (result.server_env["CUDA_VISIBLE_DEVICES"], result.server_env["NCCL_NVLS_ENABLE"]) == ("1", "0")
    assert result.health_url == "http://127.0.0.1:8123/health"
    # one training GPU: no launcher, the trainer alone on GPU 0
    assert result.trainer_argv == [PY, "-m", "jobs.train_grpo", str(RUN)]
    assert result.trainer_env is not None and result.trainer_env["CUDA_VISIBLE_DEVICES"] == "0"
    assert result.trainer_env["NCCL_NVLS_ENABLE"] == "0", "weight sync to the server runs over NCCL"
    assert D.selected_gpus(cfg) == [0, 1]


def test_server_mode_grpo_kwargs_are_grpoconfig_fields() -> None:
    from trl import GRPOConfig

    kwargs = D.grpo_kwargs(server(), D.Ports(server_port=8123, group_port=51300))
    assert kwargs == {
        "use_vllm": True,
        "vllm_mode": "server",
        "vllm_server_host": "127.0.0.1",
        "vllm_server_port": 8123,
        "vllm_group_port": 51300,
    }
    assert set(kwargs) <= {f.name for f in dataclasses.fields(GRPOConfig)}


def test_server_on_several_machines_lives_on_machine_0() -> None:
    common = dict(num_machines=2, main_process_ip="10.0.0.1", main_process_port=29500, server_port=8000)
    first = launch(server(**common))
    other = launch(server(machine_rank=1, **common))
    assert first.server_argv is not None and "0.0.0.0" in first.server_argv
    assert other.server_argv is None, "only machine 0 starts the server"
    assert other.health_url == "http://10.0.0.1:8000/health", "the others wait for machine 0's"
    assert D.choose_ports(server(**common)).group_port == D.TRL_GROUP_PORT


# ---------------------------------------------------------------------------------------------------------
# batch shaping per process


def test_completions_per_step_is_split_over_the_processes() -> None:
    cfg = config(
        backend="trl",
        model={"name": "random-1b"},
        grpo={"completions_per_step": 128},
        distributed={"gpus": [0, 1, 2, 3]},
    )
    share = D.rank_config(cfg)
    assert share.grpo.completions_per_step == 32
    assert cfg.grpo.completions_per_step == 128, "the run's own config is left alone"
    run_plan = plan(share, 139.8, "trl")
    assert (
        D.completions_per_step(run_plan.per_device_train_batch_size, run_plan.gradient_accumulation_steps, 4)
        == 128
    )
    assert memory_problems(cfg, "trl", 139.8) == []


def test_manual_shape_is_per_gpu() -> None:
    cfg = two_gpus()  # completions_per_step 0: per_device 8 x accumulation 1 on each GPU
    assert D.rank_config(cfg) is cfg
    run_plan = plan(D.rank_config(cfg), None, "trl")
    assert (
        D.completions_per_step(run_plan.per_device_train_batch_size, run_plan.gradient_accumulation_steps, 2)
        == 16
    )


# ---------------------------------------------------------------------------------------------------------
# pre-flight on this machine


def machine(gpus: int, vllm: bool = True) -> Machine:
    return Machine(gpus=gpus, unsloth=True, vllm=vllm, gpu_total_gib=80.0, gpu_totals_gib=(80.0,) * gpus)


def test_preflight_checks_the_chosen_gpus() -> None:
    assert distributed_problems(RunConfig(), machine(0)) == []
    none_here = distributed_problems(two_gpus(), machine(0))
    assert [p.field for p in none_here] == ["distributed.gpus"] and "distributed.gpus = []" in none_here[
        0
    ].message
    missing = distributed_problems(two_gpus(gpus=[0, 3]), machine(2))
    assert [p.field for p in missing] == ["distributed.gpus"] and "GPU 3 does not exist" in missing[0].message
    assert distributed_problems(server(server_gpu=4), machine(2))[0].field == "distributed.server_gpu"
    no_vllm = distributed_problems(server(), machine(2, vllm=False))
    assert "distributed.vllm_mode" in [p.field for p in no_vllm]
    if importlib.util.find_spec("deepspeed") is None:
        zero = distributed_problems(two_gpus(strategy="zero3"), machine(2))
        assert [p.field for p in zero] == ["distributed.strategy"] and "pip install deepspeed" in zero[
            0
        ].message


def test_server_mode_needs_a_built_local_preset(workbench_home: Path) -> None:
    problems = distributed_problems(
        config(
            backend="trl",
            model={"name": "random-1b"},
            distributed={"gpus": [0], "vllm_mode": "server", "server_gpu": 1},
        ),
        machine(2),
    )
    assert [p.field for p in problems] == ["model.name"]


def test_auto_backend_is_trl_on_several_gpus() -> None:
    unsloth_only = Machine(gpus=2, unsloth=True, vllm=False)
    assert resolve_backend(RunConfig(), unsloth_only) == "unsloth"
    assert resolve_backend(config(distributed={"gpus": [0, 1]}), unsloth_only) == "trl"


def test_smallest_chosen_gpu_sets_the_memory_budget() -> None:
    mixed = Machine(
        gpus=3, unsloth=False, vllm=True, gpu_total_gib=140.0, gpu_totals_gib=(140.0, 80.0, 140.0)
    )
    assert mixed.training_gpu_gib(RunConfig()) == 140.0
    assert mixed.training_gpu_gib(two_gpus(gpus=[0, 1])) == 80.0


# ---------------------------------------------------------------------------------------------------------
# the Configure form


def test_configure_form_has_a_gpu_section() -> None:
    from screens.configure import field_specs, format_value, parse_value

    specs = {s.key: s for s in field_specs()}
    gpus, server_gpu = specs["distributed.gpus"], specs["distributed.server_gpu"]
    assert (gpus.kind, server_gpu.kind, specs["distributed.vllm_mode"].choices) == (
        "gpus",
        "gpu",
        ("colocate", "server"),
    )
    assert format_value(gpus, [0, 1]) == "0, 1" and format_value(gpus, []) == ""
    assert (
        parse_value(gpus, "0, 1") == [0, 1]
        and parse_value(gpus, "[2 3]") == [2, 3]
        and parse_value(gpus, "") == []
    )
    assert (
        format_value(server_gpu, -1) == ""
        and parse_value(server_gpu, "") == -1
        and parse_value(server_gpu, "2") == 2
    )
    with pytest.raises(ValueError, match="GPU indices"):
        parse_value(gpus, "0, x")
    with pytest.raises(ValueError, match="one GPU index"):
        parse_value(server_gpu, "1,2")


# ---------------------------------------------------------------------------------------------------------
# process helpers: the supervisor's health check, the trainer's rank checks


@pytest.fixture
def health_server() -> Iterator[str]:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_supervisor_health_check(health_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.supervise import _answers

    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a proxy must not carry the loopback check
    assert _answers(health_server + "/health")
    assert not _answers(health_server + "/missing")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert not _answers(f"http://127.0.0.1:{closed}/health")


def test_only_rank_0_writes() -> None:
    assert D.is_main_process({}) and D.is_main_process({"RANK": "0"})
    assert not D.is_main_process({"RANK": "1"})


_AGREE = """
import os, sys
import torch.distributed as dist
from jobs.reporting import MAIN_PROCESS, stop_agreed
rank = int(sys.argv[1])
os.environ.update(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[2])
dist.init_process_group("gloo", rank=rank, world_size=2)
first = stop_agreed(rank == 1)   # only rank 1 was signalled
second = stop_agreed(False)
print(MAIN_PROCESS, first, second)
dist.destroy_process_group()
"""


def test_ranks_agree_on_a_stop_requested_on_one(tmp_path: Path) -> None:
    """Two real gloo processes: a stop asked of rank 1 alone stops both at the same step; rank 1 does not
    count as the writer."""
    port = str(D.free_port())
    root = Path(__file__).resolve().parent.parent
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _AGREE, str(rank), port],
            cwd=root,
            env={**os.environ, "RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    assert [out.split()[-3:] for out, _ in outputs] == [["True", "True", "False"], ["False", "True", "False"]]


_LAUNCHER = """
import subprocess, sys, time
rank = subprocess.Popen([sys.executable, "-c", sys.argv[1]], start_new_session=True)
print(rank.pid, flush=True)
time.sleep(float(sys.argv[2]))
"""
"""A stand-in for torch's elastic agent: starts a 'rank' in a session of its own, then exits first."""
_RANK_STOPS = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(60)"
)
_RANK_STUCK = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


@pytest.mark.parametrize(("rank_code", "killed"), [(_RANK_STOPS, False), (_RANK_STUCK, True)])
def test_supervisor_ends_ranks_the_launcher_left_behind(tmp_path: Path, rank_code: str, killed: bool) -> None:
    """Real processes: a rank in its own session (as torch's elastic agent starts them) outlives its
    launcher; the supervisor, having tracked it, asks it to stop and kills it after the grace period."""
    import psutil

    from jobs.supervise import Supervisor
    from workbench.runs import RunDir

    supervisor = Supervisor(RunDir(tmp_path), resume=False)
    supervisor.grace = 1.0
    supervisor.launcher = True
    launcher = subprocess.Popen([sys.executable, "-c", _LAUNCHER, rank_code, "1.0"], stdout=subprocess.PIPE)
    supervisor.child = launcher
    assert launcher.stdout is not None
    rank_pid = int(launcher.stdout.readline())
    supervisor._track_ranks()
    assert rank_pid in supervisor.ranks
    assert launcher.wait(timeout=30) == 0
    launcher.stdout.close()
    rank = supervisor.ranks[rank_pid]
    assert rank.is_running(), "the launcher is gone, its rank is not"
    assert supervisor._reap_ranks() is killed
    assert not rank.is_running() or rank.status() == psutil.STATUS_ZOMBIE


def test_supervisor_ends_the_vllm_server_session(tmp_path: Path) -> None:
    from jobs.supervise import Supervisor
    from workbench.runs import RunDir

    supervisor = Supervisor(RunDir(tmp_path), resume=False)
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    supervisor.server = server
    supervisor._stop_server()
    assert server.poll() is not None and supervisor.server is None


def test_supervisor_plans_each_attempt_from_the_run_config(tmp_path: Path) -> None:
    """The supervisor's own planning: the old command for a default config (nothing written), the launcher
    and its files for two GPUs, and the old command again when config.toml cannot be read (the trainer
    then reports why)."""
    from jobs.supervise import Supervisor
    from workbench.runs import RunDir

    run = RunDir(tmp_path)
    RunConfig().save(run.config)
    planned = Supervisor(run, resume=False)._plan_launch()
    assert planned is not None
    assert planned.trainer_argv == [sys.executable, "-m", "jobs.train_grpo", str(tmp_path)]
    assert planned.trainer_env is None and sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]

    two_gpus(strategy="zero2").save(run.config)
    planned = Supervisor(run, resume=True)._plan_launch()
    assert planned is not None and planned.launcher and planned.trainer_argv[-1] == "--resume"
    written = yaml.safe_load((tmp_path / D.ACCELERATE_CONFIG).read_text(encoding="utf-8"))
    assert written["distributed_type"] == "DEEPSPEED"
    assert D.read_ports(tmp_path) == planned.ports and planned.ports.main_process_port > 0

    run.config.write_text("backend = [", encoding="utf-8")
    assert Supervisor(run, resume=False)._plan_launch() is None
