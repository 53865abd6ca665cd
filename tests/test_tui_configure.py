"""Configure (frozen, no GPU): the model picker fills model.name and follows it, a key jumps to the data
preview, Ctrl+N says what it reset, and bound and negative-weight messages name their fix."""

from __future__ import annotations

from pathlib import Path

from textual.containers import VerticalScroll
from textual.widgets import Input, Static
from tui_helpers import FIXTURE_ROWS, frozen_app, settle, wait_until

from screens.configure import OTHER_MODEL, ConfigureScreen, model_choices
from screens.widgets.choice import ChoiceField
from workbench import presets


async def _screen(pilot: object, app: object) -> ConfigureScreen:
    screen = app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, ConfigureScreen)
    screen.set_field("data.source", str(FIXTURE_ROWS))
    screen.set_field("data.held_out", "2")
    await settle(pilot)  # type: ignore[arg-type]
    return screen


def test_the_picker_lists_every_preset_with_its_size_then_another() -> None:
    choices = model_choices()
    assert [value for _, value in choices] == [*presets.PRESETS, OTHER_MODEL]
    labels = dict((value, label) for label, value in choices)
    assert labels["tiny"].endswith("M parameters") and labels["llama-3.2-3b"].endswith("B parameters")


async def test_the_model_picker_fills_the_name_and_follows_it(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _screen(pilot, app)
        picker = screen.query_one("#model-preset", ChoiceField)
        name = screen.query_one("#f-model-name", Input)
        assert (picker.value, name.value) == ("tiny", "tiny")
        picker.value = "random-1b"
        await settle(pilot, 0.1)
        assert name.value == "random-1b"
        info = str(screen.query_one("#model-info", Static).render())
        assert "parameters" in info and "GiB" in info, info  # the size and the memory estimate
        name.value = "my-org/my-model"
        await settle(pilot, 0.1)
        assert picker.value == OTHER_MODEL
        name.value = "llama-3.2-3b"
        await settle(pilot, 0.1)
        assert picker.value == "llama-3.2-3b"


async def test_a_key_jumps_to_the_data_preview(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _screen(pilot, app)
        form = screen.query_one("#form", VerticalScroll)
        stats = screen.query_one("#data-stats", Static)
        # the form as a user sees it once the screen has settled: its data read (the first CI run on a
        # clean clone pressed the key while rows above the statistics were still being laid out)
        await wait_until(pilot, lambda: "rows read" in str(stats.render()), "the data preview", 20)
        assert form.scroll_y == 0
        await pilot.press("ctrl+g")
        await settle(pilot, 0.1)
        assert form.scroll_y > 0 and form.region.contains_region(stats.region.intersection(form.region))
        assert stats.region.y - form.region.y <= 1, (stats.region, form.region)  # at the top (its margin)
        form.scroll_home(animate=False)
        await pilot.press("ctrl+r")  # loads the data again and shows it
        await settle(pilot)
        assert form.scroll_y > 0 and "rows read" in str(stats.render())


async def test_defaults_say_what_they_reset(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _screen(pilot, app)
        screen.set_field("lora.rank", "16")
        await pilot.press("ctrl+n")
        await settle(pilot, 0.1)
        assert screen.query_one("#f-lora-rank", Input).value == "64"
        said = [n.message for n in app._notifications]
        assert any("back to this machine's default: tiny, 200 steps" in m for m in said), said


async def test_bound_and_negative_weight_messages_name_their_fix(tmp_path: Path) -> None:
    app = frozen_app(tmp_path, initial_mode="configure")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _screen(pilot, app)
        screen.set_field("lora.rank", "1000")
        screen.set_field("rewards.check_answer", "-1")
        await pilot.pause()
        assert screen.field_message("lora.rank").endswith(
            "fix: use a whole number from 1 to 512 (default 64)"
        )
        assert "is negative" in screen.field_message("rewards.check_answer")
        assert "fix: use 0 to switch it off" in screen.field_message("rewards.check_answer")
        assert not screen.can_launch


def test_a_parameter_count_reads_one_way_in_the_picker_and_the_model_line() -> None:
    """The picker said `1.24B parameters` beside the model line's `1,235.8M parameters`."""
    from screens.configure import memory_summary, model_choices
    from screens.formatting import parameter_size

    assert parameter_size(1_235_814_400) == "1.24B" and parameter_size(135_000_000) == "135.0M"
    from workbench import plan as wplan
    from workbench.config import machine_default, presets

    pickers = dict((name, label) for label, name in model_choices())
    for name in presets.PRESETS:
        shape = wplan.model_shape(name)
        if shape is None:
            continue
        config = machine_default(1).model_copy(
            update={"model": machine_default(1).model.model_copy(update={"name": name})}
        )
        size = parameter_size(shape.parameter_count())
        assert f"{size} parameters" in pickers[name], pickers[name]
        assert memory_summary(config, 80.0, "vllm").startswith(f"{size} parameters"), name
