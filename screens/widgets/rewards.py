"""One small plot per reward function, beside the Monitor's total reward plot.

Each reward function the run logs (`rewards/<name>/mean` in metrics.jsonl: the set comes from the run's
data, so a custom reward shows as soon as it is logged) gets a cell titled with its name, its latest value
and which way it went, and its series drawn under the title. How they are drawn depends on the room the
widget has, chosen again at every size:

* plots: a grid of small braille line plots (two points across and four down per cell), each with its
  top and bottom value on the left, when every cell gets at least `MIN_PLOT_WIDTH` x `MIN_PLOT_HEIGHT`;
* two lines per reward: the title, then a one-row sparkline (eight levels) across the whole width, when
  there are two rows for each reward (80x24);
* one line per reward: the title and a sparkline in the columns left over; rewards that find no row are
  counted on the last one.

The x axis is the steps, as the total plot beside it, without ticks. The drawing is plain Python over at
most two points per column (no plotext figure): it costs well under a millisecond a reward, so redrawing
it at every new step costs a followed run nothing worth measuring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual.widget import Widget

from screens.widgets.plots import PALETTE, RICH_COLOURS, short_value, trend_arrow
from workbench.series import thin

MIN_PLOT_WIDTH = 20
"""Narrowest small plot (its value labels and at least a dozen columns of data)."""
MIN_PLOT_HEIGHT = 3
"""Lowest small plot: its title and two rows (eight dots) of data."""
GUTTER = 1
"""Blank columns between two small plots side by side."""
SPARKS = "▁▂▃▄▅▆▇█"
"""The sparkline's eight levels, lowest first."""
BRAILLE_BASE = 0x2800
DOT_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
"""The bit of each dot of a braille cell, by (row 0-3, column 0-1)."""

Mode = Literal["plots", "lines2", "lines1", "none"]


