"""Nothing hidden, nothing cut, at 80x24 and 120x40: every mode names itself and shows every mode's key
and quit, no footer overflows (an overflowing footer left a stray `^p palettei` in Chat's), on/off boxes
read on or off without colour, Evaluate's table shows every column, and the Monitor's status line keeps
whole phases.

Issue 17 ("every mode at 80x24, nothing hidden"), each kind pinned by what the screen shows: a field's
message and Configure's status read whole when the field is focused; long labels keep the form aligned
(cut with an ellipsis, the whole name in the tooltip and the help line); the Monitor's run bar and health
line wrap, so why a run failed is read whole; where a step's time goes shows at 80 columns; a long run id
gives way in the Runs table instead of the age column.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.widgets import DataTable, Footer, Label
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast
from tui_helpers import (
    CPU_RUN,
    CRASHED_RUN,
    FIXTURE_RUNS,
    GPU_RUN,
    frozen_app,
    screen_rows,
    settle,
    shown_text,
    wait_until,
)

from screens.app import MODE_SPECS, WorkbenchApp
from screens.configure import ConfigureScreen
from screens.evaluate import EvaluateScreen
from screens.formatting import fit_parts, shorten_middle
from screens.monitor import MonitorScreen
from screens.runs import RunsScreen
from screens.widgets.modebar import ModeBar
from screens.widgets.textline import TextLine
from screens.widgets.ticks import TICK, TickBox, TickList
from workbench.series import phase_key

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
        # One line, nothing under the palette hint docked on its right (which is what left `i` behind);
        # the hint gives way where the mode's keys need its room (Runs at 80 columns).
        for palette in footer.query("FooterKey.-command-palette"):
            assert all(key.region.right <= palette.region.x for key in keys), [
                (key.key, key.region) for key in keys
            ]
            assert palette.region.right <= size[0]
        assert all(key.region.right <= size[0] for key in keys)
        # Every key in force that is meant for the footer (one per action) is in it, read whole.
        row = screen_rows(app)[-1]
        palette_key = app.COMMAND_PALETTE_BINDING
        wanted = {}
        for key, (_, binding, _, _) in app.screen.active_bindings.items():
            if binding.show and key != palette_key:
                wanted.setdefault(binding.action, f"{app.get_key_display(binding)} {binding.description}")
        assert all(shown in row for shown in wanted.values()), (wanted, row)


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


async def test_the_export_force_box_reads_on_and_off_without_colour(tmp_path: Path) -> None:
    """Export's "replace an existing export (--force)" showed Textual's `X` on and off alike (only its
    colour changed): it is a TickBox like Evaluate's."""
    from textual.app import App

    from screens.export import ExportDialog
    from workbench.runs import RunDir

    app: App[None] = App()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(ExportDialog(RunDir(tmp_path / "20260101-000000-run"), [1, 2]))
        await pilot.pause()
        force = app.screen.query_one("#export-force", TickBox)
        force.value = False
        off = force.render().plain
        force.value = True
        on = force.render().plain
        assert on != off and TICK in on and TICK not in off and "X" not in off, (on, off)


def test_every_checkbox_in_the_screens_is_a_tickbox() -> None:
    """A plain Checkbox reads on and off by colour alone: screens/ builds none (TickBox instead)."""
    import ast

    root = Path(__file__).resolve().parents[1] / "screens"
    plain = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Checkbox":
                plain.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert not plain, plain


def test_fit_parts_keeps_the_largest_phases_whole() -> None:
    parts = ["step 24/200", "0.29 steps/s", "ETA 12:34"]
    split = [("generate", 1.32), ("sync", 0.04), ("rewards", 0.17), ("update", 1.14)]
    lead = "last step 2.67 s: "
    whole = fit_parts(parts, split, 200, lead)
    assert whole == (
        "step 24/200 · 0.29 steps/s · ETA 12:34 · last step 2.67 s: "
        "generate 1.32, update 1.14, rewards 0.17, sync 0.04"
    )
    cut = fit_parts(parts, split, 100, lead)
    assert len(cut) <= 100 and cut.endswith("generate 1.32, update 1.14, +2 more 0.21"), cut
    assert fit_parts(parts, split, 50, lead) == "step 24/200 · 0.29 steps/s · ETA 12:34"


