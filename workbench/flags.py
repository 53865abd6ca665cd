"""Numbers on a command line, checked where they are parsed (stdlib only).

Every numeric flag of every command (`grpo-workbench`'s and the jobs' own parsers) takes its value
through one of these argparse `type=` callables, so a value that cannot mean anything (`eval --limit -3`,
`serve --gpu-memory 2`, `stop --timeout nan`) is refused before anything starts, with argparse's
`argument --FLAG:` prefix naming the flag and the message naming the fix:

    grpo-workbench eval: error: argument --limit: -3 is below 1; fix: give 1 or more rows, or leave
    --limit out for every held-out row

Each callable also keeps its range (`minimum`, `maximum`), so callers that take the same number from
elsewhere (the TUI's Evaluate form) apply the same rule.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

MIN_SAMPLES = 2
"""Fewest sampled completions per row an evaluation draws (0: none, greedy only). One sample gives pass@1
alone, a noisier accuracy than greedy decoding's; sampling is there for pass@k, which needs 2 or more (the
CLI, the evaluation job and the TUI's Evaluate form apply this one rule)."""


@dataclass(frozen=True)
class Whole:
    """A whole number from `minimum` to `maximum` (inclusive; None: no bound), or one of `also`.

    Attributes:
        minimum: The smallest value taken.
        fix: What to give instead, in words (`give 1 or more rows, or leave --limit out ...`).
        maximum: The largest value taken (None: any).
        also: Values outside the range that are taken too (`--samples 0`: greedy only).
    """

    minimum: int
    fix: str
    maximum: int | None = None
    also: tuple[int, ...] = ()

    def __call__(self, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; fix: {self.fix}") from None
        problem = self.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    def problem(self, value: int) -> str | None:
        """Why `value` is refused (with the fix), or None when it is taken."""
        if value in self.also:
            return None
        if value < self.minimum:
            return f"{value} is below {self.minimum}; fix: {self.fix}"
        if self.maximum is not None and value > self.maximum:
            return f"{value} is above {self.maximum}; fix: {self.fix}"
        return None


@dataclass(frozen=True)
class Real:
    """A finite number above `above` (or at least `minimum`) and at most `maximum`.

    Attributes:
        fix: What to give instead, in words.
        minimum: The smallest value taken (None: no bound).
        above: Values must be greater than this (None: no bound); for open ranges such as (0, 1].
        maximum: The largest value taken (None: any).
    """

    fix: str
    minimum: float | None = None
    above: float | None = None
    maximum: float | None = None

    def __call__(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; fix: {self.fix}") from None
        problem = self.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    def problem(self, value: float) -> str | None:
        """Why `value` is refused (with the fix), or None when it is taken."""
        if not math.isfinite(value):
            return f"{value} is not a finite number; fix: {self.fix}"
        if self.minimum is not None and value < self.minimum:
            return f"{value:g} is below {self.minimum:g}; fix: {self.fix}"
        if self.above is not None and value <= self.above:
            return f"{value:g} must be above {self.above:g}; fix: {self.fix}"
        if self.maximum is not None and value > self.maximum:
            return f"{value:g} is above {self.maximum:g}; fix: {self.fix}"
        return None


# The flags several commands share, with one rule each.

ROW_LIMIT = Whole(1, "give 1 or more rows, or leave --limit out for every held-out row")
SAMPLES = Whole(
    MIN_SAMPLES,
    f"give {MIN_SAMPLES} or more samples per row for pass@k (k = 1, 2, 4, ... N), or 0 (or leave --samples "
    "out) for greedy decoding only",
    also=(0,),
)
MAX_NEW_TOKENS = Whole(1, "give 1 or more tokens, or leave it out for the run's grpo.max_completion_length")
BATCH_SIZE = Whole(1, "give 1 or more rows per batch, or leave it out (8 on CPU, 64 with vLLM)")
SEED = Whole(0, "give a seed from 0 up", maximum=2**32 - 1)
GPU_SHARE = Real("give a share of the GPU's memory above 0 and at most 1, e.g. 0.85", above=0.0, maximum=1.0)
TEMPERATURE = Real("give a sampling temperature above 0 (0.8 is the default)", above=0.0)
TOP_P = Real("give top_p above 0 and at most 1 (0.95 is the default)", above=0.0, maximum=1.0)
PORT = Whole(1, "give a TCP port from 1 to 65535, or leave --port out for a free one", 65535, also=(0,))
CHECKPOINT = Whole(1, "give the N of one of the run's checkpoint-N directories")
LORA_RANK = Whole(1, "give a LoRA rank of 1 or more (vLLM takes 8, 16, 32, 64, 128, 256, 320, 512)")


def seconds(fix: str, *, zero: bool = False) -> Callable[[str], float]:
    """A finite number of seconds: above 0, or from 0 when `zero` (0 has a meaning there)."""
    return Real(fix, minimum=0.0) if zero else Real(fix, above=0.0)
