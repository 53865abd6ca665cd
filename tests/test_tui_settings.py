"""The user's settings (settings.toml): remapped keys work and show in help, the theme picked is kept, and
a bad file never stops the workbench or gets overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tui_helpers import frozen_app, settle, wait_until

from screens.app import WorkbenchApp, binding_rows
from screens.dialogs import HelpScreen
from workbench.settings import AppSettings, load_settings, save_settings, settings_path


def app_with_settings(tmp_path: Path, text: str) -> tuple[WorkbenchApp, Path]:
    """A frozen app reading a settings file that holds `text`, and that file."""
    settings = tmp_path / "settings.toml"
    settings.write_text(text)
    return frozen_app(tmp_path, settings_file=settings), settings


def test_settings_validate_with_the_field_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    assert load_settings(path) == (AppSettings(), None), "no file: the defaults, no complaint"
    path.write_text('[keymap]\n"app.help" = " f10 , ctrl+h "\n')
    assert load_settings(path) == (AppSettings(keymap={"app.help": "f10,ctrl+h"}), None)
    cases = {
        '[keymap]\n"app.help" = "control h"': "keymap: 'app.help' = 'control h': give key names",
        '[keymap]\n"app.help" = ""': "give key names separated by commas",
        "colour = 'blue'": "colour: unknown setting; the settings are theme, [keymap] and [notify]",
        "theme = ": "not valid TOML",
    }
    for text, expected in cases.items():
        path.write_text(text)
        settings, problem = load_settings(path)
        assert settings == AppSettings() and problem is not None, text
        assert expected in problem and str(path) in problem, problem
    save_settings(path, AppSettings(theme="nord", keymap={"app.help": "f10"}))
    assert load_settings(path) == (AppSettings(theme="nord", keymap={"app.help": "f10"}), None)
    assert path.stat().st_mode & 0o077 == 0


def test_the_settings_file_can_be_moved_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRPO_WORKBENCH_SETTINGS", str(tmp_path / "mine.toml"))
    assert settings_path() == tmp_path / "mine.toml"
    monkeypatch.delenv("GRPO_WORKBENCH_SETTINGS")
    assert settings_path().name == "settings.toml"


def test_every_binding_has_a_unique_id() -> None:
    ids = [binding_id for binding_id, _, _ in binding_rows()]
    assert len(ids) == len(set(ids)) and len(ids) > 25


async def test_a_remapped_key_works_the_old_one_does_not_and_help_shows_it(tmp_path: Path) -> None:
    app, _ = app_with_settings(tmp_path, '[keymap]\n"app.help" = "f10"\n"app.runs" = "f9"\n')
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen), "f1 is no longer help"
        await pilot.press("f9")
        await wait_until(pilot, lambda: app.current_mode == "runs", "f9 switches to Runs")
        await pilot.press("f10")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "f10 opens help")
        everywhere = dict(app.help_sections()[0].rows)
        assert everywhere["f10"] == "Show every key" and "f1, ?" not in everywhere


async def test_a_bad_settings_file_is_reported_and_kept(tmp_path: Path) -> None:
    text = '[keymap]\n"app.help" = "f10"\n"app.runs" = "control r"\n'  # one bad entry: nothing applies
    app, settings = app_with_settings(tmp_path, text)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any(str(settings) in m and "keymap: 'app.runs' = 'control r'" in m for m in messages), messages
        assert app.keymap == {}, "a file that does not validate is not applied at all"
        app.theme = "gruvbox"
        await pilot.pause()
    assert settings.read_text() == text, "never overwritten while it needs fixing"


async def test_unknown_binding_ids_are_named_and_the_rest_applies(tmp_path: Path) -> None:
    app, _ = app_with_settings(
        tmp_path, 'theme = "no-such-theme"\n[keymap]\n"app.help" = "f10"\n"no.such.binding" = "f11"\n'
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any("unknown binding id 'no.such.binding'" in m for m in messages), messages
        assert any("theme 'no-such-theme' is not one of" in m for m in messages), messages
        assert app.keymap == {"app.help": "f10"}


async def test_the_theme_picked_is_kept_for_the_next_start(tmp_path: Path) -> None:
    app, settings = app_with_settings(tmp_path, '[keymap]\n"app.help" = "f10"\n')
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.theme = "nord"
        await wait_until(pilot, lambda: "nord" in settings.read_text(), "the theme saved")
    assert load_settings(settings)[0] == AppSettings(theme="nord", keymap={"app.help": "f10"})
    again = frozen_app(tmp_path, settings_file=settings)
    async with again.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert again.theme == "nord"


def test_keys_command_lists_ids_with_the_remapped_keys(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('[keymap]\n"monitor.stop" = "ctrl+x"\n"monitor.nope" = "f9"\n')
    env = dict(os.environ, GRPO_WORKBENCH_SETTINGS=str(settings))
    run = subprocess.run(
        [sys.executable, "-m", "grpo_workbench", "keys", "--json"], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    rows = {r["id"]: r for r in json.loads(run.stdout)}
    assert rows["monitor.stop"] == {
        "id": "monitor.stop",
        "keys": "ctrl+x",
        "default": "s",
        "action": "Stop the attached run (asks first)",
    }
    assert rows["app.help"]["keys"] == rows["app.help"]["default"] == "f1,question_mark"
    assert "unknown binding id 'monitor.nope'" in run.stderr  # as the TUI warns at start