def test_shorten_middle_keeps_both_ends_of_an_id() -> None:
    run_id = "20261120-080000-a-very-long-experiment-label-for-lr-sweep-e5f6"
    short = shorten_middle(run_id, 35)
    assert len(short) == 35 and short.startswith("20261120-080000-") and short.endswith("-sweep-e5f6")
    assert "…" in short
    assert shorten_middle("short-id", 35) == "short-id"


@pytest.mark.parametrize("size", [*SIZES, (160, 30)], ids=["80x24", "120x40", "160x30"])
async def test_the_monitor_shows_where_the_last_step_went_at_every_width(
    size: tuple[int, int], tmp_path: Path
) -> None:
    """A run whose steps log their split (`time/<phase>`): the step, rate and ETA beside the progress bar,
    and every phase of the last step, whole, on the same line where they fit (160 columns) or on a line of
    their own under it (at 80 columns the split used to give way to the step and rate; it was cut
    mid-phase at 120)."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, root, ignore=shutil.ignore_patterns("*.py", "*.jsonl.bak"))
    metrics = root / GPU_RUN / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    phases = {"generate": 1.32, "weight sync": 0.04, "rewards": 0.11, "scoring": 0.06, "forward": 0.46}
    phases |= {"loss": 0.02, "the rest": 0.66}
    last = max(i for i, record in enumerate(records) if "event" not in record and "step" in record)
    records[last].update({phase_key(name): seconds for name, seconds in phases.items()})
    metrics.write_text("".join(json.dumps(record) + "\n" for record in records))
    app = frozen_app(tmp_path, runs_root=root, initial_mode="monitor", attach=GPU_RUN)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await wait_until(pilot, lambda: screen.metrics.max_step == 24, "the replayed history", 10)
        await settle(pilot)
        split = "last step 2.67 s: generate 1.32, update 1.14, rewards 0.17, sync 0.04"
        rate = screen.query_one("#rate", TextLine)
        below = screen.query_one("#split", TextLine)
        shown = shown_text(app, rate)
        if size[0] >= 160:
            assert shown == f"step 24/24 · 0.29 steps/s · {split}", shown
            assert not below.display
        else:
            assert shown == "step 24/24 · 0.29 steps/s", shown
            assert below.display and below.region.height == 1
            assert shown_text(app, below) == split
            assert below.region.x <= 1 and below.region.y == rate.region.bottom


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_evaluate_shows_every_column_and_the_whole_run_id(
    size: tuple[int, int], tmp_path: Path
) -> None:
    """Evaluate's table was cut after `len` at 80x24 (pass@k, GSM, MATH, rows hidden) and its run picker
    cut the run id: every column now lies inside the table (format with its interval, as accuracy), and
    the picker shows the whole id."""
    root = tmp_path / "runs"
    shutil.copytree(EVAL_RUNS, root, ignore=shutil.ignore_patterns("*.py"))
    app = frozen_app(tmp_path, runs_root=root, initial_mode="evaluate")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EvaluateScreen)
        await wait_until(pilot, lambda: screen.view is not None, "the eval/ read", 10)
        await settle(pilot)
        table = screen.query_one(DataTable)
        labels = [str(key.value) for key in table.columns]
        assert labels[:8] == ["target", "decoding", labels[2], labels[3], "pass@k", "GSM", "MATH", "rows"]
        assert "95% CI" in labels[2] and "95% CI" in labels[3]
        assert sum(column.width for column in table.columns.values()) <= table.scrollable_content_region.width
        assert table.max_scroll_x == 0
        assert screen.run_id is not None
        picker = str(screen.query_one("#eval-run").query_one("SelectCurrent Static#label").render())
        assert screen.run_id in picker, picker


# ---------------------------------------------------------------------------------------------------
# issue 17: what was cut or hidden at 80 columns

BAD_FIELDS = {
    "lora.init_from": "/nonexistent/adapter",
    "custom_rewards": "foo",
    "grpo.num_generations": "3",
}
"""Fields whose messages ran below the fold at 80x24 (the review's three), and a value each that is wrong."""


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_a_fields_message_reads_whole_when_its_field_is_focused(
    size: tuple[int, int], tmp_path: Path
) -> None:
    """Each message wraps to the room it has (at 80 columns a line of its own under the field, the width
    of the form) and the form scrolls so all of it shows when its field is focused; the status beside the
    buttons wraps too (it was cut after `'foo' is not` at 80 columns)."""
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfigureScreen)
        for key, value in BAD_FIELDS.items():
            screen.set_field(key, value)
        await settle(pilot)
        for key in BAD_FIELDS:
            spec = next(spec for spec in screen.SPECS if spec.key == key)
            screen.query_one(f"#{spec.widget_id}").focus()
            await settle(pilot, 0.2)
            message = screen.field_message(key)
            assert message, key
            widget = screen.query_one(f"#{spec.message_id}")
            assert shown_text(app, widget) == " ".join(message.split()), key
            if size[0] < 100:
                assert widget.region.width >= size[0] - 6, widget.region
        status = screen.query_one("#config-status", TextLine)
        plain = status.text.plain if isinstance(status.text, Text) else status.text
        assert plain.startswith("✗ 3 problems · ")
        assert shown_text(app, status) == " ".join(plain.split())


