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
