"""Try the rewards: paste or edit a completion, give a gold answer or pick a data row, and see every
reward's score (built-in and custom), its reason and the weighted total change as you type.

Opened from Configure with Ctrl+T, it scores with the form's config (its weights, its custom rewards
and their time limits) by `workbench.rewards.score_completion`, the functions training calls, called as
TRL calls them. Scoring runs in a worker process (`jobs.reward_check.Scorer`, driven from a thread
worker): math-verify can take seconds and a custom reward can hang or import anything, and neither may
touch the event loop or the TUI's process. Rows come from the config's data source, prepared as the
run prepares them (a thread worker too).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Label, Static, TextArea
from textual.worker import Worker, WorkerState

from screens.widgets.footer import SteadyFooter
from screens.widgets.forminput import FormInput
from screens.widgets.textbox import fill
from workbench.config import RunConfig
from workbench.rewards import ScoreReport

SCORE_DEBOUNCE_SECONDS = 0.15
"""Scoring waits for typing to pause this long (a keystroke burst is scored once)."""
TEMPLATE = "<thinking>\n\n</thinking>\n<SOLUTION></SOLUTION>"
"""The completion the screen starts with: the format the rewards want, to fill in."""


@dataclass(frozen=True)
class DataRow:
    """A prepared data row as try-it shows it."""

    question: str
    answer: str
    type: str
    reference: str
    """The row's worked solution (Vietnamese), for Ctrl+R."""