LONG_REWARD = "a_reward_whose_function_name_is_longer_than_any_label"


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_long_labels_keep_the_form_aligned_and_their_names_findable(
    size: tuple[int, int], tmp_path: Path
) -> None:
    """`vllm_importance_sampling_correction` wrapped onto two lines at 80 columns: every label is now one
    line in a column wide enough for every setting's name, so every field starts at the same column; a
    longer one (a custom reward's function) ends with `…`, its whole key in its tooltip and, with its field
    focused, in the help line."""
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfigureScreen)
        screen.set_field("custom_rewards", f"examples/custom_rewards.py:{LONG_REWARD}")
        await settle(pilot)
        labels = list(screen.query(".field-row > .field-label").results(Label))
        assert len(labels) == len(screen.SPECS) + 2  # the model picker's and the custom reward's
        assert {label.outer_size for label in labels} == {(labels[0].outer_size.width, 1)}
        vllm = screen.query_one("#f-grpo-vllm_importance_sampling_correction")
        vllm.focus()
        await settle(pilot, 0.2)
        assert vllm.parent is not None
        label = vllm.parent.query_one(".field-label", Label)
        assert shown_text(app, label) == "vllm_importance_sampling_correction"
        assert label.region.height == 1 and vllm.region.x == label.region.right
        custom = screen.query_one(".custom-weight")
        custom.focus()
        await settle(pilot, 0.2)
        assert custom.parent is not None
        label = custom.parent.query_one(".field-label", Label)
        cut = shown_text(app, label)
        assert cut.endswith("…") and LONG_REWARD.startswith(cut[:-1]) and len(cut) > 20, cut
        assert custom.region.x == vllm.region.x
        assert label.tooltip == f"rewards.{LONG_REWARD}"
        assert shown_text(app, screen.query_one("#field-help")).startswith(f"rewards.{LONG_REWARD} · ")


OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity "
    "of 79.15 GiB of which 1.20 GiB is free. Including non-PyTorch memory, this process has 77.90 GiB "
    "memory in use; fix: lower grpo.num_generations or grpo.max_completion_length"
)
NAN_ALERT = {
    "signal": "nan_loss",
    "severity": "error",
    "since_step": 12,
    "step": 12,
    "value": None,
    "message": "the loss was NaN at step 12: the weights are no longer usable and the run stopped; fix: "
    "resume from the last checkpoint with a lower grpo.learning_rate or grpo.max_grad_norm",
    "cleared_step": None,
}