@dataclass(frozen=True)
class RewardSeries:
    """One reward function's per-step mean."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str
    """A plotext colour name of `PALETTE` (the legend's colour for it)."""


@dataclass(frozen=True)
class Layout:
    """How the rewards are laid out in a widget of a given size."""

    mode: Mode
    columns: int = 0
    """Small plots across (plots mode)."""
    rows: int = 0
    """Small plots down (plots mode)."""


def choose_layout(count: int, width: int, height: int) -> Layout:
    """The layout for `count` rewards in `width` x `height` cells: small plots in the grid with the widest
    cells that are all at least MIN_PLOT_WIDTH x MIN_PLOT_HEIGHT, else two lines per reward when there are
    the rows for it, else one line per reward.

    Args:
        count: How many reward functions.
        width: Columns available.
        height: Rows available.

    Returns:
        The layout (mode "none" for no rewards or no room at all).
    """
    if count == 0 or width < 1 or height < 1:
        return Layout("none")
    best: Layout | None = None
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        cell_width = (width - GUTTER * (columns - 1)) // columns
        cell_height = height // rows
        if cell_width >= MIN_PLOT_WIDTH and cell_height >= MIN_PLOT_HEIGHT:
            best = Layout("plots", columns, rows)
            break  # fewer columns first: the widest cells that fit
    if best is not None:
        return best
    return Layout("lines2") if 2 * count <= height else Layout("lines1")


def title_line(series: RewardSeries, width: int) -> Text:
    """`name 3.01 ↑` in `width` cells, the name in its colour and cut first (value and arrow stay)."""
    tail = f" {short_value(series.ys[-1])}{trend_arrow(series.ys)}" if series.ys else " –"
    room = max(1, width - len(tail))
    name = series.name if len(series.name) <= room else series.name[: max(0, room - 1)] + "…"
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(name, f"bold {RICH_COLOURS.get(series.color, '')}")
    line.append(tail)
    line.truncate(width)
    return line


def _scale(ys: Sequence[float]) -> tuple[float, float]:
    low, high = min(ys), max(ys)
    if high - low < 1e-12:
        pad = max(abs(low) * 0.05, 0.5)
        low, high = low - pad, high + pad
    return low, high


def braille_rows(xs: Sequence[float], ys: Sequence[float], width: int, height: int) -> list[str]:
    """A line through the points on a `width` x `height` grid of braille cells (2 x 4 dots each): the x
    range spans the columns, the y range the rows (lowest at the bottom), consecutive points joined.

    Args:
        xs: Steps, ascending.
        ys: Values, as many.
        width: Columns (at least 1).
        height: Rows (at least 1).

    Returns:
        `height` strings of `width` characters (blank where no dot is set).
    """
    dots_x, dots_y = 2 * width, 4 * height
    cells = [[0] * width for _ in range(height)]
    if not xs:
        return [" " * width for _ in range(height)]
    xs, ys = thin(xs, ys, dots_x)
    x0, x1 = xs[0], xs[-1]
    low, high = _scale(ys)

    def dot(x: float, y: float) -> tuple[int, int]:
        column = 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (dots_x - 1))
        row = round((high - y) / (high - low) * (dots_y - 1))
        return column, row

    def put(column: int, row: int) -> None:
        cells[row // 4][column // 2] |= DOT_BITS[row % 4][column % 2]

    points = [dot(x, y) for x, y in zip(xs, ys, strict=True)]
    if x1 == x0:  # one step: a dot on every column at its value
        points = [(0, points[-1][1]), (dots_x - 1, points[-1][1])]
    put(*points[0])
    for (ca, ra), (cb, rb) in zip(points, points[1:], strict=False):
        steps = max(abs(cb - ca), abs(rb - ra), 1)
        for i in range(1, steps + 1):
            put(round(ca + (cb - ca) * i / steps), round(ra + (rb - ra) * i / steps))
    return ["".join(chr(BRAILLE_BASE + bits) if bits else " " for bits in row) for row in cells]


def sparkline(ys: Sequence[float], width: int) -> str:
    """The values as `width` block characters (or fewer when there are fewer values), each the mean of its
    share of the series, lowest value `▁`, highest `█`."""
    if not ys or width < 1:
        return ""
    count = min(width, len(ys))
    # count <= len(ys): every bucket holds at least one value
    buckets = [ys[len(ys) * i // count : len(ys) * (i + 1) // count] for i in range(count)]
    means = [sum(b) / len(b) for b in buckets]
    low, high = _scale(means)
    top = len(SPARKS) - 1
    return "".join(SPARKS[min(top, max(0, round((m - low) / (high - low) * top)))] for m in means)


class RewardPlots(Widget):
    """The per-reward plots; `draw` gives it the series, it lays them out for its size when it renders."""

    DEFAULT_CSS = """
    RewardPlots {
        height: 1fr;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.series: list[RewardSeries] = []
        """What is drawn, in the run's order of reward functions."""
        self.draw_count = 0
        """How many times new series were given (tests and benchmarks watch it advance)."""

    def draw(self, series: Sequence[RewardSeries]) -> None:
        """Show `series` (one per reward function) and repaint."""
        self.series = list(series)
        self.draw_count += 1
        self.refresh()

    @property
    def layout_now(self) -> Layout:
        """The layout for the widget's current size."""
        return choose_layout(len(self.series), self.size.width, self.size.height)

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        layout = choose_layout(len(self.series), width, height)
        if layout.mode == "plots":
            rows = self._plots(layout, width, height)
        elif layout.mode == "lines2":
            rows = self._lines2(width)
        elif layout.mode == "lines1":
            rows = self._lines1(width, height)
        else:
            rows = [Text("no reward functions logged yet", style="dim")] if width > 0 else []
        return Text("\n").join(rows)

    def _plots(self, layout: Layout, width: int, height: int) -> list[Text]:
        cell_width = (width - GUTTER * (layout.columns - 1)) // layout.columns
        cell_height = height // layout.rows
        lines: list[Text] = []
        for band in range(layout.rows):
            cells = [
                self._plot_cell(series, cell_width, cell_height)
                for series in self.series[band * layout.columns : (band + 1) * layout.columns]
            ]
            for row in range(cell_height):
                line = Text(no_wrap=True)
                for index, cell in enumerate(cells):
                    if index:
                        line.append(" " * GUTTER)
                    line.append_text(cell[row])
                lines.append(line)
        return lines

    def _plot_cell(self, series: RewardSeries, width: int, height: int) -> list[Text]:
        """The title, then the plot: top and bottom values on the left, the line in the reward's colour."""
        cell = [title_line(series, width)]
        data_rows = height - 1
        if series.ys:
            low, high = _scale(series.ys)
            top, bottom = short_value(high), short_value(low)
        else:
            top = bottom = ""
        label_width = max(len(top), len(bottom))
        plot_width = max(1, width - label_width - 1)
        braille = braille_rows(series.xs, series.ys, plot_width, data_rows)
        colour = RICH_COLOURS.get(series.color, "")
        for row, dots in enumerate(braille):
            label = top if row == 0 else bottom if row == data_rows - 1 else ""
            line = Text(no_wrap=True)
            line.append(f"{label:>{label_width}}┤" if label else " " * label_width + "│", "dim")
            line.append(dots, colour)
            cell.append(line)
        for line in cell:
            line.pad_right(width - line.cell_len)
            line.truncate(width)
        return cell

    def _lines2(self, width: int) -> list[Text]:
        lines: list[Text] = []
        for series in self.series:
            lines.append(title_line(series, width))
            lines.append(Text(sparkline(series.ys, width), RICH_COLOURS.get(series.color, "")))
        return lines

    def _lines1(self, width: int, height: int) -> list[Text]:
        shown = self.series if len(self.series) <= height else self.series[: height - 1]
        name_width = min(max(len(s.name) for s in self.series), max(8, width // 2))
        lines: list[Text] = []
        for series in shown:
            title = title_line(series, name_width + 9)
            title.pad_right(name_width + 9 - title.cell_len)
            line = Text(no_wrap=True)
            line.append_text(title)
            room = width - line.cell_len - 1
            if room > 0:
                line.append(" ")
                line.append(sparkline(series.ys, room), RICH_COLOURS.get(series.color, ""))
            line.truncate(width)
            lines.append(line)
        if len(shown) < len(self.series):
            hidden = len(self.series) - len(shown)
            lines.append(
                Text(
                    f"+{hidden} more reward{'s' if hidden > 1 else ''}: a taller terminal shows them",
                    style="dim",
                )
            )
        return lines


def colour_of(index: int) -> str:
    """The colour of the `index`-th reward function (the total's cyan is `PALETTE[0]`)."""
    return PALETTE[(index + 1) % len(PALETTE)]
