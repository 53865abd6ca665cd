"""Nothing hidden, at 80x24 and 120x40: every mode names itself and shows every mode's key and quit, no
footer overflows (an overflowing footer left a stray `^p palettei` in Chat's), and on/off boxes read
on or off without colour.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from tui_helpers import CPU_RUN, frozen_app, settle, wait_until

from screens.app import MODE_SPECS
from screens.evaluate import EvaluateScreen
from screens.widgets.modebar import ModeBar
from screens.widgets.ticks import TICK, TickBox, TickList

EVAL_RUNS = Path(__file__).resolve().parent / "fixtures" / "eval_runs"
SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("mode", [spec.name for spec in MODE_SPECS])
async def test_every_mode_names_itself_and_shows_every_key_to_leave_it(
    mode: str, size: tuple[int, int], tmp_path: Path
) -> None:
    app = frozen_app(tmp_path, initial_mode=mode, attach=CPU_RUN)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(ModeBar)
        line = bar.render()
        assert line.cell_len <= size[0], line.plain
        for spec in MODE_SPECS:
            assert f" {spec.f_key} {spec.title} " in line.plain, (spec.title, line.plain)
        current = next(spec for spec in MODE_SPECS if spec.name == mode)
        highlighted = [line.plain[span.start : span.end] for span in line.spans if span.style]
        assert f" {current.f_key} {current.title} " in highlighted, highlighted
        footer = app.screen.query_one(Footer)
        keys = [key for key in footer.query(FooterKey) if not key.has_class("-command-palette")]
        assert {"ctrl+q", "f1"} <= {key.key for key in keys}
        # One line, nothing under the palette hint docked on its right (which is what left `i` behind).
        palette = footer.query_one("FooterKey.-command-palette")
        assert all(key.region.right <= palette.region.x for key in keys), [
            (key.key, key.region) for key in keys
        ]
        assert palette.region.right <= size[0]


async def test_a_click_on_a_mode_switches_to_it(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = app.screen.query_one(ModeBar).render().plain
        await pilot.click(ModeBar, offset=(line.index("Chat"), 0))
        await settle(pilot, 0.1)
        assert app.current_mode == "chat"


async def test_evaluate_boxes_read_on_and_off_without_colour(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    shutil.copytree(EVAL_RUNS, root, ignore=shutil.ignore_patterns("*.py"))
    app = frozen_app(tmp_path, runs_root=root, initial_mode="evaluate")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EvaluateScreen)
        targets = screen.query_one("#eval-targets", TickList)
        await wait_until(pilot, lambda: targets.option_count > 1, "the targets", 10)
        targets.deselect_all()
        targets.select(targets.get_option_at_index(0))
        await pilot.pause()
        boxes = [targets.render_line(y).text[:3] for y in range(targets.option_count)]
        assert boxes[0] == f"▐{TICK}▌" and set(boxes[1:]) == {"▐ ▌"}, boxes
        greedy = screen.query_one("#eval-greedy", TickBox)
        greedy.value = True
        assert TICK in greedy.render().plain
        greedy.value = False
        assert TICK not in greedy.render().plain and "X" not in greedy.render().plain
