"""`grpo-workbench eval` end to end on CPU: the real CLI, the real `jobs.evaluate` process and a real tiny
run made by a real (two-step) training run, so base, checkpoints and the final adapter are all genuine.

Checked: every eval file (results JSON, rows JSONL, summary.csv, progress.json) and that the printed table
is the one the JSON gives; `--limit`; greedy and `--samples 2` (pass@k); the background path the TUI uses
(`jobs.evaluate.launch`: own session, eval.log, a second evaluation refused while one runs) and its
cancel, which keeps the finished rows and marks the cut task partial; and bad input, refused with a clear
message and exit code 2 before any model loads. Completions are kept to a few tokens so the module stays
well under a minute of CPU after its one training run.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, install_tiny_preset

from jobs.evaluate import EvalLaunchError, cancel, launch, running_pid
from workbench.evaluation import TargetError, format_table, summarize
from workbench.runs import EvalDir, EvalResult, RunDir
from workbench.tail import read_jsonl

pytestmark = pytest.mark.slow
TARGETS = ("base", "checkpoint-1", "adapter")
DECODINGS = ("greedy", "sample-n2")
_TRAINED: dict[str, Path] = {}
"""The session's trained run, shared with tests/test_tui_evaluate.py (one training run per session)."""


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `grpo-workbench` entry point in a child process (with this test's home)."""
    return subprocess.run(
        [sys.executable, "-m", "grpo_workbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def train_tiny_run(tmp_path_factory: pytest.TempPathFactory, preset_dir: Path) -> Path:
    """A real tiny run, trained once per session through the CLI in a home of its own: two GRPO steps,
    complete checkpoints 1 and 2, the final adapter and 24 held-out rows (more than FAST's 8, so a cancel
    lands well inside a task). Tests copy it, never touch it."""
    if "run" in _TRAINED:
        return _TRAINED["run"]
    home = tmp_path_factory.mktemp("eval-train-home")
    install_tiny_preset(home, preset_dir)
    overrides = [*FAST, "data.held_out=24", "grpo.max_steps=2", "grpo.save_steps=1", "name=evaluated"]
    result = subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "train", *(a for o in overrides for a in ("--set", o))],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, GRPO_WORKBENCH_HOME=str(home)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = home / "runs" / result.stdout.strip().splitlines()[0]
    assert (run / "adapter" / "adapter_config.json").is_file() and (run / "heldout.jsonl").is_file()
    _TRAINED["run"] = run
    return run


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_preset_dir: Path) -> Path:
    return train_tiny_run(tmp_path_factory, tiny_preset_dir)


def copy_run(source: Path, home: Path) -> RunDir:
    """A private copy of the trained run under `home`'s runs (each test evaluates its own)."""
    target = home / "runs" / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("eval"))
    return RunDir(target)


@pytest.fixture
def run(trained_run: Path, home_with_tiny: Path) -> RunDir:
    return copy_run(trained_run, home_with_tiny)


def results_in(run: RunDir) -> dict[tuple[str, str], dict[str, Any]]:
    eval_dir = EvalDir.of(run)
    return {(r.target, r.decoding): r.data for r in eval_dir.results()}


