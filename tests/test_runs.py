"""Run-directory contract: atomic state, tolerant tailing, liveness with the pid-reuse guard, checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.atomic import JsonlWriter, read_json, write_json_atomic
from workbench.runs import (
    Plan,
    RunDir,
    create_run_dir,
    find_run,
    last_complete_checkpoint,
    process_start_time,
    resolve_state,
)
from workbench.tail import JsonlTail, read_jsonl


def test_tail_keeps_a_torn_last_line_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n{"step": 2, "rew')
    tail = JsonlTail(path)
    assert tail.read_all() == [{"step": 1}]
    with path.open("ab") as fh:
        fh.write(b'ard": 0.5}\n{"step": 3}\n')
    assert tail.read_all() == [{"step": 2, "reward": 0.5}, {"step": 3}]
    assert tail.bad_lines == 0


def test_tail_skips_garbage_and_replays_after_truncation(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"step": 1}\nnot json\n[1, 2]\n{"step": 2}\n')
    tail = JsonlTail(path)
    assert tail.read_all() == [{"step": 1}, {"step": 2}]
    assert tail.bad_lines == 2
    path.write_bytes(b'{"step": 9}\n')
    assert tail.read_all() == [{"step": 9}]
    assert tail.reset_count == 1


def test_tail_reads_in_bounded_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w") as fh:
        for i in range(5000):
            fh.write(json.dumps({"step": i, "pad": "x" * 100}) + "\n")
    tail = JsonlTail(path, chunk=64 * 1024)
    first = tail.read()
    assert 0 < len(first) < 5000
    assert len(first) + len(tail.read_all()) == 5000


def test_writer_and_reader_agree(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "s.jsonl")
    writer.write({"a": "Đáp án", "n": 1.5})
    writer.close()
    assert read_jsonl(tmp_path / "s.jsonl") == [{"a": "Đáp án", "n": 1.5}]


def test_atomic_json_never_leaves_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    for i in range(20):
        write_json_atomic(target, {"i": i})
    assert read_json(target) == {"i": 19}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]
    (tmp_path / "torn.json").write_text('{"state": "run')
    assert read_json(tmp_path / "torn.json") is None


def test_run_dirs_are_private_and_findable(workbench_home: Path) -> None:
    run = create_run_dir("Tiny Demo!")
    assert oct(run.path.stat().st_mode & 0o777) == "0o700"
    assert "-tiny-demo-" in run.run_id
    run.config.write_text("")
    assert find_run(run.run_id) == run
    assert find_run(run.run_id[:17]) == run
    with pytest.raises(LookupError, match="no run matches"):
        find_run("nothing-like-this")


def _manifest(run: RunDir, pid: int, create_time: float | None) -> None:
    write_json_atomic(run.manifest, {"pid": pid, "pgid": pid, "create_time": create_time})


def test_live_state_with_a_dead_supervisor_is_crashed(workbench_home: Path) -> None:
    run = create_run_dir("x")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    _manifest(run, proc.pid, time.time())
    run.write_status(state="running", heartbeat=time.time())
    assert resolve_state(run)[:2] == ("crashed", False)


def test_pid_reuse_is_detected_by_the_start_time(workbench_home: Path) -> None:
    run = create_run_dir("x")
    me = os.getpid()
    _manifest(run, me, process_start_time(me))
    run.write_status(state="running", heartbeat=time.time())
    assert resolve_state(run)[:2] == ("running", True)
    # Same pid, different start time: another process took the pid, so the run is gone.
    _manifest(run, me, (process_start_time(me) or 0) - 3600)
    assert resolve_state(run)[:2] == ("crashed", False)


def test_a_manifest_without_a_start_time_names_no_live_process(workbench_home: Path) -> None:
    """A bare pid proves nothing (any process may hold it since): the job is not alive, even when the
    pid is this very process."""
    run = create_run_dir("x")
    _manifest(run, os.getpid(), None)
    run.write_status(state="running", heartbeat=time.time())
    assert resolve_state(run)[:2] == ("crashed", False)
    assert not run.read_manifest().process.alive


def test_status_fields_are_typed_and_a_misspelt_one_raises(workbench_home: Path) -> None:
    """Renaming a status field in a writer fails at once (TypeError), never later in a screen."""
    run = create_run_dir("x")
    run.write_status(state="running", step=4, max_steps=10)
    with pytest.raises(TypeError):
        run.write_status(stepp=5)
    status = run.read_status()
    assert (status.state, status.step, status.max_steps) == ("running", 4, 10)


def test_records_read_tolerantly_and_round_trip(workbench_home: Path) -> None:
    """Wrong types in a state file (a hand edit, a crash) read as absent; whole records round-trip."""
    run = create_run_dir("x")
    write_json_atomic(run.status, {"state": 3, "step": "nine", "error": {"a": 1}, "models": ["a", "b"]})
    status = run.read_status()
    assert (status.state, status.step, status.models) == ("3", 0, ("a", "b"))
    assert status.error == "{'a': 1}"
    write_json_atomic(run.progress, {"phase": "training", "step": 7, "max_steps": "x", "outcome": None})
    progress = run.read_progress()
    assert (progress.phase, progress.step, progress.max_steps, progress.outcome) == (
        "training",
        7,
        None,
        None,
    )
    assert type(progress).from_json(progress.to_json()) == progress
    plan = Plan(
        per_device_train_batch_size=64, gradient_accumulation_steps=2, vllm_share=0.2, describe="64 x 2"
    )
    run.write_plan(plan)
    assert run.read_plan() == plan


def test_every_file_a_run_has_is_named_by_the_contract(tmp_path: Path) -> None:
    """The files README's run-directory table lists are the paths RunDir names."""
    run = RunDir(tmp_path / "r")
    names = {
        run.config.name, run.manifest.name, run.status.name, run.progress.name, run.plan.name,
        run.distributed.name, run.accelerate_config.name, run.metrics.name, run.samples.name, run.gpu.name,
        run.data_stats.name, run.held_out.name, run.log.name, run.checkpoints.name, run.adapter.name,
        run.eval.path.name, run.notification.name,
    }  # fmt: skip
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## The run directory") :].split("\n## ", 1)[0]
    for name in names:
        assert f"`{name}" in table, name


