"""The Monitor's plots, read off the canvas: the data is not covered (the legend is a line under the
plot, not plotext's box over the data), x ticks are whole steps, each reward function has a small plot of
its own beside the total (its name, latest value and trend over its data; a compact text line each where
there is no room), and a CPU run shows one line instead of an empty GPU box. Y ticks are evenly spaced
round numbers with short labels (issue 17: plotext's alternated 5.2 and 10.4 apart, and a loss near zero
was labelled `0.000012345`, half the plot at 80 columns)."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from tui_helpers import (
    CPU_RUN,
    FIXTURE_RUNS,
    GPU_RUN,
    frozen_app,
    screen_rows,
    settle,
    shown_text,
    wait_until,
)

from screens.follower import RunFollower
from screens.monitor import MonitorScreen
from screens.widgets.plots import (
    Line,
    MetricPlot,
    integer_ticks,
    nice_ticks,
    short_value,
    tick_labels,
    trend_arrow,
    y_limits,
)
from screens.widgets.rewards import (
    SPARKS,
    Layout,
    RewardPlots,
    RewardSeries,
    braille_rows,
    choose_layout,
    sparkline,
    x_axis,
    y_tick_rows,
)
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


async def replayed_monitor(app: Any, pilot: Any) -> MonitorScreen:
    """The Monitor of the attached run once its history has been replayed and drawn."""
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, MonitorScreen)
    await wait_until(pilot, lambda: screen.metrics.max_step > 0, "the replayed history", 10)
    await settle(pilot)
    return screen


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("run", [GPU_RUN, CPU_RUN])
async def test_the_reward_plot_shows_its_data_across_the_canvas(
    run: str, size: tuple[int, int], tmp_path: Path
) -> None:
    app = frozen_app(tmp_path, initial_mode="monitor", attach=run)
    async with app.run_test(size=size) as pilot:
        screen = await replayed_monitor(app, pilot)
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
        # the reward functions have plots of their own beside it
        assert not any(name in " ".join(legend) for name in screen.metrics.reward_names()), legend


@pytest.mark.parametrize(("run", "gpu"), [(GPU_RUN, True), (CPU_RUN, False)])
async def test_a_cpu_run_has_one_gpu_line_instead_of_an_empty_box(
    run: str, gpu: bool, tmp_path: Path
) -> None:
    app = frozen_app(tmp_path, initial_mode="monitor", attach=run)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await replayed_monitor(app, pilot)
        assert screen.query_one("#plot-gpu", MetricPlot).display is gpu
        line = screen.query_one("#gpu-line", TextLine)
        assert line.display is not gpu
        if not gpu:
            assert "GPU: none logged" in str(line.text)
            length = screen.query_one("#plot-length", MetricPlot)
            loss = screen.query_one("#plot-loss", MetricPlot)
            # completion length and loss take the GPU plot's place: half the width each (less a column
            # of margin each side and one between them)
            assert length.size.width + loss.size.width >= screen.size.width - 3, "the row is theirs"


async def test_under_100_columns_a_gpu_run_shows_its_gpus_on_one_line(tmp_path: Path) -> None:
    """At 80 columns three plots side by side would be 26 columns each: the GPU plot gives way to a line
    with each GPU's memory and utilisation, and completion length and loss share the row."""
    app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await replayed_monitor(app, pilot)
        assert not screen.query_one("#plot-gpu", MetricPlot).display
        line = screen.query_one("#gpu-line", TextLine)
        assert line.display and line.region.height == 1
        assert str(line.text) == "GPU 0: 82.0/140 GiB 92% · 1: 84.0/140 GiB 72%", line.text
        loss = screen.query_one("#plot-loss", MetricPlot)
        assert loss.size.width >= 38


