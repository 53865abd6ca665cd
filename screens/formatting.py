"""How the screens write a job's state, a duration, a count and a status line that must fit, spelled
once."""

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


def plural(count: int, noun: str) -> str:
    """`1 run`, `2 runs` (nouns that take an s)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def format_duration(seconds: float | None) -> str:
    """`1:02:03`, `2:03`, or `?` when unknown (a negative duration reads `0:00`)."""
    if seconds is None:
        return "?"
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def parameter_size(count: float) -> str:
    """`1.24B` or `135.0M`: a parameter count written one way wherever it shows (the model picker said
    `1.24B` beside a model line's `1,235.8M`)."""
    return f"{count / 1e9:.2f}B" if count >= 1e9 else f"{count / 1e6:.1f}M"


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells: whole when it fits, else its start and its end joined by `…`.
    A run id keeps both its date (the start) and its random tail (the end), which tell runs apart when
    their labels begin alike."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = -(-2 * (width - 1) // 3)
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


TOAST_WIDTH = 77
"""The cells a toast's text (its title, ` · ` and its message) has on one row at 80 columns: the
screen's 80 less the toast's padding and its left border (app.tcss)."""
TOAST_ID_WIDTH = 30
"""The cells a run id takes in a toast: a toast is one row at 80 columns (app.tcss), and the longest ids
(a long label after the date) would push the message's own words, the ones that say what happened, off
it."""


def toast_id(run_id: str) -> str:
    """`run_id` as a toast names it: shortened in its middle as the Runs table shortens it, so that the
    toast stays one row on the footer's and never covers the data above it."""
    return shorten_middle(run_id, TOAST_ID_WIDTH)


def fit_parts(parts: list[str], optional: list[tuple[str, float]], width: int, lead: str = "") -> str:
    """`parts` joined by ` · `, then as many of the `optional` (name, seconds) items as fit in `width`
    cells, largest first, after `lead`; the ones left out are summed as `+N more`. A status line that
    has to fit its terminal never ends mid-word, and what it keeps is what weighs most.

    Args:
        parts: Always shown, in order (the step, the rate, the ETA).
        optional: Shown as `name 1.23`, as many as fit, largest seconds first.
        width: The cells available.
        lead: Written before the optional items (`last step 3.06 s: `).

    Returns:
        The line; `parts` alone when not even one optional item fits (and cut by the caller's ellipsis
        if `parts` alone is too long).
    """
    head = " · ".join(parts)
    ranked = sorted(optional, key=lambda item: -item[1])
    for keep in range(len(ranked), 0, -1):
        shown = ", ".join(f"{name} {seconds:.2f}" for name, seconds in ranked[:keep])
        left = ranked[keep:]
        if left:
            shown += f", +{len(left)} more {sum(seconds for _, seconds in left):.2f}"
        line = f"{head} · {lead}{shown}" if head else f"{lead}{shown}"
        if len(line) <= width:
            return line
    return head
