"""A checkbox and a checklist whose boxes read on or off without colour: `✓` ticked, blank not.

Textual draws `X` in every box and tells on from off by colour alone, which a monochrome terminal, a
colour-blind user or a screenshot in a bug report loses.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets._toggle_button import ToggleButton

TICK = "✓"
"""What a ticked box holds; an unticked one holds a space."""


class TickBox(Checkbox):
    """A Checkbox showing `✓` when on and a blank box when off."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = TICK if self.value else " "
        return super()._button


class TickList(SelectionList[str]):
    """A SelectionList whose boxes show `✓` for the selected values and stay blank for the others."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        if len(segments) < 3 or segments[1].text != ToggleButton.BUTTON_INNER:
            return strip  # a line without a box
        index = self.scroll_offset.y + y
        value = self.get_option_at_index(index).value
        segments[1] = Segment(TICK if value in self.selected else " ", segments[1].style)
        return Strip(segments, strip.cell_length)


__all__ = ["TICK", "TickBox", "TickList"]