def test_final_state_is_believed(workbench_home: Path) -> None:
    run = create_run_dir("x")
    run.write_status(state="completed", step=3)
    assert resolve_state(run)[0] == "completed"


def test_half_written_checkpoint_is_skipped(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    good = run.checkpoints / "checkpoint-10"
    half = run.checkpoints / "checkpoint-20"
    for path in (good, half):
        path.mkdir(parents=True)
        (path / "adapter_model.safetensors").write_bytes(b"x")
    (good / "optimizer.pt").write_bytes(b"x")
    (good / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(run) == good


def test_a_resumed_run_keeps_its_age_and_its_step(workbench_home: Path) -> None:
    """After a resume, the run's age still counts from its creation (the attempt's separately), and until
    the new trainer knows its step the status keeps the last attempt's (never `0/200`)."""
    from jobs.supervise import progress_fields
    from jobs.train_grpo import Progress as TrainerProgress
    from workbench.jobdir import Manifest
    from workbench.runs import run_info

    run = create_run_dir("resumed")
    run.config.write_text("[grpo]\nmax_steps = 200\n", encoding="utf-8")
    created, resumed = time.time() - 3 * 86400, time.time() - 300
    first = Manifest(pid=1, started_at=created, attempt=1)
    second = Manifest(
        pid=2,
        started_at=resumed,
        attempt=2,
        history=({"pid": 1, "started_at": created, "attempt": 1},),
    )
    assert first.first_started_at == created and second.first_started_at == created
    write_json_atomic(run.manifest, second.to_json())
    run.write_status(state="running", step=80, max_steps=200, heartbeat=time.time())
    info = run_info(run)
    assert (info.created_at, info.started_at, info.attempt) == (created, resumed, 2)
    assert {"created_at", "attempt", "started_at", "finished_at"} <= set(info.to_dict())

    TrainerProgress(run).phase("reading config")  # the new trainer's first write
    progress = run.read_progress()
    assert progress.step is None
    fields = progress_fields(run.read_status(), progress)
    assert (fields["step"], fields["max_steps"], fields["phase"]) == (80, 200, "reading config")
