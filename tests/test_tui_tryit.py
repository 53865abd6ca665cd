"""Custom rewards in Configure and the try-it screen (issue 18 items 1 and 2), under Pilot: a weight row
per custom reward, a broken reward file named next to its field with Launch disabled, and try-it's
scores, reasons and total changing as a completion is typed (scored in a worker process)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, TextArea
from tui_helpers import frozen_app, settle, wait_until

from screens.configure import ConfigureScreen
from screens.tryit import TryRewardsScreen

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "custom_rewards.py"


async def test_custom_rewards_get_weight_rows_and_a_broken_file_is_named(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfigureScreen)
        screen.set_field("custom_rewards", f"{EXAMPLES}:length_reward, {EXAMPLES}:vietnamese_reward")
        await wait_until(pilot, lambda: screen.config is not None and screen.config.custom_rewards, "config")
        assert screen.config is not None
        assert [e.function for e in screen.config.custom_rewards] == ["length_reward", "vietnamese_reward"]
        assert screen.config.rewards["length_reward"] == 1.0  # a new custom reward weighs 1.0
        await pilot.pause()
        screen.set_field("rewards.length_reward", "0.25")
        await wait_until(
            pilot,
            lambda: screen.config is not None and screen.config.rewards.get("length_reward") == 0.25,
            "the custom weight in the config",
            5,
        )
        screen.set_field("rewards.vietnamese_reward", "-1")
        await wait_until(
            pilot, lambda: "negative" in screen.field_message("rewards.vietnamese_reward"), "its message", 5
        )
        assert not screen.can_launch
        screen.set_field("rewards.vietnamese_reward", "0")
        await wait_until(pilot, lambda: screen.field_message("rewards.vietnamese_reward") == "", "fixed", 5)

        broken = tmp_path / "broken.py"
        broken.write_text("def f(completions, **kwargs):\n    return 'x'\n", encoding="utf-8")
        screen.set_field("custom_rewards", f"{broken}:f")
        await wait_until(
            pilot,
            lambda: "returned a str instead of a list" in screen.field_message("custom_rewards"),
            "the pre-launch check's message next to custom_rewards",
            60,
        )
        assert f"custom reward f ({broken})" in screen.field_message("custom_rewards")
        assert not screen.can_launch
        screen.set_field("custom_rewards", "examples/custom_rewards.py")
        await wait_until(
            pilot, lambda: "is not FILE.py:FUNCTION" in screen.field_message("custom_rewards"), "parse", 5
        )


async def test_try_it_scores_as_you_type(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        configure = app.screen
        assert isinstance(configure, ConfigureScreen)
        configure.set_field("custom_rewards", f"{EXAMPLES}:vietnamese_reward")
        configure.set_field("rewards.correctness", "1")
        await wait_until(
            pilot, lambda: configure.config is not None and configure.config.custom_rewards, "config", 5
        )
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, TryRewardsScreen), "try-it", 5)
        screen = app.screen
        assert isinstance(screen, TryRewardsScreen)
        await wait_until(pilot, lambda: screen.scored >= 1, "the first scores", 60)
        assert screen.report is not None
        names = [s.name for s in screen.report.scores]
        assert names[-1] == "vietnamese_reward" and "check_answer" in names

        await wait_until(pilot, lambda: bool(screen.rows), "the bundled rows", 60)
        row_field = screen.query_one("#try-row-input", Input)
        row_field.focus()
        await pilot.press("3")
        await wait_until(pilot, lambda: screen.row_index == 2, "row 3", 5)
        gold = screen.rows[2].answer
        assert screen.query_one("#try-answer", Input).value == gold
        assert screen.rows[2].question.split()[0] in str(screen.query_one("#try-question").render())

        area = screen.query_one("#try-completion", TextArea)
        area.focus()
        area.text = ""
        before = screen.scored
        await pilot.press(*"hello")
        await wait_until(pilot, lambda: screen.scored > before and screen.report is not None, "rescored", 60)
        await wait_until(
            pilot,
            lambda: (
                screen.report is not None
                and {s.name: s.reason for s in screen.report.scores}["check_answer"] == "no <SOLUTION>"
            ),
            "the reason of a completion without a solution",
            30,
        )
        low = screen.report.total
        area.text = f"<thinking>\nTa có phép tính đơn giản.\n</thinking>\n<SOLUTION>{gold}</SOLUTION>"
        await wait_until(
            pilot,
            lambda: screen.report is not None and screen.report.total > low + 5,
            "a higher total for the right answer in the format",
            60,
        )
        reasons = {s.name: s.reason for s in screen.report.scores}
        assert reasons["check_answer"] == f"{gold} is the gold answer as written"
        assert reasons["match_format_exactly"] == "a <thinking> block then a <SOLUTION> block"
        custom = next(s for s in screen.report.scores if s.name == "vietnamese_reward")
        assert custom.custom and custom.score is not None and custom.score > 0.5
        table = str(screen.query_one("#try-total").render())
        assert "total" in table

        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: screen.row_index == 3, "the next row", 5)
        await pilot.press("ctrl+r")
        assert screen.rows[3].answer in area.text and "<thinking>" in area.text
        await pilot.press(*"!!")  # typing goes on after the reference, not before `<thinking>`
        assert area.text.startswith("<thinking>") and area.text.endswith("</SOLUTION>!!"), area.text
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfigureScreen), "back to Configure", 5)
