"""Pilot tests of the app on frozen runs: every Configure field's validation blocks Launch, save and load,
the run actions and their confirmations, the command palette, help, mode keys and startup choices."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input
from tui_helpers import (
    CPU_RUN,
    CRASHED_RUN,
    FIXTURE_ROWS,
    FIXTURE_RUNS,
    FROZEN_NOW,
    GPU_RUN,
    frozen_app,
    settle,
    wait_until,
)

from screens.app import WorkbenchApp
from screens.configure import ConfigureScreen, field_specs
from screens.dialogs import ConfirmScreen, HelpScreen, PathPromptScreen
from screens.monitor import MonitorScreen
from screens.runs import RunsScreen, format_age
from workbench.config import load

BAD_INPUT = {
    "model.name": "not a model!",
    "lora.target_modules": "q_proj, bogus_proj",
    "data.source": "/no/such/rows.jsonl",
}
"""Bad values for the text fields; numeric fields get "abc"."""
FREE_TEXT = {"name", "data.split"}
"""Fields that accept any text, so nothing typed there can be wrong."""


async def _configure(app: WorkbenchApp, pilot: object) -> ConfigureScreen:
    screen = app.screen
    assert isinstance(screen, ConfigureScreen)
    screen.set_field("data.source", str(FIXTURE_ROWS))
    screen.set_field("data.held_out", "2")
    await settle(pilot)  # type: ignore[arg-type]
    return screen


async def test_every_field_shows_its_message_and_blocks_launch(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        assert screen.can_launch, screen.problems
        checked: list[str] = []
        for spec in field_specs():
            if spec.kind in ("choice", "bool") or spec.key in FREE_TEXT:
                continue  # a choice list cannot hold a bad value
            widget = screen.query_one(f"#{spec.widget_id}", Input)
            good = widget.value
            widget.value = BAD_INPUT.get(spec.key, "abc")
            await pilot.pause()
            assert screen.field_message(spec.key), f"{spec.key}: no message for {widget.value!r}"
            assert not screen.can_launch, f"{spec.key}: Launch still enabled"
            widget.value = good
            await pilot.pause()
            assert not screen.field_message(spec.key), f"{spec.key}: {screen.field_message(spec.key)}"
            checked.append(spec.key)
        await settle(pilot)
        assert screen.can_launch
        assert len(checked) >= 30 and "lora.rank" in checked and "rewards.check_answer" in checked


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"lora.rank": "128"}, "lora.rank", "max_lora_rank"),
        ({"grpo.num_generations": "3"}, "grpo.num_generations", "divisible"),
        ({"grpo.max_completion_length": "4000"}, "grpo.max_completion_length", "max_seq_length"),
        ({"lora.max_lora_rank": "48"}, "lora.max_lora_rank", "vLLM"),
        ({"grpo.learning_rate": "0"}, "grpo.learning_rate", "greater than 0"),
    ],
)
async def test_cross_field_rules_name_their_field(
    tmp_path: Path, values: dict[str, str], field: str, words: str
) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        for key, value in values.items():
            screen.set_field(key, value)
        await pilot.pause()
        assert words in screen.field_message(field)
        assert not screen.can_launch


async def test_all_reward_weights_zero_is_refused(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        for spec in field_specs():
            if spec.key.startswith("rewards."):
                screen.set_field(spec.key, "0")
        await pilot.pause()
        assert not screen.can_launch
        assert any("nothing to learn" in p.message for p in screen.problems)


async def test_a_data_source_without_usable_rows_blocks_launch(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        screen.set_field("data.held_out", "32")  # 6 usable rows, all held out
        await settle(pilot)
        assert "usable rows" in screen.field_message("data.source")
        assert not screen.can_launch


async def load_with_ctrl_o(app: Any, pilot: Any, screen: Any, path: Path, max_steps: int) -> None:
    """Load `path` through Configure's Ctrl+O prompt and wait for the form's config to hold `max_steps`."""
    await pilot.press("ctrl+o")
    await wait_until(pilot, lambda: isinstance(app.screen, PathPromptScreen), "the load prompt", 5)
    app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")
    await wait_until(
        pilot,
        lambda: screen.config is not None and screen.config.grpo.max_steps == max_steps,
        "the loaded config",
        5,
    )


async def test_save_then_load_a_config(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    saved = tmp_path / "mine.toml"
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        screen.set_field("grpo.max_steps", "77")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, PathPromptScreen), "the save prompt", 5)
        app.screen.query_one(Input).value = str(saved)
        await pilot.press("enter")
        await wait_until(pilot, saved.exists, "the saved file", 5)
        assert load(saved).grpo.max_steps == 77

        screen.set_field("grpo.max_steps", "5")
        await load_with_ctrl_o(app, pilot, screen, saved, max_steps=77)


async def test_loading_a_partial_config_keeps_this_machines_defaults(tmp_path: Path) -> None:
    """Ctrl+O of a file that names one setting changes that field; every other field shows this machine's
    default (here the offline demo: no GPU), not the schema's."""
    from workbench.config import machine_default

    partial = tmp_path / "partial.toml"
    partial.write_text("[grpo]\nmax_steps = 9\n", encoding="utf-8")
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        screen.set_field("grpo.learning_rate", "0.5")
        await pilot.pause()
        await load_with_ctrl_o(app, pilot, screen, partial, max_steps=9)
        assert screen.config is not None
        default = machine_default(len(screen.context.gpu_sampler()))
        assert screen.config.grpo.learning_rate == default.grpo.learning_rate
        assert screen.config.model.name == default.model.name


