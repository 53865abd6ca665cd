"""The reward functions, with TRL's signature and the tutorial's names and scores, its bugs fixed.

TRL calls each as `f(prompts=..., completions=..., completion_ids=..., **columns)`; `answer` is a
column of the prepared dataset, aligned with the completions, so every completion is scored against its
own gold answer. Completions of a chat dataset arrive as `[[{"role": "assistant", "content": text}]]`;
plain strings are accepted too. The metric name TRL logs is the function's `__name__`
(`rewards/<name>/mean`), which is why these names are part of the run-directory contract.

Fixes against the tutorial: the exact-format check no longer accepts junk lines around the tags (it used
MULTILINE `^...$`), numbers keep their Vietnamese decimal comma (it stripped commas: 2,5 became 25), and
nothing prints to stdout. Every answer form (fractions, lists, `9{,}500`, units, intervals, ...) is read
by `workbench.answers`, the same code that reads the gold answers, and math-verify runs in a worker
process under a wall-clock limit (`workbench.verifier`), so one pathological completion cannot stall a
training step. Every reward is linear in the completion's length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.answers import clean, numbers_match, read_gold, read_solution, same_answer, scan_numbers
from workbench.data import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START
from workbench.verifier import DEFAULT_TIMEOUT_S, Verdict, verify_many

if TYPE_CHECKING:
    from workbench.config import RunConfig

RewardFn = Callable[..., list[float | None]]

_TAGS = "|".join(re.escape(t) for t in (REASONING_START, REASONING_END, SOLUTION_START, SOLUTION_END))
_INNER = rf"((?:(?!{_TAGS}).)+?)"
EXACT_FORMAT = re.compile(
    rf"\s*{re.escape(REASONING_START)}{_INNER}{re.escape(REASONING_END)}"
    rf"\s*{re.escape(SOLUTION_START)}{_INNER}{re.escape(SOLUTION_END)}\s*",
    re.DOTALL,
)
"""A reasoning block then a solution block, nothing but whitespace around or between (used fullmatch)."""
TIMEOUT_METRIC = "scoring/timeouts"
"""The metrics.jsonl key of completions whose math-verify comparison ran out of time (per step)."""
_scoring_timeout_s = DEFAULT_TIMEOUT_S


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
    found = _raw_solution(text)
    return found.strip() if found is not None else None


def _raw_solution(text: str) -> str | None:
    """The last block as `re.findall(<SOLUTION>(.*?)</SOLUTION>)` finds it, in linear time (the regex
    rescans the rest of the text from every unclosed tag: quadratic on a 100k-character completion)."""
    found, position = None, 0
    while (start := text.find(SOLUTION_START, position)) >= 0:
        end = text.find(SOLUTION_END, start + len(SOLUTION_START))
        if end < 0:
            break
        found = text[start + len(SOLUTION_START) : end]
        position = end + len(SOLUTION_END)
    return found


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
    """3.0 when the solution is exactly the gold answer, 1.5 when it is the same answer written another
    way (spaces, `9{,}500`, `2,5`, `\\dfrac`, units, a list in another order), -1.5 when wrong, 0
    without a solution block or without a gold answer. An empty block is wrong, not absent: scored 0 it
    would pay a policy to answer nothing rather than risk a wrong answer."""
    scores: list[float | None] = []
    for completion, gold in zip(completions, answer, strict=True):
        guess = _raw_solution(completion_text(completion))
        if guess is None or not str(gold).strip():  # no solution, or no gold answer to judge it by
            scores.append(0.0)
        elif guess == gold:
            scores.append(3.0)
        elif guess.strip() == str(gold).strip() or _same(str(gold), guess) is True:
            scores.append(1.5)
        else:
            scores.append(-1.5)
    return scores


def check_numbers(completions: list[Any], answer: list[str], **kwargs: Any) -> list[float | None]:
    """1.5 when the solution's numbers are the gold answer's, else -0.5.

    The solution is read as an answer in any form (2,5 = 2.5; 1.200 = 1200; `\\frac{3}{4}`; `9{,}500`;
    a list, a tuple, an interval), else its first numbers anywhere are taken; a single-number gold
    answer needs the first number, a list its values in any order, a tuple or interval its values in
    order. 0 when there is no solution or no number in it, or the gold answer is not made of numbers.
    """
    scores: list[float | None] = []
    for completion, gold in zip(completions, answer, strict=True):
        solution = extract_solution(completion_text(completion))
        match = numbers_match(read_gold(str(gold)), solution) if solution else None
        scores.append(0.0 if match is None else 1.5 if match else -0.5)
    return scores


@dataclass(frozen=True)
class Grade:
    """Whether one solution is right, and whether math-verify ran out of time deciding it."""

    correct: bool
    timed_out: bool = False


def _same(gold: str, solution: str) -> bool | None:
    gold_answer = read_gold(gold)
    return same_answer(gold_answer, read_solution(solution, gold_answer))


_WORD = re.compile(r"(?<![\\\w])[^\W\d_]{2,}")
"""Two or more letters not part of a LaTeX command (`\\frac`, `\\sqrt`, `\\pi` are not words)."""


def _has_words(text: str) -> bool:
    """True when `text` holds a word of prose (after LaTeX text wrappers such as \\text{cm} are gone)."""
    return bool(_WORD.search(clean(text)))


def grade(
    golds: Sequence[str], solutions: Sequence[str | None], timeout_s: float | None = None
) -> list[Grade]:
    """Grade each solution against its gold answer: numbers and plain answers by `workbench.answers`,
    symbolic ones (roots, pi, expressions) by math-verify in a worker process, each comparison within
    `timeout_s` seconds (default: grpo.scoring_timeout_s as the job set it). A missing solution and a
    time-out are wrong.

    Raises:
        VerifierError: math-verify cannot run in this environment.
    """
    grades: list[Grade | None] = []
    pending: dict[tuple[str, str], list[int]] = {}
    for index, (gold, solution) in enumerate(zip(golds, solutions, strict=True)):
        if not solution:
            grades.append(Grade(False))
            continue
        gold_answer = read_gold(str(gold))
        answer = read_solution(solution, gold_answer)
        decided = same_answer(gold_answer, answer)
        if decided is None and _has_words(solution) and not _has_words(str(gold)):
            # Prose around a symbolic reading ("7, hoặc 8", "Có 7 quả táo"): math-verify would read the
            # first number of the run-together text and accept a hedge; an answer is the value alone.
            decided = False
        grades.append(None if decided is None else Grade(decided))
        if decided is None:  # identical pairs (a group often repeats an answer) are compared once
            pending.setdefault((gold_answer.latex, answer.latex), []).append(index)
    if pending:
        pairs = list(pending)
        verdicts = verify_many(pairs, timeout_s if timeout_s is not None else _scoring_timeout_s)
        for pair, verdict in zip(pairs, verdicts, strict=True):
            for index in pending[pair]:
                grades[index] = Grade(verdict is Verdict.EQUAL, verdict is Verdict.TIMEOUT)
    return [g if g is not None else Grade(False) for g in grades]


def correctness(completions: list[Any], answer: list[str], **kwargs: Any) -> list[float | None]:
    """Equivalence of the solution with the gold answer (numbers exactly, symbolic answers by
    math-verify, each within grpo.scoring_timeout_s): 2.0 right, -1.0 wrong or out of time, 0 without a
    solution. Logs the step's time-outs as `scoring/timeouts` through TRL's `log_metric`."""
    solutions = [extract_solution(completion_text(c)) for c in completions]
    grades = grade([str(g) for g in answer], solutions)
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        log_metric(TIMEOUT_METRIC, float(sum(g.timed_out for g in grades)))
    return [0.0 if not s else 2.0 if g.correct else -1.0 for s, g in zip(solutions, grades, strict=True)]


def is_equivalent(gold: str, prediction: str, timeout_s: float | None = None) -> bool:
    """True when `prediction` is the gold answer (see `grade`); False when out of time."""
    return grade([gold], [prediction], timeout_s)[0].correct


def set_scoring_timeout(seconds: float) -> None:
    """The wall-clock limit of each math-verify comparison in this process (the job sets
    grpo.scoring_timeout_s before training)."""
    global _scoring_timeout_s
    _scoring_timeout_s = seconds


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


# ------------------------------------------------------------------------------------ one completion

_TAG_ORDER = (REASONING_START, REASONING_END, SOLUTION_START, SOLUTION_END)


def _format_reason(text: str) -> str:
    """Why a completion is, or is not, exactly a <thinking> block then a <SOLUTION> block."""
    if EXACT_FORMAT.fullmatch(text):
        return "a <thinking> block then a <SOLUTION> block"
    for tag in _TAG_ORDER:
        count = text.count(tag)
        if count == 0:
            return f"no {tag}"
        if count > 1:
            return f"{tag} {count} times"
    positions = [text.index(tag) for tag in _TAG_ORDER]
    if positions != sorted(positions):
        return "tags out of order"
    if text[: positions[0]].strip():
        return f"text before {REASONING_START}"
    if text[positions[3] + len(SOLUTION_END) :].strip():
        return f"text after {SOLUTION_END}"
    if text[positions[1] + len(REASONING_END) : positions[2]].strip():
        return "text between the blocks"
    return "an empty block"


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def explain(name: str, score: float | None, text: str, gold: str, timed_out: bool = False) -> str:
    """Why a built-in reward gave `score` to the completion `text` against `gold` ("no <SOLUTION>",
    "25 vs gold 25.0"); '' for a custom reward. Read with the same functions the rewards use."""
    if name == "match_format_exactly":
        return _format_reason(text)
    if name == "match_format_approximately":
        off = [
            f"no {tag}" if text.count(tag) == 0 else f"{tag} ×{text.count(tag)}"
            for tag in _TAG_ORDER
            if text.count(tag) != 1
        ]
        return "each tag once" if not off else ", ".join(off)
    if name not in ("check_answer", "check_numbers", "correctness"):
        return ""
    raw = _raw_solution(text)
    if raw is None:
        return f"no {SOLUTION_START}"
    solution = raw.strip()
    if not solution:
        return f"empty {SOLUTION_START}"
    gold_answer = read_gold(str(gold))
    read = read_solution(solution, gold_answer)
    readable = read.text and read.shape not in ("text", "expression", "too long", "empty")
    versus = f"{_short(read.text if readable else solution)} vs gold {gold}"
    if name == "check_answer":
        if raw == gold:
            return f"{_short(raw)} is the gold answer as written"
        return f"{versus}: the same answer written another way" if (score or 0) > 0 else versus
    if name == "check_numbers":
        if not gold_answer.numeric:
            return f"gold {gold} is not made of numbers"
        if score == 0:
            return "no number in the solution"
        if read.numeric:
            return versus
        found = scan_numbers(solution, "vi", gold_answer.values, len(gold_answer.elements))
        return f"{', '.join(e.text for e in found)} (the first numbers) vs gold {gold}"
    if timed_out:
        return f"{versus}: math-verify ran out of time (counted wrong)"
    return f"{versus}: " + ("equal" if (score or 0) > 0 else "not equal")


@dataclass(frozen=True)
class RewardScore:
    """One reward function's score of one completion, and why."""

    name: str
    weight: float
    score: float | None
    """None: the function gave none (or failed: `error`)."""
    reason: str = ""
    custom: bool = False
    error: str | None = None
    """A custom reward that could not score it: the whole message (file, function, what, fix)."""

    @property
    def weighted(self) -> float:
        """weight x score, as TRL sums it into `reward` (None counts 0)."""
        return self.weight * (self.score or 0.0)


