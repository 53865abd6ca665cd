"""The webhook announcing a run's end: `python -m jobs.notify RUN_DIR` (stdlib + the core; no torch).

The run's supervisor starts it (`announce_end`) after it recorded the run's final state, when that state is
completed, failed or crashed and settings.toml sets `[notify] webhook_url`. It runs detached, in a session
of its own with its output appended to train.log, so the supervisor exits at once: a webhook that hangs or
fails can neither hold the run's process (a foreground `train` returns, `resume` may start) nor change how
the run ended. It reads the URL from the settings itself (never from its command line, which `ps` and the
manifest would show), POSTs the body of `workbench.notify.webhook_body` with retries, and records the
outcome in notify.json; neither the log nor notify.json ever holds the URL.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from jobs.process import spawn_detached
from workbench import __version__
from workbench.notify import NOTIFY_STATES, post_webhook, redact, webhook_body
from workbench.runs import Notification, RunDir, last_reward, read_config_table
from workbench.settings import load_settings, settings_path


def _log(message: str) -> None:
    print(f"[notify {time.strftime('%H:%M:%S')}] {message}", flush=True)


def webhook_url() -> tuple[str | None, float, str | None]:
    """(the webhook URL or None, the per-attempt timeout, a problem with settings.toml or None)."""
    settings, problem = load_settings(settings_path())
    return settings.notify.webhook_url, settings.notify.webhook_timeout_s, problem


def announce_end(run: RunDir) -> subprocess.Popen[bytes] | None:
    """Start the notifier for `run` when its recorded state is announced and a webhook is set. Never
    raises: announcing is a courtesy, and the run's outcome is already recorded.

    Returns:
        The notifier's Popen, or None when nothing was started.
    """
    try:
        state = run.read_status().state
        if state not in NOTIFY_STATES:
            return None
        url, _, problem = webhook_url()
        if problem and url is None:
            _log(f"no webhook: {problem}")
        if not url:
            return None
        return spawn_detached([sys.executable, "-m", "jobs.notify", str(run.path)], run.log, run.path)
    except Exception as exc:  # noqa: BLE001 - whatever goes wrong here must not fail the supervisor
        _log(f"webhook not started: {type(exc).__name__}")
        return None


def notify(run: RunDir) -> Notification | None:
    """POST the announcement of `run`'s recorded end to the configured webhook and record how it went.

    Returns:
        What notify.json now says, or None when there was nothing to announce (no webhook, not an
        announced state).
    """
    url, timeout, _ = webhook_url()
    status = run.read_status()
    if not url or status.state not in NOTIFY_STATES:
        return None
    manifest = run.read_manifest()
    config = read_config_table(run)
    model = config.get("model")
    started = manifest.started_at
    finished = status.finished_at
    body = webhook_body(
        run_id=run.run_id,
        state=status.state,
        steps=status.step,
        max_steps=status.max_steps,
        final_reward=last_reward(run),
        duration_s=finished - started if finished is not None and started is not None else None,
        attempt=manifest.attempt or 1,
        model=str(model.get("name", "")) if isinstance(model, dict) else "",
        label=str(config.get("name") or ""),
        error=status.error,
        host=manifest.host,
    )
    _log(f"announcing {status.state} to the webhook in settings.toml")
    delivery = post_webhook(url, body, timeout=timeout, user_agent=f"grpo-workbench/{__version__}")
    record = Notification(
        state=status.state,
        attempt=manifest.attempt,
        delivered=delivery.delivered,
        tries=delivery.tries,
        http_status=delivery.http_status,
        error=delivery.error,
        sent_at=time.time(),
    )
    run.write_notification(record)
    if delivery.delivered:
        _log(f"webhook delivered (HTTP {delivery.http_status}, try {delivery.tries})")
    else:
        _log(f"webhook not delivered after {delivery.tries} tries: {redact(delivery.error or '?', url)}")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        notify(RunDir(args.run_dir.resolve()))
    except Exception as exc:  # noqa: BLE001 - the URL could be in any message: name the kind only
        _log(f"webhook failed: {type(exc).__name__}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