def y_labels(plot: MetricPlot) -> tuple[list[str], list[str]]:
    """The y tick labels on the left and on the right of the canvas, top to bottom."""
    rendered = plot.render()
    assert isinstance(rendered, Text)
    left, right = [], []
    for row in rendered.plain.splitlines():
        if "┤" in row and "└" not in row:
            left.append(row[: row.index("┤")].strip())
        if "├" in row and "└" not in row:
            right.append(row[row.rindex("├") + 1 :].strip())
    return left, right


def assert_even(labels: list[str], widest: int) -> None:
    """Two labels or more, each at most `widest` characters, the numbers they say evenly spaced."""
    assert len(labels) >= 2 and all(0 < len(label) <= widest for label in labels), labels
    values = [float(label) for label in labels]
    gaps = [high - low for high, low in zip(values, values[1:], strict=False)]
    assert all(gap > 0 for gap in gaps) and max(gaps) - min(gaps) <= 1e-9 * max(gaps), (labels, gaps)


def near_zero_loss(tmp_path: Path) -> Path:
    """A copy of the two-GPU run whose loss stays within a few hundred-thousandths of zero."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS / GPU_RUN, root / GPU_RUN)
    metrics = root / GPU_RUN / "metrics.jsonl"
    records: list[dict[str, Any]] = [json.loads(line) for line in metrics.read_text().splitlines()]
    for record in records:
        if "loss" in record:
            record["loss"] = 0.000012345 * (1 + record["step"] % 5) - 0.00002
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_y_ticks_are_evenly_spaced_round_numbers_with_short_labels(
    size: tuple[int, int], tmp_path: Path
) -> None:
    """Every plot of the Monitor: its y labels (left, and the KL's on the right) say round numbers an
    equal step apart, in at most six characters, a loss of a few 1e-5 included (`-1e-5`, `2e-5`)."""
    app = frozen_app(tmp_path, runs_root=near_zero_loss(tmp_path), initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=size) as pilot:
        screen = await replayed_monitor(app, pilot)
        loss, kl = y_labels(screen.query_one("#plot-loss", MetricPlot))
        assert_even(loss, 6)
        assert any("e-5" in label for label in loss), loss
        assert_even(kl, 6)
        plots = ["#plot-reward", "#plot-length", *(["#plot-gpu"] if size[0] >= 100 else [])]
        for plot in plots:
            assert_even(y_labels(screen.query_one(plot, MetricPlot))[0], 6)


def test_nice_ticks() -> None:
    assert nice_ticks(143.5, 185.1, 3) == [160, 180]
    assert nice_ticks(143.5, 185.1, 6) == [150, 160, 170, 180]
    assert nice_ticks(0, 100, 6) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-0.0031, 0.0249, 3) == [0, 0.01, 0.02]
    assert nice_ticks(-2e-5, 3.1e-5, 4) == [-2e-5, 0, 2e-5]
    assert nice_ticks(0.1, 0.75, 6) == [0.2, 0.4, 0.6]  # 0.1 apart would be seven
    assert nice_ticks(0.1, 0.35, 3) == [0.1, 0.2, 0.3]  # exact: 0.3, not 0.30000000000000004
    # two ticks at least, even where only more than `most` are round
    assert len(nice_ticks(1.2e-5, 1.9e-5, 3)) >= 2


def test_tick_labels_are_short() -> None:
    assert tick_labels([0, 0.01, 0.02]) == ["0.00", "0.01", "0.02"]
    assert tick_labels([-2e-5, 0, 2e-5]) == ["-2e-5", "0", "2e-5"]
    assert tick_labels([1.2e-5, 1.4e-5, 1.6e-5]) == ["1.2e-5", "1.4e-5", "1.6e-5"]
    assert tick_labels([150, 160, 170]) == ["150", "160", "170"]
    assert tick_labels([20000, 30000, 40000]) == ["20k", "30k", "40k"]
    assert tick_labels([12500, 15000]) == ["12.5k", "15.0k"]
    assert tick_labels([0.25, 0.5, 0.75]) == ["0.25", "0.50", "0.75"]
    assert tick_labels([10000, 10005, 10010]) == ["10000", "10005", "10010"]
    assert tick_labels([1e6, 2e6]) == ["1M", "2M"]


def test_integer_ticks() -> None:
    assert integer_ticks(1, 24, 6) == [1, 5, 10, 15, 20, 24]
    assert integer_ticks(1, 8, 3) == [1, 5, 8]
    assert integer_ticks(0, 84, 6) == [0, 20, 40, 60, 84]
    assert integer_ticks(5, 5, 6) == [5]
    assert all(isinstance(tick, int) for tick in integer_ticks(0.5, 41.7, 6))


# ---------------------------------------------------------------------------------------------------
# one small plot per reward function


def panel_rows(panel: RewardPlots) -> list[str]:
    rendered = panel.render()
    rows = rendered.plain.split("\n")
    assert len(rows) <= panel.size.height and all(len(row) <= panel.size.width for row in rows), rows
    return rows


def check_title(title: str, series: RewardSeries) -> None:
    """`name 3.01 ↑`: the name (or its start and an ellipsis), the latest value, the trend arrow."""
    tail = f" {short_value(series.ys[-1])}{trend_arrow(series.ys)}"
    title = title.strip()
    assert title.endswith(tail), (title, tail)
    name = title[: -len(tail)]
    assert name == series.name or (name.endswith("…") and series.name.startswith(name[:-1])), title
    assert len(name) >= min(len(series.name), 8), f"{title!r}: the name is cut to nothing"


def check_plots(panel: RewardPlots, rows: list[str]) -> None:
    """Every reward's cell is framed as the main plots are: its title (name, latest value, trend) in the
    frame's top edge; on the left, round y ticks an equal step apart (not the data's raw top and bottom)
    within the data's range; in the bottom edge, whole-step x ticks from the first step to the latest;
    inside, its line in every column, with no text over the data."""
    layout = panel.layout_now
    width = (panel.size.width - (layout.columns - 1)) // layout.columns
    height = panel.size.height // layout.rows
    for index, series in enumerate(panel.series):
        band, column = divmod(index, layout.columns)
        x, y = column * (width + 1), band * height
        cell = [row[x : x + width].ljust(width) for row in rows[y : y + height]]
        top, data, bottom = cell[0], cell[1:-1], cell[-1]
        left, right = top.index("┌"), top.rindex("┐")
        check_title(top[left + 1 : right].strip("─"), series)
        assert bottom.index("└") == left and bottom.rindex("┘") == right, (top, bottom)
        assert len(data) >= 2 and all(row[left] in "│┤" and row[right] == "│" for row in data), cell
        labels = [row[:left].strip() for row in data if row[left] == "┤"]
        assert_even(labels, 6)
        assert all(min(series.ys) <= float(label) <= max(series.ys) for label in labels), labels
        assert_round(labels)
        steps = re.findall(r"\d+", bottom[left + 1 : right])
        assert len(steps) >= 2 and set(bottom[left + 1 : right]) <= set("─0123456789"), bottom
        assert int(steps[0]) == series.xs[0] and int(steps[-1]) == series.xs[-1], (steps, series.xs)
        assert [int(s) for s in steps] == sorted({int(s) for s in steps}), steps
        area = [row[left + 1 : right] for row in data]
        assert all(BRAILLE.fullmatch(ch) or ch == " " for row in area for ch in row), area
        columns = len(area[0])
        drawn = sum(1 for c in range(columns) if any(BRAILLE.match(row[c]) for row in area))
        assert drawn == columns, (series.name, drawn, columns, area)


def assert_round(labels: list[str]) -> None:
    """The labels' numbers are multiples of their step, and the step is 1, 2 or 5 x 10^k (as the main
    plots' `nice_ticks`): not the data's own top and bottom (`0.188`, `-1.5`)."""
    values = [float(label) for label in labels]
    step = values[0] - values[1]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5)), (labels, step)
    assert all(math.isclose(v / step, round(v / step), abs_tol=1e-9) for v in values), labels


def check_sparklines(panel: RewardPlots, rows: list[str]) -> None:
    """Two lines per reward: the title, then one block per step (a run shorter than the width), the
    highest value the full block and the lowest the lowest one."""
    assert len(rows) == 2 * len(panel.series), rows
    for index, series in enumerate(panel.series):
        check_title(rows[2 * index], series)
        spark = rows[2 * index + 1].rstrip()
        assert len(spark) == min(panel.size.width, len(series.ys)), spark
        assert set(spark) <= set(SPARKS), spark
        ys = list(series.ys)
        assert spark[ys.index(max(ys))] == "█" and spark[ys.index(min(ys))] == "▁", (spark, ys)


@pytest.mark.parametrize(
    ("size", "mode"), [((80, 24), "lines2"), ((120, 40), "plots")], ids=["80x24", "120x40"]
)
@pytest.mark.parametrize("run", [GPU_RUN, CPU_RUN])
async def test_each_reward_function_has_a_small_plot_beside_the_total(
    run: str, size: tuple[int, int], mode: str, tmp_path: Path
) -> None:
    """120x40: the total on the left half, a 2x2 grid of small plots on the right; 80x24 has no room for
    plots 20 columns wide: the title and a one-row sparkline per reward (the choice is the panel's, by
    its size)."""
    app = frozen_app(tmp_path, initial_mode="monitor", attach=run)
    async with app.run_test(size=size) as pilot:
        screen = await replayed_monitor(app, pilot)
        panel = screen.query_one(RewardPlots)
        names = screen.metrics.reward_names()
        assert [s.name for s in panel.series] == names and len(names) == 4
        for series in panel.series:
            assert list(series.ys) == screen.metrics.get(f"rewards/{series.name}/mean")[1]
        total = screen.query_one("#plot-reward", MetricPlot)
        # beside the total, on the same rows, the same height
        assert panel.region.x >= total.region.right and panel.region.y == total.region.y
        assert panel.size.width >= total.size.width - 2
        # inside the screen with a column to spare: the rightmost small plot ended in the last column
        plots = screen.query_one("#plots").region
        last = screen.size.width - 1
        assert panel.region.right <= last and total.region.x >= 1
        assert all(row[last] == " " and row[0] == " " for row in screen_rows(app, plots)), "margin"
        rows = panel_rows(panel)
        assert panel.layout_now.mode == mode
        if mode == "plots":
            assert panel.layout_now == Layout("plots", 2, 2)
            check_plots(panel, rows)
        else:
            check_sparklines(panel, rows)


def with_custom_reward(tmp_path: Path, run: str) -> Path:
    """A copy of a fixture run whose trainer also logged a custom reward function, `no_repeats`."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS / run, root / run)
    metrics = root / run / "metrics.jsonl"
    records: list[dict[str, Any]] = [json.loads(line) for line in metrics.read_text().splitlines()]
    for record in records:
        if "step" in record and "event" not in record:
            record["rewards/no_repeats/mean"] = round(-0.5 + 0.05 * record["step"] ** 1.2, 4)
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


