"""The key footer of every screen: Textual's Footer, composed again only when the keys it shows change.

Textual's Footer rebuilds its keys whenever its screen's bindings may have changed: on every focus
change, and when a dialog is pushed over its screen or popped. Rebuilding mounts new widgets, and that
lays out the whole screen: on Configure's form (about 250 widgets) a Tab to the next field, or opening
and closing a choice list (screens/dialogs/choice.py), each paid a layout of the form for a footer that
showed the same keys. This one compares what it would show with what it shows, and skips the rebuild
while a dialog covers its screen (the keys in force are the dialog's; it catches up when uncovered).

It also gives the command palette's hint (`^p palette`, docked on the right) up when the screen's own keys
need its room: at 80 columns Runs has ten keys, and every action a screen has must show in its footer. The
palette stays on Ctrl+P, and F1 (always in the footer) lists it with every other key.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual import events
from textual.screen import Screen
from textual.widgets import Footer


class SteadyFooter(Footer):
    """A Footer that rebuilds only when the keys, labels or enabled states it shows change."""

    _shown: tuple[Any, ...] | None = None
    """What the footer was last built with (see `_keys`), or None before the first build."""

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen is not self.app.screen:
            return  # covered by a dialog (or another mode): nothing to show until it is uncovered
        if not self.app.app_focus:
            super().bindings_changed(screen)  # Footer does not build then either
            return
        self.set_reactive(Footer.show_command_palette, self._palette_fits(screen))
        keys = self._keys(screen)
        if keys == self._shown:
            return
        self._shown = keys
        super().bindings_changed(screen)

    def on_resize(self, event: events.Resize) -> None:
        """A narrower or wider terminal may leave the palette's hint room, or take it."""
        if self.is_attached:
            self.bindings_changed(self.screen)

    def _palette_fits(self, screen: Screen[Any]) -> bool:
        """Whether the palette's hint fits beside every key the screen shows (as the compact footer
        draws them: `key description`, a cell between keys; the hint has a border cell on its left)."""
        palette = self.app.COMMAND_PALETTE_BINDING
        actions: dict[str, int] = {}
        hint = 0
        for key, (_, binding, _, _) in screen.active_bindings.items():
            shown = cell_len(self.app.get_key_display(binding))
            if binding.description:
                shown += 1 + cell_len(binding.description)
            if key == palette:
                hint = 1 + shown
            elif binding.show:
                actions.setdefault(binding.action, shown + 1)  # Footer shows one key per action
        width = self.size.width or self.app.size.width
        return sum(actions.values()) + hint <= width

    def _keys(self, screen: Screen[Any]) -> tuple[Any, ...]:
        """Everything of the screen's bindings that Footer.compose draws."""
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple(
            (
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                binding.group,
                enabled,
                tooltip,
            )
            for key, (_, binding, enabled, tooltip) in screen.active_bindings.items()
            if binding.show or key == palette
        ) + (self.show_command_palette, self.compact)


__all__ = ["SteadyFooter"]
