"""Configure's choice fields (screens/widgets/choice.py): their list opens on a screen of its own
(screens/dialogs/choice.py) without laying out the form again, and keeps what a user relies on: Enter,
Space or a click opens it, the arrows move, typing finds, Enter or a click takes a choice, Escape or a
click beside the list leaves the value, Tab moves on; the form validates and estimates with the value,
and a burst of keys into open lists loses nothing (`screens.keyorder`)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static
from tui_helpers import FIXTURE_ROWS, frozen_app, send_burst, settle, wait_until

from screens.app import WorkbenchApp, binding_rows
from screens.configure import ConfigureScreen, model_choices
from screens.dialogs.choice import SEARCH_RESET_SECONDS, ChoiceOptions, ChoiceScreen, find_choice
from screens.widgets.choice import ChoiceField
from workbench import presets
from workbench.config import RunConfig


async def _configure(app: WorkbenchApp, pilot: Pilot[Any]) -> ConfigureScreen:
    screen = app.screen
    assert isinstance(screen, ConfigureScreen)
    screen.set_field("data.source", str(FIXTURE_ROWS))
    screen.set_field("data.held_out", "2")
    await settle(pilot)
    # the preview thread holds the GIL for a while on a slow machine: let it finish before keys race it
    stats = screen.query_one("#data-stats", Static)
    await wait_until(pilot, lambda: "rows read" in str(stats.render()), "the data preview", 60)
    return screen


def _open_list(app: WorkbenchApp) -> ChoiceOptions:
    assert isinstance(app.screen, ChoiceScreen), app.screen
    return app.screen.query_one(ChoiceOptions)


def test_find_choice_takes_the_earliest_match_then_the_first_label() -> None:
    labels = ["cosine", "linear", "constant", "constant_with_warmup"]
    assert find_choice(labels, "lin") == 1
    assert find_choice(labels, "CON") == 2  # case-insensitive; "constant" before its longer namesake
    assert find_choice(labels, "with") == 3
    assert find_choice(labels, "n") == 1  # at 2 in "linear" and "constant", 4 in "cosine": the first at 2
    assert find_choice(labels, "zzz") is None


KINDS = [
    # (field id, the key that moves the highlight, config key, how the value shows in the config)
    pytest.param("#f-grpo-loss_type", "down", "grpo.loss_type", str, id="choice"),
    pytest.param("#f-grpo-stop_on_nan_loss", "up", "grpo.stop_on_nan_loss", lambda v: v == "true", id="bool"),
    pytest.param("#model-preset", "down", "model.name", str, id="model-picker"),
]


def _config_value(config: RunConfig | None, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


@pytest.mark.parametrize(("field_id", "move", "key", "typed"), KINDS)
async def test_each_kind_of_choice_field_picks_with_keys_and_cancels_with_escape(
    tmp_path: Path, field_id: str, move: str, key: str, typed: Any
) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        field = screen.query_one(field_id, ChoiceField)
        values = [value for _, value in field.options]
        start = field.value
        field.focus()
        await pilot.pause()

        await pilot.press("enter")
        options = _open_list(app)
        assert options.highlighted == values.index(start)  # the current value first
        assert options.region.y == field.region.bottom  # just under the field
        await pilot.press(move, "enter")
        step = 1 if move == "down" else -1
        picked = values[(values.index(start) + step) % len(values)]
        assert app.screen is screen and app.focused is field
        assert field.value == picked != start
        assert picked in field.render().plain  # type: ignore[union-attr]
        await settle(pilot)
        assert screen.config is not None, screen.problems
        assert _config_value(screen.config, key) == typed(picked)
        if field_id == "#model-preset":  # the picker fills model.name, which sizes the model
            assert screen.query_one("#f-model-name", Input).value == picked
            info = str(screen.query_one("#model-info", Static).render())
            assert presets.PRESETS[picked].description in info

        await pilot.press("space", move, move, "escape")  # Space opens too; Escape takes nothing
        assert app.screen is screen and app.focused is field
        assert field.value == picked
        await settle(pilot)
        assert _config_value(screen.config, key) == typed(picked)


async def test_a_choice_list_opens_and_closes_without_laying_out_the_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual's Select laid the whole form out (about 250 widgets) to open its list, again to close it,
    and so did the footer's rebuild and the dialog's removal: none of them may happen now."""
    layouts: list[Screen[Any]] = []
    original = Screen._refresh_layout

    def counted(self: Screen[Any], *args: Any, **kwargs: Any) -> None:
        layouts.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Screen, "_refresh_layout", counted)
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        field = screen.query_one("#f-grpo-lr_scheduler_type", ChoiceField)
        field.focus()
        await settle(pilot, 0.2)
        layouts.clear()
        for keys in (["enter"], ["down"], ["enter"], ["enter", "up", "escape"], ["enter", "enter"]):
            await pilot.press(*keys)
            await pilot.pause(0.1)
        await settle(pilot)
        assert field.value == "linear"
        assert screen not in layouts, f"{layouts.count(screen)} layouts of the form"


