"""Announcing a run's end: the webhook against a real HTTP server on loopback (http.server in a thread),
directly and through real runs' supervisors (a real tiny CPU run that completes, real runs that fail on
bad data), and the TUI's terminal bell for runs that end while the app watches.

The webhook URL carries a secret path (as Slack's and Discord's do): no file in the run directory may
hold it, and a webhook that hangs or answers 500 must not change how the run ended or hold its process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from faultkit import cli, live, sets, wait_until
from tui_helpers import frozen_app, settle

from workbench.atomic import write_json_atomic
from workbench.notify import REDACTED, post_webhook, redact, webhook_body
from workbench.runs import RunDir, find_run, process_start_time, read_run_status
from workbench.settings import AppSettings, load_settings
from workbench.tail import read_jsonl

SECRET = "services/T0000/B0000/s3cr3tT0k3n"
"""The secret part of the test webhook's URL (the path, as in a Slack incoming-webhook URL)."""


class Receiver:
    """A webhook endpoint on 127.0.0.1: records every POST (path, headers, JSON body) and answers each
    with the next of `answers` (the last one repeats): an HTTP status, or "hang" (never answer until the
    test ends)."""

    def __init__(self, *answers: int | str) -> None:
        self.answers = list(answers) or [200]
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                index = len(receiver.requests)
                receiver.requests.append((self.path, dict(self.headers), json.loads(body)))
                answer = receiver.answers[min(index, len(receiver.answers) - 1)]
                if answer == "hang":
                    receiver.release.wait(30)
                    return
                self.send_response(int(answer))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{SECRET}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Receivers made by a test are shut down at its end."""
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def receiver(receivers: list[Receiver], *answers: int | str) -> Receiver:
    made = Receiver(*answers)
    receivers.append(made)
    return made


def use_webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, timeout: float = 0.5) -> Path:
    """A settings.toml naming `url` as the webhook (GRPO_WORKBENCH_SETTINGS, inherited by the runs)."""
    path = tmp_path / "settings.toml"
    path.write_text(f'[notify]\nwebhook_url = "{url}"\nwebhook_timeout_s = {timeout}\n', encoding="utf-8")
    monkeypatch.setenv("GRPO_WORKBENCH_SETTINGS", str(path))
    return path


def assert_url_nowhere(run: RunDir, url: str) -> None:
    """Neither the URL nor its secret path is in any file of the run directory (logs, status, notify.json,
    manifest with the commands run, ...)."""
    files = [p for p in run.path.rglob("*") if p.is_file()]
    assert run.log in files and run.notification in files
    for path in files:
        data = path.read_bytes()
        assert url.encode() not in data and SECRET.encode() not in data, path


# ---------------------------------------------------------------------------------------- delivery


def test_the_body_speaks_slack_and_discord_and_carries_the_facts() -> None:
    body = webhook_body(
        run_id="20261121-r", state="failed", steps=7, max_steps=20, final_reward=1.23456, duration_s=754.4,
        attempt=2, model="tiny", label="r", error="Traceback ...\nDataError: no rows", host="box",
    )  # fmt: skip
    assert body["text"] == body["content"]
    assert body["text"].startswith("grpo-workbench: run 20261121-r failed at step 7/20 · final reward 1.235")
    assert "ran 12m 34s" in body["text"] and body["text"].endswith("\nDataError: no rows")
    assert {k: body[k] for k in ("run", "state", "steps", "max_steps", "final_reward", "duration_s")} == {
        "run": "20261121-r", "state": "failed", "steps": 7, "max_steps": 20, "final_reward": 1.23456,
        "duration_s": 754.4,
    }  # fmt: skip
    assert body["error"] == "DataError: no rows" and body["attempt"] == 2
    json.dumps(body)  # JSON as it is


def test_delivered_on_the_first_try(receivers: list[Receiver]) -> None:
    hook = receiver(receivers, 200)
    body = {"text": "hello", "content": "hello", "run": "r"}
    delivery = post_webhook(hook.url, body, timeout=2, user_agent="grpo-workbench/test")
    assert (delivery.delivered, delivery.tries, delivery.http_status, delivery.error) == (True, 1, 200, None)
    [(path, headers, received)] = hook.requests
    assert path == "/" + SECRET and received == body
    assert (
        headers["Content-Type"].startswith("application/json")
        and headers["User-Agent"] == "grpo-workbench/test"
    )


def test_a_500_is_retried_then_given_up_and_a_404_is_not_retried(receivers: list[Receiver]) -> None:
    waits: list[float] = []
    failing = receiver(receivers, 500)
    delivery = post_webhook(failing.url, {"text": "x"}, timeout=2, sleep=waits.append)
    assert (delivery.delivered, delivery.tries, delivery.http_status) == (False, 3, 500)
    assert delivery.error == "HTTP 500 Internal Server Error" and len(failing.requests) == 3
    assert waits == [1.0, 3.0], "backs off between tries"
    flaky = receiver(receivers, 503, 200)
    delivery = post_webhook(flaky.url, {"text": "x"}, timeout=2, sleep=lambda _: None)
    assert (delivery.delivered, delivery.tries, delivery.http_status) == (True, 2, 200)
    gone = receiver(receivers, 404)
    delivery = post_webhook(gone.url, {"text": "x"}, timeout=2, sleep=waits.append)
    assert (delivery.delivered, delivery.tries, delivery.http_status) == (False, 1, 404)
    assert len(gone.requests) == 1, "a retry cannot mend a wrong URL"


def test_a_hanging_webhook_times_out_each_try(receivers: list[Receiver]) -> None:
    hook = receiver(receivers, "hang")
    start = time.monotonic()
    delivery = post_webhook(hook.url, {"text": "x"}, timeout=0.3, sleep=lambda _: None)
    elapsed = time.monotonic() - start
    assert (delivery.delivered, delivery.tries, delivery.http_status) == (False, 3, None)
    assert "timed out" in (delivery.error or ""), delivery.error
    assert elapsed < 3.0, f"three 0.3 s tries took {elapsed:.1f}s"


def test_errors_never_carry_the_url() -> None:
    """A refused connection, a bad host: the message says what went wrong, never where."""
    for url in (
        f"http://127.0.0.1:9/{SECRET}",  # the discard port: nothing listens
        "https://discord.com.invalid/api/webhooks/123/t0k3n?wait=true",
        "https://user:p4ss@hooks.example.invalid/x/y",
    ):
        delivery = post_webhook(url, {"text": "x"}, timeout=2, attempts=1)
        assert not delivery.delivered and delivery.error
        for secret in (url, SECRET, "t0k3n", "p4ss"):
            assert secret not in delivery.error, (url, delivery.error)
    text = f"POST https://hooks.slack.com/{SECRET} failed; path /{SECRET}"
    assert redact(text, f"https://hooks.slack.com/{SECRET}") == f"POST {REDACTED} failed; path {REDACTED}"


def test_settings_take_a_webhook_and_refuse_a_bad_one_without_repeating_it(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[notify]\nwebhook_url = "https://hooks.slack.com/services/A/B/C"\nbell = false\n')
    settings, problem = load_settings(path)
    assert problem is None and settings.notify.webhook_url == "https://hooks.slack.com/services/A/B/C"
    assert not settings.notify.bell and settings.notify.webhook_timeout_s == 5.0
    path.write_text('[notify]\nwebhook_url = "hooks.slack.com/services/A/s3cr3t"\n')
    settings, problem = load_settings(path)
    assert settings == AppSettings() and problem is not None
    assert "notify.webhook_url: is not an http(s) URL" in problem and "s3cr3t" not in problem, problem
    path.write_text('[notify]\nurl = "x"\n')
    assert "[notify] takes bell, webhook_url, webhook_timeout_s" in str(load_settings(path)[1])


# ------------------------------------------------------------------------------ real runs' supervisors


@live
def test_a_completed_run_is_announced_once_with_its_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receivers: list[Receiver]
) -> None:
    hook = receiver(receivers, 200)
    use_webhook(tmp_path, monkeypatch, hook.url)
    result = cli("train", *sets("grpo.max_steps=2", "name=hooked"))
    assert result.returncode == 0, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    wait_until(run.notification.exists, 30, "notify.json")
    record = run.read_notification()
    assert record is not None and (record.state, record.delivered, record.tries, record.http_status) == (
        "completed", True, 1, 200,
    )  # fmt: skip
    [(path, _, body)] = hook.requests
    status = run.read_status()
    rewards = [r["reward"] for r in read_jsonl(run.metrics) if "reward" in r]
    assert path == "/" + SECRET
    assert (body["run"], body["state"], body["steps"], body["max_steps"]) == (run.run_id, "completed", 2, 2)
    assert body["final_reward"] == rewards[-1] and body["error"] is None
    started = run.read_manifest().started_at
    assert started is not None and status.finished_at is not None
    assert (
        body["duration_s"] == pytest.approx(status.finished_at - started, abs=0.1) and body["duration_s"] > 0
    )
    assert body["text"] == body["content"] and run.run_id in body["text"] and "completed" in body["text"]
    assert "webhook delivered (HTTP 200, try 1)" in run.log.read_text(encoding="utf-8")
    assert_url_nowhere(run, hook.url)


def _failing_run(tmp_path: Path) -> tuple[RunDir, float]:
    """A real run that fails in its trainer (a data file without usable rows, past the CLI's check with
    --no-check); returns it and the seconds the foreground `train` took."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        "".join(
            json.dumps({"query_vi": f"Câu {i}?", "response_vi": "Không nói gì.", "query_en": "",
                        "response_en": "", "type": "GSM"}, ensure_ascii=False) + "\n"
            for i in range(20)
        ),
        encoding="utf-8",
    )  # fmt: skip
    start = time.monotonic()
    result = cli("train", "--no-check", *sets(f"data.source={rows}", "grpo.max_steps=2"))
    took = time.monotonic() - start
    assert result.returncode == 1, result.stderr[-3000:]
    return find_run(result.stdout.strip().splitlines()[0]), took


