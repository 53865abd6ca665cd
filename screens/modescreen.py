"""The base of the five mode screens: styled once before its first frame.

Textual restyles a whole screen on every `ScreenResume`, and `App.switch_mode` posts two for a mode shown
the first time (one from `_init_mode`, one of its own), right after the screen was mounted and styled.
On Configure's form (about 330 widgets) those two passes were a fifth of a second of the first frame's
CPU time (issue 17 item 9: first paint under a second). A screen resumed before its first frame has
nothing to restyle: its widgets got their styles when they were mounted, the theme and CSS are the ones
they were styled with, and its breakpoint classes were set at birth (`screens.app.ModeSpec.make_screen`).
Every later resume (coming back to a mode) restyles as Textual does.

Nor is it laid out again under a dialog that did not change the terminal's size: Textual lays out every
screen below a newly pushed one when the new one gets its first size, which on Configure cost a whole
form's layout each time a choice list (screens/dialogs/choice.py) opened.
"""

from __future__ import annotations

from textual import events
from textual.geometry import Size
from textual.screen import Screen


class ModeScreen(Screen[None]):
    """A mode's base screen (Configure, Runs, Monitor, Chat, Evaluate)."""

    _painted = False
    """Whether a frame was shown since the screen was first resumed."""

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual calls the handler of every class of the MRO, subclasses first: until the first frame
        # this one runs Screen's with refresh_styles off and keeps Screen's own from running again
        # (prevent_default stops the walk up the MRO). A private name, the only way in: textual is
        # pinned exactly, and tests/test_tui_app.py checks the restyle is skipped and comes back.
        if not self._painted and event.refresh_styles:
            event.prevent_default()
            self.call_after_refresh(self._mark_painted)
            Screen._on_screen_resume(self, events.ScreenResume(refresh_styles=False))

    def _mark_painted(self) -> None:
        self._painted = True

    def _screen_resized(self, size: Size) -> None:
        # Called for each screen under a dialog when the dialog is first laid out, with the terminal's
        # size: lay out again only if that is not the size this screen was laid out for. A private name,
        # like the one above; tests/test_tui_choice.py checks a choice list opens without a layout here.
        if size != self._compositor.size:
            super()._screen_resized(size)