@pytest.mark.parametrize("size", SIZES)
async def test_a_custom_reward_function_gets_its_plot_too(size: tuple[int, int], tmp_path: Path) -> None:
    """The reward functions are the run's: a fifth one, logged by no built-in, has its lines (120x40: a
    title and a sparkline each, as framed plots five across rows would be two rows of data or 18
    columns with their names cut to `ma…`; 80x24: one line each) or, given the room, its plot."""
    root = with_custom_reward(tmp_path, GPU_RUN)
    app = frozen_app(tmp_path, runs_root=root, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=size) as pilot:
        screen = await replayed_monitor(app, pilot)
        panel = screen.query_one(RewardPlots)
        assert [s.name for s in panel.series][-1] == "no_repeats" and len(panel.series) == 5
        rows = panel_rows(panel)
        if panel.layout_now.mode == "lines2":
            assert size == (120, 40)
            check_sparklines(panel, rows)
        else:
            # 80x24 leaves the panel nine rows: one line per reward, its sparkline in the columns left
            assert panel.layout_now.mode == "lines1", panel.size
            assert len(rows) == 5
            for row, series in zip(rows, panel.series, strict=True):
                assert row.startswith(series.name[: min(len(series.name), 8)]), row
                assert f" {short_value(series.ys[-1])}{trend_arrow(series.ys)}" in row, row
                assert re.search(f"[{SPARKS}]{{10,}}", row), row


