"""Chat: a placeholder until the chat issue lands (a loopback-only model server the jobs layer manages)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

PLACEHOLDER = """\
[b]Chat is not built yet.[/b]

It will let you talk to a run's adapter (or a checkpoint) next to the base model, served by a \
separate process that outlives this window, like training runs do.

Meanwhile: [b]F2[/b] Configure a run · [b]F3[/b] Runs · [b]F4[/b] Monitor · [b]F1[/b] keys
"""


class ChatScreen(Screen[None]):
    """The placeholder."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(PLACEHOLDER, id="chat-placeholder")
        yield Footer(compact=True)
