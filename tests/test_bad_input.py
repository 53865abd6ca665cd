"""Bad input, table-driven: configs, config files, dataset files and command lines a user can get wrong.

Every row goes through the real entry point (`grpo_workbench.cli.main`, in process where that is enough) and
must give a clear error that names the problem (and the field), a non-zero exit code, and leave the
workbench home exactly as it was: no run directory created, no existing file changed or deleted.
tests/test_config.py covers the first bad configs; the tables here add the rest of the fields.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faultkit import REPO, live, make_run, sets, steps_logged, tree_digest
from faultkit import cli as cli_process

from grpo_workbench import cli
from workbench import flags
from workbench.config import DataSection
from workbench.data import DataError, load_rows, prepare
from workbench.runs import find_run, process_start_time


@pytest.fixture
def lived_in_home(workbench_home: Path) -> Iterator[Path]:
    """A home with a finished run, a live-looking run and a saved config: a refused command must leave
    every byte of it as it was."""
    runs = workbench_home / "runs"
    make_run(runs, "20261101-000000-done-aaaa", state="completed", steps=3)
    make_run(runs, "20261102-000000-done-bbbb", state="stopped", steps=2)
    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
    make_run(
        runs,
        "20261103-000000-live-cccc",
        state="running",
        steps=1,
        pid=sleeper.pid,
        create_time=process_start_time(sleeper.pid),
    )
    saved = workbench_home / "config" / "last.toml"
    saved.parent.mkdir(mode=0o700)
    saved.write_text('name = "saved"\n', encoding="utf-8")
    before = tree_digest(workbench_home)
    try:
        yield workbench_home
    finally:
        sleeper.kill()
        sleeper.wait()
    assert tree_digest(workbench_home) == before, "a refused command changed the home"


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`grpo-workbench ARGV` in process: (exit code, stderr); argparse's exits count as exit codes."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------
# configs


BAD_CONFIGS = [
    (["model.max_seq_length=64"], "model.max_seq_length", "greater than or equal to 128"),
    (["model.gpu_memory_utilization=0.99"], "model.gpu_memory_utilization", "less than or equal to 0.95"),
    (["model.load_in_4bit=maybe"], "model.load_in_4bit", "valid boolean"),
    (["model.name="], "model.name", "is empty"),
    (["lora.rank=0"], "lora.rank", "greater than or equal to 1"),
    (["lora.rank=3.5"], "lora.rank", "fractional part"),
    (["lora.alpha=0"], "lora.alpha", "greater than or equal to 1"),
    (["lora.dropout=1.0"], "lora.dropout", "less than 1"),
    (["lora.target_modules=[]"], "lora.target_modules", "is empty"),
    (["lora.target_modules=q_proj"], "lora.target_modules", "valid list"),
    (["grpo.weight_decay=1.5"], "grpo.weight_decay", "less than 1"),
    (["grpo.warmup_ratio=1"], "grpo.warmup_ratio", "less than 1"),
    (["grpo.lr_scheduler_type=exponential"], "grpo.lr_scheduler_type", "'cosine'"),
    (["grpo.optim=sgd"], "grpo.optim", "'adamw_torch'"),
    (["grpo.max_grad_norm=0"], "grpo.max_grad_norm", "greater than 0"),
    (["grpo.temperature=0"], "grpo.temperature", "greater than 0"),
    (["grpo.temperature=3"], "grpo.temperature", "less than or equal to 2"),
    (["grpo.temperature=nan"], "grpo.temperature", "finite number"),
    (["grpo.top_p=1.5"], "grpo.top_p", "less than or equal to 1"),
    (["grpo.beta=-0.1"], "grpo.beta", "greater than or equal to 0"),
    (["grpo.max_steps=0"], "grpo.max_steps", "greater than or equal to 1"),
    (["grpo.max_steps=1e30"], "grpo.max_steps", "exceeded maximum size"),
    (["grpo.save_steps=0"], "grpo.save_steps", "greater than or equal to 1"),
    (["grpo.save_total_limit=0"], "grpo.save_total_limit", "greater than or equal to 1"),
    (["grpo.logging_steps=0"], "grpo.logging_steps", "greater than or equal to 1"),
    (["grpo.samples_per_step=65"], "grpo.samples_per_step", "less than or equal to 64"),
    (["grpo.use_vllm=maybe"], "grpo.use_vllm", "'auto', 'on' or 'off'"),
    (["grpo.completions_per_step=10"], "grpo.completions_per_step", "not a multiple of grpo.num_generations"),
    (["grpo.completions_per_step=-8"], "grpo.completions_per_step", "greater than or equal to 0"),
    (["grpo.max_prompt_length=8"], "grpo.max_prompt_length", "greater than or equal to 16"),
    (["grpo.max_completion_length=4"], "grpo.max_completion_length", "greater than or equal to 8"),
    (["grpo.seed=1.5"], "grpo.seed", "fractional part"),
    (["data.limit=-1"], "data.limit", "greater than or equal to 0"),
    (["data.held_out=-1"], "data.held_out", "greater than or equal to 0"),
    (["data.source=not a source"], "data.source", "neither 'bundled', a hub dataset id"),
    (["rewards.check_answer=high"], "rewards.check_answer", "valid number"),
    (["name={a=1}"], "name", "valid string"),
    (["foo.bar=1"], "foo.bar", "is not a known setting"),
    (["grpo.rank=8"], "grpo.rank", "did you mean lora.rank"),
    (["grpo.num_generation=4"], "grpo.num_generation", "is not a known setting"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_CONFIGS, ids=[c[0][0] for c in BAD_CONFIGS])
def test_a_bad_setting_is_refused_naming_its_field(
    overrides: list[str],
    field: str,
    message: str,
    lived_in_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = run_main(["train", "--detach"] + [a for o in overrides for a in ("--set", o)], capsys)
    assert code == 2, err
    assert f"- {field}: " in err, err
    assert message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "setting",
    ["rewards.check_answer=nan", "rewards.check_answer=inf", "grpo.beta=inf", "grpo.max_grad_norm=inf"],
)
def test_a_non_finite_number_is_refused(setting: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A NaN reward weight makes every total reward NaN; an infinite beta or clip norm is no setting.
    Checked through `config`, which validates exactly as `train` does without starting anything."""
    code, err = run_main(["config", "--set", setting], capsys)
    assert code == 2 and f"- {setting.split('=')[0].split('.')[0]}" in err, err


