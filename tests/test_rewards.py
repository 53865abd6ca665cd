"""Each reward function on hand-made completions, in the shapes TRL passes them."""

from __future__ import annotations

import pytest

from workbench.rewards import (
    REWARD_NAMES,
    check_answer,
    check_numbers,
    correctness,
    get_reward,
    match_format_approximately,
    match_format_exactly,
)

GOOD = "<thinking>\n2 + 3 = 5\n</thinking>\n<SOLUTION>5</SOLUTION>"


def chat(text: str) -> list[dict[str, str]]:
    """A completion as TRL passes it for a conversational dataset."""
    return [{"role": "assistant", "content": text}]


@pytest.mark.parametrize(
    ("text", "score"),
    [
        (GOOD, 3.0),
        ("  \n" + GOOD + "\n\n", 3.0),
        ("<thinking>a</thinking><SOLUTION>b</SOLUTION>", 3.0),
        # The tutorial's MULTILINE ^...$ accepted junk lines around the tags.
        ("Sure! Here is my answer:\n" + GOOD, 0.0),
        (GOOD + "\nHope this helps.", 0.0),
        ("<thinking>a</thinking>junk<SOLUTION>b</SOLUTION>", 0.0),
        ("<thinking>a</thinking>\n<SOLUTION>b</SOLUTION>\n<SOLUTION>c</SOLUTION>", 0.0),
        ("<thinking></thinking><SOLUTION>5</SOLUTION>", 0.0),
        ("<SOLUTION>5</SOLUTION>", 0.0),
        ("", 0.0),
    ],
)
def test_match_format_exactly(text: str, score: float) -> None:
    assert match_format_exactly(completions=[chat(text)]) == [score]
    assert match_format_exactly(completions=[text]) == [score]


def test_match_format_approximately_scores_each_tag() -> None:
    assert match_format_approximately(completions=[chat(GOOD)]) == [2.0]
    assert match_format_approximately(completions=[chat("")]) == [-4.0]
    assert match_format_approximately(completions=[chat("<thinking><thinking></thinking>")]) == [-2.5]


def test_check_answer_scores_against_each_completions_own_answer() -> None:
    completions = [
        chat(GOOD),
        chat("<SOLUTION> 5 </SOLUTION>"),
        chat("<SOLUTION>6</SOLUTION>"),
        chat("no solution"),
        chat("<thinking>x</thinking><SOLUTION>7</SOLUTION>"),
        chat("<thinking>x</thinking><SOLUTION></SOLUTION>"),  # an empty block: wrong, not absent
    ]
    answers = ["5", "5", "5", "5", "7", "7"]
    assert check_answer(prompts=[None] * 6, completions=completions, answer=answers) == [
        3.0,
        1.5,
        -1.5,
        0.0,
        3.0,
        -1.5,
    ]


def test_check_numbers_reads_the_vietnamese_decimal_comma() -> None:
    completions = [
        chat("<SOLUTION>2,5</SOLUTION>"),
        chat("<SOLUTION>25</SOLUTION>"),
        chat("<SOLUTION>1.200 đồng</SOLUTION>"),
        chat("<SOLUTION>Đáp số: 18 quả</SOLUTION>"),
        chat("<SOLUTION>không biết</SOLUTION>"),
        chat("18"),
        chat("<SOLUTION>2.5</SOLUTION>"),
    ]
    answers = ["2.5", "2.5", "1200", "18", "18", "18", "2.5"]
    # The tutorial stripped commas, so "2,5" scored as 25 and "25" matched 2.5's answer "2,5".
    assert check_numbers(completions=completions, answer=answers) == [1.5, -0.5, 1.5, 1.5, 0.0, 0.0, 1.5]


def test_correctness_uses_math_verify_for_latex_and_fractions() -> None:
    completions = [
        chat("<SOLUTION>\\frac{1}{2}</SOLUTION>"),
        chat("<SOLUTION>0,5</SOLUTION>"),
        chat("<SOLUTION>$\\frac{3}{4}$</SOLUTION>"),
        chat("<SOLUTION>3</SOLUTION>"),
        chat("none"),
    ]
    answers = ["0.5", "\\frac{1}{2}", "0.75", "4", "1"]
    assert correctness(completions=completions, answer=answers) == [2.0, 2.0, 2.0, -1.0, 0.0]


def test_registry_names_are_the_logged_metric_names() -> None:
    for name in REWARD_NAMES:
        assert get_reward(name).__name__ == name
    with pytest.raises(KeyError, match="unknown reward 'nope'"):
        get_reward("nope")


@pytest.mark.parametrize("solution", ["7, hoặc 8", "7, có lẽ là 8", "7, không phải 8", "Có 7 quả táo"])
def test_prose_around_a_number_is_not_the_answer(solution: str) -> None:
    """A hedge or a sentence in <SOLUTION> must not pass as the value it starts with: GRPO would learn to
    hedge ("7, or 8" against gold 7 scored 2.0 when math-verify read the run-together text)."""
    completion = [
        [{"role": "assistant", "content": f"<thinking>x</thinking><SOLUTION>{solution}</SOLUTION>"}]
    ]
    assert correctness(completion, answer=["7"]) == [-1.0]
