"""The rollout groups of one training step: which prompts taught the most, and the best and worst
completion of a group side by side.

The groups (rollouts.jsonl, `workbench.runs.RolloutStep`) are listed by their best advantage, highest
first, so the groups with the most to teach come first and the zero-variance ones (every completion
scored the same: every advantage 0, marked `σ=0`) sink to the end. Below, the selected group's
completion with the highest advantage and the one with the lowest, each with its scores, length and
whether it was cut at the length limit, the tags coloured as in the samples pane.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from screens.widgets.samples import highlight_completion
from screens.widgets.textline import TextLine
from workbench.runs import RolloutCompletion, RolloutGroup, RolloutStep

GROUP_ROWS = 5
"""Groups listed at once; the list scrolls with the selection beyond that."""
ZERO_STD_STYLE = "yellow"


def sorted_groups(record: RolloutStep) -> list[RolloutGroup]:
    """The step's groups, highest best advantage first (zero-variance groups, all 0, last)."""
    return sorted(record.groups, key=lambda g: (g.zero_std, -g.top_advantage, g.index))


def _signed(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:+.{digits}f}"


def _plain(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _window(count: int, selected: int, rows: int) -> range:
    """The rows of a list of `count` to show so that `selected` is among them."""
    start = min(max(0, selected - rows // 2), max(0, count - rows))
    return range(start, min(count, start + rows))


def render_groups(groups: Sequence[RolloutGroup], selected: int, width: int) -> Table:
    """The list of groups: best advantage, mean and std of the totals, truncated completions, the
    question; the selected one marked."""
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False, header_style="dim")
    table.add_column("", width=1, no_wrap=True)
    table.add_column("grp", justify="right", no_wrap=True)
    table.add_column("adv↑", justify="right", no_wrap=True)
    table.add_column("mean", justify="right", no_wrap=True)
    table.add_column("std", justify="right", no_wrap=True)
    table.add_column("cut", justify="right", no_wrap=True)
    table.add_column("question", ratio=1, no_wrap=True, overflow="ellipsis")
    for position in _window(len(groups), selected, GROUP_ROWS):
        group = groups[position]
        cut = sum(1 for c in group.completions if c.truncated)
        spread = (
            Text("σ=0", ZERO_STD_STYLE)
            if group.zero_std
            else Text(_plain(group.std), "" if group.std is not None else "dim")
        )
        question = " ".join(group.question.split())
        style = "reverse" if position == selected else ""
        table.add_row(
            "▶" if position == selected else "",
            str(group.index),
            Text(_signed(group.top_advantage), ZERO_STD_STYLE if group.zero_std else "green"),
            _signed(group.mean),
            spread,
            f"{cut}/{len(group.completions)}",
            question,
            style=style,
        )
    return table


def render_completion(label: str, completion: RolloutCompletion | None, style: str, width: int = 80) -> Group:
    """One completion of a group: its advantage and total, its length, each reward's score (in `width`
    cells), the text."""
    if completion is None:
        return Group(Text(f"{label}: none", "dim"))
    head = Text()
    head.append(label, f"bold {style}")
    head.append(f" adv {_signed(completion.advantage)}", style)
    head.append(f" · total {_signed(completion.total)}", "bold")
    length = Text(style="dim")
    if completion.length is not None:
        length.append(f"{completion.length} tokens")
    if completion.truncated:
        length.append(
            " · cut at the limit" if completion.length is not None else "cut at the limit", "yellow"
        )
    elif completion.truncated is False:
        length.append(" · ended" if completion.length is not None else "ended")
    return Group(
        head, length, *score_lines(completion.rewards, width), highlight_completion(completion.completion)
    )


def score_lines(rewards: dict[str, object], width: int) -> list[Text]:
    """Each reward's `name +score`, as many to a line as `width` cells hold (a pair never splits)."""
    lines: list[Text] = []
    line = Text()
    for name, value in rewards.items():
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        pair = Text.assemble(
            (f"{name} ", "dim"),
            (_signed(number), "green" if (number or 0) > 0 else "red" if (number or 0) < 0 else ""),
        )
        if line and line.cell_len + 2 + pair.cell_len > width:
            lines.append(line)
            line = Text()
        if line:
            line.append("  ")
        line.append_text(pair)
    if line:
        lines.append(line)
    return lines


class RolloutView(Vertical):
    """One step's rollout groups: a head line, the list of groups, best and worst completion."""

    def compose(self) -> ComposeResult:
        yield TextLine("", id="rollout-head")
        yield Static("", id="rollout-groups")
        with Horizontal(id="rollout-pair"):
            with VerticalScroll(id="rollout-best"):
                yield Static("", id="rollout-best-body")
            with VerticalScroll(id="rollout-worst"):
                yield Static("", id="rollout-worst-body")

    def show_message(self, head: str | Text, message: str) -> None:
        """No record to show: `message` says why (none written yet, loading, unreadable)."""
        self.set_class(True, "-empty")
        self.query_one("#rollout-head", TextLine).update(head)
        self.query_one("#rollout-groups", Static).update(Text(message, "dim"))
        self.query_one("#rollout-best-body", Static).update("")
        self.query_one("#rollout-worst-body", Static).update("")

    def show(self, head: Text, record: RolloutStep, selected: int) -> None:
        """Show `record`'s groups (sorted by `sorted_groups`), the one at `selected` opened below."""
        self.set_class(False, "-empty")
        self.query_one("#rollout-head", TextLine).update(head)
        groups = sorted_groups(record)
        lines = self.query_one("#rollout-groups", Static)
        if not groups:
            lines.update(Text("this step wrote no groups", "dim"))
            self.query_one("#rollout-best-body", Static).update("")
            self.query_one("#rollout-worst-body", Static).update("")
            return
        selected = min(max(0, selected), len(groups) - 1)
        lines.update(render_groups(groups, selected, self.size.width))
        group = groups[selected]
        width = max(20, self.query_one("#rollout-best").content_size.width or self.size.width // 2 - 2)
        if group.zero_std:
            note = Text(
                f"σ=0: all {len(group.completions)} completions scored {_signed(group.mean)}, every "
                "advantage is 0",
                ZERO_STD_STYLE,
            )
            best = Group(note, render_completion("first", group.best, "yellow", width))
            worst = Group(note, render_completion("last", group.worst, "yellow", width))
        else:
            best = render_completion("best", group.best, "green", width)
            worst = render_completion("worst", group.worst, "red", width)
        self.query_one("#rollout-best-body", Static).update(best)
        self.query_one("#rollout-worst-body", Static).update(worst)
        self.query_one("#rollout-best", VerticalScroll).scroll_home(animate=False)
        self.query_one("#rollout-worst", VerticalScroll).scroll_home(animate=False)
