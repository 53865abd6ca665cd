"""The key footer of every screen: Textual's Footer, composed again only when the keys it shows change.

Textual's Footer rebuilds its keys whenever its screen's bindings may have changed: on every focus
change, and when a dialog is pushed over its screen or popped. Rebuilding mounts new widgets, and that
lays out the whole screen: on Configure's form (about 250 widgets) a Tab to the next field, or opening
and closing a choice list (screens/dialogs/choice.py), each paid a layout of the form for a footer that
showed the same keys. This one compares what it would show with what it shows, and skips the rebuild
while a dialog covers its screen (the keys in force are the dialog's; it catches up when uncovered).
"""

from __future__ import annotations

from typing import Any

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
        keys = self._keys(screen)
        if keys == self._shown:
            return
        self._shown = keys
        super().bindings_changed(screen)

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
