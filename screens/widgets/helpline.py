"""A help box of fixed height whose text never ends unseen: what does not fit ends with `…`.

Configure's help line holds the focused field's description in two rows. Some descriptions take four
rows at 80 columns, and a box that grew with its text would lay out the whole form (about 250 widgets)
on every focus change. So the box keeps its height, wraps the text to its width at each render (a resize
re-wraps it), and ends the last row with `…` when the text goes on. The whole text is its tooltip, and
`grpo-workbench config --reference` has every description.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widgets import Static


def clamp(text: Text, width: int, lines: int, console: object) -> Text:
    """`text` wrapped to `width` cells and cut to `lines` rows, the last ending with `…` when cut."""
    wrapped = list(text.wrap(console, width))  # type: ignore[arg-type]
    if len(wrapped) <= lines:
        return text
    kept = wrapped[:lines]
    last = kept[-1]
    last.rstrip()
    if last.cell_len > width - 1:
        last.truncate(width - 1)
    last.append("…")
    return Text("\n").join(kept)


class HelpLine(Static):
    """A Static of fixed height (its CSS `height`, in rows) that clamps its text to those rows."""

    def show(self, text: Text | str) -> None:
        """Show `text` (its tooltip too), without a layout: the box's height does not change."""
        full = text if isinstance(text, Text) else Text(text)
        self.tooltip = full.plain
        self.update(full, layout=False)

    def render(self) -> RenderableType:
        content = self.content
        text = content if isinstance(content, Text) else Text(str(content))
        width = self.content_size.width
        rows = self.content_size.height
        if width <= 1 or rows <= 0:
            return text
        return clamp(text, width, rows, self.app.console)