class PanelApp(App[None]):
    """A bare host: the panel alone, at the size of the app."""

    def __init__(self, series: list[RewardSeries]) -> None:
        super().__init__()
        self.series = series

    def compose(self) -> ComposeResult:
        yield RewardPlots()

    def on_mount(self) -> None:
        self.query_one(RewardPlots).draw(self.series)


async def test_more_rewards_than_rows_are_counted_not_dropped_silently() -> None:
    series = [RewardSeries(f"reward_{i}", [1.0, 2.0, 3.0], [0.0, i, 2.0 * i], "green+") for i in range(6)]
    app = PanelApp(series)
    async with app.run_test(size=(50, 4)) as pilot:
        await pilot.pause()
        panel = app.query_one(RewardPlots)
        assert panel.layout_now.mode == "lines1"
        rows = panel_rows(panel)
        assert [row.split()[0] for row in rows[:3]] == ["reward_0", "reward_1", "reward_2"]
        assert rows[3].startswith("+3 more rewards"), rows


def test_choose_layout() -> None:
    assert choose_layout(4, 60, 10) == Layout("plots", 2, 2)
    assert choose_layout(4, 60, 12) == Layout("plots", 2, 2)  # 1x4 would leave 3 rows a plot
    assert choose_layout(4, 60, 16) == Layout("plots", 1, 4)
    assert choose_layout(5, 60, 10) == Layout("lines2")  # 3x2 would be 19 columns a plot
    assert choose_layout(5, 80, 10) == Layout("plots", 3, 2)
    assert choose_layout(4, 39, 9) == Layout("lines2")
    assert choose_layout(5, 39, 9) == Layout("lines1")
    assert choose_layout(1, 30, 4) == Layout("plots", 1, 1)
    assert choose_layout(1, 30, 3) == Layout("lines2")
    assert choose_layout(0, 60, 10) == Layout("none")