def failed_run(tmp_path: Path) -> Path:
    """A copy of the fixture runs in which the crashed run failed with a long error (its last line: a CUDA
    out-of-memory message) and one health alert with its message."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, root, ignore=shutil.ignore_patterns("*.py", "*.jsonl.bak"))
    run = root / CRASHED_RUN
    status = json.loads((run / "status.json").read_text())
    status.update(state="failed", exit_code=1, error=f"Traceback (most recent call last):\n  ...\n{OOM}\n")
    (run / "status.json").write_text(json.dumps(status))
    health = {"step": 12, "updated_at": 1795086800.0, "active": [NAN_ALERT], "past": []}
    (run / "health.json").write_text(json.dumps(health))
    return root


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_why_a_run_failed_reads_whole_in_the_monitor_and_runs(
    size: tuple[int, int], tmp_path: Path
) -> None:
    """The run bar's failed reason and the health line wrap (both were cut at the width at 80 columns),
    and the Runs detail line names the whole reason too."""
    root = failed_run(tmp_path)
    app = frozen_app(tmp_path, runs_root=root, initial_mode="monitor", attach=CRASHED_RUN)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await wait_until(pilot, lambda: screen.status.state == "failed", "the failed state", 10)
        await settle(pilot)
        bar = shown_text(app, screen.query_one("#run-bar"))
        assert bar == f"{CRASHED_RUN} failed (training): {OOM}", bar
        health = shown_text(app, screen.query_one("#health"))
        assert health == f"✖ loss not finite (step 12): {NAN_ALERT['message']}", health
        if size[0] == 80:
            assert screen.query_one("#run-bar").region.height >= 3
        app.switch_mode("runs")
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        table = runs.query_one(DataTable)
        table.move_cursor(row=[info.run.run_id for info in runs.infos].index(CRASHED_RUN))
        await settle(pilot, 0.1)
        assert OOM in shown_text(app, runs.query_one("#runs-detail"))


LONG_RUN = "20261120-080000-a-very-long-experiment-label-for-lr-sweep-e5f6"


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_a_long_run_id_gives_way_in_the_runs_table(size: tuple[int, int], tmp_path: Path) -> None:
    """A 62-character run id pushed `age` off the table at 80 columns: the run column now takes what the
    other columns leave, the id shortened in its middle (its date and its random tail kept), and the
    detail line names the whole id."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, root, ignore=shutil.ignore_patterns("*.py", "*.jsonl.bak"))
    (root / CPU_RUN).rename(root / LONG_RUN)
    app = frozen_app(tmp_path, runs_root=root, initial_mode="runs")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_until(pilot, lambda: len(screen.infos) == 3, "the scan", 10)
        await settle(pilot, 0.1)
        table = screen.query_one(DataTable)
        labels = [str(key.value) for key in table.columns]
        assert labels[-1] == "age" and labels[:4] == ["run", "state", "step", "reward"]
        assert table.max_scroll_x == 0
        row = screen.infos.index(next(info for info in screen.infos if info.run.run_id == LONG_RUN))
        table.move_cursor(row=row)
        await settle(pilot, 0.1)
        shown = shown_text(app, table)
        assert shown.startswith("run state step reward ") and " age " in shown, shown  # the header
        short = shorten_middle(LONG_RUN, screen.run_width - 4)
        assert short != LONG_RUN and f"{short} stopped 8/30 -0.103" in shown, shown
        assert shown.count(" 1d") + shown.count(" 2d") + shown.count(" 3d") == 3, shown  # every age
        assert shown_text(app, screen.query_one("#runs-detail")).startswith(f"{LONG_RUN} · tiny · ")


async def test_why_an_evaluation_failed_reads_whole(tmp_path: Path) -> None:
    """Evaluate's bar cut a failed evaluation's reason at the width (and at 160 characters): it wraps."""
    root = tmp_path / "runs"
    shutil.copytree(EVAL_RUNS, root, ignore=shutil.ignore_patterns("*.py"))
    run = next(path for path in root.iterdir() if path.is_dir())
    progress = run / "eval" / "progress.json"
    progress.write_text(json.dumps(json.loads(progress.read_text()) | {"state": "failed", "error": OOM}))
    app = frozen_app(tmp_path, runs_root=root, initial_mode="evaluate")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EvaluateScreen)
        await wait_until(pilot, lambda: screen.view is not None, "the eval/ read", 10)
        await settle(pilot)
        bar = screen.query_one("#eval-bar", TextLine)
        assert shown_text(app, bar) == f"{run.name} evaluation failed: {OOM}"
        assert bar.region.height >= 3


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_a_long_field_description_never_ends_unseen(size: tuple[int, int], tmp_path: Path) -> None:
    """Configure's help line is two rows: at 80 columns `backend`'s description takes more, and used to
    stop mid-sentence with nothing to say so. A description that does not fit ends with `…`, whole in the
    line's tooltip; one that fits reads whole. The model picker has a description of its own."""
    from screens.configure import PICKER_HELP

    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConfigureScreen)
        help_line = screen.query_one("#field-help")
        for key in ("backend", "grpo.completions_per_step", "lora.rank"):
            spec = next(s for s in screen.SPECS if s.key == key)
            screen.query_one(f"#{spec.widget_id}").focus()
            await settle(pilot, 0.2)
            whole = " ".join(f"{key} · {spec.description}".split())
            shown = shown_text(app, help_line)
            assert help_line.tooltip == f"{key} · {spec.description}"
            if shown.endswith("…"):
                assert whole.startswith(shown[:-1].rstrip()) and len(shown) < len(whole), (key, shown)
            else:
                assert shown == whole, key
            if key == "backend" and size[0] < 100:
                assert shown.endswith("…"), shown  # four rows' worth at 80 columns
        screen.query_one("#model-preset").focus()
        await settle(pilot, 0.2)
        assert help_line.tooltip is not None and PICKER_HELP in str(help_line.tooltip)