def test_eval_base_checkpoint_and_adapter_greedy_and_sampled(run: RunDir) -> None:
    result = cli(
        "eval",
        run.run_id,
        "--targets",
        ",".join(TARGETS),
        "--limit",
        "3",
        "--samples",
        "2",
        "--max-new-tokens",
        "8",
        "--batch-size",
        "2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"results: {run.path / 'eval'}" in result.stderr

    eval_dir = EvalDir.of(run)
    found = results_in(run)
    assert set(found) == {(t, d) for t in TARGETS for d in DECODINGS}
    ordered = []
    for target in TARGETS:
        for decoding in DECODINGS:
            res = found[(target, decoding)]
            ordered.append(res)
            assert (res["rows_total"], res["rows_done"], res["partial"]) == (3, 3, False)
            assert res["backend"] == "transformers" and res["model"] == "tiny"
            assert (res["adapter_path"] is None) == (target == "base")
            n = 1 if decoding == "greedy" else 2
            records = read_jsonl(eval_dir.rows(target, decoding))
            assert [r["index"] for r in records] == [0, 1, 2]
            for record in records:
                assert len(record["completions"]) == len(record["correct"]) == n
                assert all(0 < length <= 8 for length in record["lengths"])
            # the metrics are exactly those of the rows the job kept
            assert res["metrics"] == json.loads(json.dumps(summarize(records)))
            passes = res["metrics"]["overall"]["pass_at_k"]
            assert set(passes) == (set() if decoding == "greedy" else {"1", "2"})

    # the table printed is the one the JSON gives, in the order the tasks ran
    assert format_table(EvalResult.from_json(r) for r in ordered) in result.stdout
    with eval_dir.summary_csv.open(encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    overall = {(r["target"], r["decoding"]): r for r in lines if r["group"] == "all"}
    assert set(overall) == set(found)
    for key, res in found.items():
        accuracy = res["metrics"]["overall"]["accuracy"]
        assert float(overall[key]["accuracy"]) == pytest.approx(accuracy["value"], abs=1e-6)
        assert float(overall[key]["accuracy_ci_high"]) == pytest.approx(accuracy["ci_high"], abs=1e-6)
        assert overall[key]["partial"] == "False"
    progress = eval_dir.read_progress()
    assert (progress.state, progress.done, progress.total) == ("completed", 18, 18)


def test_background_eval_refuses_a_second_and_cancel_keeps_finished_rows(run: RunDir) -> None:
    # Four targets, greedy and 4 samples, one row per batch: far more work than the test lets it do.
    process = launch(
        run,
        "base,checkpoint-1,checkpoint-2,adapter",
        samples=4,
        max_new_tokens=48,
        batch_size=1,
    )
    try:
        assert os.getsid(process.pid) == process.pid, "the job must lead its own session"
        eval_dir = EvalDir.of(run)
        assert running_pid(run) == process.pid  # visible at once, while the model still loads
        with pytest.raises(EvalLaunchError, match="already running"):
            launch(run, "base")
        refused = cli("eval", run.run_id, "--limit", "1")
        assert refused.returncode == 2 and "already running" in refused.stderr, refused.stderr

        first_rows = eval_dir.rows("base", "greedy")
        wait_for(lambda: first_rows.is_file() and len(read_jsonl(first_rows)) >= 1, 180, "the first rows")
        assert cancel(run) == process.pid
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    progress = eval_dir.read_progress()
    assert progress.state == "stopped", progress
    results = sorted((r.data for r in eval_dir.results()), key=lambda r: r["finished_at"])
    assert results and results[-1]["partial"] and not any(r["partial"] for r in results[:-1])
    for res in results:
        kept = read_jsonl(eval_dir.rows(res["target"], res["decoding"]["name"]))
        assert res["rows_done"] == len(kept) and res["metrics"]["overall"]["rows"] == len(kept)
    assert 1 <= sum(r["rows_done"] for r in results) < 4 * 2 * 24
    assert "partial" in format_table(EvalResult.from_json(r) for r in results)
    with eval_dir.summary_csv.open(encoding="utf-8") as handle:
        assert any(line["partial"] == "True" for line in csv.DictReader(handle))
    log = (eval_dir.path / "eval.log").read_text(encoding="utf-8")
    assert "SIGTERM received" in log
    assert running_pid(run) is None and cancel(run) is None


def test_bad_input_is_refused_with_a_clear_message(run: RunDir, tmp_path: Path) -> None:
    unknown = cli("eval", "no-such-run")
    assert unknown.returncode == 2 and "no run matches 'no-such-run'" in unknown.stderr, unknown.stderr

    eval_dir = EvalDir.of(run)
    before = eval_dir.progress.read_bytes() if eval_dir.progress.is_file() else None
    bad = cli("eval", run.run_id, "--targets", "base,checkpoint-999")
    assert bad.returncode == 2, bad.stderr
    assert "no target 'checkpoint-999'" in bad.stderr
    assert "base, checkpoint-1, checkpoint-2, adapter" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not eval_dir.results()
    # a refusal on the command line writes nothing: a finished evaluation's progress.json stays its own
    assert (eval_dir.progress.read_bytes() if eval_dir.progress.is_file() else None) == before

    nothing = cli("eval", run.run_id, "--no-greedy")
    assert nothing.returncode == 2 and "nothing to do" in nothing.stderr, nothing.stderr

    with pytest.raises(TargetError, match="checkpoint-999"):
        launch(run, ["base", "checkpoint-999"])
    with pytest.raises(EvalLaunchError, match="nothing to evaluate"):
        launch(run, "base", greedy=False)
    bare = RunDir(tmp_path / "bare")
    bare.path.mkdir()
    shutil.copy(run.config, bare.config)
    with pytest.raises(EvalLaunchError, match="heldout.jsonl"):
        launch(bare)
    assert running_pid(run) is None
