"""Serve jobs end to end: the real fallback server process (transformers + PEFT on CPU) over the tiny model
and the adapters of a real tiny training run, reached through the real `openai` client; the key, the
loopback binding, refusals before anything starts, stopping (also of a server whose supervisor was
killed); plus the pure parts: vLLM's command line, answer splitting, sampling fields, /metrics parsing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from jobs import serve as jserve
from jobs.chat_bench import metric_deltas, parse_prometheus
from jobs.process import group_alive
from tests.conftest import FAST, install_tiny_preset
from workbench import presets, serving
from workbench.chat import (
    Endpoint,
    Sampling,
    StreamStats,
    list_models,
    make_client,
    messages_for,
    split_answer,
    stream_chat,
)
from workbench.runs import RunDir, process_matches
from workbench.serving import ServeDir, ServeSpec, choose_backend, vllm_argv

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------- pure


def test_vllm_command_line_serves_base_and_every_adapter_as_a_lora_module() -> None:
    spec = ServeSpec(
        base_model="/models/llama-3.2-1b",
        adapters={"checkpoint-50": "/runs/r=1,x/checkpoints/checkpoint-50", "adapter": "/runs/r/adapter"},
        backend="vllm",
        port=8123,
        max_lora_rank=64,
        max_model_len=2048,
        gpu_memory_utilization=0.85,
    )
    argv = vllm_argv(spec, ["/venv/bin/vllm"])
    assert argv[:3] == ["/venv/bin/vllm", "serve", "/models/llama-3.2-1b"]

    def option(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert option("--host") == "127.0.0.1"
    assert option("--port") == "8123"
    assert option("--served-model-name") == "base"
    assert option("--max-lora-rank") == "64"
    assert option("--max-model-len") == "2048"
    assert option("--gpu-memory-utilization") == "0.85"
    assert "--enable-lora" in argv
    assert "--api-key" not in argv, "the key travels in VLLM_API_KEY, never in argv (/proc/*/cmdline)"
    modules = argv[argv.index("--lora-modules") + 1 :]
    assert len(modules) == 2
    for item, (name, path) in zip(modules, spec.adapters.items(), strict=True):
        # vLLM's LoRAParserAction reads `name=path` only without a comma, JSON otherwise: always JSON here,
        # so a path holding `=` or `,` survives.
        assert "," in item
        assert json.loads(item) == {"name": name, "path": path, "base_model_name": "base"}
    base_only = vllm_argv(ServeSpec(base_model="/models/x", backend="vllm", port=1))
    assert "--enable-lora" not in base_only and "--lora-modules" not in base_only


def test_backend_choice() -> None:
    assert choose_backend(gpus=1, has_vllm=True) == "vllm"
    assert choose_backend(gpus=0, has_vllm=True) == "transformers"
    assert choose_backend(gpus=1, has_vllm=False) == "transformers"
    assert choose_backend(gpus=1, has_vllm=True, requested="transformers") == "transformers"
    with pytest.raises(ValueError, match="needs an NVIDIA GPU and the vllm package"):
        choose_backend(gpus=0, has_vllm=False, requested="vllm")


def test_split_answer_while_streaming_and_when_done() -> None:
    parts = split_answer("<thinking>2 + 2 là 4</thinking>\n<SOLUTION>4</SOLUTION>")
    assert (parts.before, parts.thinking, parts.thinking_closed) == ("", "2 + 2 là 4", True)
    assert (parts.solution, parts.solution_closed, parts.after) == ("4", True, "")
    streaming = split_answer("junk <thinking>đang nghĩ")
    assert (streaming.before, streaming.thinking, streaming.thinking_closed) == ("junk ", "đang nghĩ", False)
    assert streaming.solution is None
    cut = split_answer("<thinking>a</thinking> then <SOLUTION>1,5")
    assert (cut.middle, cut.solution, cut.solution_closed) == (" then ", "1,5", False)
    plain = split_answer("no tags at all")
    assert (plain.before, plain.thinking, plain.solution) == ("no tags at all", None, None)


def test_sampling_fields_are_checked_with_the_range() -> None:
    assert Sampling.parse("0.8", "0.95", "1024") == Sampling(0.8, 0.95, 1024)
    for fields, message in (
        (("hot", "0.9", "10"), "temperature 'hot' is not a number"),
        (("3", "0.9", "10"), "temperature 3.0 is out of range"),
        (("0.8", "0", "10"), "top_p 0.0 is out of range"),
        (("0.8", "0.9", "1.5"), "max_tokens '1.5' is not a whole number"),
    ):
        with pytest.raises(ValueError, match=message):
            Sampling.parse(*fields)


def test_a_starting_servers_activity_is_its_last_log_line_without_vllms_prefix(tmp_path: Path) -> None:
    """What the chat pane shows while vLLM takes its minutes to start (lines in the format vLLM 0.24 wrote
    on the H200; the last one verbatim from a serve.log there)."""
    serve = ServeDir(tmp_path)
    assert serve.activity() == "", "no log yet"
    serve.log.write_text(
        "[serve 17:24:38] starting: vllm serve ...\n"
        "(APIServer pid=3493) INFO 11-23 17:24:52 [api_server.py:1351] vLLM API server version 0.24.0\n"
        "(APIServer pid=3493) (EngineCore pid=3561) INFO 11-23 17:25:40 [backends.py:548] "
        "Compiling a graph for dynamic shape takes 21.30 s\n"
    )
    assert serve.activity() == "Compiling a graph for dynamic shape takes 21.30 s"
    with serve.log.open("a") as fh:
        fh.write("Capturing CUDA graphs (decode, FULL): 100%|##########| 35/35 [00:01<00:00, 30.1it/s]\r\n")
        fh.write("[serve 17:26:28] ready\n")  # the supervisor's own lines are not the server's activity
    assert serve.activity(width=40) == "Capturing CUDA graphs (decode, FULL): 1…"
    assert len(serve.activity(width=40)) == 40
    with serve.log.open("a") as fh:
        fh.write(
            "(APIServer pid=3493) (EngineCore pid=3561) INFO 11-23 17:26:39 [core.py:1227] [shutdown] "
            "EngineCore: exiting busy loop\n"
        )
    assert serve.activity() == "[shutdown] EngineCore: exiting busy loop"


def test_endpoint_from_what_a_user_types() -> None:
    assert Endpoint.of("127.0.0.1:8000", "k").url == "http://127.0.0.1:8000/v1"
    assert Endpoint.of("https://h/v1/", " k ") == Endpoint("https://h/v1", "k")
    assert messages_for("q", "  ")[0] == {"role": "user", "content": "q"}


METRICS_TEXT = """\
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_sum{engine="0",model_name="base"} 0.25
vllm:time_to_first_token_seconds_count{engine="0",model_name="base"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="base"} 1.0
vllm:generation_tokens_total{engine="0",model_name="base"} 1000.0
vllm:request_decode_time_seconds_sum{engine="0",model_name="base"} 4.0
vllm:request_decode_time_seconds_count{engine="0",model_name="base"} 2.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="base"} 2.0
"""


def test_vllm_metrics_deltas_give_the_engine_side_figures() -> None:
    before = parse_prometheus(METRICS_TEXT)
    assert before["vllm:time_to_first_token_seconds_count"] == 2.0
    after = dict(before)
    after["vllm:time_to_first_token_seconds_sum"] += 0.05
    after["vllm:time_to_first_token_seconds_count"] += 1
    after["vllm:generation_tokens_total"] += 513
    after["vllm:request_decode_time_seconds_sum"] += 2.0
    after["vllm:request_decode_time_seconds_count"] += 1
    deltas = metric_deltas(before, after)
    assert deltas["ttft_s"] == pytest.approx(0.05)
    assert deltas["generation_tokens"] == 513
    assert deltas["decode_tokens_per_s"] == pytest.approx(256.0)
    assert deltas["e2e_s"] is None and deltas["e2e_count"] == 0


# ------------------------------------------------------------------------------------ real processes


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real `grpo-workbench` entry point in a child process, against `home`."""
    env = dict(os.environ, GRPO_WORKBENCH_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "grpo_workbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def make_trained_home(home: Path, tiny_model: Path) -> str:
    """Put the tiny model where the `tiny` preset is looked for and train a real 2-step run (a checkpoint
    per step, then the final adapter); returns the run id."""
    install_tiny_preset(home, tiny_model)
    sets = [a for o in (*FAST, "grpo.max_steps=2", "grpo.save_steps=1", "name=chat") for a in ("--set", o)]
    result = cli(home, "train", *sets)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[0]


def stop_all_serves(home: Path) -> None:
    """Stop every serve job under `home` still holding a process (teardown, pass or fail)."""
    root = home / "serves"
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if (path / "spec.json").is_file():
            jserve.stop(ServeDir(path), wait=30)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[tuple[Path, str]]:
    """A home holding the tiny model and one real trained run; no serve job outlives the module."""
    home = tmp_path_factory.mktemp("serve-home")
    try:
        yield home, make_trained_home(home, tiny_model_dir)
    finally:
        stop_all_serves(home)


@pytest.fixture
def home(trained: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRPO_WORKBENCH_HOME", str(trained[0]))
    return trained[0]


@dataclass
class Served:
    serve: ServeDir
    url: str
    key: str

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")


@pytest.fixture(scope="module")
def server(trained: tuple[Path, str]) -> Iterator[Served]:
    """The run served (base, both checkpoints, the adapter) by a real detached fallback server."""
    home, run_id = trained
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRPO_WORKBENCH_HOME", str(home))
        spec = jserve.plan_for_run(RunDir(home / "runs" / run_id))
        assert spec.backend == "transformers"
        serve, process = jserve.start(spec)
        try:
            status = jserve.wait_ready(serve, timeout=240)
            yield Served(serve, status.url, serve.read_key())
        finally:
            jserve.stop(serve, wait=30)
            process.wait(timeout=30)


def ask(served: Served, model: str, sampling: Sampling, key: str | None = None) -> tuple[str, StreamStats]:
    async def run() -> tuple[str, StreamStats]:
        client = make_client(Endpoint(served.url, key or served.key))
        stats = StreamStats()
        try:
            pieces = [p async for p in stream_chat(client, model, messages_for("2 + 2 = ?"), sampling, stats)]
        finally:
            await client.close()
        return "".join(pieces), stats

    return asyncio.run(run())


@pytest.mark.slow
def test_streams_the_base_and_every_adapter_through_the_openai_client(server: Served) -> None:
    async def models() -> list[str]:
        client = make_client(Endpoint(server.url, server.key))
        try:
            return await list_models(client)
        finally:
            await client.close()

    assert asyncio.run(models()) == ["base", "checkpoint-1", "checkpoint-2", "adapter"]
    for model in ("adapter", "base", "checkpoint-1"):
        text, stats = ask(server, model, Sampling(0.8, 0.95, 16))
        assert text, model
        assert stats.first_token_s is not None and stats.chunks >= 1
        assert stats.completion_tokens is not None and 1 <= stats.completion_tokens <= 16
        assert stats.finish_reason in ("stop", "length")


@pytest.mark.slow
def test_the_stream_is_openai_sse_ending_in_done(server: Served) -> None:
    body = {
        "model": "adapter",
        "messages": messages_for("1 + 1 = ?"),
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {server.key}"}
    with httpx.stream("POST", f"{server.url}/chat/completions", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] in ("stop", "length") and not any(finishes[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] <= 8
    whole = httpx.post(
        f"{server.url}/chat/completions", json={**body, "stream": False}, headers=headers, timeout=60
    )
    assert whole.json()["object"] == "chat.completion"
    assert whole.json()["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.slow
def test_every_api_request_needs_the_key(server: Served) -> None:
    import openai

    chat = {"model": "base", "messages": messages_for("?"), "max_tokens": 2}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": server.key}):
        for response in (
            httpx.get(f"{server.url}/models", headers=headers, timeout=10),
            httpx.post(f"{server.url}/chat/completions", json=chat, headers=headers, timeout=10),
        ):
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        ask(server, "base", Sampling(0.8, 0.95, 2), key="wrong")
    assert httpx.get(f"{server.root}/health", timeout=10).status_code == 200  # as vLLM: liveness only


@pytest.mark.slow
def test_unknown_models_and_bad_requests_get_openai_errors(server: Served) -> None:
    headers = {"Authorization": f"Bearer {server.key}"}
    url = f"{server.url}/chat/completions"
    missing = httpx.post(url, json={"model": "checkpoint-9", "messages": messages_for("?")}, headers=headers)
    assert missing.status_code == 404 and "checkpoint-9" in missing.json()["error"]["message"]
    bad = httpx.post(url, json={"model": "base", "messages": []}, headers=headers)
    assert bad.status_code == 400 and "messages" in bad.json()["error"]["message"]
    many = httpx.post(url, json={"model": "base", "messages": messages_for("?"), "n": 2}, headers=headers)
    assert many.status_code == 400


@pytest.mark.slow
def test_the_server_listens_on_loopback_only(server: Served) -> None:
    pid = server.serve.read_manifest().server_pid
    listening = [c for c in psutil.Process(pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}
    port = listening[0].laddr.port
    others = [
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]
    for address in others:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=2).close()


@pytest.mark.slow
def test_the_key_is_private_and_never_written_elsewhere(server: Served) -> None:
    serve = server.serve
    assert serve.key_file.stat().st_mode & 0o777 == 0o600
    assert serve.path.stat().st_mode & 0o777 == 0o700
    for path in (serve.log, serve.manifest, serve.status, serve.spec_file):
        assert server.key not in path.read_text(encoding="utf-8"), path.name
    manifest = serve.read_manifest()
    for pid in (manifest.pid, manifest.server_pid):
        process = psutil.Process(pid)
        assert not any(server.key in arg for arg in process.cmdline())
        assert server.key not in "".join(process.environ().values())


@pytest.mark.slow
def test_a_serve_jobs_files_hold_its_kinds_fields_and_its_server_start_time(server: Served) -> None:
    """status.json and manifest.json of a real serve job carry no training field, and the manifest keeps
    the server's start time, which `serve --stop` checks before it signals the server's group."""
    status = json.loads(server.serve.status.read_text())
    manifest = json.loads(server.serve.manifest.read_text())
    assert not {"step", "max_steps", "build_step", "trainer_pid"} & (set(status) | set(manifest))
    assert status["state"] == "ready" and status["models"] and status["url"] == server.url
    recorded = server.serve.read_manifest()
    assert recorded.server_pgid == recorded.server_pid and recorded.server.alive


@pytest.mark.slow
def test_a_cancelled_stream_stops_the_generation(server: Served) -> None:
    """Closing the stream after three pieces stops the server's generation long before its 4000 tokens.

    `ignore_eos` (vLLM's extension, which the fallback honours) keeps the model from ending by itself:
    sampled freely, the random model drew its end-of-text token within the first pieces about once in 60
    streams (measured), and the stream then ended at 2 pieces whatever the cancellation did."""
    offset = server.serve.log.stat().st_size

    async def start_then_cancel() -> int:
        client = make_client(Endpoint(server.url, server.key))
        stream = stream_chat(
            client,
            "adapter",
            messages_for("?"),
            Sampling(2.0, 1.0, 4000),
            StreamStats(),
            extra_body={"ignore_eos": True},
        )
        received = 0
        async for _ in stream:
            received += 1
            if received == 3:
                break
        await stream.aclose()
        await client.close()
        return received

    assert asyncio.run(start_then_cancel()) == 3

    def new_log() -> str:
        with server.serve.log.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")

    deadline = time.monotonic() + 60
    while "client gone" not in new_log() and time.monotonic() < deadline:
        time.sleep(0.2)
    stopped = re.search(r"adapter: stopped after (\d+) tokens: client gone", new_log())
    assert stopped is not None, new_log()[-2000:]
    assert int(stopped.group(1)) < 4000, "the generation ran to its end instead of stopping"
    text, _ = ask(server, "base", Sampling(0.8, 0.95, 4))  # the model is free again
    assert text


@pytest.mark.slow
def test_the_cli_serves_a_checkpoint_lists_it_and_stop_frees_everything(home: Path, trained: Any) -> None:
    run_id = trained[1]
    started = cli(home, "serve", run_id, "--checkpoint", "1", "--detach")
    assert started.returncode == 0, started.stderr[-3000:]
    serve_id, url_line, key_line, models_line = started.stdout.strip().splitlines()
    serve = serving.find_serve(serve_id)
    assert url_line == f"url: {serve.read_status().url}" and url_line.startswith("url: http://127.0.0.1:")
    assert key_line == f"key file: {serve.key_file}"
    assert models_line == "models: base, checkpoint-1"
    listed = {s["serve_id"]: s for s in json.loads(cli(home, "serve", "--list", "--json").stdout)}
    assert listed[serve_id]["state"] == "ready" and listed[serve_id]["alive"]
    manifest = serve.read_manifest()
    port = int(serve.read_status().url.rsplit(":", 1)[1].split("/")[0])

    stopped = cli(home, "serve", "--stop", serve_id)
    assert stopped.returncode == 0 and stopped.stdout.strip() == f"{serve_id}: stopped", stopped
    assert not process_matches(manifest.pid, manifest.create_time)
    assert not group_alive(manifest.server_pgid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert serve.resolve().state == "stopped"


@pytest.mark.slow
def test_stop_frees_a_server_whose_supervisor_was_killed(home: Path, trained: Any) -> None:
    spec = jserve.plan_for_run(RunDir(home / "runs" / trained[1]), base_only=True)
    serve, process = jserve.start(spec)
    try:
        jserve.wait_ready(serve, timeout=240)
        manifest = serve.read_manifest()
        os.kill(manifest.pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert serve.resolve().state == "crashed"
        assert group_alive(manifest.server_pgid), "the server outlives its supervisor..."
        jserve.stop(serve, wait=30)
        assert not group_alive(manifest.server_pgid), "...until stop reaches its group"
    finally:
        jserve.stop(serve, wait=30)


@pytest.mark.slow
def test_the_serve_supervisor_survives_status_writes_that_fail(home: Path, trained: Any) -> None:
    """Its status writes go through `jobs.process.Heartbeat`, as a run's do: a write that fails (a full
    disk; here status.json turned into a directory, so every atomic replace fails) is logged once and
    retried at the next beat, while the supervisor goes on supervising and the server on serving."""
    spec = jserve.plan_for_run(RunDir(home / "runs" / trained[1]), base_only=True)
    serve, process = jserve.start(spec)
    try:
        status = jserve.wait_ready(serve, timeout=240)
        saved = serve.status.read_bytes()
        serve.status.unlink()
        serve.status.mkdir()
        deadline = time.monotonic() + 30
        while "cannot write status.json" not in serve.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2 * jserve.HEARTBEAT_SECONDS)  # more beats fail
        log = serve.log.read_text()
        assert log.count("cannot write status.json") == 1 and "still supervising" in log, log[-2000:]
        assert serve.read_manifest().process.alive, "the supervisor died of a failed status write"
        text, _ = ask(Served(serve, str(status.url), serve.read_key()), "base", Sampling(0.8, 0.95, 4))
        assert text, "the server stopped serving"

        serve.status.rmdir()  # space again: the old file is there, as an atomic write leaves it
        serve.status.write_bytes(saved)
        last = json.loads(saved)["heartbeat"]
        deadline = time.monotonic() + 30
        while (serve.read_status().heartbeat or 0) <= last and time.monotonic() < deadline:
            time.sleep(0.2)
        again = serve.read_status()
        assert (again.heartbeat or 0) > last and again.state == "ready" and again.models == status.models
    finally:
        jserve.stop(serve, wait=30)
        process.wait(timeout=30)
    assert serve.resolve().state == "stopped"


@pytest.mark.slow
def test_a_server_that_dies_while_starting_reports_its_log(home: Path, trained: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = jserve.plan_for_run(RunDir(home / "runs" / trained[1]), base_only=True, port=port)
        serve, process = jserve.start(spec)
        try:
            with pytest.raises(jserve.ServeError, match="the server did not start \\(failed\\)") as caught:
                jserve.wait_ready(serve, timeout=240)
        finally:
            jserve.stop(serve, wait=30)
            process.wait(timeout=30)
    assert "address already in use" in str(caught.value).lower()
    assert serve.resolve().state == "failed"


@pytest.mark.slow
def test_bad_adapters_are_refused_before_anything_starts(home: Path, trained: Any, tmp_path: Path) -> None:
    adapter = home / "runs" / trained[1] / "adapter"
    base = presets.resolve_model_path("tiny")

    def variant(name: str, **changes: Any) -> Path:
        path = tmp_path / name
        shutil.copytree(adapter, path)
        config = json.loads((path / "adapter_config.json").read_text())
        config.update(changes)
        (path / "adapter_config.json").write_text(json.dumps(config))
        return path

    no_config = tmp_path / "no-config"
    shutil.copytree(adapter, no_config)
    (no_config / "adapter_config.json").unlink()
    cases = [
        (variant("wide", r=128), ["--max-lora-rank", "64"], "LoRA rank 128 is above --max-lora-rank 64"),
        (variant("saves", modules_to_save=["lm_head"]), [], "trains modules_to_save ['lm_head']"),
        (
            variant("other", base_model_name_or_path="meta-llama/Llama-3.2-3B-Instruct"),
            [],
            "was trained on 'meta-llama/Llama-3.2-3B-Instruct' but the server loads",
        ),
        (no_config, [], "no adapter_config.json"),
        (tmp_path / "missing", [], "no such adapter directory"),
    ]
    before = sorted((home / "serves").iterdir()) if (home / "serves").is_dir() else []
    for path, extra, message in cases:
        result = cli(home, "serve", "--model", base, "--adapter", f"mine={path}", *extra, timeout=60)
        assert result.returncode == 2, (path.name, result.stdout, result.stderr)
        assert message in result.stderr and "fix:" in result.stderr, (path.name, result.stderr)
    after = sorted((home / "serves").iterdir()) if (home / "serves").is_dir() else []
    assert after == before, "nothing may start (or be created) for an adapter that cannot be served"


def test_chat_bench_refuses_without_a_gpu(tmp_path: Path) -> None:
    from workbench import gpu

    if gpu.device_count():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "jobs.chat_bench", "--model", "random-1b", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "measures vLLM on a GPU" in result.stderr and "no NVIDIA GPU" in result.stderr
    written = json.loads(out.read_text())
    assert written["status"] == "refused" and written["targets"] == {}