async def test_the_mouse_opens_picks_and_cancels(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        field = screen.query_one("#f-grpo-optim", ChoiceField)
        field.focus()
        await settle(pilot, 0.2)
        assert field.value == "adamw_torch"
        await pilot.click(field)
        options = _open_list(app)
        await pilot.click(options, offset=(3, 3))  # the border, then the third choice
        await pilot.pause()
        assert app.screen is screen and field.value == "paged_adamw_8bit"
        await pilot.click(field)
        _open_list(app)
        await pilot.click(app.screen, offset=(2, 2))  # beside the list: nothing taken
        await pilot.pause()
        assert app.screen is screen and field.value == "paged_adamw_8bit"
        await settle(pilot)
        assert screen.config is not None and screen.config.grpo.optim == "paged_adamw_8bit"


async def test_typing_finds_a_choice_and_a_pause_starts_a_new_search(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        field = screen.query_one("#f-grpo-loss_type", ChoiceField)
        field.focus()
        await pilot.press("enter", "d", "r")
        assert _open_list(app).highlighted == 2  # dr_grpo
        await pilot.pause(SEARCH_RESET_SECONDS + 0.3)
        await pilot.press("b")  # "b" alone, not "drb"
        assert _open_list(app).highlighted == 3  # bnpo
        await pilot.press("1")  # a digit searches too (outside a list it switches modes)
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("enter")
        assert field.value == "bnpo"


async def test_tab_closes_an_open_list_and_moves_on(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _configure(app, pilot)
        field = screen.query_one("#f-grpo-lr_scheduler_type", ChoiceField)
        field.focus()
        await pilot.press("enter", "down", "tab")
        assert app.screen is screen and field.value == "cosine"
        assert app.focused is screen.query_one("#f-grpo-max_grad_norm", Input)
        await pilot.press("shift+tab", "enter", "shift+tab")
        assert app.screen is screen and app.focused is not None
        assert app.focused.id == "f-grpo-warmup_ratio"


def _expected(values: list[str], start: str, rounds: list[list[str]]) -> list[str]:
    """The changes that `rounds` of keys (each: Enter, moves, then Enter or Escape) must give."""
    index, changes = values.index(start), []
    for keys in rounds:
        at = index
        for key in keys[1:-1]:
            at = {
                "down": (at + 1) % len(values),
                "up": (at - 1) % len(values),
                "home": 0,
                "end": len(values) - 1,
            }[key]
        if keys[-1] == "enter" and at != index:
            index = at
            changes.append(values[at])
    return changes


async def test_a_burst_of_keys_into_open_choice_lists_loses_nothing(tmp_path: Path) -> None:
    """60 rounds of Enter, arrows and Enter or Escape, in one burst (as over SSH): exactly the changes a
    user would get pressing them one at a time, in order."""
    changes: list[str] = []
    last: list[Message] = []

    def hook(message: Message) -> None:
        # The hook sees a message at every node it bubbles through: count each once.
        if isinstance(message, ChoiceField.Changed) and message.control.id == "f-grpo-loss_type":
            if not last or message is not last[0]:
                last[:] = [message]
                changes.append(message.value)

    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        screen = await _configure(app, pilot)
        field = screen.query_one("#f-grpo-loss_type", ChoiceField)
        values = [value for _, value in field.options]
        field.focus()
        await pilot.pause()
        changes.clear()
        rng = random.Random(7)
        rounds = [
            ["enter", *rng.choices(["down", "up", "home", "end"], k=rng.randint(0, 4))]
            + [rng.choice(["enter", "enter", "escape"])]
            for _ in range(60)
        ]
        wanted = _expected(values, field.value, rounds)
        assert len(wanted) > 20
        send_burst(app, [key for keys in rounds for key in keys])
        await wait_until(pilot, lambda: len(changes) >= len(wanted), f"{len(wanted)} changes", 120)
        await settle(pilot, 0.2)
        assert changes == wanted
        assert field.value == wanted[-1] and app.screen is screen
        assert screen.config is not None and screen.config.grpo.loss_type == wanted[-1]


async def test_the_help_lists_the_choice_list_keys_as_remapped(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('[keymap]\n"choice.pick" = "ctrl+y"\n')
    app = frozen_app(tmp_path, initial_mode="configure", settings_file=settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await _configure(app, pilot)
        section = next(s for s in app.help_sections() if s.title == "Choice lists (Configure)")
        keys = {what: keys for keys, what in section.rows}
        assert keys["Open a choice list (a click too); its keys are below"] == "⏎, space, ↓, ↑"
        assert keys["In an open list: close it, keeping the value"] == "esc"
        assert keys["In an open list: take the highlighted choice"] == "^y"  # remapped
        field = app.screen.query_one("#f-grpo-loss_type", ChoiceField)
        field.focus()
        await pilot.press("enter", "down", "ctrl+y")
        assert field.value == "dr_grpo"
    ids = {row[0] for row in binding_rows()}
    assert {"choice.open", "choice.pick", "choice.cancel"} <= ids


def test_the_model_picker_lists_what_the_field_shows() -> None:
    field = ChoiceField(model_choices(), id="model-preset")
    assert field.value == "tiny" and field.label.startswith("tiny · ")
    with pytest.raises(ValueError, match="not one of"):
        ChoiceField([("a", "a")], value="b")
