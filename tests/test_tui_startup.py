"""What the first frame costs (issue 17 item 9, first paint under a second): a mode's screen is styled
once before it shows (Textual restyles a screen on each of the two resumes `switch_mode` posts for a new
mode; `screens.modescreen.ModeScreen` skips them until the first frame), is born with its breakpoint
classes, and a mode shown again is restyled as Textual does (its styles may be stale by then)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_helpers import frozen_app, settle

from screens.configure import ConfigureScreen
from screens.runs import RunsScreen


async def test_a_new_mode_screen_is_styled_once_and_restyled_when_shown_again(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    restyled: list[Any] = []
    update_styles = app.update_styles

    def counting(node: Any = None, animate: bool = True) -> None:
        restyled.append(node)
        update_styles(node, animate=animate)

    app.update_styles = counting  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        configure = app.screen
        assert isinstance(configure, ConfigureScreen)
        assert {"-wide", "-tall"} <= configure.classes
        assert configure not in restyled, "the whole form restyled before its first frame"
        await pilot.press("f3")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        assert app.screen not in restyled
        await pilot.press("f2")
        await settle(pilot)
        assert app.screen is configure
        assert configure in restyled, "a mode shown again is restyled"