@dataclass(frozen=True)
class ScoreReport:
    """Every reward of a config on one completion, and the weighted total TRL would log as `reward`."""

    scores: list[RewardScore]
    timed_out: bool = False
    """A custom reward ran past grpo.reward_timeout_s (its thread may still be running)."""

    @property
    def total(self) -> float:
        return sum(s.weighted for s in self.scores)

    def to_json(self) -> dict[str, Any]:
        return {
            "rewards": {
                s.name: {
                    "score": s.score,
                    "weight": s.weight,
                    "weighted": s.weighted,
                    "reason": s.reason,
                    "custom": s.custom,
                    **({"error": s.error} if s.error else {}),
                }
                for s in self.scores
            },
            "total": self.total,
        }

    @classmethod
    def from_json(cls, data: Any) -> ScoreReport:
        rewards = data.get("rewards") if isinstance(data, dict) else None
        scores = [
            RewardScore(
                name=str(name),
                weight=float(entry.get("weight") or 0.0),
                score=None if entry.get("score") is None else float(entry["score"]),
                reason=str(entry.get("reason") or ""),
                custom=bool(entry.get("custom")),
                error=entry.get("error"),
            )
            for name, entry in (rewards.items() if isinstance(rewards, dict) else [])
            if isinstance(entry, dict)
        ]
        return cls(scores)


