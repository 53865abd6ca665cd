"""Chat without a server (frozen runs): the question box takes several lines and whole pastes, Enter
sends, Ctrl+J adds a line, Ctrl+N puts a held-out question in it from its start, stopping the server
keeps both transcripts, the mode keys work from the box, and the status says what Ctrl+T serves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textual import events
from textual.message import Message
from textual.widgets import Select
from tui_helpers import CPU_RUN, FIXTURE_RUNS, frozen_app, send_burst, settle, wait_until

from screens.chat import ChatScreen
from screens.widgets.chat_view import ChatColumn
from screens.widgets.textbox import QuestionBox

LONG_QUESTION = (
    "Một cửa hàng có 120 quyển vở. Buổi sáng cửa hàng bán được 1/3 số vở, buổi chiều bán được 1/4 số vở "
    "còn lại. Hỏi cửa hàng còn lại bao nhiêu quyển vở? " * 3
).strip()


def _runs_with_heldout(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, root, ignore=shutil.ignore_patterns("*.py", "*.jsonl.bak"))
    row = {"question": LONG_QUESTION, "answer": "60", "type": "GSM_Rephrased"}
    (root / CPU_RUN / "heldout.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n")
    return root


async def test_the_question_box_takes_lines_and_pastes_and_enter_sends(tmp_path: Path) -> None:
    sent: list[str] = []

    def hook(message: Message) -> None:
        if isinstance(message, QuestionBox.Submitted) and (not sent or sent[-1] != message.value):
            sent.append(message.value)

    app = frozen_app(tmp_path, initial_mode="chat")
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        box = screen.query_one("#question", QuestionBox)
        assert box.has_focus
        send_burst(app, [*"line one", "ctrl+j", *"line two"])
        await wait_until(pilot, lambda: box.text == "line one\nline two", "two typed lines", 10)
        pasted = "Bài toán:\nAn có 5 quả táo.\nHỏi An có mấy quả?"
        app.post_message(events.Paste("\n" + pasted))
        await wait_until(pilot, lambda: box.text.endswith(pasted), "the whole paste", 10)
        assert box.text == "line one\nline two\n" + pasted
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(sent), "Enter to send", 10)
        assert sent == ["line one\nline two\n" + pasted]
        # No server: asking says what to do, and the question stays to be asked later.
        assert any("no server yet" in n.message for n in app._notifications)
        assert box.text.endswith(pasted)


async def test_ctrl_n_fills_the_box_from_its_start_with_the_gold_answer(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, runs_root=_runs_with_heldout(tmp_path), initial_mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await wait_until(pilot, lambda: screen.source is not None, "the runs in the picker", 10)
        screen.query_one("#source", Select).value = CPU_RUN
        await wait_until(pilot, lambda: bool(screen._heldout), "the held-out questions", 10)
        await pilot.press("ctrl+n")
        await settle(pilot, 0.1)
        box = screen.query_one("#question", QuestionBox)
        assert box.value == LONG_QUESTION
        assert box.cursor_location == (0, 0) and box.scroll_offset.y == 0
        assert box.size.height > 1, "a long question shows on several lines"
        gold = str(screen.query_one("#gold-bar").render())
        assert "gold answer 60" in gold and "Enter asks it" in gold


async def test_ctrl_n_reads_held_out_rows_written_after_the_run_was_picked(tmp_path: Path) -> None:
    """A run picked before it started training has no heldout.jsonl yet: Ctrl+N says so, and once the
    trainer writes it, Ctrl+N reads it (the empty list used to stay cached for the run)."""
    root = _runs_with_heldout(tmp_path)
    rows = root / CPU_RUN / "heldout.jsonl"
    written = rows.read_text()
    rows.unlink()
    app = frozen_app(tmp_path, runs_root=root, initial_mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await wait_until(pilot, lambda: screen.source is not None, "the runs in the picker", 10)
        screen.query_one("#source", Select).value = CPU_RUN
        await wait_until(pilot, lambda: screen._heldout_run == CPU_RUN, "the (missing) rows read", 10)
        await pilot.press("ctrl+n")
        await wait_until(
            pilot,
            lambda: any("no held-out questions" in n.message for n in app._notifications),
            "the no-rows warning",
            10,
        )
        rows.write_text(written)
        await pilot.press("ctrl+n")
        box = screen.query_one("#question", QuestionBox)
        await wait_until(pilot, lambda: box.value == LONG_QUESTION, "the question read from the new file", 10)


async def test_stopping_the_server_keeps_both_transcripts(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="chat")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        assert screen.has_class("-single")
        screen.models = ["base", "adapter"]  # as a server that came up answers
        await settle(pilot, 0.1)
        assert not screen.has_class("-single")
        for column_id, model in (("#col-a", "adapter"), ("#col-b", "base")):
            view = await screen.query_one(column_id, ChatColumn).add_turn("1 + 1?", model)
            view.append("<SOLUTION>2</SOLUTION>")
            view.finish("done")
        screen._disconnect()  # what a stopped server does: no models, empty pickers
        await settle(pilot, 0.1)
        assert screen.models == []
        assert not screen.has_class("-single"), "column B (the base model's answers) stays"
        assert screen.query_one("#col-b", ChatColumn).display
        assert [v.model for v in screen.query_one("#col-b", ChatColumn).answers] == ["base"]
        await pilot.press("ctrl+l")  # clearing an unpicked B folds it away
        await settle(pilot, 0.1)
        assert screen.has_class("-single")


async def test_mode_keys_work_from_the_question_box_and_the_status_names_what_is_served(
    tmp_path: Path,
) -> None:
    app = frozen_app(tmp_path, initial_mode="chat")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        status = str(screen.query_one("#serve-state").render())
        assert "Ctrl+T serves base + adapters" in status, status
        assert screen.query_one("#question", QuestionBox).has_focus
        await pilot.press("f6")
        await wait_until(pilot, lambda: app.current_mode == "evaluate", "F6 from the question box", 5)
        await pilot.press("f5")
        await wait_until(pilot, lambda: app.current_mode == "chat", "F5 back", 5)
