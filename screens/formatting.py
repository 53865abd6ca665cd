"""How the screens write a job's state and a duration, spelled once (Monitor, Chat, Evaluate)."""

from __future__ import annotations

STATE_STYLES: dict[str, str] = {
    "pending": "yellow",
    "starting": "yellow",
    "running": "green",
    "ready": "green",
    "stopping": "yellow",
    "completed": "cyan",
    "stopped": "",
    "failed": "bold red",
    "crashed": "bold red",
}
"""The Rich style of a job's state (a training run, a serve job, an evaluation): green while it works,
yellow while it waits on its way in or out, cyan when done, bold red when it failed or its process is
gone. A state not listed is unstyled."""

RUN_STATE_STYLES: dict[str, str] = STATE_STYLES | {"starting": "green"}
"""A training run's, in the Monitor: the same but for `starting`, green as in the Runs table (a starting
serve job or evaluation is yellow: it is still loading its model)."""


def format_duration(seconds: float | None) -> str:
    """`1:02:03`, `2:03`, or `?` when unknown (a negative duration reads `0:00`)."""
    if seconds is None:
        return "?"
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
