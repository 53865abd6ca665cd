"""The latest sample completions with their per-reward scores, <thinking> and <SOLUTION> set apart.

The reasoning block is shown in italic blue and the solution block in bold green on a dark band, with
the tags themselves dimmed, so a glance tells whether the model is learning the format; text outside
both blocks (which the exact-format reward punishes) stays plain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from workbench.data import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START

THINKING_STYLE = "italic #7aa2f7"
SOLUTION_STYLE = "bold #9ece6a on #1f2a1f"
TAG_STYLE = "dim"
MAX_COMPLETION_CHARS = 1200
"""A completion is cut after this many characters (the full text is in samples.jsonl)."""
_BLOCK = re.compile(
    "(" + re.escape(REASONING_START) + ")(.*?)(" + re.escape(REASONING_END) + "|$)"
    "|(" + re.escape(SOLUTION_START) + ")(.*?)(" + re.escape(SOLUTION_END) + "|$)",
    re.DOTALL,
)


def highlight_completion(text: str) -> Text:
    """The completion as Rich Text: thinking and solution blocks styled, tags dimmed.

    An unclosed block runs to the end of the text (a completion cut at max_completion_length).
    """
    if len(text) > MAX_COMPLETION_CHARS:
        text = text[:MAX_COMPLETION_CHARS] + " …"
    out = Text()
    position = 0
    for match in _BLOCK.finditer(text):
        out.append(text[position : match.start()])
        if match.group(1) is not None:
            out.append(match.group(1), TAG_STYLE)
            out.append(match.group(2), THINKING_STYLE)
            out.append(match.group(3), TAG_STYLE)
        else:
            out.append(match.group(4), TAG_STYLE)
            out.append(match.group(5), SOLUTION_STYLE)
            out.append(match.group(6), TAG_STYLE)
        position = match.end()
    out.append(text[position:])
    return out


def _score(value: Any) -> str:
    return f"{value:+.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "  n/a"


def render_sample(sample: Mapping[str, Any], number: int) -> Group:
    """One sample: a header (step, total, gold answer), its reward scores, the question and completion."""
    header = Text()
    header.append(f"step {sample.get('step', '?')} · sample {number}", "bold")
    header.append(f" · total {_score(sample.get('total'))}", "bold")
    if sample.get("answer") is not None:
        header.append(f" · gold {sample.get('answer')}", "dim")
    scores = Text()
    rewards = sample.get("rewards")
    for name, value in rewards.items() if isinstance(rewards, Mapping) else []:
        style = (
            "green"
            if isinstance(value, int | float) and value > 0
            else ("red" if isinstance(value, int | float) and value < 0 else "")
        )
        scores.append(f"{name} ", "dim")
        scores.append(_score(value), style)
        scores.append("  ")
    question = Text(
        " ".join(str(sample.get("question") or "").split()), style="dim", no_wrap=True, overflow="ellipsis"
    )
    return Group(header, scores, question, highlight_completion(str(sample.get("completion") or "")), Text())


class SamplesView(VerticalScroll):
    """The completions of the latest step that wrote samples."""

    DEFAULT_CSS = """
    SamplesView {
        & > Static { width: 1fr; }
    }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("no samples yet", id="samples-body")

    def show(self, samples: Sequence[Mapping[str, Any]]) -> None:
        """Show `samples` (the latest step's), replacing what was there."""
        body = self.query_one("#samples-body", Static)
        if not samples:
            body.update(Text("no samples yet: the trainer writes a few completions per step", style="dim"))
            return
        body.update(Group(*(render_sample(sample, number) for number, sample in enumerate(samples, 1))))
