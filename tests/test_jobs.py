"""The training job end to end through the real CLI: real GRPOTrainer steps on the tiny model in real
detached processes, stop to a checkpoint, resume at the right step, survival of the parent's exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import FAST, outside_run_directory_table
from workbench.rewards import DEFAULT_WEIGHTS
from workbench.runs import RunDir, find_run, resolve_state
from workbench.tail import read_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("home_with_tiny", "reap_runs")]
ACTIVE = [name for name, weight in DEFAULT_WEIGHTS.items() if weight]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `grpo-workbench` entry point in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "grpo_workbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def sets(*overrides: str) -> list[str]:
    return [a for o in (*FAST, *overrides) for a in ("--set", o)]


def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def steps_logged(run: RunDir) -> list[int]:
    return [r["step"] for r in read_jsonl(run.metrics) if "reward" in r]


def test_train_in_the_foreground_writes_the_whole_run_directory() -> None:
    result = cli("train", *sets("grpo.max_steps=4", "grpo.save_steps=2", "name=e2e"))
    assert result.returncode == 0, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    status = run.read_status()
    assert (status.state, status.step, status.exit_code) == ("completed", 4, 0)
    metrics = [r for r in read_jsonl(run.metrics) if "reward" in r]
    assert [r["step"] for r in metrics] == [1, 2, 3, 4]
    for record in metrics:
        for name in ACTIVE:
            assert isinstance(record[f"rewards/{name}/mean"], float), (name, record)
        assert "loss" in record and "completions/mean_length" in record
        split = {k: v for k, v in record.items() if k.startswith("time/")}  # where the step went
        assert split["time/generate"] > 0 and split["time/forward"] > 0 and "time/the_rest" in split
        assert all(v >= 0 for v in split.values())
    samples = read_jsonl(run.samples)
    assert {s["step"] for s in samples} == {1, 2, 3, 4}
    assert set(samples[0]["rewards"]) == set(ACTIVE)
    assert (run.checkpoints / "checkpoint-4" / "adapter_model.safetensors").is_file()
    assert (run.checkpoints / "checkpoint-2" / "optimizer.pt").is_file()
    assert (run.adapter / "adapter_config.json").is_file()
    assert run.read_data_stats()["held_out"] == 8
    assert len(read_jsonl(run.held_out)) == 8
    assert "trainer ended: completed" in run.log.read_text()
    assert outside_run_directory_table(run.path) == [], "files README's run-directory table does not name"
    written = {**json.loads(run.status.read_text()), **json.loads(run.manifest.read_text())}
    assert not {k for k in written if k.startswith("server_pgid") or k in ("url", "models", "server_argv")}


def test_stop_saves_a_checkpoint_and_resume_continues_at_the_right_step() -> None:
    result = cli("train", "--detach", *sets("grpo.max_steps=14", "grpo.save_steps=50"))
    assert result.returncode == 0, result.stderr
    run = find_run(result.stdout.strip())
    wait_until(lambda: len(steps_logged(run)) >= 3, 180, "three logged steps")
    # --no-wait only asks: the run must still checkpoint and end as "stopped", never be killed.
    stopped = cli("stop", run.run_id, "--no-wait")
    assert stopped.returncode == 0 and "stop requested" in stopped.stdout, stopped
    wait_until(lambda: resolve_state(run)[:2] == ("stopped", False), 120, "the stop")
    status = run.read_status()
    assert status.state == "stopped"
    stop_step = status.step
    assert 3 <= stop_step < 14
    # save_steps=50 never fires by itself: the checkpoint is the one the stop asked for.
    assert (run.checkpoints / f"checkpoint-{stop_step}" / "trainer_state.json").is_file()

    resumed = cli("resume", run.run_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    status = run.read_status()
    assert (status.state, status.step) == ("completed", 14)
    records = read_jsonl(run.metrics)
    marker = next(i for i, r in enumerate(records) if r.get("event") == "resume")
    assert records[marker]["step"] == stop_step
    after = [r["step"] for r in records[marker + 1 :] if "reward" in r]
    assert after == list(range(stop_step + 1, 15))
    state = json.loads((run.checkpoints / "checkpoint-14" / "trainer_state.json").read_text())
    assert state["global_step"] == 14
    assert run.read_manifest().attempt == 2


def test_detached_run_survives_its_parent_and_lives_in_its_own_session() -> None:
    result = cli("train", "--detach", *sets("grpo.max_steps=3"))
    assert result.returncode == 0  # the parent CLI has exited
    run = find_run(result.stdout.strip())
    wait_until(lambda: run.read_manifest().pid, 30, "the manifest")
    pid = run.read_manifest().pid
    assert os.getsid(pid) == pid, "the supervisor must lead its own session (SIGHUP-proof)"
    wait_until(lambda: resolve_state(run)[0] == "completed", 240, "completion")
    assert steps_logged(run) == [1, 2, 3]


def test_a_killed_trainer_is_recorded_as_crashed_and_can_resume() -> None:
    """A trainer killed before its first checkpoint: the run reads crashed, and its resume starts again
    from step 0 with a `resume` event there, so the Monitor's series drops the lost attempt's steps
    instead of showing them beside the new ones."""
    from workbench.series import MetricsSeries

    result = cli("train", "--detach", *sets("grpo.max_steps=60", "grpo.save_steps=1000"))
    run = find_run(result.stdout.strip())
    wait_until(lambda: len(steps_logged(run)) >= 3, 180, "three logged steps")
    kept = steps_logged(run)
    os.kill(run.read_manifest().trainer_pid, signal.SIGKILL)
    wait_until(lambda: resolve_state(run)[0] == "crashed", 10, "state crashed")
    assert "SIGKILL" in run.read_status().error
    assert steps_logged(run)[: len(kept)] == kept  # every flushed line survived
    lost = max(steps_logged(run))
    resumed = cli("resume", run.run_id, "--detach")
    assert resumed.returncode == 0, resumed.stderr
    wait_until(lambda: any(r.get("event") == "resume" for r in read_jsonl(run.metrics)), 120, "the resume")
    records = read_jsonl(run.metrics)
    marker = next(i for i, r in enumerate(records) if r.get("event") == "resume")
    assert records[marker]["step"] == 0  # no checkpoint: the attempt starts over
    series = MetricsSeries()
    series.ingest(records)
    relogged = [r["step"] for r in records[marker + 1 :] if "step" in r and "event" not in r]
    assert series.get("reward")[0] == [float(s) for s in relogged] and lost >= 3
    cli("stop", run.run_id)


def test_train_from_another_runs_adapter_starts_from_its_weights() -> None:
    """`train --from RUN` is a new run with RUN's settings and its adapter as the start: at a learning rate
    of 1e-12 the new run's adapter is the one it started from (from LoRA's zero start, lora_B would be ~0)."""
    import torch
    from safetensors.torch import load_file

    first = cli("train", *sets("grpo.max_steps=2", "name=source"))
    assert first.returncode == 0, first.stderr[-3000:]
    source = find_run(first.stdout.strip().splitlines()[0])
    second = cli("train", "--from", source.run_id, "--set", "grpo.learning_rate=1e-12", "--set", "name=again")
    assert second.returncode == 0, second.stderr[-3000:]
    run = find_run(second.stdout.strip().splitlines()[0])
    assert run.run_id != source.run_id
    assert f"starting from the adapter {source.adapter}" in run.log.read_text(encoding="utf-8")
    before = load_file(str(source.adapter / "adapter_model.safetensors"))
    after = load_file(str(run.adapter / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    moved = max(float(t.abs().max()) for k, t in before.items() if "lora_B" in k)
    assert moved > 1e-7, "the source adapter never moved from LoRA's zero start"
    for key, tensor in before.items():
        assert torch.allclose(after[key].float(), tensor.float(), rtol=0, atol=moved / 100), key
    refused = cli("train", "--from", f"{source.run_id}:checkpoint-99")
    assert refused.returncode == 2 and "has no complete checkpoint-99" in refused.stderr
