"""The latest sample completions with their per-reward scores, <thinking> and <SOLUTION> set apart.

The reasoning block is shown in italic blue and the solution block in bold green on a dark band, with
the tags themselves dimmed, so a glance tells whether the model is learning the format; text outside
both blocks (which the exact-format reward punishes) stays plain.

The header's parts and each reward's `name +score` are laid out whole, as many to a line as the pane's
width holds (`Packed`): word wrapping put a reward's name at the end of one line and its score at the
start of the next at 80 columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
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


@dataclass(frozen=True)
class Packed:
    """Items laid out left to right, `separator` between two on a line, as many to a line as the width
    holds; an item is never split across lines (one wider than the line is cut with `…`)."""

    items: Sequence[Text]
    separator: str = "  "

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((item.cell_len for item in self.items), default=0)
        whole = sum(item.cell_len for item in self.items) + len(self.separator) * (len(self.items) - 1)
        return Measurement(min(widest, options.max_width), min(max(0, whole), options.max_width))

    def lines(self, width: int) -> list[Text]:
        """The lines in `width` cells."""
        lines: list[Text] = []
        for item in self.items:
            if lines and lines[-1].cell_len + len(self.separator) + item.cell_len <= width:
                lines[-1].append(self.separator)
                lines[-1].append_text(item)
            else:
                line = item.copy()
                line.no_wrap, line.overflow, line.end = True, "ellipsis", "\n"
                line.truncate(width, overflow="ellipsis")
                lines.append(line)
        return lines


def _score(value: Any) -> str:
    return f"{value:+.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "  n/a"


def render_sample(sample: Mapping[str, Any], number: int) -> Group:
    """One sample: a header (step, total, gold answer), its reward scores, the question and completion."""
    number_style = "bold"
    header = [Text(f"step {sample.get('step', '?')} · sample {number}", number_style)]
    header.append(Text(f"total {_score(sample.get('total'))}", number_style))
    if sample.get("answer") is not None:
        header.append(Text(f"gold {sample.get('answer')}", "dim"))
    scores: list[Text] = []
    rewards = sample.get("rewards")
    for name, value in rewards.items() if isinstance(rewards, Mapping) else []:
        style = (
            "green"
            if isinstance(value, int | float) and value > 0
            else ("red" if isinstance(value, int | float) and value < 0 else "")
        )
        scores.append(Text.assemble((f"{name} ", "dim"), (_score(value), style)))
    question = Text(
        " ".join(str(sample.get("question") or "").split()), style="dim", no_wrap=True, overflow="ellipsis"
    )
    return Group(
        Packed(header, " · "),
        Packed(scores),
        question,
        highlight_completion(str(sample.get("completion") or "")),
        Text(),
    )


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
