"""The webhook at the end of a run: its JSON body and its delivery (stdlib `urllib`; no Textual, no torch).

One body serves Slack and Discord incoming webhooks, and anything else that takes JSON: `text` is what Slack
shows, `content` what Discord shows (the same sentence), and the facts come as fields of their own (`run`,
`state`, `steps`, `max_steps`, `final_reward`, `duration_s`, ...). Each service ignores the keys it does not
know.

Delivery never holds up or changes a run: the supervisor records the run's final state first and hands the
POST to a detached process (`jobs.notify`); every attempt has a short timeout, a failed one is retried
twice (network errors, timeouts, HTTP 5xx, 408 and 429; not other 4xx answers, which a retry cannot mend),
and the outcome goes to notify.json and train.log. The URL is a secret (it lets anyone post to the
channel): it is never logged or written, and every error message is passed through `redact` first.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

NOTIFY_STATES = ("completed", "failed", "crashed")
"""The ends that are announced; `stopped` is not (the user asked for it)."""
ATTEMPTS = 3
"""POSTs at most per ending."""
BACKOFF_S = (1.0, 3.0)
"""Seconds before the second and the third attempt."""
REDACTED = "<webhook URL>"
"""What stands in an error message where the URL (or its secret path) was."""
DISCORD_LIMIT = 2000
"""Discord refuses a `content` longer than this."""
RETRY_STATUSES = frozenset({408, 429})
"""4xx answers worth another try (timeout, rate limit); 5xx always are."""


def redact(text: str, url: str) -> str:
    """`text` with the webhook URL and each secret part of it (path, query, password) replaced.

    Args:
        text: An error message, a log line.
        url: The webhook URL.

    Returns:
        The text, safe to log.
    """
    if not url:
        return text
    parts = urlsplit(url)
    secrets = {url, unquote(url), url.rstrip("/")}
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(parts.path) > 1:
        secrets |= {tail, unquote(tail), parts.path, unquote(parts.path)}
    if parts.query:
        secrets.add(parts.query)
    if parts.password:
        secrets.add(parts.password)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def summary_text(
    run_id: str,
    state: str,
    steps: int,
    max_steps: int,
    final_reward: float | None,
    duration_s: float | None,
    error: str | None = None,
) -> str:
    """The one-line announcement: `grpo-workbench: run <id> completed at step 200/200 · final reward 4.120 ·
    ran 12m 5s`, plus the error's last line for a failed or crashed run."""
    parts = [f"grpo-workbench: run {run_id} {state} at step {steps}/{max_steps or '?'}"]
    if final_reward is not None:
        parts.append(f"final reward {final_reward:.3f}")
    if duration_s is not None:
        parts.append(f"ran {_duration(duration_s)}")
    text = " · ".join(parts)
    if error and state != "completed":
        last = error.strip().splitlines()[-1] if error.strip() else ""
        text += f"\n{last[:300]}" if last else ""
    return text


def webhook_body(
    *,
    run_id: str,
    state: str,
    steps: int,
    max_steps: int,
    final_reward: float | None,
    duration_s: float | None,
    attempt: int = 1,
    model: str = "",
    label: str = "",
    error: str | None = None,
    host: str = "",
) -> dict[str, Any]:
    """The JSON body POSTed when a run ends (Slack's `text`, Discord's `content`, and the facts).

    Args:
        run_id: The run's id.
        state: completed, failed or crashed.
        steps: The last step the run reached; `max_steps` the step it was going to.
        final_reward: The total reward (`reward` in metrics.jsonl) of its last logged step, or None.
        duration_s: Seconds the ending attempt ran (a resume starts a new attempt).
        attempt: 1 for the first start, 2 after the first resume, ...
        model: The base model; `label` the run's name; `host` the machine it ran on.
        error: Why it failed or crashed (None when it completed).
    """
    text = summary_text(run_id, state, steps, max_steps, final_reward, duration_s, error)
    return {
        "text": text,
        "content": text[:DISCORD_LIMIT],
        "run": run_id,
        "state": state,
        "steps": steps,
        "max_steps": max_steps,
        "final_reward": final_reward,
        "duration_s": None if duration_s is None else round(duration_s, 1),
        "attempt": attempt,
        "model": model,
        "name": label,
        "host": host,
        "error": error.strip().splitlines()[-1][:500] if error and error.strip() else None,
    }


@dataclass(frozen=True)
class Delivery:
    """How a POST went: delivered or not, after how many tries, the last answer or the (redacted) error."""

    delivered: bool
    tries: int
    http_status: int | None = None
    error: str | None = None
    """The last failure, redacted; None once delivered."""


def post_webhook(
    url: str,
    body: Mapping[str, Any],
    *,
    timeout: float = 5.0,
    attempts: int = ATTEMPTS,
    backoff: tuple[float, ...] = BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
    user_agent: str = "grpo-workbench",
) -> Delivery:
    """POST `body` as JSON to `url`, retrying what a retry can mend. Never raises for the network's sake.

    Args:
        url: An http(s) URL (a secret: never logged; errors come back redacted).
        body: The JSON body.
        timeout: Seconds for each attempt's connect and for each read of its answer.
        attempts: Tries at most.
        backoff: Seconds before each retry (the last value repeats).
        sleep: How to wait between tries.
        user_agent: The User-Agent header (some endpoints refuse Python's default).

    Returns:
        The `Delivery`.
    """
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    opener = _opener(url)
    status: int | None = None
    error: str | None = None
    tries = 0
    for tries in range(1, max(1, attempts) + 1):
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": user_agent},
        )
        retry = True
        try:
            with opener.open(request, timeout=timeout) as response:
                status = int(response.status)
                response.read(65536)
            if 200 <= status < 300:
                return Delivery(True, tries, status)
            error = f"HTTP {status}"
        except urllib.error.HTTPError as exc:
            status = exc.code
            error = f"HTTP {exc.code} {exc.reason}"
            retry = exc.code >= 500 or exc.code in RETRY_STATUSES
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # URLError, timeouts, refused connections, a malformed URL or answer
            status = None
            reason = getattr(exc, "reason", None)
            error = f"{type(exc).__name__}: {reason if reason is not None else exc}"
            retry = not isinstance(exc, ValueError | http.client.InvalidURL)
        error = redact(error, url)
        if not retry or tries >= attempts:
            break
        sleep(backoff[min(tries - 1, len(backoff) - 1)] if backoff else 0.0)
    return Delivery(False, tries, status, error)


def _opener(url: str) -> urllib.request.OpenerDirector:
    """The default opener (it follows http(s)_proxy), but never a proxy for a loopback host: a webhook
    receiver on this machine must not be sent through a proxy that cannot reach it."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _duration(seconds: float) -> str:
    """`42s`, `12m 5s`, `3h 2m`."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