def score_completion(
    config: RunConfig,
    completion: str,
    answer: str,
    *,
    question: str = "",
    row_type: str = "",
    files: Mapping[str, str] | None = None,
) -> ScoreReport:
    """Score one completion with every reward function of `config` (weight 0 ones too, built-in then
    custom), each called exactly as TRL calls it in training (`workbench.custom_rewards.single_kwargs`),
    with each built-in's reason and the weighted total.

    Args:
        config: The weights, the custom rewards and their time limits.
        completion: The completion's text (the assistant message's content).
        answer: The gold answer as the dataset stores it.
        question, row_type: The prompt's question and the row's type (what custom rewards may read).
        files: The file each custom reward is imported from, by function name (a run's copies); default
            the config's files.

    A custom reward that fails is reported in its `error` (scored None); it does not stop the others.
    """
    from workbench import custom_rewards as cr

    kwargs = cr.single_kwargs(completion, answer, question, row_type)
    set_scoring_timeout(config.grpo.scoring_timeout_s)
    scores: list[RewardScore] = []
    timed_out = False
    for name in config.reward_names:
        weight = config.rewards.get(name, 0.0)
        entry = config.custom_reward(name)
        if entry is None:
            metrics: dict[str, float] = {}
            score = get_reward(name)(**{**kwargs, "log_metric": metrics.__setitem__})[0]
            reason = explain(name, score, completion, answer, bool(metrics.get(TIMEOUT_METRIC)))
            scores.append(RewardScore(name, weight, score, reason))
            continue
        file = (files or {}).get(name, entry.file)
        try:
            fn = cr.load_function(file, name)
            value = cr.call(fn, file, name, dict(kwargs), config.grpo.reward_timeout_s)[0]
            scores.append(RewardScore(name, weight, value, custom=True))
        except cr.CustomRewardError as exc:
            timed_out = timed_out or exc.timed_out
            scores.append(RewardScore(name, weight, None, custom=True, error=str(exc)))
    return ScoreReport(scores, timed_out)
