"""Median scoring time per completion: `python tools/scoring_bench.py` from the repository root.

Scores 11 batches of 64 completions (8 prompts x 8 generations, as a GRPO step sees them) with
`correctness`, with all five rewards, and with eval's `score_row`, and prints the median time per
completion. Two mixes: the bundled rows' gold answers (numbers and fractions; half of the completions
right), and MATH-style symbolic answers (roots, pi, polynomials) that need math-verify. A warm-up batch
comes first (imports, the math-verify worker's start). The README's before/after figures come from this
script run at the commit before issue 16's scoring changes and after them.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import rewards  # noqa: E402
from workbench.data import extract_answer  # noqa: E402
from workbench.evaluation import Completion, score_row  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "workbench" / "sample_data" / "vi_math_sample.jsonl"
SYMBOLIC = [
    ("2\\sqrt{3}", ["\\sqrt{12}", "2\\sqrt{3}", "3", "2\\sqrt{2}"]),
    ("\\frac{\\pi}{2}", ["\\pi/2", "\\frac{\\pi}{2}", "\\pi"]),
    ("x^2+2x+1", ["(x+1)^2", "x^2+1"]),
    ("3\\sqrt{2}", ["\\sqrt{18}", "4"]),
]
Batch = tuple[list[str], list[str]]


def main() -> int:
    logging.disable(logging.CRITICAL)  # the code before issue 16 let math-verify warn on every call
    rng = random.Random(0)
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line]
    golds = [g for g in (extract_answer(r["response_vi"], r["response_en"]) for r in rows) if g]

    def numeric() -> Batch:
        answers = [g for g in (rng.choice(golds) for _ in range(8)) for _ in range(8)]
        return answers, [g if rng.random() < 0.5 else str(rng.randint(0, 999)) for g in answers]

    def symbolic() -> Batch:
        picks = [rng.choice(SYMBOLIC) for _ in range(8)]
        return [g for g, _ in picks for _ in range(8)], [rng.choice(c) for _, c in picks for _ in range(8)]

    for kind, make in (("numeric", numeric), ("symbolic", symbolic)):
        measure(kind, make)
    return 0


def measure(kind: str, make: Callable[[], Batch]) -> None:
    batches = []
    for _ in range(12):
        answers, solutions = make()
        texts = [f"<thinking>\nstep by step\n</thinking>\n<SOLUTION>{s}</SOLUTION>" for s in solutions]
        batches.append((answers, [[{"role": "assistant", "content": t}] for t in texts]))
    rewards.correctness(completions=batches[0][1][:2], answer=batches[0][0][:2])  # warm-up
    timings: dict[str, list[float]] = {"correctness": [], "all five rewards": [], "eval score_row": []}
    for answers, completions in batches[1:]:
        started = time.perf_counter()
        rewards.correctness(completions=completions, answer=answers)
        timings["correctness"].append((time.perf_counter() - started) / len(completions))
        started = time.perf_counter()
        for name in rewards.REWARD_NAMES:
            rewards.get_reward(name)(completions=completions, answer=answers)
        timings["all five rewards"].append((time.perf_counter() - started) / len(completions))
        started = time.perf_counter()
        for first in range(0, len(completions), 8):
            group = [Completion(c[0]["content"], 10) for c in completions[first : first + 8]]
            score_row({"answer": answers[first], "type": "MATH_AnsAug"}, group, first)
        timings["eval score_row"].append((time.perf_counter() - started) / len(completions))
    for name, values in timings.items():
        print(f"{kind:9} {name:17}: median {statistics.median(values) * 1000:7.3f} ms per completion")


if __name__ == "__main__":
    sys.exit(main())