def test_braille_rows_join_the_points_across_the_whole_width() -> None:
    xs = [float(x) for x in range(1, 25)]
    ys = [(-1) ** x * x for x in range(1, 25)]  # a zigzag that widens
    rows = braille_rows(xs, ys, 20, 3)
    assert len(rows) == 3 and all(len(row) == 20 for row in rows)
    assert all(any(row[c] != " " for row in rows) for c in range(20)), rows
    # the top row holds the highest points (at the right), the bottom row the lowest (also at the right)
    assert rows[0][-1] != " " and rows[-1][-1] != " "
    flat = braille_rows([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], 10, 2)
    # a flat series: one straight line in the middle, every column
    assert [sum(ch != " " for ch in row) for row in flat] in ([10, 0], [0, 10]), flat


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], 20) == SPARKS
    assert sparkline([1, 1, 1], 5) == "▅▅▅"  # flat: the middle
    assert len(sparkline(list(range(1000)), 40)) == 40
    assert sparkline([], 10) == ""


# ---------------------------------------------------------------------------------------------------
# the trend arrow says what the line shows

RISING_THEN_DIPPING = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 5.9]
"""Ten rising steps, then one that dips below the mean of the five before it (7.0): the line still rises."""


def test_trend_arrow_follows_the_fitted_line_not_the_last_step() -> None:
    assert trend_arrow(RISING_THEN_DIPPING) == " ↑"
    assert trend_arrow([9.0 - y for y in RISING_THEN_DIPPING]) == " ↓"
    assert trend_arrow([3.0, 3.0, 3.0]) == " →"
    # noise about a level line: no direction worth an arrow
    assert trend_arrow([1.0, 1.2, 0.9, 1.1, 1.0, 1.15, 0.95, 1.05, 1.0, 1.1]) == " →"
    assert trend_arrow([1.0]) == ""