def test_every_problem_is_listed_at_once(lived_in_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(
        ["train", "--set", "lora.rank=0", "--set", "grpo.top_p=2", "--set", "data.limit=-3"], capsys
    )
    assert code == 2
    assert all(f"- {field}: " in err for field in ("lora.rank", "grpo.top_p", "data.limit")), err


BAD_CONFIG_FILES = [
    ("not TOML", b"[grpo\nmax_steps = 3\n", "not valid TOML"),
    ("duplicate key", b"[grpo]\nmax_steps = 3\nmax_steps = 4\n", "not valid TOML"),
    ("non-UTF-8", b'name = "\xff\xfe"\n', "cannot be read"),
    ("section of the wrong type", b"grpo = 5\n", "- grpo: "),
    ("unknown key in a section", b"[grpo]\nlr = 1e-5\n", "- grpo.lr: is not a known setting"),
    ("unknown section", b"[optimizer]\nlr = 1e-5\n", "- optimizer: is not a known setting"),
    ("wrong value type", b'[lora]\nrank = "sixty-four"\n', "- lora.rank: "),
    ("array of tables", b"[[grpo]]\nmax_steps = 3\n", "- grpo: "),
    ("binary junk", bytes(range(256)), "cannot be read"),
]


@pytest.mark.parametrize(
    ("content", "message"), [c[1:] for c in BAD_CONFIG_FILES], ids=[c[0] for c in BAD_CONFIG_FILES]
)
def test_a_bad_config_file_is_refused_and_left_as_it_was(
    content: bytes, message: str, lived_in_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.toml"
    path.write_bytes(content)
    code, err = run_main(["train", "--detach", "--config", str(path)], capsys)
    assert code == 2, err
    assert message in err and "Traceback" not in err, err
    assert path.read_bytes() == content


def test_a_directory_given_as_the_config_file(
    lived_in_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(["train", "--config", str(tmp_path)], capsys)
    assert code == 2 and "cannot be read" in err and "Is a directory" in err, err


# ------------------------------------------------------------------------------------------------------
# dataset files, through the real data.source path


def _row(question: str = "Lan có 3 quả táo?", response: str = "Đáp án là: 3") -> dict[str, str]:
    return {"query_vi": question, "response_vi": response, "query_en": "", "response_en": "", "type": "GSM"}


def _jsonl(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


GOOD = [_row(f"Câu hỏi {i}?", f"Đáp án là: {i}") for i in range(40)]
BAD_DATASETS: list[tuple[str, str, Callable[[], bytes], str]] = [
    (
        "wrong schema",
        "rows.jsonl",
        lambda: _jsonl([{"question": "x", "answer": "1"}] * 20),
        "lacks column(s)",
    ),
    ("empty file", "rows.jsonl", lambda: b"", "it is empty"),
    ("only blank lines", "rows.jsonl", lambda: b"\n\n  \n", "it is empty"),
    ("empty JSON array", "rows.json", lambda: b"[]", "it holds no rows"),
    ("JSON array of numbers", "rows.json", lambda: b"[1, 2, 3]", "lacks column(s)"),
    (
        "non-UTF-8 (cp1258)",
        "rows.jsonl",
        lambda: _jsonl(GOOD).decode().encode("cp1258", "replace"),
        "not UTF-8",
    ),
    ("cut in a UTF-8 character", "rows.jsonl", lambda: _jsonl(GOOD) + "Đ".encode()[:1], "not UTF-8"),
    (
        "a line that is not JSON",
        "rows.jsonl",
        lambda: _jsonl(GOOD[:5]) + b"{oops\n" + _jsonl(GOOD[5:]),
        "in row 5",
    ),
    (
        "no extractable answers",
        "rows.jsonl",
        lambda: _jsonl([_row(f"Q{i}", "Không nói gì.") for i in range(40)]),
        "40 without an answer",
    ),
    (
        "every question null",
        "rows.jsonl",
        lambda: _jsonl([{**r, "query_vi": None} for r in GOOD]),
        "40 with an empty question",
    ),
    ("parquet that is not parquet", "rows.parquet", lambda: b"PAR1 not really", "could not be loaded"),
    ("fewer rows than held_out", "rows.jsonl", lambda: _jsonl(GOOD[:8]), "leaves none to train on"),
]


def _write_dataset(tmp_path: Path, name: str, make: Callable[[], bytes]) -> tuple[Path, bytes]:
    path = tmp_path / name
    content = make()
    path.write_bytes(content)
    return path, content


@pytest.mark.parametrize(
    ("name", "make", "message"), [c[1:] for c in BAD_DATASETS], ids=[c[0] for c in BAD_DATASETS]
)
def test_a_bad_dataset_is_refused_before_a_run_exists(
    name: str,
    make: Callable[[], bytes],
    message: str,
    lived_in_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, content = _write_dataset(tmp_path, name, make)
    for command in (["train", "--detach"], ["preview"]):
        code, err = run_main([*command, *sets(f"data.source={path}")], capsys)
        assert code == 2, (command, err)
        assert "data.source" in err and str(path) in err and message in err, (command, err)
        assert "Traceback" not in err
    assert path.read_bytes() == content


def test_an_enormous_row_is_dropped_as_too_long_without_being_tokenized(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(_jsonl([_row("Rất dài " * 2_500_000, "Đáp án là: 7"), *GOOD]))  # a 20 MB question
    start = time.monotonic()
    rows = load_rows(DataSection(source=str(path)))
    loaded = time.monotonic() - start

    def count_tokens(prompt: list[dict[str, str]]) -> int:
        assert len(prompt[1]["content"]) < 1_000_000, "the runaway row reached the tokenizer"
        return len(prompt[1]["content"].split())

    prepared = prepare(rows, DataSection(source=str(path), held_out=8), 256, count_tokens)
    assert (prepared.stats.dropped_too_long, prepared.stats.kept) == (1, 40)
    print(f"\nFIGURES {json.dumps({'input': 'a 20 MB row', 'load_s': round(loaded, 2)})}")


def test_data_errors_name_the_source(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(_jsonl([_row(f"Q{i}", "Không nói gì.") for i in range(3)]))
    with pytest.raises(DataError, match=r"data.source '.*rows.jsonl' has only 0 usable rows"):
        prepare(load_rows(DataSection(source=str(path))), DataSection(source=str(path)))


@live
def test_the_trainer_reports_bad_data_it_is_given_without_the_pre_check(tmp_path: Path) -> None:
    """`--no-check` skips the CLI's look at the file: the trainer's own refusal must be as clear."""
    path, _ = _write_dataset(tmp_path, "rows.jsonl", BAD_DATASETS[8][2])
    result = cli_process("train", "--no-check", *sets(f"data.source={path}", "grpo.max_steps=2"))
    assert result.returncode == 1, result.stderr[-2000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    status = run.read_status()
    assert status.state == "failed"
    assert "DataError" in status.error and "40 without an answer" in status.error, status.error


@live
def test_a_real_run_drops_an_enormous_row_and_trains(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(_jsonl([_row("Rất dài " * 2_500_000, "Đáp án là: 7"), *GOOD]))
    result = cli_process("train", *sets(f"data.source={path}", "grpo.max_steps=1"), timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    assert run.read_data_stats()["dropped_too_long"] == 1
    assert steps_logged(run) == [1]


# ------------------------------------------------------------------------------------------------------
# command lines


BAD_COMMANDS: list[tuple[str, list[str], int, str]] = [
    ("unknown command", ["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    ("--set without a value", ["train", "--set"], 2, "expected one argument"),
    ("unknown option", ["train", "--bogus"], 2, "unrecognized arguments: --bogus"),
    ("--set without =", ["train", "--set", "grpo.max_steps"], 2, "is not key=value"),
    ("--set with an empty key", ["train", "--set", "=5"], 2, "is not key=value"),
    ("stop without a run", ["stop"], 2, "the following arguments are required: run"),
    ("stop an unknown run", ["stop", "nothing-like-this"], 2, "no run matches 'nothing-like-this'"),
    ("stop an empty run id", ["stop", ""], 2, "no run given"),
    ("resume an ambiguous prefix", ["resume", "2026110"], 2, "matches 3 runs"),
    ("resume a completed run", ["resume", "20261101-000000-done-aaaa"], 2, "completed all its steps"),
    ("resume a live run", ["resume", "20261103-000000-live-cccc"], 2, "only a finished run can be resumed"),
    ("logs of an unknown run", ["logs", "nope"], 2, "no run matches 'nope'"),
    ("eval of an unknown run", ["eval", "nope"], 2, "no run matches 'nope'"),
    ("preview -n not a number", ["preview", "-n", "abc"], 2, "argument -n: 'abc' is not a whole number"),
    ("preview -n negative", ["preview", "-n", "-1"], 2, "argument -n: -1 is below 0; fix: give 0 or more"),
    ("stop --timeout not a number", ["stop", "x", "--timeout", "abc"], 2, "--timeout: 'abc' is not a number"),
    ("stop --timeout nan", ["stop", "x", "--timeout", "nan"], 2, "--timeout: nan is not a finite number"),
    ("stop --timeout negative", ["stop", "x", "--timeout", "-5"], 2, "--timeout: -5 is below 0; fix: "),
    (
        "eval --limit negative",
        ["eval", "x", "--limit", "-3"],
        2,
        "--limit: -3 is below 1; fix: give 1 or more",
    ),
    ("eval --limit 0", ["eval", "x", "--limit", "0"], 2, "--limit: 0 is below 1"),
    ("eval --samples 1", ["eval", "x", "--samples", "1"], 2, "--samples: 1 is below 2; fix: give 2 or more"),
    ("eval --samples negative", ["eval", "x", "--samples", "-4"], 2, "--samples: -4 is below 2"),
    ("eval --max-new-tokens 0", ["eval", "x", "--max-new-tokens", "0"], 2, "--max-new-tokens: 0 is below 1"),
    ("eval --batch-size 0", ["eval", "x", "--batch-size", "0"], 2, "--batch-size: 0 is below 1"),
    ("serve --gpu-memory 2", ["serve", "x", "--gpu-memory", "2"], 2, "--gpu-memory: 2 is above 1; fix: "),
    ("serve --gpu-memory 0", ["serve", "x", "--gpu-memory", "0"], 2, "--gpu-memory: 0 must be above 0"),
    ("serve --port 70000", ["serve", "x", "--port", "70000"], 2, "--port: 70000 is above 65535"),
    ("serve --checkpoint -1", ["serve", "x", "--checkpoint", "-1"], 2, "--checkpoint: -1 is below 1"),
    ("serve --max-lora-rank 0", ["serve", "x", "--max-lora-rank", "0"], 2, "--max-lora-rank: 0 is below 1"),
    ("serve --timeout 0", ["serve", "--stop", "x", "--timeout", "0"], 2, "--timeout: 0 must be above 0"),
    (
        "build-model --seed -1",
        ["build-model", "tiny", "{tmp}/model", "--seed", "-1"],
        2,
        "--seed: -1 is below 0",
    ),
    ("train: held-out takes all", ["train", "--set", "data.held_out=480"], 2, "leaves none to train on"),
    (
        "train: a hub model offline",
        ["train", "--set", "model.name=nobody/no-model"],
        2,
        "not in the Hugging Face",
    ),
    ("train: unreadable data", ["train", "--set", "data.source=foo/bar"], 2, "'foo/bar' could not be"),
    ("bench --steps 0", ["bench", "--steps", "0"], 2, "--steps: 0 is below 1; fix: give 1 or more"),
    ("bench --variant-timeout 0", ["bench", "--variant-timeout", "0"], 2, "--variant-timeout: 0"),
    (
        "export --checkpoint 0",
        ["export", "x", "--format", "merged", "--checkpoint", "0"],
        2,
        "--checkpoint: 0",
    ),
    ("unknown architecture", ["build-model", "huge", "{tmp}/model"], 2, "unknown architecture 'huge'"),
    ("build over a full directory", ["build-model", "tiny", "{tmp}/full"], 2, "exists and is not empty"),
    ("missing --config file", ["config", "--config", "{tmp}/missing.toml"], 2, "does not exist"),
    ("config -o onto a directory", ["config", "-o", "{tmp}/full"], 1, "cannot write"),
    ("runs with an extra argument", ["runs", "extra"], 2, "unrecognized arguments: extra"),
    ("doctor with an unknown option", ["doctor", "--bogus"], 2, "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(
    ("argv", "code", "message"), [c[1:] for c in BAD_COMMANDS], ids=[c[0] for c in BAD_COMMANDS]
)
def test_a_bad_command_line_is_refused_and_changes_nothing(
    argv: list[str],
    code: int,
    message: str,
    lived_in_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine", encoding="utf-8")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    got, err = run_main(argv, capsys)
    assert got == code, err
    assert message in err, err
    assert "Traceback" not in err
    assert [p.name for p in full.iterdir()] == ["keep.txt"] and (full / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "model").exists()


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser: the CLI's subcommands, and the jobs' own (bench is a CLI command; the
    evaluation job gets the CLI's numbers passed on; the chat benchmark is run by hand)."""
    from jobs import bench, chat_bench, evaluate

    root = cli.build_parser()
    found = {"grpo-workbench": root}
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update({f"grpo-workbench {name}": p for name, p in action.choices.items()})
    found.update(
        {
            "grpo-workbench bench": bench.build_parser(),
            "python -m jobs.evaluate": evaluate.build_parser(),
            "python -m jobs.chat_bench": chat_bench.build_parser(),
        }
    )
    return found


def test_every_numeric_flag_of_every_command_is_checked() -> None:
    """No command takes a bare int or float: each number goes through a `workbench.flags` rule, which
    refuses what is out of its range (and NaN) with a fix, as `eval --limit -3` and `--samples 1` now are."""
    checked = 0
    for command, parser in _parsers().items():
        for action in parser._actions:
            flag = "/".join(action.option_strings) or action.dest
            assert action.type not in (int, float), f"{command} {flag} takes a bare {action.type.__name__}"
            if not isinstance(action.type, flags.Whole | flags.Real):
                continue
            checked += 1
            rule = action.type
            if isinstance(rule, flags.Whole):
                below = [] if rule.minimum - 1 in rule.also else [str(rule.minimum - 1)]
            else:
                edge = rule.above if rule.above is not None else rule.minimum
                below = [] if edge is None else [str(edge if rule.above is not None else edge - 1)]
            for value in ["nan", "x", *below]:
                with pytest.raises(argparse.ArgumentTypeError, match="fix: "):
                    rule(value)
            if action.default is not None and action.default is not argparse.SUPPRESS:
                assert action.type(str(action.default)) == action.default, (command, flag)
    assert checked >= 30, checked


def test_the_tui_and_the_evaluation_job_share_the_cli_rule_for_samples() -> None:
    """One rule for the number of samples: the job's launcher refuses what the CLI refuses."""
    from jobs.evaluate import EvalLaunchError, job_command
    from workbench.runs import RunDir

    run = RunDir(Path("/nonexistent/run"))
    with pytest.raises(EvalLaunchError, match="--samples: 1 is below 2"):
        job_command(run, samples=1)
    with pytest.raises(EvalLaunchError, match="--limit: -3 is below 1"):
        job_command(run, limit=-3)
    assert "--samples" in job_command(run, samples=flags.MIN_SAMPLES)
    assert "--samples" not in job_command(run, samples=0)


def test_bad_command_lines_fail_the_same_way_in_a_real_process(lived_in_home: Path) -> None:
    """The console script's exit codes, not just main()'s return values."""
    for argv, code, message in (
        (["frobnicate"], 2, "invalid choice"),
        (["train", "--set", "lora.rank=0"], 2, "- lora.rank: "),
        (["stop", ""], 2, "no run given"),
        (["eval", "x", "--limit", "-3"], 2, "argument --limit: -3 is below 1; fix: "),
        (["eval", "x", "--samples", "1"], 2, "argument --samples: 1 is below 2; fix: "),
    ):
        result = cli_process(*argv)
        assert result.returncode == code and message in result.stderr, (argv, result.stderr)


def test_doctor_names_the_module_a_server_or_client_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check behind doctor's `vllm serve` and `chat client` lines, on a real module whose import needs a
    missing one (the H200 wheelhouse lacked `model_hosting_container_standards`, which only vLLM's server
    imports, and `truststore`, which the OpenAI SDK imports only when a client is built)."""
    from workbench import doctor

    (tmp_path / "server_like.py").write_text("import json\nimport not_installed_container_standards\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    broken = doctor.python_check("vllm serve", "import server_like", "imports")
    assert broken.level == "FAIL"
    assert "No module named 'not_installed_container_standards'" in broken.detail
    assert broken.fix == "pip install not-installed-container-standards"
    assert doctor.python_check("ok", "import json", "imports") == doctor.Check("ok", "OK", "imports")
    client = doctor.python_check("chat client", doctor.CHAT_CLIENT, "builds")
    assert client == doctor.Check("chat client", "OK", "builds"), "this install has truststore"


# ------------------------------------------------------------------------------------------------------
# a closed pipe, and where `runs` looked


@pytest.mark.parametrize(
    "argv",
    [["preview", "-n", "50"], ["keys"], ["runs"], ["runs", "--json"], ["--help"], ["config", "--reference"]],
)
def test_a_closed_pipe_ends_a_command_quietly(argv: list[str], lived_in_home: Path) -> None:
    """`grpo-workbench ARGV | head -1`: the reader is gone before the first write; the command stops as
    Unix tools do (status 141, 128 + SIGPIPE, or 0 if it wrote nothing), with nothing on stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "grpo_workbench", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=os.environ.copy(),
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader goes away at once
    err = process.stderr.read().decode()
    code = process.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err
    assert code in (0, 141), (code, err)


def test_runs_without_runs_says_where_it_looked(
    workbench_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert f"no runs under {workbench_home / 'runs'}" in out, out