def toast_regions(app: WorkbenchApp) -> list[Region]:
    """Where the toasts on the screen stand now."""
    return [toast.region for toast in app.screen.query(Toast)]


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_the_toast_after_a_launch_leaves_the_plots_seen(size: tuple[int, int], tmp_path: Path) -> None:
    """A launch (Ctrl+L in Configure) attaches the Monitor and says `launched RUN`: that toast stood
    three rows tall above the footer, over the loss plot at 80x24. Now it is one row on the footer's."""
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        process = subprocess.Popen([sys.executable, "-c", "pass"])
        app.on_configure_screen_run_launched(ConfigureScreen.RunLaunched(GPU_RUN, process))
        await settle(pilot)
        process.wait()
        screen = app.screen
        assert isinstance(screen, MonitorScreen) and screen.run_id == GPU_RUN
        toasts = toast_regions(app)
        assert len(toasts) == 1, toasts
        footer = screen.query_one(Footer).region
        loss = screen.query_one("#plot-loss").region
        assert loss.height and not any(toast.overlaps(loss) for toast in toasts), (toasts, loss)
        assert all(footer.contains_region(toast) for toast in toasts), (toasts, footer)
        assert any(f"launched {GPU_RUN}" in row for row in screen_rows(app, footer))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_toasts_on_runs_leave_the_detail_line_seen(size: tuple[int, int], tmp_path: Path) -> None:
    """Stop on a run that ended and Compare with nothing marked each warn in a toast; stacked above the
    footer they covered the detail line (the selected run's model, state and alerts). One toast at a
    time (a new one replaces a stale warning), on the footer's row."""
    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        detail = screen.query_one("#runs-detail").region
        footer = screen.query_one(Footer).region
        for key, said in (("s", f"{CPU_RUN} is not running (stopped)"), ("c", "mark two or more runs")):
            await pilot.press(key)
            await settle(pilot, 0.1)
            toasts = toast_regions(app)
            assert len(toasts) == 1, (key, toasts)
            assert not toasts[0].overlaps(detail) and footer.contains_region(toasts[0]), (toasts, detail)
            assert said in " ".join(screen_rows(app, footer))
        assert shown_text(app, screen.query_one("#runs-detail")).startswith("tiny-cpu · tiny · stopped")


async def test_a_titled_confirmation_is_one_row_and_short_lived(tmp_path: Path) -> None:
    """The title leads its message on one row (a row of its own made every toast three rows tall); a
    confirmation goes sooner than a warning; after a key, a new toast replaces the older ones but an
    error, and toasts of the same action stand together."""
    from screens.app import CONFIRMATION_SECONDS

    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        app.notify("it broke [badly]", title="error", severity="error", markup=False)
        app.notify("launched x", title="run [started]")
        await settle(pilot, 0.1)
        shown = list(app._notifications)
        assert [(n.title, n.severity) for n in shown] == [("", "error"), ("", "information")]
        assert shown[0].message == "error · it broke [badly]"
        assert shown[1].timeout == CONFIRMATION_SECONDS < app.NOTIFICATION_TIMEOUT
        assert [region.height for region in toast_regions(app)] == [1, 1]
        assert "run [started] · launched x" in " ".join(screen_rows(app))
        await pilot.press("down")
        app.notify("careful", severity="warning")
        app.notify("and again", severity="warning")
        await settle(pilot, 0.1)
        messages = [n.message for n in app._notifications]
        assert messages == ["error · it broke [badly]", "careful", "and again"], messages


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_runs_footer_shows_every_action_of_the_screen(size: tuple[int, int], tmp_path: Path) -> None:
    """`n` (a new run) and `g` (scan now) were left out of the Runs footer for its room at 80 columns:
    now every key with an action of its own shows, the palette's hint giving way where they need it."""
    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        row = screen_rows(app)[-1]
        for shown in (
            "s Stop",
            "r Resume",
            "d Delete",
            "x Export",
            "c Compare",
            "l Clone",
            "n New",
            "g Scan",
        ):
            assert shown in row, (shown, row)
        assert "^q Quit" in row and "f1 Help" in row
        assert ("^p palette" in row) == (size[0] >= 100), row
        await pilot.press("n")
        await settle(pilot, 0.1)
        assert isinstance(app.screen, ConfigureScreen)