class PlotApp(App[None]):
    """A bare host: one MetricPlot at the size of the app."""

    def __init__(self, lines: list[Line]) -> None:
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        yield MetricPlot("reward")

    def on_mount(self) -> None:
        self.query_one(MetricPlot).draw("reward", self.lines)


async def test_a_dip_at_the_last_step_leaves_a_rising_line_s_arrow_up() -> None:
    """The arrow beside a reward's latest value (the small plot's title, the total's legend) points the
    way the drawn line goes: a last step that dips under the steps before it does not turn it down."""
    xs = [float(x) for x in range(1, len(RISING_THEN_DIPPING) + 1)]
    app = PanelApp([RewardSeries("check_answer", xs, RISING_THEN_DIPPING, "green+")])
    async with app.run_test(size=(40, 2)) as pilot:
        await pilot.pause()
        rows = panel_rows(app.query_one(RewardPlots))
        assert "check_answer 5.9 ↑" in rows[0], rows
    host = PlotApp([Line("total", xs, RISING_THEN_DIPPING)])
    async with host.run_test(size=(60, 16)) as pilot:
        await pilot.pause()
        _, _, legend = canvas(host.query_one(MetricPlot))
        assert legend[0].startswith("━ total 5.9 ↑"), legend


def test_small_plot_ticks_are_round_numbers_and_whole_steps() -> None:
    """The reward whose small plot was labelled with its raw top and bottom (`0.188`, `-1.5`) now gets
    round ticks by the rows that hold them; its bottom edge carries whole steps, first and latest at
    its ends."""
    assert y_tick_rows(y_limits(-1.5, 0.188), 3) == {0: "0", 2: "-1"}
    axis = x_axis([float(step) for step in range(1, 25)], 25)
    assert len(axis) == 25 and axis.startswith("1─") and axis.endswith("─24"), axis
    assert re.findall(r"\d+", axis) == ["1", "10", "24"], axis
    assert x_axis([7.0], 10) == "7─────────"


# ---------------------------------------------------------------------------------------------------
# 80x24: which view is shown, train.log wrapped, a reward's name beside its score


async def test_the_view_tabs_say_which_view_is_shown_and_that_v_changes_it(tmp_path: Path) -> None:
    """80x24 offers two views (everything would be the plots alone): the tabs on the run bar's row name
    both, the shown one in brackets, and one `v` goes to samples and log (it took two, the first
    changing nothing). 120x40 offers three."""
    app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await replayed_monitor(app, pilot)
        row = screen_rows(app)[screen.query_one("#run-bar").region.y]
        assert row.rstrip().endswith("v view [plots] samples & log"), row
        await pilot.press("v")
        await settle(pilot, 0.1)
        row = screen_rows(app)[screen.query_one("#run-bar").region.y]
        assert row.rstrip().endswith("v view plots [samples & log]"), row
        assert screen.query_one("#bottom").display and not screen.query_one("#plots").display
        await pilot.press("g")
        await settle(pilot, 0.1)
        assert "g closes [groups]" in screen_rows(app)[screen.query_one("#run-bar").region.y]
    app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await replayed_monitor(app, pilot)
        row = screen_rows(app)[screen.query_one("#run-bar").region.y]
        assert row.rstrip().endswith("v view [all] plots samples & log"), row