@live
def test_a_hanging_webhook_neither_holds_nor_changes_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receivers: list[Receiver]
) -> None:
    """The webhook never answers: `train` still returns as soon as the run has failed (the notifier is
    still trying then), the run stays failed with its own error, and notify.json says what happened."""
    hook = receiver(receivers, "hang")
    # 2 s a try: the notifier needs 10 s at least (three tries, 1 s and 3 s between), far more than `train`
    # takes to return once its run has ended, even on a loaded machine.
    use_webhook(tmp_path, monkeypatch, hook.url, timeout=2.0)
    run, _ = _failing_run(tmp_path)
    view = read_run_status(run)
    assert (view.state, view.alive) == ("failed", False), "the run is over while its webhook hangs"
    assert not run.notification.exists(), "the notifier is still trying: it did not hold the run"
    error = run.read_status().error
    assert error and "DataError" in error
    wait_until(run.notification.exists, 30, "notify.json")
    record = run.read_notification()
    assert record is not None and (record.state, record.delivered, record.tries) == ("failed", False, 3)
    assert "timed out" in (record.error or ""), record
    assert len(hook.requests) == 3 and hook.requests[0][2]["state"] == "failed"
    assert "DataError" in hook.requests[0][2]["error"]
    status = run.read_status()
    assert (status.state, status.error, status.exit_code) == ("failed", error, 1), "the outcome is unchanged"
    assert "webhook not delivered after 3 tries" in run.log.read_text(encoding="utf-8")
    assert_url_nowhere(run, hook.url)


