"""Custom reward functions (issue 18 item 1): declared in the config, checked before launch in a worker
process under a time limit (every kind of broken file refused with its message, no run directory),
copied into the run, trained through the real CPU job (their metric, samples and the Monitor's plot),
and a reward that raises or hangs in training fails the run naming it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import FAST
from workbench import custom_rewards as cr
from workbench.config import ConfigError, apply_overrides, validate
from workbench.runs import RunDir, find_run
from workbench.tail import read_jsonl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "custom_rewards.py"


def config_with(file: Path | str, function: str = "f", **grpo: float) -> dict[str, object]:
    return {
        "custom_rewards": [{"file": str(file), "function": function}],
        "grpo": {"num_generations": 4, "per_device_train_batch_size": 4, **grpo},
    }


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ the config


def test_a_custom_reward_gets_weight_one_unless_given_and_comes_after_the_built_in_ones() -> None:
    config = validate(config_with(EXAMPLES, "length_reward"))
    assert config.rewards["length_reward"] == 1.0
    assert config.active_rewards[-1] == "length_reward"
    assert config.reward_names[:5] == list(validate({}).rewards)
    weighted = validate({**config_with(EXAMPLES, "length_reward"), "rewards": {"length_reward": 0.5}})
    # a [rewards] table changes only the weights it names: the built-in ones keep theirs
    assert weighted.rewards["length_reward"] == 0.5
    assert weighted.active_rewards == [*config.active_rewards[:-1], "length_reward"]
    # the dump round-trips: the run's config.toml names the file and carries the weight
    assert validate(weighted.model_dump(mode="json")) == weighted
    # --set reaches a custom reward's weight like a built-in one's
    data = apply_overrides(config.model_dump(mode="json"), ["rewards.length_reward=0"])
    assert "length_reward" not in validate(data).active_rewards


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"custom_rewards": [{"file": "r.txt", "function": "f"}]}, "custom_rewards.0.file", "not a .py file"),
        (
            {"custom_rewards": [{"file": "r.py", "function": "2f"}]},
            "custom_rewards.0.function",
            "not a Python",
        ),
        (
            {"custom_rewards": [{"file": "r.py", "function": "check_answer"}]},
            "custom_rewards.0.function",
            "built-in reward's name",
        ),
        (
            {"custom_rewards": [{"file": "a.py", "function": "f"}, {"file": "b.py", "function": "f"}]},
            "custom_rewards",
            "listed twice",
        ),
        (
            {"custom_rewards": [{"file": "a/r.py", "function": "f"}, {"file": "b/r.py", "function": "g"}]},
            "custom_rewards",
            "two files are named r.py",
        ),
        (
            {"custom_rewards": [{"file": "r.py", "function": "f"}], "rewards": {"f": -1.0}},
            "rewards.f",
            "return negative scores",
        ),
        ({"rewards": {"speed": 1.0}}, "rewards", "declare a function of your own in [[custom_rewards]]"),
    ],
)
def test_a_bad_custom_reward_entry_names_its_field_and_fix(data: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        validate(data)
    problem = raised.value.problems[0]
    assert problem.field == field and words in problem.message and "fix:" in problem.message


# ------------------------------------------------------------------------------------------ calling


def test_call_checks_what_a_function_returns() -> None:
    kwargs = cr.probe_kwargs(4)
    count = len(kwargs["completions"])
    assert count == cr.PROBE_PROMPTS * 4
    assert kwargs["prompts"][0] == kwargs["prompts"][3] != kwargs["prompts"][4]  # TRL's repetition
    assert kwargs["completions"][0][0]["role"] == "assistant"
    assert len(kwargs["answer"]) == len(kwargs["type"]) == len(kwargs["completion_ids"]) == count

    def returns(value: object) -> cr.RewardFn:
        return lambda **kw: value

    ok = cr.call(returns([1, None, 0.5, 2, 3, 4, 5, 6]), "r.py", "f", kwargs, 5.0)
    assert ok == [1.0, None, 0.5, 2.0, 3.0, 4.0, 5.0, 6.0]
    for value, words in [
        ([0.0], "returned 1 score for 8 completions"),
        ("1.0", "returned a str instead of a list of 8 scores"),
        (None, "returned a NoneType"),
        (["x"] * 8, "score 0 is 'x' (a str), not a number or None"),
        ([float("inf")] * 8, "score 0 is inf, not a finite number"),
    ]:
        with pytest.raises(cr.CustomRewardError) as raised:
            cr.call(returns(value), "r.py", "f", kwargs, 5.0)
        assert words in str(raised.value) and "custom reward f (r.py)" in str(raised.value)


def test_call_gives_up_on_a_hang_and_names_it() -> None:
    started = time.monotonic()
    with pytest.raises(cr.CustomRewardError) as raised:
        cr.call(lambda **kw: time.sleep(30), "r.py", "slow", cr.probe_kwargs(2), 0.5)
    assert time.monotonic() - started < 5
    assert raised.value.timed_out and "did not return within 0.5 s on 4 completions" in str(raised.value)


def test_an_async_reward_is_awaited() -> None:
    async def judge(completions: list, **kwargs: object) -> list[float]:
        return [1.0] * len(completions)

    assert cr.call(judge, "r.py", "judge", cr.probe_kwargs(2), 5.0) == [1.0] * 4


def test_the_examples_score_the_bundled_completions() -> None:
    kwargs = cr.probe_kwargs(8)
    length = cr.call(cr.load_function(str(EXAMPLES), "length_reward"), "x", "length_reward", kwargs, 5)
    vietnamese = cr.call(cr.load_function(str(EXAMPLES), "vietnamese_reward"), "x", "v", kwargs, 5)
    assert length[2] is None  # no <thinking> block: no score
    assert all(s is None or -0.5 <= s <= 0.5 for s in length)
    assert all(s is not None and 0.0 <= s <= 1.0 for s in vietnamese)
    assert vietnamese[0] > 0.5  # the bundled reasoning is Vietnamese


# ------------------------------------------------------------------------------------------ pre-launch

BROKEN = {
    "syntax error": ("def f(completions, **kwargs)\n    return [0.0]\n", "syntax error at line 1"),
    "import error": (
        "import not_a_module_anywhere\n\ndef f(completions, **kwargs):\n    return [0.0]\n",
        "cannot be imported: No module named 'not_a_module_anywhere'",
    ),
    "missing function": (
        "def g(completions, **kwargs):\n    return [0.0] * len(completions)\n",
        "the file has no function 'f' (it defines: g)",
    ),
    "wrong length": (
        "def f(completions, **kwargs):\n    return [0.0]\n",
        "returned 1 score for 8 completions",
    ),
    "returns a string": (
        "def f(completions, **kwargs):\n    return 'good'\n",
        "returned a str instead of a list",
    ),
    "raises": (
        "def f(completions, **kwargs):\n    return [len(c) / 0 for c in completions]\n",
        "raised ZeroDivisionError: division by zero (line 2 of broken.py)",
    ),
    "hangs": (
        "def f(completions, **kwargs):\n    while True:\n        pass\n",
        "did not return within 1.5 s on 8 completions",
    ),
    "no **kwargs": (
        "def f(completions):\n    return [0.0] * len(completions)\n",
        "add **kwargs to its parameters",
    ),
    "missing file": (None, "the file does not exist"),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_every_kind_of_broken_reward_file_is_refused_before_a_run_directory_exists(
    kind: str, tmp_path: Path, workbench_home: Path
) -> None:
    from jobs.launch import launch

    body, words = BROKEN[kind]
    file = tmp_path / "broken.py"
    if body is not None:
        file.write_text(body, encoding="utf-8")
    config = validate(config_with(file, reward_timeout_s=1.5))
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        launch(config, check=False)
    elapsed = time.monotonic() - started
    (problem,) = raised.value.problems
    assert problem.field == "custom_rewards"
    assert f"custom reward f ({file})" in problem.message, problem.message
    assert words in problem.message and "; fix: " in problem.message, problem.message
    runs = workbench_home / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "no run directory"
    assert elapsed < 30, elapsed


def test_the_check_goes_on_after_a_hang_and_passes_good_files(tmp_path: Path) -> None:
    from jobs.reward_check import check_report

    hangs = write(tmp_path, "hangs.py", "def f(completions, **kwargs):\n    while True:\n        pass\n")
    good = write(
        tmp_path,
        "good.py",
        """\
        def g(prompts, completions, answer, completion_ids, trainer_state, log_extra, log_metric, **kwargs):
            print("noise on stdout must not break the check")
            log_metric("good/calls", 1.0)
            log_extra("good_reason", ["ok"] * len(completions))
            assert trainer_state.global_step == 0 and len(prompts) == len(answer) == len(completion_ids)
            return [None if not c[0]["content"] else 1.0 for c in completions]
        """,
    )
    data = config_with(hangs, reward_timeout_s=1.0)
    data["custom_rewards"] = [*data["custom_rewards"], {"file": str(good), "function": "g"}]  # type: ignore[misc]
    report = check_report(validate(data))
    assert [p.message.split(":")[0] for p in report.problems] == [f"custom reward f ({hangs})"]
    examples = validate(
        {
            "custom_rewards": [
                {"file": str(EXAMPLES), "function": "length_reward"},
                {"file": str(EXAMPLES), "function": "vietnamese_reward"},
            ]
        }
    )
    assert check_report(examples).problems == []


def test_the_cli_refuses_a_broken_reward_with_its_message(tmp_path: Path, workbench_home: Path) -> None:
    file = write(tmp_path, "rewards.py", "def f(completions, **kwargs):\n    return 1.0\n")
    result = subprocess.run(
        [
            sys.executable, "-m", "grpo_workbench", "train", "--no-check",
            "--set", f'custom_rewards=[{{file="{file}", function="f"}}]',
        ],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"custom reward f ({file}): returned a float instead of a list" in result.stderr
    assert not (workbench_home / "runs").exists() or not any((workbench_home / "runs").iterdir())


# ------------------------------------------------------------------------------------------ real jobs


def train(config: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    sets = [a for o in (*FAST, "grpo.max_steps=2", *overrides) for a in ("--set", o)]
    return subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "train", "--config", str(config), *sets],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ.copy(),
    )


@pytest.mark.slow
@pytest.mark.usefixtures("home_with_tiny", "reap_runs")
async def test_a_custom_reward_trains_logs_its_metric_and_is_plotted(tmp_path: Path) -> None:
    from tui_helpers import frozen_app, settle, wait_until

    from screens.monitor import MonitorScreen
    from screens.widgets.rewards import RewardPlots

    original = tmp_path / "my_rewards.py"
    original.write_bytes(EXAMPLES.read_bytes())
    config = tmp_path / "run.toml"
    config.write_text(
        f'[[custom_rewards]]\nfile = "{original}"\nfunction = "length_reward"\n\n'
        f'[[custom_rewards]]\nfile = "{original}"\nfunction = "vietnamese_reward"\n\n'
        "[rewards]\nmatch_format_exactly = 1.0\nlength_reward = 0.5\n"
        "match_format_approximately = 0\ncheck_answer = 0\ncheck_numbers = 0\n",
        encoding="utf-8",
    )
    result = train(config)
    assert result.returncode == 0, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    copy = run.custom_reward_file(str(original))
    assert copy == run.path / "custom_rewards" / "my_rewards.py"
    assert copy.read_bytes() == EXAMPLES.read_bytes()
    steps = [r for r in read_jsonl(run.metrics) if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for record in steps:
        # length_reward scores only completions with a <thinking> block, which the tiny model's first
        # steps may not write (then TRL's mean is NaN, written as null); vietnamese_reward scores them all
        assert "rewards/length_reward/mean" in record, record
        assert record["rewards/length_reward/mean"] is None or record["rewards/length_reward/mean"] >= -0.5
        assert isinstance(record["rewards/vietnamese_reward/mean"], float), record
        assert "rewards/check_answer/mean" not in record  # weight 0: not trained
    samples = read_jsonl(run.samples)
    assert set(samples[0]["rewards"]) == {"match_format_exactly", "length_reward", "vietnamese_reward"}
    sample = samples[0]
    scores = sample["rewards"]
    expected = scores["match_format_exactly"] + 0.5 * (scores["length_reward"] or 0.0)
    assert sample["total"] == pytest.approx(expected + scores["vietnamese_reward"])

    app = frozen_app(tmp_path, initial_mode="monitor", attach=run.run_id, runs_root=run.path.parent)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen)
        await wait_until(pilot, lambda: monitor.metrics.max_step == 2, "the replayed history", 20)
        # each reward function has a small plot of its own beside the total's (a reward with no score
        # yet shows its name and a dash)
        panel = monitor.query_one(RewardPlots)
        await wait_until(
            pilot,
            lambda: "length_reward" in panel.render().plain,
            "the custom reward's plot beside the total",
            10,
        )
        # a long name is cut to the small plot's top edge (`vietnamese_re… 0.12 ↑`), its start kept
        assert "vietnamese" in panel.render().plain

    # eval scores the held-out completions with the run's copy of the rewards: a column each
    original.write_text("raise ImportError('the original is gone: eval must use the copy')\n")
    evaluated = subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "eval", run.run_id, "--limit", "2", "--targets", "adapter"],
        capture_output=True, text=True, timeout=600, env=os.environ.copy(),
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    header = next(line for line in evaluated.stdout.splitlines() if line.startswith("TARGET"))
    assert "LENGTH_REWARD" in header and "VIETNAMESE_REWARD" in header, evaluated.stdout
    (result,) = run.eval.results()
    assert set(result.overall.rewards) == {"length_reward", "vietnamese_reward"}


FAILS_LATER = """\
import time


