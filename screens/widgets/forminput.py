"""An Input whose typing repaints the field alone instead of laying out the whole screen."""

from __future__ import annotations

from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Input


class FormInput(Input):
    """A fixed-size Input (its width set in CSS) for forms with many fields.

    Textual's Input sets its virtual size to the text's width on every change, and `virtual_size` is a
    layout reactive: each keystroke lays out the whole screen. On Configure's form (about 250 widgets)
    that was most of a keystroke's 30 ms (median, measured under Pilot); the field's size never depends
    on its text, so here the virtual size is stored without the layout (horizontal scrolling reads it
    all the same) and a keystroke costs a few milliseconds. Inputs sized by their content (`width:
    auto`) keep Input's behaviour.
    """

    def _watch_value(self, value: str) -> None:
        if not self.styles.auto_dimensions:
            # Store it first, so Input's own assignment below finds it unchanged and lays nothing out.
            self.set_reactive(Widget.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)


__all__ = ["FormInput"]
