"""A line plot of metric series over steps (or seconds), drawn by plotext inside Textual.

The widget only declares what to draw and refreshes; the owner decides when (a throttled timer with a
dirty flag, paused while the screen is hidden), because building a plotext figure costs milliseconds.

The legend is not plotext's, which it draws inside the canvas over the data (at 120x40 the reward plot's
covered about 30 of its 52 data columns, at 80x24 all but the last): it is a line under the plot, each
series in its colour with its latest value and which way it went. The x axis has whole-number ticks, and
no "step" label under them (a row more for the data). The y axes have evenly spaced round ticks (1, 2 or 5
x 10^k apart) with short labels (`1.5e-5`, `12k`): plotext's own were the data's range cut in seven,
rounded to rows (their gaps alternated, 5.2 then 10.4) and written with every digit that told them apart
(a loss near zero took `0.000012345`, half the plot's width at 80 columns).
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

PALETTE = ("cyan+", "green+", "orange+", "magenta+", "blue+", "red+", "orange", "white")
"""Line colours in order; the first line of a plot (the headline series) is always cyan. Names are
plotext's: its bright yellow is `orange+` (code 11) and its yellow `orange` (3); a name it lacks (such as
`yellow+`) is drawn in a purple of its own, unlike the legend's swatch."""
RICH_COLOURS = {
    "cyan+": "bright_cyan",
    "green+": "bright_green",
    "orange+": "bright_yellow",
    "magenta+": "bright_magenta",
    "blue+": "bright_blue",
    "red+": "bright_red",
    "orange": "yellow",
    "white": "bright_white",
}
"""The legend's colour for each plotext colour: the same terminal colour number (tests pin it)."""
MAX_TICKS = 6
"""About this many x ticks (fewer on narrow plots)."""
MAX_Y_TICKS = 6
"""At most this many y ticks, and one every two rows of the canvas at most (fewer on short plots)."""
FRAME_ROWS = 4
"""Rows of a plot that are not canvas: the title, the frame's top and bottom, the x tick labels."""
LEGEND_ROWS = 2
"""The legend wraps between series onto at most this many lines (one on plots under 14 rows, unless the
series do not fit on one even with short entries)."""
LEGEND_SPARE_HEIGHT = 8
"""A plot shorter than this keeps its legend to one line (a second would leave its canvas a row or two)."""
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
        self._yranges: dict[str, tuple[float, float]] = {}
        """The y range each axis side shows (the data's, or the fixed limits): its ticks are chosen in
        `render`, which knows the canvas height."""

    @property
    def lines(self) -> tuple[Line, ...]:
        """The series of the last `draw`, as given (before thinning): what the plot shows."""
        return tuple(self._lines)

    def on_mount(self) -> None:
        super().on_mount()
        self.draw(self.title, [])

    def render(self) -> RenderResult:
        width = max(1, self.size.width)
        tall = self.size.height
        legend = self.legend_lines(
            width, LEGEND_ROWS if tall >= 14 else 1, LEGEND_ROWS if tall >= LEGEND_SPARE_HEIGHT else 1
        )
        height = max(1, self.size.height - len(legend))
        self._plot.plotsize(width, height)
        self._plot._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
        rows = height - FRAME_ROWS - (self.xlabel != "step")
        most = max(2, min(MAX_Y_TICKS, rows // 2 + 1))
        for side, (low, high) in self._yranges.items():
            low, high = y_limits(low, high)
            ticks = nice_ticks(low, high, most)
            # plotext's hints type yside as a float; it takes "left" or "right", as plot() does
            self._plot.ylim(low, high, yside=side)  # type: ignore[arg-type]
            self._plot.yticks(ticks, tick_labels(ticks), yside=side)  # type: ignore[arg-type]
        self._plot.theme(self._get_plotext_theme_name(self.app.theme))
        canvas = Text.from_ansi(self._plot.build().rstrip("\n"))
        return Text("\n").join([canvas, *legend])

    def legend_lines(self, width: int, rows: int = LEGEND_ROWS, most: int | None = None) -> list[Text]:
        """The legend under the plot: `━ total 7.22 ↑  ━ check_answer 3.00 →`, each drawn series in its
        colour with its latest value and the way its line goes (`trend_arrow`), wrapped between series into
        `rows` lines of `width` cells, or up to `most` (default `rows`) where they do not fit.

        Every series keeps its entry: where they do not all fit, the entries drop their arrows, then
        shorten their values to two digits, then take a line more (up to `most`), then drop their values
        (a review saw the third of three compared runs cut off every plot's legend at 80 columns). Only
        names too long for the width even then are cut, the last line ending in an ellipsis."""
        drawn = [(index, line) for index, line in enumerate(self._lines) if line.ys]
        tries = [(detail, rows) for detail in LEGEND_DETAILS[:-1]]
        tries += [(detail, r) for r in range(rows + 1, (most or rows) + 1) for detail in LEGEND_DETAILS[:-1]]
        tries += [(LEGEND_DETAILS[-1], r) for r in range(rows, max(rows, most or rows) + 1)]
        lines: list[Text] = []
        for detail, allowed in tries:
            lines = _pack([_legend_item(index, line, detail) for index, line in drawn], width, allowed)
            if all(row.cell_len <= width for row in lines):
                return lines
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
        self._yranges = {}
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
            bottom, top = self._yranges.get(line.yside, (math.inf, -math.inf))
            self._yranges[line.yside] = (min(bottom, min(ys)), max(top, max(ys)))
            drawn += 1
        if drawn:
            ticks = integer_ticks(low, high, max(2, min(MAX_TICKS, width // 10)))
            plt.xticks([float(tick) for tick in ticks], [str(tick) for tick in ticks])
        if ylim is not None and drawn:
            self._yranges["left"] = ylim
        self._lines = list(lines)
        self.draw_count += 1
        self.refresh()


LegendDetail = Literal["full", "value", "short", "name"]
LEGEND_DETAILS: tuple[LegendDetail, ...] = ("full", "value", "short", "name")
"""A legend entry's forms, longest first: name, value and arrow; name and value; name and a two-digit
value; the name alone."""


def _legend_item(index: int, line: Line, detail: LegendDetail) -> Text:
    """One series' legend entry in the form `detail` (a drawn series: `line.ys` is not empty)."""
    item = Text(no_wrap=True)
    item.append("━ ", RICH_COLOURS.get(line.color or PALETTE[index % len(PALETTE)], ""))
    item.append(line.label)
    if detail in ("full", "value"):
        item.append(f" {short_value(line.ys[-1])}")
    elif detail == "short":
        value = line.ys[-1]
        item.append(f" {value:.0f}" if 10 <= abs(value) < 1000 else f" {value:.2g}")
    if detail == "full":
        item.append(trend_arrow(line.ys))
    return item


def _pack(items: list[Text], width: int, rows: int) -> list[Text]:
    """The entries two spaces apart, wrapped between entries into at most `rows` lines of about `width`
    cells (the last line takes what does not fit: longer than `width` then)."""
    lines: list[Text] = []
    for item in items:
        if lines and (lines[-1].cell_len + 2 + item.cell_len <= width or len(lines) >= rows):
            lines[-1].append("  ")
            lines[-1].append_text(item)
        else:
            lines.append(item.copy())
    return lines


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


def y_limits(low: float, high: float) -> tuple[float, float]:
    """The y range drawn for data from `low` to `high`: the data's own, or around a flat line (plotext's
    choice: half to one and a half times the value, -1 to 1 about zero)."""
    if high > low:
        return low, high
    if low != 0:
        return (0.5 * low, 1.5 * low) if low > 0 else (1.5 * low, 0.5 * low)
    return -1.0, 1.0


def nice_ticks(low: float, high: float, most: int) -> list[float]:
    """Evenly spaced y ticks within [low, high]: the multiples of a round step (1, 2 or 5 x 10^k), the
    most of them up to `most`, at least two (more than `most` only when two would not otherwise fit).

    Args:
        low: The bottom of the axis.
        high: The top of the axis (above `low`).
        most: The most ticks wanted (at least 2).

    Returns:
        Ascending multiples of the step (exact: `n * step`, so 0.1 steps print as 0.3, not 0.30000004).
    """
    if not high > low:
        return [low]
    span = high - low
    top = math.ceil(math.log10(span)) + 1
    fits: list[tuple[int, float]] = []
    over: list[tuple[int, float]] = []
    for exponent in range(top, top - 4, -1):
        for factor in (5, 2, 1):
            step = factor * 10.0**exponent if exponent >= 0 else factor / 10.0 ** (-exponent)
            count = math.floor(high / step + 1e-9) - math.ceil(low / step - 1e-9) + 1
            if 2 <= count <= most:
                fits.append((count, step))
            elif count > most:
                over.append((count, step))
    count, step = max(fits) if fits else min(over)
    first = math.ceil(low / step - 1e-9)
    return [_exact(n, step) for n in range(first, first + count)]


def _exact(multiple: int, step: float) -> float:
    """`multiple * step` without binary noise in the decimals the step has."""
    return round(multiple * step, _decimals(step) + 1)


def _exponent(value: float) -> int:
    """The power of ten of a value's leading digit (`-5` for 2e-5)."""
    return math.floor(math.log10(abs(value)) + 1e-9)


def _decimals(step: float) -> int:
    """The decimals that write every multiple of `step` exactly: 0 for 20, 1 for 2.5, 2 for 0.05."""
    return next((d for d in range(15) if abs(round(step, d) - step) <= 1e-9 * abs(step)), 15)


SI_PREFIXES = {3: "k", 6: "M", 9: "G", 12: "T"}


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Short labels for evenly spaced ticks, all with the decimals their step needs and no more: `0.5`,
    `150`; tiny values with one shared exponent (`1.5e-5`); large ones with an SI prefix (`12.5k`)."""
    if not ticks:
        return []
    if len(ticks) == 1:
        return [short_value(ticks[0])]
    step = abs(ticks[1] - ticks[0])
    biggest = max(abs(tick) for tick in ticks)
    prefix = min(3 * (_exponent(biggest) // 3), max(SI_PREFIXES))
    if biggest >= 1e4 and _decimals(step / 10**prefix) <= 1:  # `12.5k`; `10002` stays (not `10.002k`)
        digits = _decimals(step / 10**prefix)
        return [f"{tick / 10**prefix:.{digits}f}{SI_PREFIXES[prefix]}" if tick else "0" for tick in ticks]
    if biggest < 1e-3:
        shared = _exponent(biggest)
        digits = _decimals(step / 10.0**shared)
        return [f"{tick / 10.0**shared:.{digits}f}e{shared}" if tick else "0" for tick in ticks]
    return [f"{tick:.{_decimals(step)}f}" for tick in ticks]


def short_value(value: float) -> str:
    """A latest value in a few characters: 7.22, 0.0438, 113.6, 1114, 1.5e-08, 1.2e+05. Whole numbers up
    to 99999 (completion lengths past 1000 are common on a GPU, and `1.1e+03` said less than the axis
    beside it)."""
    size = abs(value)
    if size == 0 or 0.01 <= size < 1000:
        return f"{value:.3g}" if size < 10 else f"{value:.1f}"
    if 1000 <= size < 99999.5:
        return f"{value:.0f}"
    return f"{value:.2g}"


TREND_WINDOW = 10
"""The trend arrow follows the line fitted to this many latest values (fewer in a shorter series)."""
TREND_FLAT = 0.05
"""A fitted rise smaller than this share of the plot's height (the series' range) reads as flat: `→`."""


def trend_arrow(ys: Sequence[float], window: int = TREND_WINDOW) -> str:
    """` ↑`, ` ↓` or ` →`: which way the plotted line goes over its latest `window` values.

    The least-squares line through those values rises (or falls) by its slope times the window's length;
    that rise is weighed against the range of the whole series, which is the height the plot (or the
    sparkline) gives it, so the arrow says what the eye sees there. The last value against the mean of
    the few before it (as this once did) let one dipping step turn a rising line's arrow down.

    Args:
        ys: The series, oldest first (one value per logged step).
        window: How many of the latest values the fitted line goes through.

    Returns:
        An empty string for fewer than two values, else a space and the arrow.
    """
    if len(ys) < 2:
        return ""
    recent = ys[-max(2, window) :]
    count = len(recent)
    middle = (count - 1) / 2
    mean = sum(recent) / count
    spread = sum((i - middle) ** 2 for i in range(count))
    slope = sum((i - middle) * (y - mean) for i, y in enumerate(recent)) / spread
    height = max(ys) - min(ys)
    if height <= 1e-12 * max(1.0, abs(mean)):
        return " →"  # a flat line
    change = slope * (count - 1) / height
    return " ↑" if change > TREND_FLAT else " ↓" if change < -TREND_FLAT else " →"
