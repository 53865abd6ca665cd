"""A line plot of metric series over steps (or seconds), drawn by plotext inside Textual.

The widget only declares what to draw and refreshes; the owner decides when (a throttled timer with a
dirty flag, paused while the screen is hidden), because building a plotext figure costs milliseconds.

The legend is not plotext's, which it draws inside the canvas over the data (at 120x40 the reward plot's
covered about 30 of its 52 data columns, at 80x24 all but the last): it is a line under the plot, each
series in its colour with its latest value and which way it went. The x axis has whole-number ticks, and
no "step" label under them (a row more for the data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from workbench.series import thin

PALETTE = ("cyan+", "green+", "yellow+", "magenta+", "blue+", "red+", "orange+", "white")
"""Line colours in order; the first line of a plot (the headline series) is always cyan."""
RICH_COLOURS = {
    "cyan+": "bright_cyan",
    "green+": "bright_green",
    "yellow+": "bright_yellow",
    "magenta+": "bright_magenta",
    "blue+": "bright_blue",
    "red+": "bright_red",
    "orange+": "orange1",
    "white": "white",
}
"""The legend's colour for each plotext colour."""
MAX_TICKS = 6
"""About this many x ticks (fewer on narrow plots)."""
LEGEND_ROWS = 2
"""The legend wraps between series onto at most this many lines (one on plots under 14 rows)."""
POINTS_PER_COLUMN = 2
"""Braille markers resolve two points per terminal column: more would only cost time."""


@dataclass(frozen=True)
class Line:
    """One series to draw."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    yside: Literal["left", "right"] = "left"
    color: str | None = None


class MetricPlot(PlotextPlot):
    """A titled multi-line plot; call `draw` with the lines, it thins them to the width and refreshes."""

    DEFAULT_CSS = """
    MetricPlot {
        height: 1fr;
        width: 1fr;
        min-height: 6;
    }
    """

    def __init__(
        self, title: str, xlabel: str = "step", *, id: str | None = None, classes: str | None = None
    ) -> None:
        """An empty plot titled `title` with `xlabel` under the x axis (none for "step")."""
        super().__init__(id=id, classes=classes)
        self.title = title
        self.xlabel = xlabel
        self.draw_count = 0
        """How many times the plot was rebuilt (tests and benchmarks watch it advance)."""
        self._lines: list[Line] = []

    @property
    def lines(self) -> tuple[Line, ...]:
        """The series of the last `draw`, as given (before thinning): what the plot shows."""
        return tuple(self._lines)

    def on_mount(self) -> None:
        super().on_mount()
        self.draw(self.title, [])

    def render(self) -> RenderResult:
        width = max(1, self.size.width)
        legend = self.legend_lines(width, LEGEND_ROWS if self.size.height >= 14 else 1)
        height = max(1, self.size.height - len(legend))
        self._plot.plotsize(width, height)
        self._plot._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        self._plot.theme(self._get_plotext_theme_name(self.app.theme))
        canvas = Text.from_ansi(self._plot.build().rstrip("\n"))
        return Text("\n").join([canvas, *legend])

    def legend_lines(self, width: int, rows: int = LEGEND_ROWS) -> list[Text]:
        """The legend under the plot: `━ total 7.22 ↑  ━ check_answer 3.00 →`, each drawn series in its
        colour with its latest value and its direction over the last steps, wrapped between series into
        at most `rows` lines of `width` cells (the last one cut with an ellipsis)."""
        items = []
        for index, line in enumerate(self._lines):
            if not line.ys:
                continue
            item = Text(no_wrap=True)
            item.append("━ ", RICH_COLOURS.get(line.color or PALETTE[index % len(PALETTE)], ""))
            item.append(f"{line.label} {short_value(line.ys[-1])}{trend_arrow(line.ys)}")
            items.append(item)
        lines: list[Text] = []
        for item in items:
            if lines and lines[-1].cell_len + 2 + item.cell_len <= width:
                lines[-1].append("  ")
                lines[-1].append_text(item)
            elif len(lines) < rows:
                lines.append(item)
            else:
                lines[-1].append("  ")
                lines[-1].append_text(item)
        for row in lines:
            row.truncate(width, overflow="ellipsis")
        return lines

    def draw(
        self,
        title: str,
        lines: Sequence[Line],
        xlabel: str | None = None,
        ylim: tuple[float, float] | None = None,
    ) -> None:
        """Replace the plot's content.

        Args:
            title: The title (the owner puts the latest value in it).
            lines: The series; empty ones are skipped.
            xlabel: The x axis label (default: the one given at construction).
            ylim: Fixed y limits (e.g. 0-100 for percentages), else automatic.
        """
        plt = self.plt
        plt.clear_figure()
        plt.title(title)
        # Whole-step ticks say what the x axis counts: a "step" label would take a row from the data.
        axis = xlabel or self.xlabel
        if axis != "step":
            plt.xlabel(axis)
        width = max(10, self.size.width)
        drawn = 0
        low, high = math.inf, -math.inf
        for index, line in enumerate(lines):
            if not line.xs:
                continue
            xs, ys = thin(line.xs, line.ys, POINTS_PER_COLUMN * width)
            plt.plot(
                xs,
                ys,
                marker="braille",
                yside=line.yside,
                color=line.color or PALETTE[index % len(PALETTE)],
            )
            low, high = min(low, min(xs)), max(high, max(xs))
            drawn += 1
        if drawn:
            ticks = integer_ticks(low, high, max(2, min(MAX_TICKS, width // 10)))
            plt.xticks([float(tick) for tick in ticks], [str(tick) for tick in ticks])
        if ylim is not None and drawn:
            plt.ylim(*ylim)
        self._lines = list(lines)
        self.draw_count += 1
        self.refresh()


def integer_ticks(low: float, high: float, most: int) -> list[int]:
    """Whole-number x ticks: both ends, and between them multiples of a round step (1, 2 or 5 x 10^k)
    chosen so that about `most` ticks show (steps are counted: 21.8 and 42.5 are not steps).

    Args:
        low: The smallest x drawn.
        high: The largest x drawn.
        most: The most ticks wanted (at least 2).

    Returns:
        Ascending whole numbers within [low, high] (one when they round to the same number).
    """
    first, last = math.ceil(low), math.floor(high)
    if last <= first:
        return [round(low)]
    span = last - first
    step = 1
    for magnitude in (10**k for k in range(12)):
        for factor in (1, 2, 5):
            step = factor * magnitude
            if span / step <= most - 1:
                break
        else:
            continue
        break
    inner = range(math.ceil(first / step) * step, last + 1, step)
    # The ends are always labelled (the run's first and latest step); a round tick too close to an end
    # would print over its label.
    return [first, *(t for t in inner if min(t - first, last - t) >= step / 2), last]


def short_value(value: float) -> str:
    """A latest value in a few characters: 7.22, 0.0438, 113.6, 1.2e+03."""
    size = abs(value)
    if size == 0 or 0.01 <= size < 1000:
        return f"{value:.3g}" if size < 10 else f"{value:.1f}"
    return f"{value:.2g}"


def trend_arrow(ys: Sequence[float], window: int = 5) -> str:
    """` ↑`, ` ↓` or ` →`: the last value against the mean of the `window` before it."""
    if len(ys) < 2:
        return ""
    before = ys[-1 - window : -1] or ys[:-1]
    mean = sum(before) / len(before)
    scale = max(abs(mean), abs(ys[-1]), 1e-12)
    change = (ys[-1] - mean) / scale
    return " ↑" if change > 0.02 else " ↓" if change < -0.02 else " →"