def fails_later(completions, trainer_state, **kwargs):
    if trainer_state.global_step >= 1:  # the pre-launch check and step 1 pass; step 2 does not
        {action}
    return [0.0] * len(completions)
"""


@pytest.mark.slow
@pytest.mark.usefixtures("home_with_tiny", "reap_runs")
@pytest.mark.parametrize(
    ("action", "words"),
    [
        ("raise RuntimeError('the judge is unreachable')", "raised RuntimeError: the judge is unreachable"),
        ("time.sleep(3600)", "did not return within 2 s"),
    ],
    ids=["raises", "hangs"],
)
def test_a_reward_that_fails_in_training_fails_the_run_naming_it(
    tmp_path: Path, action: str, words: str
) -> None:
    file = write(tmp_path, "later.py", FAILS_LATER.format(action=action))
    config = tmp_path / "run.toml"
    config.write_text(
        f'[[custom_rewards]]\nfile = "{file}"\nfunction = "fails_later"\n\n[grpo]\nreward_timeout_s = 2\n',
        encoding="utf-8",
    )
    started = time.monotonic()
    result = train(config)
    assert result.returncode == 1, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    status = run.read_status()
    assert status.state == "failed"
    assert status.error is not None and "custom reward fails_later" in status.error, status.error
    assert words in status.error and "fix:" in status.error, status.error
    assert [r["step"] for r in read_jsonl(run.metrics) if "reward" in r] == [1]
    assert time.monotonic() - started < 300


def test_eval_reports_each_custom_reward_as_a_column(tmp_path: Path) -> None:
    """Eval's scoring of the run's custom rewards (generation stubbed: two fixed completions per row)."""
    import shutil

    from workbench.evaluation import Completion, Decoding, Target, evaluate, format_table

    fixture = Path(__file__).parent / "fixtures" / "eval_runs" / "20261121-090000-eval-demo-f7a8"
    run = RunDir(tmp_path / fixture.name)
    shutil.copytree(fixture, run.path)
    shutil.rmtree(run.eval.path)
    run.copy_custom_rewards([str(EXAMPLES)])
    config = validate(
        {
            "custom_rewards": [
                {"file": str(EXAMPLES), "function": "length_reward"},
                {"file": str(EXAMPLES), "function": "vietnamese_reward"},
            ]
        }
    )
    rewards = cr.training_functions(config, run.custom_reward_files(config.custom_rewards))

    def generate(target: Target, prompts: list, decoding: Decoding) -> list[list[Completion]]:
        good = "<thinking>" + " ".join(["ta có số quả táo"] * 10) + "</thinking><SOLUTION>1</SOLUTION>"
        return [[Completion(good, 30), Completion("no tags at all", 4)] for _ in prompts]

    (result,) = evaluate(
        run, [Target("base", None)], [Decoding(greedy=False, samples=2)], generate, limit=3, rewards=rewards
    )
    means = result.overall.rewards
    assert set(means) == {"length_reward", "vietnamese_reward"}
    assert means["length_reward"] == pytest.approx(0.5)  # 40 words of reasoning; the untagged one: None
    assert 0.0 < (means["vietnamese_reward"] or 0) < 1.0
    rows = read_jsonl(run.eval.path / "rows-base-sample-n2.jsonl")
    assert rows[0]["rewards"]["length_reward"] == [0.5, None]
    table = format_table([result])
    header = table.splitlines()[0]
    assert "LENGTH_REWARD" in header and "VIETNAMESE_REWARD" in header
    assert "0.500" in table.splitlines()[1]
    assert "length_reward:0.5000" in (run.eval.path / "summary.csv").read_text()


def test_resume_refuses_a_custom_reward_added_to_config_toml_after_launch(tmp_path: Path) -> None:
    from jobs.launch import LaunchError, check_resumable

    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    validate(config_with(EXAMPLES, "length_reward")).save(run.config)
    with pytest.raises(LaunchError) as raised:
        check_resumable(run)
    assert "custom_rewards.py:length_reward" in str(raised.value) and "train --from" in str(raised.value)
    run.copy_custom_rewards([str(EXAMPLES)])
    check_resumable(run)  # the copy is there: nothing to refuse
    assert not os.access(run.custom_reward_file(str(EXAMPLES)), os.W_OK) or os.geteuid() == 0


def test_the_run_directory_names_its_copies_and_readme_lists_them(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    assert run.custom_reward_file("/a/b/my.py") == run.path / "custom_rewards" / "my.py"
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## The run directory") :].split("\n## ", 1)[0]
    assert f"`{run.custom_rewards.name}/`" in table