class _StopStillRunning:
    """A detached stopper that never ends in the test (the stop confirmation stays the only toast)."""

    def poll(self) -> int | None:
        return None


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("mode", ["monitor", "runs"])
async def test_the_stop_confirmation_is_one_row_on_the_footer(
    mode: str, size: tuple[int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stop · stopping RUN: it saves a checkpoint first…` wrapped to two rows in Textual's narrow toast
    (60 cells, at most half the screen) and stood over the Monitor's GPU line and the Runs detail line.
    A toast is now as wide as the screen and the id shortened as the Runs table does: one row."""
    import jobs.stopper

    monkeypatch.setattr(jobs.stopper, "stop_detached", lambda *args, **kwargs: _StopStillRunning())
    long_id = "20261201-133504-a-rather-long-run-name-1edb"
    app = frozen_app(tmp_path, initial_mode=mode, attach=GPU_RUN)
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        screen = app.screen
        # the GPU line at 80x24, the GPU plot where there is room for it
        names = ("#gpu-line", "#plot-gpu") if mode == "monitor" else ("#runs-detail",)
        shown = [screen.query_one(name).region for name in names]
        data = next(region for region in shown if region.height)
        footer = screen.query_one(Footer).region
        for run_id in (GPU_RUN, long_id):
            await pilot.press("down")  # a key: the toast of the run before is stale
            app._stop_run(run_id)
            await pilot.pause(0.3)
            toasts = toast_regions(app)
            assert [toast.height for toast in toasts] == [1], (run_id, toasts)
            assert data.height and not toasts[0].overlaps(data), (toasts, data)
            assert footer.contains_region(toasts[0]), (toasts, footer)
            assert "it saves a checkpoint first" in " ".join(screen_rows(app, footer))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
async def test_the_defaults_toast_leaves_the_status_seen(size: tuple[int, int], tmp_path: Path) -> None:
    """Ctrl+N's `defaults · every field is back…` took two to three rows over `✓ valid · Ctrl+L
    launches`, the line that says what the reset led to. One row on the footer's now."""
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        screen = app.screen
        status = screen.query_one("#config-status").region
        footer = screen.query_one(Footer).region
        toasts = toast_regions(app)
        assert [toast.height for toast in toasts] == [1], toasts
        assert status.height and not toasts[0].overlaps(status), (toasts, status)
        assert footer.contains_region(toasts[0]), (toasts, footer)
        assert "defaults" in " ".join(screen_rows(app, footer))


def test_the_nothing_to_export_refusal_fits_two_toast_rows() -> None:
    """A stopped run with no checkpoint (the CPU fixture): the export refusal took three rows at 80 columns
    and told the user to stop a run that was stopped; it fits two rows and its fix suits any run."""
    from tui_helpers import CPU_RUN, FIXTURE_RUNS

    from screens.formatting import TOAST_WIDTH
    from workbench.export import ExportError, source_adapter
    from workbench.runs import RunDir

    with pytest.raises(ExportError) as refused:
        source_adapter(RunDir(FIXTURE_RUNS / CPU_RUN))
    text = "export · " + str(refused.value)
    assert len(text) <= 2 * TOAST_WIDTH - 10, text  # words wrap whole: leave a few cells for it
    assert "fix: train or resume it" in text