@live
def test_a_webhook_answering_500_leaves_the_failed_run_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receivers: list[Receiver]
) -> None:
    hook = receiver(receivers, 500)
    use_webhook(tmp_path, monkeypatch, hook.url)
    run, _ = _failing_run(tmp_path)
    error = run.read_status().error
    wait_until(run.notification.exists, 30, "notify.json")
    record = run.read_notification()
    assert record is not None and (record.delivered, record.tries, record.http_status) == (False, 3, 500)
    assert [body["state"] for _, _, body in hook.requests] == ["failed"] * 3
    status = run.read_status()
    assert (status.state, status.error) == ("failed", error)
    assert_url_nowhere(run, hook.url)


# --------------------------------------------------------------------------------------- the bell


def _live_run(root: Path, run_id: str, process: subprocess.Popen[bytes], state: str = "running") -> RunDir:
    """A run directory whose manifest names `process` (alive: the run is live) and whose status says
    `state`."""
    path = root / run_id
    path.mkdir(parents=True)
    run = RunDir(path)
    run.config.write_text(f'name = "{run_id}"\n[model]\nname = "tiny"\n', encoding="utf-8")
    write_json_atomic(
        run.manifest,
        {"pid": process.pid, "pgid": process.pid, "create_time": process_start_time(process.pid),
         "started_at": time.time(), "attempt": 1},
    )  # fmt: skip
    run.write_status(state=state, step=1, max_steps=4, heartbeat=time.time())
    return run


