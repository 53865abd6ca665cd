"""A choice list as a modal screen drawn under its field: `ChoiceScreen.for_app(app)`, `.show(options,
value, field)`, then push it; it dismisses with a `Picked` (the value, or None when cancelled, and where
the focus goes next). `screens.widgets.choice.ChoiceField` does all that.

Why a screen of its own: Textual's `Select` shows its list as an overlay inside the form, and showing or
hiding it lays out the whole screen; on Configure's form (about 250 widgets) opening a list took 40 ms
typically and up to 300 ms, over the 50 ms budget of a keystroke (issue 17 item 9). On top of the form,
this screen lays out its one list, and the form below is only drawn, never laid out again (nor, thanks
to `screens.modescreen` and `screens.widgets.footer`, by the push and the pop themselves).

The screen itself takes the keys (the list cannot be focused): a key typed right behind the Enter that
opened it reaches the screen whether or not its list is mounted yet, and the screen's queue handles the
mounting first, so a burst (`screens.keyorder`) loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Self, cast

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.geometry import Region
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from textual.app import App

SEARCH_RESET_SECONDS = 0.7
"""Typed letters search together until the typing pauses this long (as Textual's `Select` does)."""
MAX_VISIBLE = 10
"""Choices shown at once; more scroll."""


@dataclass(frozen=True)
class Picked:
    """What the choice list was closed with."""

    value: str | None
    """The chosen value, or None when the list was cancelled (the field keeps its value)."""
    then: Literal["", "next", "previous"] = ""
    """Where the focus goes after: "" stays on the field; Tab and Shift+Tab close the list and move on,
    as they do from an open `Select`."""


class ChoiceOptions(OptionList, can_focus=False):
    """The list of a `ChoiceScreen`: never focused (its screen takes the keys), yet drawn as if it were."""

    DEFAULT_CSS = """
    ChoiceOptions {
        scrollbar-size-vertical: 1;
        border: tall $border;
        background: $surface;
        background-tint: $foreground 5%;
        & > .option-list--option { padding: 0 1; }
        & > .option-list--option-highlighted {
            color: $block-cursor-foreground;
            background: $block-cursor-background;
            text-style: $block-cursor-text-style;
        }
    }
    """


class ChoiceScreen(ModalScreen[Picked]):
    """The choices of one field, drawn over the form just below it (above it when there is no room)."""

    DEFAULT_CSS = """
    ChoiceScreen > ChoiceOptions { width: auto; height: auto; }
    """
    BINDINGS = [  # the help lists those with an id and describes the others (screens/app.py)
        Binding(
            "escape",
            "close",
            "Cancel",
            id="choice.cancel",
            tooltip="In an open list: close it, keeping the value",
        ),
        Binding(
            "enter",
            "pick",
            "Pick",
            id="choice.pick",
            tooltip="In an open list: take the highlighted choice",
        ),
        Binding("up", "move('cursor_up')", "Up", show=False),
        Binding("down", "move('cursor_down')", "Down", show=False),
        Binding("home", "move('first')", "First", show=False),
        Binding("end", "move('last')", "Last", show=False),
        Binding("pageup", "move('page_up')", "Page up", show=False),
        Binding("pagedown", "move('page_down')", "Page down", show=False),
        Binding("tab", "close('next')", "Next field", show=False),
        Binding("shift+tab", "close('previous')", "Previous field", show=False),
    ]

    NAME = "choice-list"
    """The name it is installed under: one per app, shown again for each field (see `for_app`)."""
    field: Widget | None = None
    """The field whose choices these are (the list is placed under it, and follows it)."""

    def __init__(self) -> None:
        super().__init__()
        # The form stays in view around the list: inline, since app.tcss (user CSS, which wins over any
        # DEFAULT_CSS) gives every Screen a colour, and a CSS of this screen's own would restyle the app.
        self.styles.background = Color(0, 0, 0, 0)
        self.options: list[tuple[str, str]] = []
        """(label, value) of each choice, in order."""
        self.value: str | None = None
        """The field's value when the list opened (highlighted first)."""
        self.field_region = Region()
        """Where the list was placed for: the field's place on the screen then."""
        self.search = ""
        """What has been typed since the last pause (type-to-search)."""
        self._search_reset: Timer | None = None
        self._answered = False
        """Dismissed already: a click and a key in one burst close it once."""

    @classmethod
    def for_app(cls, app: App[Any]) -> ChoiceScreen:
        """The app's choice list, installed on first use.

        Installed, it stays mounted between uses: a pushed screen that is not installed is removed when
        dismissed, and removing a screen lays out the one below it again (the whole form), while a
        mounted one only takes the next field's choices (its own small layout)."""
        if app.is_screen_installed(cls.NAME):
            return cast(ChoiceScreen, app.get_screen(cls.NAME))
        screen = cls()
        app.install_screen(screen, cls.NAME)
        return screen

    def show(self, options: Sequence[tuple[str, str]], value: str | None, field: Widget) -> None:
        """Take `field`'s (label, value) `options`, highlighting `value`, to be placed under it; then push
        this screen."""
        self.options = list(options)
        self.value = value
        self.field = field
        self.search = ""
        self._answered = False
        if self.is_mounted:
            self._fill()

    def compose(self) -> ComposeResult:
        yield ChoiceOptions(id="choices")

    def on_mount(self) -> None:
        self._fill()

    def _fill(self) -> None:
        options = self.query_one(ChoiceOptions)
        options.set_options(Option(label) for label, _ in self.options)
        values = [value for _, value in self.options]
        options.highlighted = values.index(self.value) if self.value in values else 0
        self._place(options)

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        """Also follow the field when the form under the list moved: Textual refreshes this screen where
        the form changed, and a field can still be scrolling into view (focus scrolls it there in an
        animation) when Enter opens its list."""
        if self.field is not None and self.is_mounted and self.field.region != self.field_region:
            self._place(self.query_one(ChoiceOptions))
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _place(self, options: ChoiceOptions) -> None:
        """Under the field, at least as wide as it; moved up and left as far as needed to stay on screen
        (where it was when the field is out of view)."""
        if self.field is None or not self.field.region:
            return
        self.field_region = self.field.region
        screen = self.app.size
        scrollbar = 1 if len(self.options) > MAX_VISIBLE else 0
        # the border, the list's padding and each option's, both sides
        widest = max((len(label) for label, _ in self.options), default=0) + 6 + scrollbar
        width = min(max(widest, self.field_region.width), screen.width)
        height = min(len(self.options), MAX_VISIBLE) + 2
        x = max(0, min(self.field_region.x, screen.width - width))
        y = self.field_region.bottom
        if y + height > screen.height:
            y = max(0, min(self.field_region.y - height, screen.height - height))
        options.styles.width = width
        options.styles.height = height
        options.styles.offset = (x, y)

    # ------------------------------------------------------------------------------------------------
    # keys and the mouse

    async def action_move(self, action: str) -> None:
        await self.query_one(ChoiceOptions).run_action(action)

    def action_pick(self) -> None:
        index = self.query_one(ChoiceOptions).highlighted
        self._close(Picked(self.options[index][1] if index is not None else None))

    def action_close(self, then: Literal["", "next", "previous"] = "") -> None:
        self._close(Picked(None, then))

    def _close(self, picked: Picked) -> None:
        if not self._answered:
            self._answered = True
            self.dismiss(picked)

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        """Printable keys search the list (so the app's one-key bindings stay out of it)."""
        return character is not None and character.isprintable()

    def on_key(self, event: events.Key) -> None:
        """Type-to-search: the first choice whose label holds what was typed, earliest match first."""
        if event.character is None or not event.is_printable:
            return
        event.stop()
        event.prevent_default()
        self.search += event.character
        if self._search_reset is not None:
            self._search_reset.stop()
        self._search_reset = self.set_timer(SEARCH_RESET_SECONDS, self._reset_search)
        index = find_choice([label for label, _ in self.options], self.search)
        if index is not None:
            self.query_one(ChoiceOptions).highlighted = index

    def _reset_search(self) -> None:
        self.search = ""

    @on(OptionList.OptionSelected)
    def handle_option_selected(self, event: OptionList.OptionSelected) -> None:
        """A click on a choice takes it."""
        event.stop()
        self._close(Picked(self.options[event.option_index][1]))

    def on_click(self, event: events.Click) -> None:
        """A click outside the list cancels, as it does beside an open `Select`."""
        if event.widget is self:
            self._close(Picked(None))


def find_choice(labels: Sequence[str], query: str) -> int | None:
    """The index of the label holding `query` earliest (case-insensitive; the first such label on a tie),
    or None: the rule of Textual's `Select`, kept so that typed choices find what they found before."""
    query = query.lower()
    best: int | None = None
    at: int | None = None
    for index, label in enumerate(labels):
        found = label.lower().find(query)
        if found != -1 and (at is None or found < at):
            best, at = index, found
    return best


__all__ = ["ChoiceScreen", "Picked", "find_choice"]
