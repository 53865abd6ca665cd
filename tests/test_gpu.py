"""The GPU path on real hardware: Unsloth + vLLM and TRL + vLLM colocate on a random-init model of the
exact Llama-3.2-1B architecture, with stop, resume, GPU samples and the memory estimate. Skipped cleanly
on machines without CUDA (CI, laptops)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_jobs import cli, steps_logged, wait_until
from workbench.runs import find_run, resolve_state
from workbench.tail import read_jsonl


def _cuda() -> bool:
    from workbench import gpu

    return gpu.device_count() > 0


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _cuda(), reason="needs an NVIDIA GPU"),
    pytest.mark.usefixtures("reap_runs"),
]

GPU_FAST = [
    "model.name=random-1b",
    "data.source=bundled",
    "grpo.completions_per_step=32",
    "grpo.max_completion_length=128",
    "grpo.max_prompt_length=256",
    "data.held_out=8",
    "grpo.save_steps=1000",
]


@pytest.fixture(scope="session")
def random_1b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random-init 1B model: GRPO_WORKBENCH_TEST_MODELS/random-1b-v1 when prebuilt, else built here."""
    import os

    from workbench import modelbuild

    prebuilt = Path(os.environ.get("GRPO_WORKBENCH_TEST_MODELS", "/nonexistent")) / "random-1b-v1"
    if (prebuilt / "config.json").is_file():
        return prebuilt
    return modelbuild.build_model("1b", tmp_path_factory.mktemp("gpu-models") / "random-1b-v1")


@pytest.fixture
def gpu_home(workbench_home: Path, random_1b: Path) -> Path:
    models = workbench_home / "cache" / "models"
    models.mkdir(parents=True)
    (models / "random-1b-v1").symlink_to(random_1b)
    return workbench_home


def sets(*overrides: str) -> list[str]:
    return [a for o in (*GPU_FAST, *overrides) for a in ("--set", o)]


def test_unsloth_trains_stops_and_resumes(gpu_home: Path) -> None:
    result = cli("train", "--detach", *sets("backend=unsloth", "grpo.max_steps=30"))
    assert result.returncode == 0, result.stderr
    run = find_run(result.stdout.strip())
    wait_until(lambda: len(steps_logged(run)) >= 2 or resolve_state(run)[0] == "failed", 540, "two steps")
    assert resolve_state(run)[0] != "failed", run.log.read_text()[-4000:]
    assert cli("stop", run.run_id).returncode == 0
    status = run.read_status()
    assert status.state == "stopped", run.log.read_text()[-4000:]
    stop_step = status.step
    assert (run.checkpoints / f"checkpoint-{stop_step}" / "adapter_model.safetensors").is_file()
    assert read_jsonl(run.gpu), "gpu.jsonl has NVML samples"
    metrics = [r for r in read_jsonl(run.metrics) if "reward" in r]
    assert all("rewards/check_numbers/mean" in r for r in metrics)
    assert metrics[-1]["gpu/max_allocated_gib"] > 1.0
    plan = json.loads((run.path / "plan.json").read_text())
    measured = max(s["memory_used_mib"] for s in read_jsonl(run.gpu)) / 1024  # the device's real footprint
    estimated = plan["estimate"]["total_gib"]
    print(f"unsloth memory: estimated {estimated:.1f} GiB, measured {measured:.1f} GiB (NVML)")
    assert abs(estimated - measured) <= 0.2 * measured

    resumed = cli("resume", run.run_id, timeout=900)
    assert resumed.returncode == 0, run.log.read_text()[-4000:]
    assert (run.read_status().state, run.read_status().step) == ("completed", 30)
    records = read_jsonl(run.metrics)
    marker = next(i for i, r in enumerate(records) if r.get("event") == "resume")
    assert [r["step"] for r in records[marker + 1 :] if "reward" in r] == list(range(stop_step + 1, 31))