async def test_runs_enter_attaches_and_monitor_replays(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        assert runs.query_one(DataTable).row_count == 3
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: app.current_mode == "monitor", "Monitor", 5)
        assert app.attached == GPU_RUN
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen)
        await wait_until(pilot, lambda: monitor.metrics.max_step == 24, "the replayed history", 10)
        assert monitor.gpu.indices() == [0, 1]
        assert monitor.metrics.summary is not None
        assert monitor.step == 24 and monitor.status.state == "completed"


async def test_crashed_history_dedupes_the_repeated_steps(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="monitor", attach=CRASHED_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        monitor = app.screen
        assert isinstance(monitor, MonitorScreen)
        xs, _ = monitor.metrics.get("reward")
        assert xs == [float(s) for s in range(1, 13)]
        assert monitor.status.state == "crashed"


async def test_stop_of_a_finished_run_only_warns(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)


async def test_delete_asks_and_no_keeps_the_run(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, root, ignore=shutil.ignore_patterns("*.py", "*.jsonl.bak"))
    app = frozen_app(tmp_path, runs_root=root, initial_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation", 5)
        await pilot.press("n")
        await pilot.pause()
        assert (root / CPU_RUN).is_dir()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation", 5)
        await pilot.press("y")
        await wait_until(pilot, lambda: not (root / CPU_RUN).exists(), "the run directory to go", 10)
        await settle(pilot)
        assert [info.run.run_id for info in app.runs] == [CRASHED_RUN, GPU_RUN]


async def test_the_runs_cursor_stays_on_its_run_when_the_list_changes(tmp_path: Path) -> None:
    """A run that appears above the cursor (a launch, a scan) leaves the cursor on the run it was on: it
    stayed on the row number, so a quick d then y after a scan acted on another run (a review deleted its
    own trained run that way); a deleted run's row goes to the run that takes its place."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, root, ignore=shutil.ignore_patterns("*.py", "*.jsonl.bak"))
    app = frozen_app(tmp_path, runs_root=root, initial_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        await pilot.press("end")
        await settle(pilot)
        assert runs.selected is not None and runs.selected.run.run_id == GPU_RUN
        shutil.copytree(root / CPU_RUN, root / "20261201-150000-zcopy-aaaa")  # newest: the top row
        await pilot.press("g")
        await wait_until(pilot, lambda: len(app.runs) == 4, "the scan to find the new run", 10)
        await settle(pilot)
        assert runs.selected is not None and runs.selected.run.run_id == GPU_RUN
        assert app.screen.query_one(DataTable).cursor_row == 3


async def test_palette_attach_command(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"attach: 20261119")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.attached == CRASHED_RUN, "the palette's attach", 5)
        assert app.current_mode == "monitor"


async def test_help_and_mode_keys(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        for key, mode in (
            ("f2", "configure"),
            ("f4", "monitor"),
            ("f5", "chat"),
            ("f3", "runs"),
            ("2", "runs"),
            ("3", "monitor"),
        ):
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode, key


async def test_startup_opens_configure_when_there_are_no_runs(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, runs_root=tmp_path / "empty", initial_mode=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.current_mode == "configure"
        screen = app.screen
        assert isinstance(screen, ConfigureScreen)
        assert screen.config is not None and screen.config.model.name == "tiny"


async def test_startup_opens_runs_when_only_past_runs_exist(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.current_mode == "runs" and app.attached is None


async def test_runs_detail_of_a_stopped_and_a_resumed_run(tmp_path: Path) -> None:
    """A stopped run reads `stopped` (its last phase was `done`); a resumed one shows its age from
    creation in the table and the attempt's age beside it in the detail line."""
    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, root, ignore=shutil.ignore_patterns("*.py", "*.jsonl.bak"))
    manifest_path = root / CPU_RUN / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    created = manifest["started_at"]
    manifest.update(
        started_at=FROZEN_NOW - 600,
        attempt=2,
        history=[{"pid": 999998, "started_at": created, "attempt": 1}],
    )
    manifest_path.write_text(json.dumps(manifest))
    app = frozen_app(tmp_path, runs_root=root, initial_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        table = runs.query_one(DataTable)
        row = [str(cell) for cell in table.get_row(CPU_RUN)]
        assert row[-1] == format_age(FROZEN_NOW - created) == "1d"
        detail = str(runs.query_one("#runs-detail").render())
        assert "· stopped ·" in detail and "done" not in detail, detail
        assert "created 1d ago · attempt 2 started 10m ago" in detail, detail


async def test_runs_shows_an_orphan_trainers_live_step_and_its_gone_supervisor(
    tmp_path: Path,
) -> None:
    """A run whose supervisor was killed while its trainer trains on: the Runs table shows the trainer's
    own step (progress.json), not the step of the supervisor's last heartbeat, the run as running, and
    the detail line says the supervisor is gone. A real process stands in for the trainer."""
    import subprocess
    import time

    from workbench.runs import Progress, RunDir, process_start_time

    root = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, root, ignore=shutil.ignore_patterns("*.py", "*.jsonl.bak"))
    run = RunDir(root / CRASHED_RUN)  # status.json: running at step 12/40, its supervisor long dead
    trainer = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        run.write_manifest(
            run.read_manifest().replace(
                trainer_pid=trainer.pid, trainer_create_time=process_start_time(trainer.pid)
            )
        )
        run.write_progress(Progress(phase="training", step=17, max_steps=40, updated_at=time.time()))
        app = frozen_app(tmp_path, runs_root=root, initial_mode="runs")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            runs = app.screen
            assert isinstance(runs, RunsScreen)
            table = runs.query_one(DataTable)
            row = [str(cell) for cell in table.get_row(CRASHED_RUN)]
            assert row[1:3] == ["running", "17/40"], row
            table.move_cursor(row=[i.run.run_id for i in runs.infos].index(CRASHED_RUN))
            await settle(pilot)
            detail = str(runs.query_one("#runs-detail").render())
            assert "the supervisor (pid 999999) is gone" in detail, detail
            assert f"its trainer (pid {trainer.pid}) runs on unwatched" in detail, detail
    finally:
        trainer.kill()
        trainer.wait()
    assert run.read_status().step == 12, "a viewer writes nothing"


async def test_a_message_already_shown_is_not_stacked_again(tmp_path: Path) -> None:
    """A review saw `deleted RUN` three times over the Runs detail line (one per scan the delete set
    off): a message on screen is not raised again; a different one still is."""
    app = frozen_app(tmp_path, initial_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for _ in range(3):
            app.notify("deleted 20261201-180000-zz4-dddd")
        app.notify("something else")
        await pilot.pause()
        assert [n.message for n in app._notifications] == [
            "deleted 20261201-180000-zz4-dddd",
            "something else",
        ]
