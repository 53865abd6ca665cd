"""The reward functions, with TRL's signature and the tutorial's names and scores, its bugs fixed.

TRL calls each as `f(prompts=..., completions=..., completion_ids=..., **columns)`; `answer` is a
column of the prepared dataset, aligned with the completions, so every completion is scored against its
own gold answer. Completions of a chat dataset arrive as `[[{"role": "assistant", "content": text}]]`;
plain strings are accepted too. The metric name TRL logs is the function's `__name__`
(`rewards/<name>/mean`), which is why these names are part of the run-directory contract.

Fixes against the tutorial: the exact-format check no longer accepts junk lines around the tags (it used
MULTILINE `^...$`), numbers keep their Vietnamese decimal comma (it stripped commas: 2,5 became 25), and
nothing prints to stdout.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from workbench.data import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START
from workbench.numbers import canonical_number, to_decimal

RewardFn = Callable[..., list[float | None]]

_TAGS = "|".join(re.escape(t) for t in (REASONING_START, REASONING_END, SOLUTION_START, SOLUTION_END))
_INNER = rf"((?:(?!{_TAGS}).)+?)"
EXACT_FORMAT = re.compile(
    rf"\s*{re.escape(REASONING_START)}{_INNER}{re.escape(REASONING_END)}"
    rf"\s*{re.escape(SOLUTION_START)}{_INNER}{re.escape(SOLUTION_END)}\s*",
    re.DOTALL,
)
"""A reasoning block then a solution block, nothing but whitespace around or between (used fullmatch)."""
_SOLUTION = re.compile(rf"{re.escape(SOLUTION_START)}(.*?){re.escape(SOLUTION_END)}", re.DOTALL)
_FIRST_NUMBER = re.compile(r"[-−]?\d(?:[\d.,]*\d)?")


def completion_text(completion: Any) -> str:
    """The text of a completion, whether TRL passes a chat message list or a string."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[0], dict):
        return str(completion[-1].get("content", ""))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return str(completion)


def extract_solution(text: str) -> str | None:
    """The content of the last <SOLUTION>...</SOLUTION> block, stripped, or None when there is none."""
    found = _SOLUTION.findall(text)
    return found[-1].strip() if found else None


def match_format_exactly(completions: list[Any], **kwargs: Any) -> list[float | None]:
    """3.0 when the completion is exactly a <thinking> block then a <SOLUTION> block, only whitespace
    around."""
    return [3.0 if EXACT_FORMAT.fullmatch(completion_text(c)) else 0.0 for c in completions]


def match_format_approximately(completions: list[Any], **kwargs: Any) -> list[float | None]:
    """+0.5 for each of the four tags that appears exactly once, -1.0 for each that does not."""
    scores: list[float | None] = []
    for completion in completions:
        text = completion_text(completion)
        scores.append(
            sum(
                0.5 if text.count(tag) == 1 else -1.0
                for tag in (REASONING_START, REASONING_END, SOLUTION_START, SOLUTION_END)
            )
        )
    return scores


def check_answer(completions: list[Any], answer: list[str], **kwargs: Any) -> list[float | None]:
    """3.0 when the solution equals the gold answer, 1.5 when equal after stripping, -1.5 when wrong,
    0 without a solution block."""
    scores: list[float | None] = []
    for completion, gold in zip(completions, answer, strict=True):
        guess = _raw_solution(completion_text(completion))
        if guess is None:
            scores.append(0.0)
        elif guess == gold:
            scores.append(3.0)
        elif guess.strip() == str(gold).strip():
            scores.append(1.5)
        else:
            scores.append(-1.5)
    return scores


def check_numbers(completions: list[Any], answer: list[str], **kwargs: Any) -> list[float | None]:
    """1.5 when the first number of the solution equals the gold answer's value, else -0.5.

    Reads the Vietnamese decimal comma and dotted thousands (2,5 = 2.5; 1.200 = 1200); 0 when there is no
    solution or no number in it, or the gold answer is not a number.
    """
    scores: list[float | None] = []
    for completion, gold in zip(completions, answer, strict=True):
        solution = extract_solution(completion_text(completion))
        gold_value = _gold_value(str(gold))
        match = _FIRST_NUMBER.search(solution) if solution else None
        if match is None or gold_value is None:
            scores.append(0.0)
            continue
        guess = to_decimal(match.group(0), "vi")
        if guess is None:
            scores.append(0.0)
        else:
            scores.append(1.5 if guess == gold_value else -0.5)
    return scores


def correctness(completions: list[Any], answer: list[str], **kwargs: Any) -> list[float | None]:
    """math-verify equivalence of the solution with the gold answer (LaTeX, fractions): 2.0 right, -1.0
    wrong, 0 without a solution."""
    scores: list[float | None] = []
    for completion, gold in zip(completions, answer, strict=True):
        solution = extract_solution(completion_text(completion))
        if not solution:
            scores.append(0.0)
            continue
        scores.append(2.0 if is_equivalent(str(gold), solution) else -1.0)
    return scores


def is_equivalent(gold: str, prediction: str) -> bool:
    """True when math-verify finds `prediction` equal to `gold` (numbers canonicalised first).

    math-verify finds nothing in raw tags and reads "1.200" as 1.2, so both sides are canonicalised
    and wrapped in `$...$` first; its timeouts are disabled because they only work on the main thread.
    """
    from math_verify import parse, verify  # lazy: sympy and antlr load in about a second

    def prepared(text: str) -> str:
        text = text.strip().strip("$").strip()
        number = canonical_number(text, "vi") or canonical_number(text, "en")
        return f"${number if number is not None else text}$"

    try:
        gold_parsed = parse(prepared(gold), parsing_timeout=None)
        pred_parsed = parse(prepared(prediction), parsing_timeout=None)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
    except Exception:  # a malformed completion must score, not crash the training step
        return False


def _raw_solution(text: str) -> str | None:
    found = _SOLUTION.findall(text)
    return found[-1] if found else None


def _gold_value(gold: str) -> Decimal | None:
    value = canonical_number(gold, "en")
    return Decimal(value) if value is not None else None


REWARDS: dict[str, RewardFn] = {
    fn.__name__: fn
    for fn in (match_format_exactly, match_format_approximately, check_answer, check_numbers, correctness)
}
"""Every reward function by name; a config naming anything else is rejected."""
REWARD_NAMES: tuple[str, ...] = tuple(REWARDS)
DEFAULT_WEIGHTS: dict[str, float] = {
    "match_format_exactly": 1.0,
    "match_format_approximately": 1.0,
    "check_answer": 1.0,
    "check_numbers": 1.0,
    "correctness": 0.0,
}
"""The tutorial's four rewards at weight 1; math-verify correctness is available but off by default."""


def get_reward(name: str) -> RewardFn:
    """Look a reward up by name, with a helpful error for unknown names."""
    try:
        return REWARDS[name]
    except KeyError:
        raise KeyError(f"unknown reward {name!r}; known: {', '.join(REWARD_NAMES)}") from None
