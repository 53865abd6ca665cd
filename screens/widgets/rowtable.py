"""A table of rows whose Home and End go to its first and last row.

Textual's DataTable gives Home and End to its columns (scrolling left and right, which a row cursor has no
use for) and the rows to Ctrl+Home and Ctrl+End: a review pressed Home in Runs and nothing moved.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class RowTable(DataTable[Any]):
    """A DataTable with a row cursor, Home on its first row and End on its last."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None, cell_padding: int = 1) -> None:
        """A zebra-striped table whose cursor selects whole rows."""
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=cell_padding)


__all__ = ["RowTable"]
