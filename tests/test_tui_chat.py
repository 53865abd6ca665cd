"""The Chat pane through the real app: it starts a real serve job for a real trained tiny run, streams one
held-out question to the adapter and the base side by side, Escape cancels both streams, a second question
runs to the end and is judged against its gold answer, and the pane stops the server (no process left).
Plus the refusal of a run with nothing to serve, on the frozen fixture runs at 80x24.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static
from tui_helpers import CPU_RUN, frozen_app, shown_text, wait_until

from jobs.process import group_alive
from screens.app import WorkbenchApp
from screens.chat import ChatScreen
from screens.widgets.chat_view import ChatColumn
from screens.widgets.textbox import QuestionBox
from tests.test_serve import make_trained_home, stop_all_serves
from workbench.runs import process_matches
from workbench.serving import ServeDir

MODELS = ["base", "checkpoint-1", "checkpoint-2", "adapter"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("chat-home")
    try:
        yield home, make_trained_home(home, tiny_model_dir)
    finally:
        stop_all_serves(home)


@pytest.fixture
def chat_home(trained: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """The trained home as GRPO_WORKBENCH_HOME; every serve job under it is stopped at teardown."""
    monkeypatch.setenv("GRPO_WORKBENCH_HOME", str(trained[0]))
    try:
        yield trained
    finally:
        stop_all_serves(trained[0])


def set_input(screen: ChatScreen, selector: str, value: str) -> None:
    screen.query_one(selector, Input).value = value


@pytest.mark.slow
async def test_chat_pane_serves_streams_side_by_side_cancels_and_judges(chat_home: tuple[Path, str]) -> None:
    home, run_id = chat_home
    app = WorkbenchApp(initial_mode="chat")
    async with app.run_test(size=(110, 34)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await wait_until(pilot, lambda: screen.source == run_id, "the run in the source picker", 20)

        await pilot.press("ctrl+t")
        seen: list[str] = []

        def ready() -> bool:
            seen.append(str(screen.query_one("#serve-state").render()))
            return screen.models == MODELS

        await wait_until(pilot, ready, "the server to be ready with its models", 180)
        # while it started, the line showed the seconds since the start and what the server was doing
        assert any(re.match(r"(pending|starting) · \d+ s · \S", line) for line in seen), seen[:5]
        assert screen.serve_state == "ready" and screen.serve_id is not None
        assert screen.query_one("#model-a", Select).value == "adapter"
        assert screen.query_one("#model-b", Select).value == "base"
        assert not screen.has_class("-single"), "both columns show"

        # A hot, long answer, so it is still streaming when Escape comes (ignore_eos: the random tiny
        # model samples its end-of-turn token now and then at temperature 2).
        screen.extra_body = {"ignore_eos": True}
        set_input(screen, "#temperature", "2")
        set_input(screen, "#top-p", "1")
        set_input(screen, "#max-tokens", "4000")
        await pilot.press("ctrl+n")
        first = screen._heldout[0]
        assert screen.query_one("#question", QuestionBox).value == first.question
        assert first.answer in str(screen.query_one("#gold-bar").render())
        await pilot.press("enter")
        column_a = screen.query_one("#col-a", ChatColumn)
        column_b = screen.query_one("#col-b", ChatColumn)
        await wait_until(
            pilot,
            lambda: column_a.latest is not None and bool(column_a.latest.text),
            "streamed text in A",
            60,
        )
        answer_a = column_a.latest
        assert answer_a is not None and answer_a.model == "adapter"
        await wait_until(pilot, lambda: answer_a.state == "streaming", "A streaming", 60)
        await pilot.pause(0.3)  # a repaint or two
        shown = "".join(str(w.render()) for w in answer_a.query(Static))
        assert answer_a.text[:4].strip() in shown, "the streamed text is on screen"

        await pilot.press("escape")
        await wait_until(
            pilot,
            lambda: (
                answer_a.state == "stopped"
                and column_b.latest is not None
                and column_b.latest.state == "stopped"
            ),
            "Escape to stop both streams",
            30,
        )
        assert len(answer_a.text) < 4000

        # A short answer to the end, judged against the held-out gold answer in both columns.
        set_input(screen, "#temperature", "0.8")
        set_input(screen, "#max-tokens", "24")
        await pilot.press("ctrl+n")
        second = screen._heldout[1]
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: all(
                c.latest is not None and c.latest is not answer_a and c.latest.verdict is not None
                for c in (column_a, column_b)
            ),
            "both answers to finish and be judged",
            120,
        )
        for column in (column_a, column_b):
            latest = column.latest
            assert latest is not None and latest.state == "done"
            assert latest.verdict is not None and latest.verdict.gold == second.answer
            assert latest.stats is not None and latest.stats.completion_tokens
        assert [a.state for a in column_b.answers] == ["stopped", "done"]

        serve_id = screen.serve_id
        assert serve_id is not None
        await pilot.press("ctrl+t")
        await wait_until(
            pilot,
            lambda: screen.serve_id is None and screen.serve_state == "stopped",
            "the pane to stop its server",
            60,
        )
        assert screen.models == []

    manifest = ServeDir(home / "serves" / serve_id).read_manifest()
    assert not process_matches(manifest.pid, manifest.create_time)
    assert not group_alive(manifest.server_pgid)


async def test_a_run_with_nothing_to_serve_is_refused_with_the_reason(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await wait_until(pilot, lambda: screen.source is not None, "the runs in the source picker", 10)
        screen.query_one("#source", Select).value = CPU_RUN
        await pilot.pause()
        await pilot.press("ctrl+t")
        await wait_until(
            pilot,
            lambda: any("cannot serve" in n.message for n in app._notifications),
            "the refusal",
            20,
        )
        message = next(n.message for n in app._notifications if "cannot serve" in n.message)
        assert "has no adapter and no complete checkpoint yet" in message and "fix:" in message
        assert screen.serve_id is None and "last one failed" in str(screen.query_one("#serve-state").render())
        # the reason reads whole at 80 columns: the state wraps under the run picker (it was cut at the width)
        reason = message.split(" · ", 1)[1].splitlines()[-1].strip(" -")  # after the title (App.notify)
        await wait_until(
            pilot,
            lambda: shown_text(app, screen.query_one("#serve-state")).endswith(f"last one failed: {reason}"),
            "the whole reason",
            5,
        )
        await pilot.press("enter")  # asking without a server says what to do
        await pilot.pause()
        screen.query_one("#question", QuestionBox).value = "2 + 2?"
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: any("no server yet" in n.message for n in app._notifications), "the hint", 10
        )
