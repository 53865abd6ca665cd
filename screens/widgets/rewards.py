"""One small plot per reward function, beside the Monitor's total reward plot.

Each reward function the run logs (`rewards/<name>/mean` in metrics.jsonl: the set comes from the run's
data, so a custom reward shows as soon as it is logged) gets a cell titled with its name, its latest value
and which way it went, and its series drawn under the title. How they are drawn depends on the room the
widget has, chosen again at every size:

* plots: a grid of small braille line plots (two points across and four down per cell) when every cell
  gets at least `MIN_PLOT_WIDTH` x `MIN_PLOT_HEIGHT`. Each is framed as the main plots are, with round
  y ticks (`nice_ticks`, `tick_labels`) on the left and whole-step x ticks (`integer_ticks`), in fewer
  rows: the title sits in the frame's top edge (as Textual's border titles do) and the x tick labels in
  its bottom edge, so a 5-row cell (120x40, four rewards) keeps three rows of data, where the main
  plots' title row, frame and tick row would leave it one. Its y labels were the data's raw top and
  bottom (`0.188`, `-1.5`) and it had neither frame nor x axis;
* two lines per reward: the title, then a one-row sparkline (eight levels) across the whole width, when
  there are two rows for each reward (80x24);
* one line per reward: the title and a sparkline in the columns left over; rewards that find no row are
  counted on the last one.

The x axis is the steps, as the total plot beside it. The drawing is plain Python over at most two points
per column (no plotext figure): it costs well under a millisecond a reward, so redrawing it at every new
step costs a followed run nothing worth measuring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual.widget import Widget

from screens.widgets.plots import (
    MAX_TICKS,
    MAX_Y_TICKS,
    PALETTE,
    RICH_COLOURS,
    integer_ticks,
    nice_ticks,
    short_value,
    tick_labels,
    trend_arrow,
    y_limits,
)
from workbench.series import thin

MIN_PLOT_WIDTH = 24
"""Narrowest small plot: y labels of about four characters, the frame's two sides and, in its top edge, a
title that keeps eight characters of a long name beside its latest value and arrow (at 18 across,
`match_format_exactly` and `match_format_approximately` were both `ma…`)."""
MIN_PLOT_HEIGHT = 4
"""Lowest small plot: the frame's top (with the title) and bottom (with the x ticks), two rows of data."""
FRAME_STYLE = "dim"
"""The frame, its ticks and their labels."""
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
    """The y range a sparkline spreads its levels over (a flat line sits in the middle)."""
    low, high = min(ys), max(ys)
    if high - low < 1e-12:
        pad = max(abs(low) * 0.05, 0.5)
        low, high = low - pad, high + pad
    return low, high


def braille_rows(
    xs: Sequence[float],
    ys: Sequence[float],
    width: int,
    height: int,
    limits: tuple[float, float] | None = None,
) -> list[str]:
    """A line through the points on a `width` x `height` grid of braille cells (2 x 4 dots each): the x
    range spans the columns, the y range the rows (lowest at the bottom), consecutive points joined.

    Args:
        xs: Steps, ascending.
        ys: Values, as many.
        width: Columns (at least 1).
        height: Rows (at least 1).
        limits: The y values of the bottom and top dot rows (the axis's, so ticks put beside the rows
            say what they hold); default: the data's range.

    Returns:
        `height` strings of `width` characters (blank where no dot is set).
    """
    dots_x, dots_y = 2 * width, 4 * height
    cells = [[0] * width for _ in range(height)]
    if not xs:
        return [" " * width for _ in range(height)]
    xs, ys = thin(xs, ys, dots_x)
    x0, x1 = xs[0], xs[-1]
    low, high = limits if limits is not None else _scale(ys)

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


def y_tick_rows(limits: tuple[float, float], rows: int) -> dict[int, str]:
    """The y ticks of a small plot `rows` high over `limits`: round numbers (as the main plots'), each by
    the row that holds its value, at most one every two rows (a label in each row of a 3-row plot when
    only three round numbers fit), the higher of two that fall in one row kept.

    Returns:
        Each labelled row (0 at the top) and its label.
    """
    low, high = limits
    ticks = nice_ticks(low, high, max(2, min(MAX_Y_TICKS, rows // 2 + 1)))
    dots = 4 * rows - 1
    labelled: dict[int, str] = {}
    for tick, label in zip(reversed(ticks), reversed(tick_labels(ticks)), strict=True):
        row = round((high - tick) / (high - low) * dots) // 4
        labelled.setdefault(row, label)
    return labelled


def x_axis(xs: Sequence[float], width: int) -> str:
    """The bottom edge of a small plot `width` columns wide, with the whole steps of `integer_ticks`
    written into it where their columns are (the first step at the left end, the latest at the right,
    those between centred on their column and left out where they would touch a neighbour)."""
    first, last = xs[0], xs[-1]
    ticks = integer_ticks(first, last, max(2, min(MAX_TICKS, width // 6)))
    axis = ["─"] * width
    placed: list[tuple[int, int]] = []  # (start, end) of each label written

    def place(tick: int, start: int) -> None:
        label = str(tick)
        start = min(max(0, start), width - len(label))
        end = start + len(label)
        if start < 0 or any(start <= b and a <= end for a, b in placed):
            return  # no room, or it would touch a label already there
        axis[start:end] = label
        placed.append((start, end))

    def column(tick: int) -> int:
        return 0 if last == first else round((tick - first) / (last - first) * (2 * width - 1)) // 2

    place(ticks[0], 0)
    if len(ticks) > 1:
        place(ticks[-1], width - len(str(ticks[-1])))
    for tick in ticks[1:-1]:
        place(tick, column(tick) - len(str(tick)) // 2)
    return "".join(axis)


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
        """One small plot, framed: the title centred in the top edge, y ticks on the left, the line in
        the reward's colour, the x ticks' labels in the bottom edge; `height` rows of `width` cells."""
        rows = max(1, height - 2)
        ys = series.ys
        limits = y_limits(min(ys), max(ys)) if ys else None
        labels = y_tick_rows(limits, rows) if limits else {}
        label_width = max((len(label) for label in labels.values()), default=0)
        inner = max(1, width - label_width - 2)
        pad = " " * label_width
        title = title_line(series, max(1, inner - 2))
        left = (inner - title.cell_len - 2) // 2
        top = Text(pad + "┌" + "─" * left + " ", FRAME_STYLE, no_wrap=True)
        top.append_text(title)
        top.append(" " + "─" * (inner - title.cell_len - 2 - left) + "┐", FRAME_STYLE)
        cell = [top]
        braille = braille_rows(series.xs, ys, inner, rows, limits)
        colour = RICH_COLOURS.get(series.color, "")
        for row, dots in enumerate(braille):
            label = labels.get(row)
            line = Text(no_wrap=True)
            line.append(f"{label:>{label_width}}┤" if label else pad + "│", FRAME_STYLE)
            line.append(dots, colour)
            line.append("│", FRAME_STYLE)
            cell.append(line)
        bottom = x_axis(series.xs, inner) if series.xs else "─" * inner
        cell.append(Text(pad + "└" + bottom + "┘", FRAME_STYLE, no_wrap=True))
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