def test_trl_backend_with_vllm_colocate(gpu_home: Path) -> None:
    result = cli(
        "train",
        *sets("backend=trl", "grpo.use_vllm=on", "grpo.max_steps=3", "model.gpu_memory_utilization=0.3"),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    assert steps_logged(run) == [1, 2, 3]
    assert "vLLM" in run.log.read_text() or "vllm" in run.log.read_text()
    assert (run.adapter / "adapter_model.safetensors").is_file()


def _gpu_count() -> int:
    from workbench import gpu

    return gpu.device_count()


two_gpus = pytest.mark.skipif(_gpu_count() < 2, reason="needs two NVIDIA GPUs")


def _run_processes(run_dir: Path) -> list[int]:
    """Pids of every process working in the run directory or naming it (supervisor, launcher, ranks, the
    vLLM server and its engine): none may outlive the run."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        names_it = str(run_dir) in " ".join(process.info["cmdline"] or [])
        if names_it or process.info["cwd"] == str(run_dir):
            found.append(process.pid)
    return found


@two_gpus
def test_two_gpus_train_through_accelerate(gpu_home: Path) -> None:
    """DDP over GPUs 0 and 1 with vLLM colocated on each: 32 completions per step split 16 per rank,
    one writer of the run directory, both GPUs sampled."""
    result = cli(
        "train",
        *sets(
            "backend=trl", "grpo.max_steps=3", "model.gpu_memory_utilization=0.3", "distributed.gpus=[0,1]"
        ),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    assert steps_logged(run) == [1, 2, 3], run.log.read_text()[-4000:]
    assert "accelerate.commands.launch" in run.log.read_text()
    assert json.loads((run.path / "distributed.json").read_text())["num_processes"] == 2
    plan = json.loads((run.path / "plan.json").read_text())
    assert plan["num_processes"] == 2
    assert plan["per_device_train_batch_size"] * plan["gradient_accumulation_steps"] * 2 == 32
    assert {s["index"] for s in read_jsonl(run.gpu)} == {0, 1}
    assert (run.adapter / "adapter_model.safetensors").is_file()
    assert _run_processes(run.path) == []


@two_gpus
def test_two_gpus_stop_and_resume(gpu_home: Path) -> None:
    """A stop reaches both ranks (each in its own session under the elastic agent): one checkpoint, state
    stopped, no rank left behind; resume continues on both."""
    result = cli("train", "--detach", *sets("backend=trl", "grpo.max_steps=8", "distributed.gpus=[0,1]"))
    assert result.returncode == 0, result.stderr
    run = find_run(result.stdout.strip())
    wait_until(lambda: len(steps_logged(run)) >= 2 or resolve_state(run)[0] == "failed", 600, "two steps")
    assert resolve_state(run)[0] != "failed", run.log.read_text()[-4000:]
    assert cli("stop", run.run_id).returncode == 0
    status = run.read_status()
    assert status.state == "stopped", run.log.read_text()[-4000:]
    assert (run.checkpoints / f"checkpoint-{status['step']}" / "adapter_model.safetensors").is_file()
    assert _run_processes(run.path) == []
    resumed = cli("resume", run.run_id, timeout=900)
    assert resumed.returncode == 0, run.log.read_text()[-4000:]
    assert (run.read_status().state, run.read_status().step) == ("completed", 8)


@two_gpus
def test_vllm_server_mode_on_its_own_gpu(gpu_home: Path) -> None:
    """GPU 0 trains, GPU 1 runs `trl vllm-serve`; the supervisor waits for its /health, then ends it."""
    result = cli(
        "train",
        *sets(
            "backend=trl",
            "grpo.max_steps=3",
            "distributed.gpus=[0]",
            'distributed.vllm_mode="server"',
            "distributed.server_gpu=1",
        ),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    log = run.log.read_text()
    assert steps_logged(run) == [1, 2, 3], log[-4000:]
    assert "vLLM server ready" in log
    assert {s["index"] for s in read_jsonl(run.gpu)} == {0, 1}
    assert _run_processes(run.path) == []


@two_gpus
def test_overlapped_generation_trains_stops_and_resumes(gpu_home: Path) -> None:
    """GPU 1 generates step t+1 while GPU 0 trains step t: after the first step every step trains on
    completions one update old (`overlap/staleness` 1), with TRL's importance-sampling figures logged; a
    stop checkpoints and a resume continues (its first step generates afresh, staleness 0)."""
    overlap = [
        "backend=trl",
        "grpo.max_steps=6",
        "distributed.gpus=[0]",
        'distributed.vllm_mode="server"',
        "distributed.server_gpu=1",
        "distributed.overlap_generation=true",
    ]
    result = cli("train", "--detach", *sets(*overlap))
    assert result.returncode == 0, result.stderr
    run = find_run(result.stdout.strip())
    wait_until(lambda: len(steps_logged(run)) >= 3 or resolve_state(run)[0] == "failed", 900, "three steps")
    assert resolve_state(run)[0] != "failed", run.log.read_text()[-4000:]
    assert cli("stop", run.run_id).returncode == 0
    assert run.read_status().state == "stopped", run.log.read_text()[-4000:]
    assert _run_processes(run.path) == []
    resumed = cli("resume", run.run_id, timeout=900)
    assert resumed.returncode == 0, run.log.read_text()[-4000:]
    assert (run.read_status().state, run.read_status().step) == ("completed", 6)
    records = [r for r in read_jsonl(run.metrics) if "overlap/staleness" in r]
    assert records[0]["overlap/staleness"] == 0 and any(r["overlap/staleness"] == 1 for r in records)
    assert all(0 <= r["overlap/staleness"] <= 1 for r in records)
    assert all("sampling/importance_sampling_ratio/mean" in r for r in records)
    assert "overlapped generation" in run.log.read_text()


def test_vllm_serves_a_trained_runs_adapter(gpu_home: Path) -> None:
    """What the chat pane does on a GPU server: `grpo-workbench serve RUN --detach` starts vLLM's OpenAI
    server with the run's base model and its adapter as a LoRA module; both stream through the pane's
    client, vLLM's /metrics counts the tokens, and `serve --stop` leaves no process or port behind."""
    import asyncio
    import socket
    import urllib.request

    from jobs.chat_bench import parse_prometheus
    from workbench import serving
    from workbench.chat import Endpoint, Sampling, StreamStats, make_client, messages_for, stream_chat
    from workbench.runs import process_matches

    trained = cli("train", *sets("backend=trl", "grpo.max_steps=2", "name=serve-me"), timeout=900)
    assert trained.returncode == 0, trained.stdout[-4000:]
    run = find_run(trained.stdout.strip().splitlines()[0])
    assert (run.adapter / "adapter_model.safetensors").is_file()

    started = cli("serve", run.run_id, "--detach", timeout=960)
    assert started.returncode == 0, started.stderr[-4000:]
    serve_id, url_line, key_line, models_line = started.stdout.strip().splitlines()
    serve = serving.find_serve(serve_id)
    try:
        assert serve.read_spec().backend == "vllm"
        assert models_line.startswith("models: base") and "adapter" in models_line
        url = url_line.removeprefix("url: ")
        endpoint = Endpoint(url, serve.read_key())

        async def ask(model: str) -> tuple[str, StreamStats]:
            client = make_client(endpoint)
            stats = StreamStats()
            try:
                question = messages_for("Một cửa hàng có 12 quả táo, bán 5 quả. Còn lại bao nhiêu quả?")
                sampling = Sampling(0.8, 0.95, 64)
                pieces = [p async for p in stream_chat(client, model, question, sampling, stats)]
            finally:
                await client.close()
            return "".join(pieces), stats

        for model in ("adapter", "base"):
            text, stats = asyncio.run(ask(model))
            assert text and stats.first_token_s is not None, model
            assert stats.completion_tokens is not None and 1 <= stats.completion_tokens <= 64
            print(f"{model}: first token {stats.first_token_s:.3f} s, {stats.completion_tokens} tokens")
        request = urllib.request.Request(url.removesuffix("/v1") + "/metrics")
        request.add_header("Authorization", f"Bearer {endpoint.key}")
        with urllib.request.urlopen(request, timeout=30) as response:
            metrics = parse_prometheus(response.read().decode())
        generated = metrics.get("vllm:generation_tokens_total", 0.0)
        assert generated >= 2, "vLLM's own counter saw both streams"
    finally:
        manifest = serve.read_manifest()
        stopped = cli("serve", "--stop", serve_id, timeout=180)
    assert stopped.returncode == 0, stopped
    assert not process_matches(manifest.pid, manifest.create_time)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_eval_through_vllm_scores_base_and_adapter(gpu_home: Path) -> None:
    """`grpo-workbench eval` on a GPU: one vLLM engine with LoRA enabled, the base model and the run's
    adapter (a LoRARequest) over the held-out rows, greedy and sampled, results in RUN/eval/."""
    from tests.test_eval_cli import results_in

    trained = cli("train", *sets("backend=trl", "grpo.max_steps=2", "name=eval-me"), timeout=900)
    assert trained.returncode == 0, trained.stdout[-4000:]
    run = find_run(trained.stdout.strip().splitlines()[0])
    args = ["--targets", "base,adapter", "--limit", "8", "--samples", "4", "--max-new-tokens", "64"]
    result = cli("eval", run.run_id, *args, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    found = results_in(run)
    assert set(found) == {(t, d) for t in ("base", "adapter") for d in ("greedy", "sample-n4")}
    for (target, decoding), res in found.items():
        assert res["backend"] == "vllm", (target, decoding)
        assert (res["rows_total"], res["rows_done"], res["partial"]) == (8, 8, False)
        overall = res["metrics"]["overall"]
        assert overall["samples"] == 8 * (1 if decoding == "greedy" else 4)
        # a random-init model almost never samples its end token: answers run to --max-new-tokens
        assert 60 <= overall["mean_length"]["value"] <= 64, overall["mean_length"]
    assert set(found["adapter", "sample-n4"]["metrics"]["overall"]["pass_at_k"]) == {"1", "2", "4"}


def test_streamed_weight_sync_pushes_what_trls_own_sync_pushes(gpu_home: Path) -> None:
    """`jobs.colocate`: after two real steps at a high learning rate (the adapter moves the weights), vLLM
    holds the LoRA-merged policy whether the weights went in as one stream (ours) or one tensor per call
    (TRL's); the adapter is unmerged again afterwards. Differences within bf16 rounding of PEFT's
    merge/unmerge round trip, far below what the adapter changes."""
    import subprocess
    import sys

    out = gpu_home / "sync.json"
    result = subprocess.run(
        [sys.executable, "-m", "tests.gpu_weight_sync", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = json.loads(out.read_text())
    print(found)
    assert found["streamed_sync_installed"] and found["detokenize"] is False
    # importance sampling is off: vLLM computes no sampled-token log-probabilities, and the steps still run
    assert found["sampled_logprobs_asked"] is None
    assert found["steps"] == 2 and found["adapter_unmerged_after_sync"]
    moved = found["adapter_moves_weights"]
    assert moved > 1e-3, "the adapter must change the weights, or the comparison proves nothing"
    assert found["ours_vs_merged_policy"] < 0.25 * moved
    assert found["ours_vs_trl"] < 0.25 * moved


def test_vllm_loads_a_merged_export(gpu_home: Path) -> None:
    """`grpo-workbench export RUN --format merged` on a GPU run of the 1B architecture (bf16, so the check
    is the bf16 one), then `grpo-workbench serve --model DIR`: vLLM's server loads the merged directory
    as it loads any model and answers through the chat client. Prints the export's time and size, and
    those of the GGUF export of the same run."""
    import asyncio
    import time

    from workbench import serving
    from workbench.chat import Endpoint, Sampling, StreamStats, make_client, messages_for, stream_chat
    from workbench.runs import read_export_record

    # the random-init model never writes the tags: every bundled reward scores a group alike, every
    # advantage is 0 and LoRA would not move (the export then refuses, rightly). A reward that tells
    # completions apart and a learning rate that moves the weights beyond bf16 rounding in three steps:
    varied = Path(__file__).parent / "fixtures" / "varied_reward.py"
    overrides = (
        "backend=trl", "grpo.max_steps=3", "grpo.learning_rate=0.001", "name=export-me",
        f'custom_rewards=[{{file="{varied}", function="varied"}}]', "rewards.varied=1.0",
    )  # fmt: skip
    trained = cli("train", *sets(*overrides), timeout=900)
    assert trained.returncode == 0, trained.stdout[-4000:]
    run = find_run(trained.stdout.strip().splitlines()[0])
    for fmt in ("merged", "gguf"):
        started = time.monotonic()
        exported = cli("export", run.run_id, "--format", fmt, timeout=1200)
        assert exported.returncode == 0, exported.stderr[-4000:] + exported.stdout[-4000:]
        record = read_export_record(run.exports.output(fmt))
        assert record is not None
        print(
            f"{fmt} export of random-1b: {record.bytes / 2**30:.2f} GiB in {time.monotonic() - started:.0f} s"
        )
    merged = run.exports.output("merged")
    assert read_export_record(merged).dtype == "bfloat16"  # type: ignore[union-attr]

    started = cli("serve", "--model", str(merged), "--detach", timeout=960)
    assert started.returncode == 0, started.stderr[-4000:]
    serve_id, url_line = started.stdout.strip().splitlines()[:2]
    serve = serving.find_serve(serve_id)
    try:
        assert serve.read_spec().backend == "vllm"

        async def ask() -> tuple[str, StreamStats]:
            client = make_client(Endpoint(url_line.removeprefix("url: "), serve.read_key()))
            stats = StreamStats()
            try:
                question = messages_for("Một cửa hàng có 12 quả táo, bán 5 quả. Còn lại bao nhiêu quả?")
                pieces = [
                    p async for p in stream_chat(client, "base", question, Sampling(0.8, 0.95, 16), stats)
                ]
            finally:
                await client.close()
            return "".join(pieces), stats

        text, stats = asyncio.run(ask())
        assert text and stats.completion_tokens is not None and stats.completion_tokens >= 1
    finally:
        cli("serve", "--stop", serve_id, timeout=180)
