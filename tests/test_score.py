"""`grpo-workbench score` and `workbench.rewards.score_completion` (issue 18 item 2): every reward's score
and reason and the weighted total of one completion, by the code training runs, on the answer-form corpus
of the reward-trust issue (tests/test_answer_forms.py) and with custom rewards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_answer_forms import CASES, Case

from grpo_workbench import cli
from workbench.config import validate
from workbench.rewards import REWARD_NAMES, score_completion

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "custom_rewards.py"
THINKING = "<thinking>\nTính toán.\n</thinking>\n"


def completion_of(case: Case) -> str:
    """The corpus's completion: a reasoning block, then its <SOLUTION> (or none)."""
    return THINKING + (f"<SOLUTION>{case.solution}</SOLUTION>" if case.solution is not None else "không có")


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "score", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def test_score_reads_stdin_and_prints_every_reward_with_its_reason() -> None:
    text = "<thinking>Ta có 5 x 5 = 25</thinking>\n<SOLUTION>25</SOLUTION>"
    result = run_cli("--completion", "-", "--answer", "25.0", stdin=text)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report["rewards"]) == list(REWARD_NAMES)
    rewards = report["rewards"]
    assert rewards["match_format_exactly"]["score"] == 3.0
    assert rewards["check_answer"] == {
        "score": 1.5,
        "weight": 1.0,
        "weighted": 1.5,
        "reason": "25 vs gold 25.0: the same answer written another way",
        "custom": False,
    }
    assert rewards["check_numbers"]["reason"] == "25 vs gold 25.0"
    assert rewards["correctness"]["weight"] == 0.0 and rewards["correctness"]["score"] == 2.0
    assert report["total"] == 3.0 + 2.0 + 1.5 + 1.5


def test_score_reads_a_file_and_takes_the_config_and_custom_rewards(tmp_path: Path) -> None:
    completion = tmp_path / "c.txt"
    completion.write_text("Câu trả lời là 7", encoding="utf-8")
    config = tmp_path / "run.toml"
    config.write_text(
        f'[[custom_rewards]]\nfile = "{EXAMPLES}"\nfunction = "vietnamese_reward"\n\n'
        "[rewards]\ncheck_answer = 2.0\nvietnamese_reward = 0.5\n",
        encoding="utf-8",
    )
    result = run_cli("--completion", str(completion), "--answer", "7", "--config", str(config), "--compact")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1
    rewards = json.loads(result.stdout)["rewards"]
    assert rewards["check_answer"]["reason"] == "no <SOLUTION>" and rewards["check_answer"]["weight"] == 2.0
    assert rewards["match_format_exactly"]["reason"] == "no <thinking>"
    assert rewards["vietnamese_reward"]["custom"] is True
    assert rewards["vietnamese_reward"]["score"] == 1.0 and rewards["vietnamese_reward"]["weighted"] == 0.5


def test_a_failing_custom_reward_is_reported_and_the_others_still_score(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def f(completions, **kwargs):\n    raise KeyError('x')\n", encoding="utf-8")
    completion = tmp_path / "c.txt"
    completion.write_text("<SOLUTION>3</SOLUTION>", encoding="utf-8")
    result = run_cli(
        "--completion", str(completion), "--answer", "3",
        "--set", f'custom_rewards=[{{file="{broken}", function="f"}}]',
    )  # fmt: skip
    assert result.returncode == 1
    rewards = json.loads(result.stdout)["rewards"]
    assert rewards["f"]["score"] is None and "raised KeyError" in rewards["f"]["error"]
    assert rewards["check_answer"]["score"] == 3.0
    assert "custom reward f" in result.stderr and "fix:" in result.stderr


def test_score_of_a_missing_file_says_so() -> None:
    result = run_cli("--completion", "/no/such/completion.txt", "--answer", "1")
    assert result.returncode == 2 and "cannot read the completion" in result.stderr


def test_score_gives_the_corpus_rewards_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every case of the reward-trust corpus through the CLI's own code (in this process: 190 processes
    would take minutes), scored as the corpus says, with a reason for every answer reward."""
    config = tmp_path / "run.toml"
    config.write_text("[rewards]\ncorrectness = 1.0\n", encoding="utf-8")  # every answer reward weighted
    file = tmp_path / "completion.txt"
    for case in CASES:
        file.write_text(completion_of(case), encoding="utf-8")
        code = cli.main(
            ["score", "--completion", str(file), f"--answer={case.gold}", "--config", str(config)]
        )
        out = capsys.readouterr().out
        assert code == 0, case
        rewards = json.loads(out)["rewards"]
        got = tuple(rewards[n]["score"] for n in ("check_answer", "check_numbers", "correctness"))
        assert got == (case.check_answer, case.check_numbers, case.correctness), case
        for name in ("check_answer", "check_numbers", "correctness"):
            assert rewards[name]["reason"], (case, name)
        if case.solution is None:
            assert rewards["check_answer"]["reason"] == "no <SOLUTION>"
        elif case.check_answer == -1.5 and case.solution.strip():
            assert f" vs gold {case.gold}" in rewards["check_answer"]["reason"], case


@pytest.mark.parametrize(
    ("text", "reasons"),
    [
        ("", {"match_format_exactly": "no <thinking>", "check_answer": "no <SOLUTION>"}),
        (
            "xin chào <thinking>a</thinking><SOLUTION>5</SOLUTION>",
            {
                "match_format_exactly": "text before <thinking>",
                "check_answer": "5 is the gold answer as written",
            },
        ),
        (
            "<thinking>a</thinking><SOLUTION>5</SOLUTION><SOLUTION>6</SOLUTION>",
            {
                "match_format_exactly": "<SOLUTION> 2 times",
                "match_format_approximately": "<SOLUTION> ×2, </SOLUTION> ×2",
                "check_answer": "6 vs gold 5",
            },
        ),
        (
            "<thinking>a</thinking><SOLUTION>Có 5 quả</SOLUTION>",
            {
                "check_numbers": "5 (the first numbers) vs gold 5",
                "correctness": "Có 5 quả vs gold 5: not equal",
            },
        ),
        ("<thinking>a</thinking><SOLUTION> </SOLUTION>", {"check_numbers": "empty <SOLUTION>"}),
    ],
)
def test_reasons(text: str, reasons: dict[str, str]) -> None:
    report = score_completion(validate({}), text, "5")
    got = {s.name: s.reason for s in report.scores}
    for name, reason in reasons.items():
        assert got[name] == reason, (name, got)