class TryRewardsScreen(Screen[None]):
    """Every reward of a config on one completion, live."""

    DEFAULT_CSS = """
    TryRewardsScreen {
        #try-title { height: 1; padding: 0 1; background: $boost; text-style: bold; color: $accent; }
        .try-row { height: 1; padding: 0 1; }
        .try-label { width: 13; color: $text-muted; }
        #try-row-input { width: 10; }
        #try-answer { width: 1fr; }
        #try-row-info { width: 1fr; padding-left: 1; color: $text-muted; }
        #try-question { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
        #try-completion { height: 1fr; min-height: 5; }
        #try-scores { height: auto; max-height: 12; padding: 0 1; }
        #try-total { height: 1; padding: 0 1; }
    }
    """
    BINDINGS = [
        Binding("escape", "close", "Back", id="tryit.close", tooltip="Back to Configure"),
        Binding("ctrl+n", "next_row", "Next row", id="tryit.next_row", tooltip="Show the next data row"),
        Binding(
            "ctrl+b",
            "previous_row",
            "Prev row",
            id="tryit.previous_row",
            tooltip="Show the previous data row",
        ),
        Binding(
            "ctrl+r",
            "reference",
            "Reference",
            id="tryit.reference",
            tooltip="Put the row's worked solution, in the tags, in the completion box",
        ),
    ]

    @dataclass
    class Scored(Message):
        """A completion was scored (or could not be: `error`)."""

        sequence: int
        report: ScoreReport | None
        error: str | None

    @dataclass
    class RowsLoaded(Message):
        """The data source's rows were prepared (or failed to be)."""

        rows: list[DataRow]
        error: str | None

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.rows: list[DataRow] = []
        self.row_index: int | None = None
        self.report: ScoreReport | None = None
        """The scores shown now."""
        self.scored = 0
        """How many completions were scored (tests wait for it to advance)."""
        self._sequence = 0
        self._debounce: Timer | None = None
        self._scorer_lock = threading.Lock()
        self._scorer: Any = None

    def compose(self) -> ComposeResult:
        yield Static(
            "Try the rewards · Configure's weights and custom rewards · Esc back",
            id="try-title",
        )
        with Horizontal(classes="try-row"):
            yield Label("data row", classes="try-label")
            yield FormInput(
                compact=True,
                id="try-row-input",
                placeholder="number",
                restrict=r"[0-9]*",
                select_on_focus=False,
            )
            yield Static("loading the data source…", id="try-row-info")
        yield Static("", id="try-question")
        with Horizontal(classes="try-row"):
            yield Label("gold answer", classes="try-label")
            yield FormInput(compact=True, id="try-answer", placeholder="e.g. 25 or \\frac{3}{4}")
        yield TextArea(TEMPLATE, id="try-completion", soft_wrap=True, show_line_numbers=False)
        yield Static("", id="try-scores")
        yield Static("", id="try-total")
        yield SteadyFooter(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Try the rewards"
        self.query_one("#try-completion", TextArea).focus()
        self._load_rows(self.config)
        self._schedule()

    def on_unmount(self) -> None:
        self._close_scorer()

    # ------------------------------------------------------------------------------------------------
    # rows

    @work(
        thread=True, exclusive=True, group="tryit-rows", description="load the data rows", exit_on_error=False
    )
    def _load_rows(self, config: RunConfig) -> None:
        from workbench import data as wdata

        try:
            raw = wdata.load_rows(config.data)
            prepared = wdata.prepare_for_run(raw, config)
        except wdata.DataError as exc:
            self.post_message(self.RowsLoaded([], str(exc)))
            return
        rows = [
            DataRow(
                question=str(r["question"]),
                answer=str(r["answer"]),
                type=str(r.get("type") or ""),
                reference=wdata.normalise_text(str(raw[r["source_index"]].get("response_vi") or "")),
            )
            for r in [*prepared.train, *prepared.held_out]
        ]
        self.post_message(self.RowsLoaded(rows, None))

    @on(RowsLoaded)
    def handle_rows_loaded(self, event: RowsLoaded) -> None:
        self.rows = event.rows
        info = self.query_one("#try-row-info", Static)
        if event.error:
            info.update(Text(event.error, style="red"))
        else:
            info.update(f"of {len(self.rows)} rows of {self.config.data.source} · Ctrl+N / Ctrl+B step")

    def show_row(self, number: int) -> None:
        """Show data row `number` (1-based): its question, and its gold answer in the answer field."""
        if not self.rows:
            return
        index = max(0, min(len(self.rows) - 1, number - 1))
        self.row_index = index
        row = self.rows[index]
        field = self.query_one("#try-row-input", Input)
        if field.value != str(index + 1):
            with self.prevent(Input.Changed):
                field.value = str(index + 1)
        question = Text.assemble(
            ("question ", "bold"), (f"({row.type}) ", "dim"), " ".join(row.question.split())
        )
        self.query_one("#try-question", Static).update(question)
        self.query_one("#try-answer", Input).value = row.answer  # its Changed message rescores

    def action_next_row(self) -> None:
        self.show_row(1 if self.row_index is None else self.row_index + 2)

    def action_previous_row(self) -> None:
        self.show_row(1 if self.row_index is None else self.row_index)

    def action_reference(self) -> None:
        if self.row_index is None:
            self.notify("pick a data row first (a number, or Ctrl+N)", severity="warning")
            return
        row = self.rows[self.row_index]
        reasoning = row.reference.rsplit("\n", 1)[0] if "\n" in row.reference else row.reference
        fill(
            self.query_one("#try-completion", TextArea),
            f"<thinking>\n{reasoning.strip()}\n</thinking>\n<SOLUTION>{row.answer}</SOLUTION>",
        )

    @on(Input.Changed, "#try-row-input")
    def handle_row_typed(self, event: Input.Changed) -> None:
        if event.value.isdigit():
            self.show_row(int(event.value))

    def action_close(self) -> None:
        self.dismiss()

    # ------------------------------------------------------------------------------------------------
    # scoring

    @on(Input.Changed, "#try-answer")
    @on(TextArea.Changed, "#try-completion")
    def handle_edited(self) -> None:
        self._schedule()

    def _schedule(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(SCORE_DEBOUNCE_SECONDS, self._score_now)

    def _score_now(self) -> None:
        self._sequence += 1
        completion = self.query_one("#try-completion", TextArea).text
        answer = self.query_one("#try-answer", Input).value
        row = self.rows[self.row_index] if self.row_index is not None else None
        self.query_one("#try-total", Static).update(Text("scoring…", style="dim"))
        self._score(self._sequence, completion, answer, row)

    @work(thread=True, group="tryit-score", description="score the completion", exit_on_error=False)
    def _score(self, sequence: int, completion: str, answer: str, row: DataRow | None) -> None:
        from jobs.reward_check import Scorer, WorkerGone

        # One scoring at a time over the worker's pipe; a burst of edits waits here, and only the newest
        # result is shown.
        with self._scorer_lock:
            if sequence != self._sequence:
                return
            if self._scorer is None:
                self._scorer = Scorer()
            try:
                data = self._scorer.score(
                    self.config,
                    completion,
                    answer,
                    question=row.question if row else "",
                    row_type=row.type if row else "",
                )
            except WorkerGone as exc:
                self.post_message(self.Scored(sequence, None, str(exc)))
                return
        self.post_message(self.Scored(sequence, ScoreReport.from_json(data), None))

    def _close_scorer(self) -> None:
        scorer = self._scorer
        if scorer is not None:
            scorer.close()

    @on(Scored)
    def handle_scored(self, event: Scored) -> None:
        if event.sequence != self._sequence:
            return  # an older completion's scores: a newer one is on its way
        total = self.query_one("#try-total", Static)
        if event.report is None:
            total.update(Text(f"could not score: {event.error}", style="red"))
            return
        self.report = event.report
        self.scored += 1
        self.query_one("#try-scores", Static).update(score_table(event.report))
        total.update(
            Text.assemble(
                ("total ", "bold"),
                (f"{event.report.total:+.3f}", "bold green" if event.report.total > 0 else "bold red"),
                ("  the weighted sum TRL logs as `reward`", "dim"),
            )
        )

    @on(Worker.StateChanged)
    def handle_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.state == WorkerState.ERROR:
            self.notify(f"{event.worker.description}: {event.worker.error}", severity="error")


def score_table(report: ScoreReport) -> Group:
    """reward · weight · score · weighted · reason, one line per reward (a custom reward's error in place
    of its reason, cut to the column), then each error whole under the table: at 80x24 every reward's
    row stays in sight, and a wider screen shows the errors in full."""
    table = Table(box=None, expand=True, padding=(0, 1), show_edge=False)
    table.add_column("reward", no_wrap=True)
    table.add_column("weight", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("× weight", justify="right", no_wrap=True)
    table.add_column("reason", ratio=1, no_wrap=True, overflow="ellipsis")
    errors: list[Text] = []
    for s in report.scores:
        style = "dim" if not s.weight else ""
        score = "–" if s.score is None else f"{s.score:+.2f}"
        colour = "" if s.score is None or s.score == 0 else "green" if s.score > 0 else "red"
        if s.error:
            # the row names the reward: the message's own "custom reward NAME (FILE): " prefix is left out
            short = s.error.split("): ", 1)[-1]
            reason = Text(short, style="red")
            errors.append(Text.assemble((f"{s.name}: ", "bold red"), (s.error, "red")))
        else:
            reason = Text(s.reason or ("custom reward" if s.custom else ""))
        table.add_row(
            Text(s.name + (" *" if s.custom else ""), style=style),
            Text(f"{s.weight:g}", style=style),
            Text(score, style=colour or style),
            Text(f"{s.weighted:+.2f}", style=style),
            reason,
        )
    return Group(table, *errors)


__all__ = ["DataRow", "TryRewardsScreen", "score_table"]