async def test_the_bell_rings_once_for_each_run_that_ends_while_the_app_watches(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(4)]
    try:
        done = _live_run(root, "a-completes", sleepers[0])
        fails = _live_run(root, "b-fails", sleepers[1])
        _live_run(root, "c-crashes", sleepers[2])  # its supervisor dies without a word
        stops = _live_run(root, "d-stops", sleepers[3])
        old = _live_run(root, "e-ended-before", sleepers[3], state="completed")
        write_json_atomic(old.manifest, {"pid": None, "started_at": time.time() - 99, "attempt": 1})
        app = frozen_app(tmp_path, runs_root=root, initial_mode="runs")
        rings: list[float] = []
        ring = app.bell
        app.bell = lambda: (rings.append(time.time()), ring())[1]  # type: ignore[method-assign]
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert rings == [] and app.endings_rung == [], "nothing ended while the app watched yet"
            for run, state in ((done, "completed"), (fails, "failed"), (stops, "stopped")):
                run.write_status(state=state, finished_at=time.time())
            for sleeper in sleepers:
                sleeper.kill()
                sleeper.wait()
            app.rescan()
            await settle(pilot)
            assert sorted(app.endings_rung) == [
                ("a-completes", "completed"), ("b-fails", "failed"), ("c-crashes", "crashed"),
            ]  # fmt: skip
            assert len(rings) == 3
            app.rescan()
            await settle(pilot)
            assert len(rings) == 3, "once per ending, not once per scan"
            # A resumed run that ends again rings again.
            again = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            sleepers.append(again)
            write_json_atomic(
                done.manifest,
                {"pid": again.pid, "pgid": again.pid, "create_time": process_start_time(again.pid),
                 "started_at": time.time(), "attempt": 2},
            )  # fmt: skip
            done.write_status(state="running", finished_at=None)
            app.rescan()
            await settle(pilot)
            done.write_status(state="completed", finished_at=time.time())
            again.kill()
            again.wait()
            app.rescan()
            await settle(pilot)
            assert app.endings_rung[-1] == ("a-completes", "completed") and len(rings) == 4
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


async def test_the_bell_can_be_turned_off(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run = _live_run(root, "quiet", sleeper)
        settings = tmp_path / "settings.toml"
        settings.write_text("[notify]\nbell = false\n", encoding="utf-8")
        app = frozen_app(tmp_path, runs_root=root, initial_mode="runs", settings_file=settings)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            run.write_status(state="completed", finished_at=time.time())
            sleeper.kill()
            sleeper.wait()
            app.rescan()
            await settle(pilot)
            assert app.endings_rung == []
    finally:
        sleeper.kill()
        sleeper.wait()