async def test_log_lines_wrap_whole_and_scores_keep_their_names_at_80_columns(tmp_path: Path) -> None:
    """The text view at 80x24: every train.log line on screen reads whole, wrapped onto the rows under it
    (it was cut at the pane's edge, a horizontal scrollbar the only sign); each reward's name and score
    are on one row (word wrapping split `check_numbers` from `+1.50`)."""
    app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await replayed_monitor(app, pilot)
        await pilot.press("v")
        await settle(pilot, 0.1)
        log = screen.query_one("#log")
        assert not log.show_horizontal_scrollbar
        shown = shown_text(app, log)
        ended = "[supervisor 10:16:48] trainer ended: completed (exit code 0)"
        assert shown.endswith(ended), shown
        train_log = (FIXTURE_RUNS / GPU_RUN / "train.log").read_text().splitlines()
        assert ended in train_log
        # every line that starts on screen is there whole
        for line in train_log[-6:]:
            assert " ".join(line.split()) in shown, (line, shown)
        samples = screen_rows(app, screen.query_one("#samples").content_region)
        first = next(s for s in screen.samples if s["step"] == screen.samples[-1]["step"])
        for name, score in first["rewards"].items():
            assert any(f"{name} {score:+.2f}" in row for row in samples), (name, samples)


async def _append_log(app: Any, pilot: Any, screen: MonitorScreen, lines: list[str]) -> None:
    """Lines reaching train.log while the Monitor follows it, drawn as the next tick would."""
    screen.post_message(RunFollower.LogAppended(screen.run_id or "", lines))
    await pilot.pause()
    screen._redraw(force=True)
    await settle(pilot, 0.1)


async def test_the_log_keeps_following_across_view_switches_and_resizes(tmp_path: Path) -> None:
    """The log follows its end unless the user scrolls away from it: a review saw train.log reach step
    110 while the pane stayed at step 82 after `v` and a terminal resize (the pane's height and width
    changed, so it no longer sat at its end though nobody scrolled); an explicit scroll up still stops
    the following, and End starts it again."""
    app = frozen_app(tmp_path, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await replayed_monitor(app, pilot)
        log = screen.query_one("#log")
        step = 100
        for change in ("v", "v", (80, 24), "v", (100, 30), "v", (80, 24)):
            if isinstance(change, str):
                await pilot.press(change)
            else:
                await pilot.resize_terminal(*change)
            await settle(pilot, 0.1)
            step += 1
            await _append_log(app, pilot, screen, [f"step {step} newest line of the log"])
            if screen.query_one("#log-pane").display and log.region.height:
                shown = shown_text(app, log)
                assert shown.endswith(f"step {step} newest line of the log"), (change, shown)
        # the user scrolls up to read: the pane stays where it was
        await pilot.click(log)
        await pilot.press("up")
        top = log.scroll_y
        await _append_log(app, pilot, screen, ["step 200 while reading"])
        assert log.scroll_y == top
        assert "step 200 while reading" not in shown_text(app, log)
        await pilot.press("end")
        await _append_log(app, pilot, screen, ["step 201 following again"])
        assert shown_text(app, log).endswith("step 201 following again")


def test_each_line_colour_is_drawn_in_its_legend_colour() -> None:
    """A review saw the third compared run's line drawn purple under a yellow legend swatch: plotext has no
    `yellow+` and drew it in a colour of its own. Every palette name is plotext's, and the legend's Rich
    colour is the same terminal colour number."""
    from plotext._dict import color_codes
    from rich.color import Color

    from screens.widgets.plots import PALETTE, RICH_COLOURS

    for name in PALETTE:
        assert name in color_codes, name
        assert Color.parse(RICH_COLOURS[name]).number == color_codes[name], name


def test_latest_values_keep_whole_numbers_past_a_thousand() -> None:
    """A completion length of 1113.6 read `1.1e+03` in the Monitor's title and legend, less than its axis
    said; small and very large values keep their short forms."""
    assert [short_value(v) for v in (1113.6, 7224.9, -2500.0, 7.224, 113.6, 0.0438, -1.5e-08, 123456.0)] == [
        "1114", "7225", "-2500", "7.22", "113.6", "0.0438", "-1.5e-08", "1.2e+05"
    ]  # fmt: skip
