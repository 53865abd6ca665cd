"""The Monitor's plots, read off the canvas: the data is not covered (the legend is a line under the
plot, not plotext's box over the data), x ticks are whole steps, and a CPU run shows one line instead of
an empty GPU box."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.text import Text
from tui_helpers import CPU_RUN, GPU_RUN, frozen_app, settle, wait_until

from screens.monitor import MonitorScreen
from screens.widgets.plots import MetricPlot, integer_ticks
from screens.widgets.textline import TextLine

SIZES = [(80, 24), (120, 40)]
BRAILLE = re.compile("[\u2801-\u28ff]")


def canvas(plot: MetricPlot) -> tuple[list[str], list[str], list[str]]:
    """(data rows inside the frame, the x tick label row, the rows under it: the legend)."""
    rendered = plot.render()
    assert isinstance(rendered, Text)
    rows = rendered.plain.splitlines()
    top = next(i for i, row in enumerate(rows) if "┌" in row)
    bottom = next(i for i, row in enumerate(rows) if "└" in row)
    left = rows[top].index("┌") + 1
    right = rows[top].rindex("┐")
    data = [row[left:right] for row in rows[top + 1 : bottom]]
    return data, [rows[bottom + 1]], rows[bottom + 2 :]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("run", [GPU_RUN, CPU_RUN])
async def test_the_reward_plot_shows_its_data_across_the_canvas(
    run: str, size: tuple[int, int], tmp_path: Path
) -> None:
    app = frozen_app(tmp_path, initial_mode="monitor", attach=run)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await wait_until(pilot, lambda: screen.metrics.max_step > 0, "the replayed history", 10)
        await settle(pilot)
        plot = screen.query_one("#plot-reward", MetricPlot)
        data, ticks, legend = canvas(plot)
        width = len(data[0])
        with_data = sum(1 for column in range(width) if any(BRAILLE.match(row[column]) for row in data))
        # Every column of the canvas holds data (the lines span the run's steps); plotext's legend
        # covered about 30 of 52 at 120x40 and all but the last at 80x24.
        assert with_data >= width - 1, (with_data, width, data)
        assert not any(re.search("[a-z]", row) for row in data), "no text over the data"
        labels = ticks[0].split()
        assert labels and all(label.isdigit() for label in labels), ticks
        assert labels[0] == "1" and labels[-1] == str(screen.metrics.max_step), labels
        assert legend and "━ total" in legend[0], legend


@pytest.mark.parametrize(("run", "gpu"), [(GPU_RUN, True), (CPU_RUN, False)])
async def test_a_cpu_run_has_one_gpu_line_instead_of_an_empty_box(
    run: str, gpu: bool, tmp_path: Path
) -> None:
    app = frozen_app(tmp_path, initial_mode="monitor", attach=run)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await wait_until(pilot, lambda: screen.metrics.max_step > 0, "the replayed history", 10)
        await settle(pilot)
        assert screen.query_one("#plot-gpu", MetricPlot).display is gpu
        line = screen.query_one("#gpu-line", TextLine)
        assert line.display is not gpu
        if not gpu:
            assert "GPU: none logged" in str(line.text)
            loss = screen.query_one("#plot-loss", MetricPlot)
            assert loss.size.width > screen.size.width * 0.9, "the loss plot takes the GPU plot's place"


def test_integer_ticks() -> None:
    assert integer_ticks(1, 24, 6) == [1, 5, 10, 15, 20, 24]
    assert integer_ticks(1, 8, 3) == [1, 5, 8]
    assert integer_ticks(0, 84, 6) == [0, 20, 40, 60, 84]
    assert integer_ticks(5, 5, 6) == [5]
    assert all(isinstance(tick, int) for tick in integer_ticks(0.5, 41.7, 6))
