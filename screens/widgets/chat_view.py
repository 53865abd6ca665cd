"""The chat transcript: one column per model, each turn a question and a streamed answer whose
<thinking> is dimmed in a foldable block and whose <SOLUTION> stands out.

An answer grows many times a second while it streams; `AnswerView.append` only records the text and a
timer repaints at most `REPAINT_SECONDS` apart, cutting the text again with `workbench.chat.split_answer`
(cheap string searches), so a fast server never floods the screen with layout passes. The column follows
the newest text only while the user is at its bottom; scrolling up to read stops that.
"""

from __future__ import annotations

from typing import Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Collapsible, Static

from workbench.chat import StreamStats, Verdict, split_answer

REPAINT_SECONDS = 0.1
AnswerState = Literal["waiting", "streaming", "done", "stopped", "failed"]


class AnswerView(Vertical):
    """One model's answer to one question, as it streams."""

    DEFAULT_CSS = """
    AnswerView {
        height: auto;
        margin-bottom: 1;
        & > .answer-head { color: $text-muted; }
        & > .answer-plain { color: $text; }
        & Collapsible { padding: 0; border-top: none; background: transparent; }
        & Collapsible Contents { padding: 0 0 0 2; }
        & .answer-thinking { color: $text-muted; text-style: italic; }
        & > .answer-solution {
            background: $success 15%;
            color: $text-success;
            text-style: bold;
            padding: 0 1;
        }
        & > .answer-verdict { height: auto; }
        & .-empty { display: none; }
        &.-failed > .answer-head { color: $error; }
        &.-stopped > .answer-head { color: $warning; }
    }
    """

    state: reactive[AnswerState] = reactive("waiting")
    """Where the answer is: waiting for the first text, streaming, done, stopped (Esc) or failed."""

    def __init__(self, model: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        """The served model answering."""
        self.text = ""
        """Everything received so far."""
        self.stats: StreamStats | None = None
        self.detail = ""
        """Why it failed or stopped."""
        self.verdict: Verdict | None = None
        self._dirty = True

    def compose(self) -> ComposeResult:
        yield Static(self._head(), classes="answer-head")
        yield Static("", classes="answer-plain -empty", id="before")
        with Collapsible(title="thinking", collapsed=False, classes="-empty", id="thinking-box"):
            yield Static("", classes="answer-thinking", id="thinking")
        yield Static("", classes="answer-plain -empty", id="middle")
        yield Static("", classes="answer-solution -empty", id="solution")
        yield Static("", classes="answer-plain -empty", id="after")
        yield Static("", classes="answer-verdict -empty", id="verdict")

    def on_mount(self) -> None:
        self._timer = self.set_interval(REPAINT_SECONDS, self.repaint)

    def watch_state(self, old: AnswerState, new: AnswerState) -> None:
        self.set_class(False, f"-{old}")
        self.set_class(True, f"-{new}")
        self._dirty = True

    def append(self, piece: str, stats: StreamStats | None = None) -> None:
        """Record newly streamed text (shown at the next repaint)."""
        self.text += piece
        self.stats = stats
        if self.state == "waiting":
            self.state = "streaming"
        self._dirty = True

    def finish(self, state: AnswerState, stats: StreamStats | None = None, detail: str = "") -> None:
        """The stream ended: `done`, `stopped` by the user, or `failed` with `detail`."""
        self.stats = stats or self.stats
        self.detail = detail
        self.state = state
        self._dirty = True
        self.repaint()
        self._timer.stop()

    def show_verdict(self, verdict: Verdict) -> None:
        """Show whether the solution matches the held-out gold answer."""
        self.verdict = verdict
        line = Text()
        if verdict.solution is None:
            line.append("no <SOLUTION>", "bold yellow")
        elif verdict.correct:
            line.append("✓ correct", "bold green")
        else:
            line.append("✗ wrong", "bold red")
            line.append(f": {verdict.solution[:80]}")
        line.append(f"  (gold {verdict.gold})", "dim")
        widget = self.query_one("#verdict", Static)
        widget.update(line)
        widget.set_class(False, "-empty")

    def _head(self) -> Text:
        head = Text()
        head.append(self.model, "bold")
        stats = self.stats
        label = {
            "waiting": "waiting for the server…",
            "streaming": "streaming…",
            "done": "done",
            "stopped": "stopped",
            "failed": "failed",
        }[self.state]
        head.append(f" · {label}")
        if stats is not None:
            if stats.completion_tokens:
                head.append(f" · {stats.completion_tokens} tokens")
            if stats.first_token_s is not None:
                head.append(f" · first token {stats.first_token_s:.2f}s")
            rate = stats.tokens_per_s
            if rate:
                head.append(f" · {rate:.0f} tok/s")
            if self.state == "done" and stats.finish_reason == "length":
                head.append(" · cut at max_tokens", "yellow")
        if self.detail:
            head.append(f": {self.detail}")
        return head

    def repaint(self) -> None:
        """Show the text received so far, cut into its blocks (only when something changed)."""
        if not self._dirty or not self.is_mounted:
            return
        self._dirty = False
        parts = split_answer(self.text)
        self.query_one(".answer-head", Static).update(self._head())
        self._set("#before", parts.before.strip("\n"))
        box = self.query_one("#thinking-box", Collapsible)
        box.set_class(parts.thinking is None, "-empty")
        if parts.thinking is not None:
            self.query_one("#thinking", Static).update(Text(parts.thinking.strip("\n")))
            words = len(parts.thinking.split())
            box.title = f"thinking · {words} words" + ("" if parts.thinking_closed else " …")
        self._set("#middle", parts.middle.strip())
        self._set("#solution", None if parts.solution is None else parts.solution.strip() or " ")
        self._set("#after", parts.after.strip())
        if isinstance(self.parent, ChatColumn):
            self.parent.follow()

    def _set(self, selector: str, text: str | None) -> None:
        widget = self.query_one(selector, Static)
        widget.set_class(not text, "-empty")
        widget.update(Text(text or ""))


class ChatColumn(VerticalScroll):
    """The transcript of one model: question, answer, question, answer..."""

    DEFAULT_CSS = """
    ChatColumn {
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        & > .chat-question {
            color: $accent;
            text-style: bold;
            margin-top: 1;
        }
        & > .chat-empty { color: $text-muted; }
    }
    """

    def __init__(self, hint: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hint = hint
        self.answers: list[AnswerView] = []
        """Every answer shown, oldest first."""

    def compose(self) -> ComposeResult:
        yield Static(self.hint, classes="chat-empty")

    def set_hint(self, hint: str) -> None:
        """Say `hint` while the column is empty: what it says must follow the picker (a pane that asked to
        pick B while B was picked read as a fault)."""
        self.hint = hint
        for empty in self.query(".chat-empty").results(Static):
            empty.update(hint)

    @property
    def latest(self) -> AnswerView | None:
        return self.answers[-1] if self.answers else None

    async def add_turn(self, question: str, model: str) -> AnswerView:
        """Append a question and an empty answer from `model`; returns the answer to stream into."""
        follow = self.is_vertical_scroll_end or self.max_scroll_y - self.scroll_y < 3
        for hint in self.query(".chat-empty"):
            await hint.remove()
        answer = AnswerView(model)
        await self.mount_all([Static(Text(question), classes="chat-question"), answer])
        self.answers.append(answer)
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False)
        return answer

    def follow(self) -> None:
        """Keep the newest text in view, unless the user scrolled up to read."""
        if self.max_scroll_y - self.scroll_y < 4:
            self.call_after_refresh(self.scroll_end, animate=False)

    async def clear(self) -> None:
        """Remove every turn."""
        self.answers = []
        await self.remove_children()
        await self.mount(Static(self.hint, classes="chat-empty"))
