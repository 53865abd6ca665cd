"""A one-line choice field for big forms: it shows its value, and Enter, Space, ↑/↓ or a click open its
choices in a `ChoiceScreen` (screens/dialogs/choice.py) just below it.

Why not Textual's `Select`: its list is an overlay inside the form, so opening and closing it lay out the
whole screen (Configure's form: 40 ms typically, up to 300 ms, against a 50 ms budget for a keystroke;
issue 17 item 9), and each Select is six widgets where this is one. Here the list lives on a screen of
its own, and a new value repaints this field alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from screens.dialogs.choice import ChoiceScreen, Picked


class ChoiceField(Widget, can_focus=True):
    """One of fixed (label, value) options; `value` is the chosen one's value, `ChoiceField.Changed`
    says when it changes (not when it is set to what it already is)."""

    DEFAULT_CSS = """
    ChoiceField {
        width: 24;
        height: 1;
        padding: 0 1 0 0;
        background: $surface;
        color: $foreground;
        pointer: pointer;
        &:focus { background-tint: $foreground 5%; }
        &:disabled { color: $text-disabled; }
        & > .choice-field--arrow { color: $foreground 50%; }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"choice-field--arrow"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter,space,down,up",
            "open",
            "Open the choices",
            show=False,
            id="choice.open",
            tooltip="Open a choice list (a click too); its keys are below",
        ),
    ]

    value: reactive[str] = reactive("", init=False)
    """The chosen option's value (a repaint of this field, never a layout)."""

    class Changed(Message):
        """The value changed (by the list or by code, except inside `prevent(ChoiceField.Changed)`)."""

        def __init__(self, field: ChoiceField, value: str) -> None:
            super().__init__()
            self.field = field
            self.value = value

        @property
        def control(self) -> ChoiceField:
            """The field that changed (for `@on(ChoiceField.Changed, selector)`)."""
            return self.field

    def __init__(
        self,
        options: Sequence[tuple[str, str]],
        *,
        value: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        tooltip: RenderableType | None = None,
        disabled: bool = False,
    ) -> None:
        """`options` as (label, value) pairs, in the order the list shows them; `value` defaults to the
        first."""
        if not options:
            raise ValueError("a choice field needs at least one option")
        super().__init__(id=id, classes=classes, disabled=disabled)
        self.options = list(options)
        self._labels = {option_value: label for label, option_value in self.options}
        first = self.options[0][1]
        self.set_reactive(ChoiceField.value, first if value is None else self._validate_value(value))
        if tooltip is not None:
            self.tooltip = tooltip

    def _validate_value(self, value: str) -> str:
        if value not in self._labels:
            raise ValueError(f"{value!r} is not one of {list(self._labels)}")
        return value

    def _watch_value(self, value: str) -> None:
        self.post_message(self.Changed(self, value))

    @property
    def label(self) -> str:
        """What the field shows: the chosen option's label."""
        return self._labels[self.value]

    def render(self) -> RenderableType:
        width = self.content_size.width
        shown = Text(self.label, no_wrap=True, overflow="ellipsis")
        shown.truncate(max(width - 2, 0), overflow="ellipsis", pad=True)
        return Text.assemble(shown, " ", Text("▼", self.get_component_rich_style("choice-field--arrow")))

    def action_open(self) -> None:
        """Show the choices under the field, the current one highlighted."""
        choices = ChoiceScreen.for_app(self.app)
        if choices in self.app.screen_stack:
            return  # already open (for this field or another)
        choices.show(self.options, self.value, self)
        self.app.push_screen(choices, self._picked)

    def _picked(self, picked: Picked | None) -> None:
        if picked is None:
            return
        if picked.value is not None:
            self.value = picked.value
        if picked.then == "next":
            self.screen.focus_next()
        elif picked.then == "previous":
            self.screen.focus_previous()

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.action_open()


__all__ = ["ChoiceField"]
