"""Modal dialogs: confirmation, a path prompt, the help screen. Each is self-contained (DEFAULT_CSS)."""

from __future__ import annotations

from screens.dialogs.confirm import ConfirmScreen, on_yes
from screens.dialogs.help import HelpScreen, KeySection
from screens.dialogs.prompt import PathPromptScreen

__all__ = ["ConfirmScreen", "HelpScreen", "KeySection", "PathPromptScreen", "on_yes"]
