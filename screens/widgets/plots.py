"""A line plot of metric series over steps (or seconds), drawn by plotext inside Textual.

The widget only declares what to draw and refreshes; the owner decides when (a throttled timer with a
dirty flag, paused while the screen is hidden), because building a plotext figure costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from textual_plotext import PlotextPlot

from workbench.series import thin

PALETTE = ("cyan+", "green+", "yellow+", "magenta+", "blue+", "red+", "orange+", "white")
"""Line colours in order; the first line of a plot (the headline series) is always cyan."""
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
        """An empty plot titled `title` with `xlabel` under the x axis."""
        super().__init__(id=id, classes=classes)
        self.title = title
        self.xlabel = xlabel
        self.draw_count = 0
        """How many times the plot was rebuilt (tests and benchmarks watch it advance)."""

    def on_mount(self) -> None:
        super().on_mount()
        self.draw(self.title, [])

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
        plt.xlabel(xlabel or self.xlabel)
        width = max(10, self.size.width)
        drawn = 0
        for index, line in enumerate(lines):
            if not line.xs:
                continue
            xs, ys = thin(line.xs, line.ys, POINTS_PER_COLUMN * width)
            plt.plot(
                xs,
                ys,
                label=line.label,
                marker="braille",
                yside=line.yside,
                color=line.color or PALETTE[index % len(PALETTE)],
            )
            drawn += 1
        if ylim is not None and drawn:
            plt.ylim(*ylim)
        self.draw_count += 1
        self.refresh()
