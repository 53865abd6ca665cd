"""Chat: talk to a run's base model and its adapters (or any OpenAI-compatible server), side by side.

The model never loads here. The pane starts a serve job for the selected run (`jobs.serve`: vLLM on a
GPU, transformers + PEFT elsewhere) in a thread worker, follows its status.json like Monitor follows a
run, and talks to the server through `workbench.chat` (the `openai` SDK's async client) in async
workers, one per column, each streaming into its `AnswerView`. Escape cancels the streams, which closes
their HTTP responses, and the server stops generating. A server outlives the app like a run does; on
start the pane re-attaches to a live one.

Column A and column B ask the same question of two models (say `base` and `adapter`), so the effect of
training shows on one screen; with a held-out question (Ctrl+N) each answer is judged against the gold
answer with math-verify, the check `grpo-workbench eval` uses.
"""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive, var
from textual.widgets import Button, Collapsible, Input, Label, Select

from screens.context import ScreenContext, screen_context
from screens.dialogs import ConfirmScreen, on_yes
from screens.formatting import STATE_STYLES
from screens.modescreen import ModeScreen
from screens.widgets.chat_view import AnswerView, ChatColumn
from screens.widgets.footer import SteadyFooter
from screens.widgets.modebar import ModeBar
from screens.widgets.textbox import QuestionBox, TextBox
from screens.widgets.textline import TextLine
from workbench import serving
from workbench.chat import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_SYSTEM_PROMPT,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    Endpoint,
    HeldOutQuestion,
    Sampling,
    StreamStats,
    heldout_questions,
    judge,
    list_models,
    make_client,
    messages_for,
    stream_chat,
)
from workbench.jobdir import FINAL_STATES, LIVE_STATES, STARTING_STATES
from workbench.runs import RunDir, RunInfo

CUSTOM = "__custom__"
"""The source value of "a server somewhere else" (URL and key typed in)."""
POLL_SECONDS = 0.5
"""How often the followed serve job's status.json is read."""
CONNECT_RETRY_SECONDS = 5.0
SERVE_STATE_LINES = 5
"""The server's state beside the run picker wraps why the last server failed onto at most this many
lines."""


def describe_error(exc: BaseException) -> str:
    """An exception of the client as one short line (the SDK's messages can hold a whole response)."""
    status = getattr(exc, "status_code", None)
    text = " ".join(str(exc).split())[:200]
    if status == 401:
        return "the server refused the API key (401)"
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {text}"


NO_B_HINT = "model B's answers appear here (pick B to compare)"
"""Pane B's words while no model B is picked; once one is, the pane names it instead."""


class ChatScreen(ModeScreen):
    """Serve a run, then ask its models questions, two at a time."""

    CSS_PATH = str(Path(__file__).with_name("chat.tcss"))
    """Absolute, so subclasses defined elsewhere (tests, benchmarks) find it."""
    BINDINGS = [
        Binding(
            "escape", "cancel", "Stop answer", id="chat.cancel", tooltip="Stop the answers streaming now"
        ),
        Binding(
            "ctrl+t",
            "toggle_server",
            "Server",
            id="chat.server",
            tooltip="Start a server for the selected run (base + adapters), or stop the one running",
        ),
        Binding(
            "ctrl+n",
            "next_heldout",
            "Held-out",
            id="chat.heldout",
            tooltip="Put the run's next held-out question in the box, with its gold answer; Enter asks it "
            "and each answer is judged against the gold one",
        ),
        Binding("ctrl+l", "clear", "Clear", id="chat.clear", tooltip="Clear both transcripts"),
        Binding(
            "ctrl+j",
            "new_line",
            "New line",
            id="chat.newline",
            show=False,
            tooltip="In the question box: start a new line (Enter sends the question)",
        ),
    ]

    serve_state: reactive[str] = reactive("none")
    """The followed serve job's state (`none` without one, `custom` when connected to a typed URL)."""
    models: var[list[str]] = var(list, always_update=True)
    """The model names the connected server answers to."""

    def __init__(self) -> None:
        super().__init__()
        self.serve_id: str | None = None
        """The serve job this pane follows (started here, or found live at start)."""
        self.endpoint: Endpoint | None = None
        self._client: Any = None
        self.extra_body: dict[str, Any] | None = None
        """Server-specific request fields sent with every question (e.g. vLLM's `{"ignore_eos": true}`,
        which the fallback server honours too)."""
        self._serve_error: str | None = None
        self._children: list[subprocess.Popen[bytes]] = []
        self._heldout: list[HeldOutQuestion] = []
        self._heldout_run: str | None = None
        self._heldout_index = -1
        self._gold: HeldOutQuestion | None = None
        self._source_options: tuple[tuple[str, str], ...] = ()
        self._serve_run: str | None = None
        """The run the followed serve job serves (it may differ from the one selected now)."""
        self._serve_activity: tuple[float | None, str] | None = None
        """(started at, the last line of serve.log) while the followed server starts."""
        self._connect_attempt: tuple[str, float] | None = None
        """The URL of the last connection attempt and when: a server that is up but refuses us is retried
        every few seconds, not on every status poll."""

    @property
    def context(self) -> ScreenContext:
        """What this screen uses of the app: the runs home, the clock, the app's runs and actions."""
        return screen_context(self.app)

    # ------------------------------------------------------------------------------------------------
    # layout

    def compose(self) -> ComposeResult:
        yield ModeBar("chat")
        with Horizontal(id="serve-bar", classes="bar"):
            yield Select[str]([], prompt="run to serve", id="source", compact=True)
            yield Button("Start ^T", id="serve-toggle", compact=True, variant="success")
            # why the last server failed wraps (read whole at 80 columns); the bar grows to it
            yield TextLine(
                "no server · pick a run; Ctrl+T serves base + adapters",
                wrap=True,
                max_lines=SERVE_STATE_LINES,
                id="serve-state",
            )
        with Horizontal(id="custom-bar", classes="bar"):
            yield Input(placeholder="URL, e.g. http://127.0.0.1:8000/v1", id="custom-url", compact=True)
            yield Input(placeholder="API key", password=True, id="custom-key", compact=True)
            yield Button("Connect", id="connect", compact=True)
        with Horizontal(id="models-bar", classes="bar"):
            yield Label("A", classes="bar-label")
            yield Select[str]([], prompt="model", id="model-a", compact=True)
            yield Label("B", classes="bar-label")
            yield Select[str]([], prompt="off", id="model-b", compact=True)
            yield Label("temp", classes="bar-label")
            yield Input(f"{DEFAULT_TEMPERATURE:g}", id="temperature", compact=True, classes="number")
            yield Label("top_p", classes="bar-label")
            yield Input(f"{DEFAULT_TOP_P:g}", id="top-p", compact=True, classes="number")
            yield Label("max", classes="bar-label")
            yield Input(str(DEFAULT_MAX_TOKENS), id="max-tokens", compact=True, classes="number")
        with Collapsible(title="system prompt", collapsed=True, id="system-box"):
            yield TextBox(DEFAULT_SYSTEM_PROMPT, id="system-prompt", compact=True)
        with Horizontal(id="columns"):
            yield ChatColumn("model A's answers appear here", id="col-a")
            yield ChatColumn(NO_B_HINT, id="col-b")
        yield TextLine("", id="gold-bar")
        yield QuestionBox(
            placeholder="Ask · Enter sends · Ctrl+J new line · Ctrl+N held-out question · Esc stops",
            id="question",
            soft_wrap=True,
            show_line_numbers=False,
        )
        yield SteadyFooter(compact=True)

    def on_mount(self) -> None:
        self.watch(self.app, "runs", self._runs_changed, init=True)
        self.set_interval(POLL_SECONDS, self._poll)
        self.set_class(True, "-single")
        self._find_live_serve()
        self.query_one("#question", QuestionBox).focus()

    # ------------------------------------------------------------------------------------------------
    # the source: a run to serve, or a typed URL

    def _runs_changed(self, runs: list[RunInfo]) -> None:
        options = tuple((f"{i.run.run_id} · {i.model}", i.run.run_id) for i in runs)
        options += (("another server: URL and key…", CUSTOM),)
        if options == self._source_options:
            return
        self._source_options = options
        select = self.query_one("#source", Select)
        current = select.value
        select.set_options(options)
        values = {value for _, value in options}
        if current in values:
            select.value = current
        elif runs and select.is_blank():
            preferred = self.context.services.attached
            select.value = preferred if preferred in values else runs[0].run.run_id

    @property
    def source(self) -> str | None:
        """The selected run id, CUSTOM, or None."""
        value = self.query_one("#source", Select).value
        return value if isinstance(value, str) else None

    @on(Select.Changed, "#source")
    def handle_source_changed(self, event: Select.Changed) -> None:
        custom = event.value == CUSTOM
        self.set_class(custom, "-custom")
        if custom:
            self.query_one("#custom-url", Input).focus()
        elif isinstance(event.value, str) and event.value != self._heldout_run:
            self._load_heldout(event.value)
        self._show_serve_state()

    @work(thread=True, exclusive=True, group="heldout", description="read held-out rows", exit_on_error=False)
    def _load_heldout(self, run_id: str, advance: bool = False) -> None:
        """Read the run's held-out rows; `advance`: then show the first (Ctrl+N on a run that had none
        when it was picked, before its training started)."""
        questions = heldout_questions(RunDir(self.context.runs_root / run_id))
        self.app.call_from_thread(self._heldout_loaded, run_id, questions, advance)

    def _heldout_loaded(self, run_id: str, questions: list[HeldOutQuestion], advance: bool) -> None:
        self._heldout, self._heldout_run, self._heldout_index = questions, run_id, -1
        if advance:
            self.action_next_heldout(reread=False)

    # ------------------------------------------------------------------------------------------------
    # the serve job

    @work(
        thread=True, exclusive=True, group="serve-find", description="find a live server", exit_on_error=False
    )
    def _find_live_serve(self) -> None:
        live = [info for info in serving.list_serves() if info.alive and info.state in LIVE_STATES]
        if live:
            self.app.call_from_thread(self._adopt, live[0])

    def _adopt(self, info: serving.ServeInfo) -> None:
        """Follow a serve job found running (started by an earlier session or the CLI)."""
        if self.serve_id is not None or self.serve_state == "custom":
            return
        self.serve_id = info.serve_id
        if info.spec.run_id and any(v == info.spec.run_id for _, v in self._source_options):
            self.query_one("#source", Select).value = info.spec.run_id
        self.serve_state = info.state

    def _poll(self) -> None:
        self._children = [proc for proc in self._children if proc.poll() is None]
        if self.serve_id is not None:
            self._read_serve(self.serve_id)

    @work(
        thread=True, exclusive=True, group="serve-poll", description="read server status", exit_on_error=False
    )
    def _read_serve(self, serve_id: str) -> None:
        serve = serving.ServeDir(serving.serves_dir() / serve_id)
        info = serving.serve_info(serve)
        key = None
        activity = serve.activity() if info.state in STARTING_STATES else ""
        if info.ready and self.endpoint is None:
            try:
                key = serve.read_key()
            except OSError:
                key = None
        self.app.call_from_thread(self._serve_read, info, key, activity)

    def _serve_read(self, info: serving.ServeInfo, key: str | None, activity: str = "") -> None:
        if info.serve_id != self.serve_id:
            return  # a reading of a job this pane has let go since
        starting = info.state in STARTING_STATES
        self._serve_activity = (info.started_at, activity) if starting else None
        self.serve_state = info.state
        if starting:
            self._show_serve_state()  # the clock and the log line move while the state stays
        self._serve_run = info.spec.run_id
        if info.ready and self.endpoint is None and key and info.url:
            last = self._connect_attempt
            if last is None or last[0] != info.url or time.monotonic() - last[1] > CONNECT_RETRY_SECONDS:
                self._connect_attempt = (info.url, time.monotonic())
                self._connect(Endpoint(info.url, key))
        if info.state in FINAL_STATES:
            if info.state != "stopped" and info.error:
                self._serve_error = info.error.strip().splitlines()[-1]
                self.notify(info.error[-1500:], severity="error", title=f"server {info.state}", timeout=15)
            self.serve_id = None
            self._disconnect()
        self._show_serve_state()

    def watch_serve_state(self, old: str, new: str) -> None:
        for state in ("none", "custom", *LIVE_STATES, *FINAL_STATES):
            self.set_class(new == state, f"-serve-{state}")
        self._show_serve_state()

    def _show_serve_state(self) -> None:
        if not self.is_mounted:
            return
        state = self.serve_state
        button = self.query_one("#serve-toggle", Button)
        live = self.serve_id is not None and state in LIVE_STATES
        button.label = "Stop ^T" if live else "Start ^T"
        button.variant = "error" if live else "success"
        line = Text()
        if state == "custom" and self.endpoint is not None:
            line.append("connected", "green")
            line.append(f" · {self.endpoint.url}")
        elif self.serve_id is None:
            line.append("no server", "dim")
            if self._serve_error:
                line.append(f" · last one failed: {self._serve_error}", "red")
            elif self.source and self.source != CUSTOM:
                line.append(" · Ctrl+T serves base + adapters", "dim")
        else:
            line.append(state, STATE_STYLES.get(state, ""))
            if state in STARTING_STATES:
                started_at, activity = self._serve_activity or (None, "")
                if started_at:
                    line.append(f" · {max(0.0, time.time() - started_at):.0f} s", "dim")
                line.append(f" · {activity or 'loading the model…'}", "dim")
            if self.endpoint is not None:
                line.append(f" · {self.endpoint.url}")
            if self._serve_run and self.source not in (None, self._serve_run):
                line.append(f" · serving {self._serve_run}", "yellow")
        if self.models:
            line.append(f" · {len(self.models)} models", "dim")
        self.query_one("#serve-state", TextLine).update(line)

    def action_toggle_server(self) -> None:
        """Stop the followed server, or start one for the selected run (asking first next to live training
        when it would be vLLM on the GPU)."""
        if self.serve_id is not None and self.serve_state in LIVE_STATES:
            self._stop_server(self.serve_id)
            return
        run_id = self.source
        if run_id is None or run_id == CUSTOM:
            self.notify("pick a run to serve first (or connect to a URL)", severity="warning")
            return
        machine = self.context.services.machine()
        backend = serving.choose_backend(machine.gpus, machine.vllm)
        training = [i.run.run_id for i in self.context.services.runs if i.alive]
        if backend == "vllm" and training:
            self.app.push_screen(
                ConfirmScreen(
                    "Start a vLLM server while training runs?",
                    f"Run {', '.join(training)} is live and holds the GPU; vLLM takes "
                    f"{serving.DEFAULT_GPU_MEMORY:.0%} of it and may run out of memory.",
                    yes="Start anyway",
                ),
                on_yes(lambda: self._start_server(run_id)),
            )
            return
        self._start_server(run_id)

    @on(Button.Pressed, "#serve-toggle")
    def handle_serve_toggle_pressed(self) -> None:
        self.action_toggle_server()

    @work(thread=True, exclusive=True, group="serve-start", description="start server", exit_on_error=False)
    def _start_server(self, run_id: str) -> None:
        from jobs import serve as jserve

        machine = self.context.services.machine()
        try:
            spec = jserve.plan_for_run(
                RunDir(self.context.runs_root / run_id), gpus=machine.gpus, has_vllm=machine.vllm
            )
            serve, process = jserve.start(spec)
        except jserve.ServeError as exc:
            self.app.call_from_thread(self._start_failed, str(exc))
            return
        self.app.call_from_thread(self._started, serve.serve_id, process, spec.backend)

    def _start_failed(self, message: str) -> None:
        self._serve_error = message.splitlines()[-1].strip(" -")
        self.notify(message, severity="error", title="cannot serve", timeout=15)
        self._show_serve_state()

    def _started(self, serve_id: str, process: subprocess.Popen[bytes], backend: str) -> None:
        self._children.append(process)
        self._disconnect()
        self._serve_error = None
        self._connect_attempt = None
        self.serve_id = serve_id
        self.serve_state = "pending"
        self.notify(f"starting a {backend} server: {serve_id}", title="server")

    @work(exclusive=False, group="serve-stop", description="stop server", exit_on_error=False)
    async def _stop_server(self, serve_id: str) -> None:
        """Stop through the jobs' detached stopper (`jobs.stopper`), so the stop (and the memory it
        frees) completes even if the app quits meanwhile."""
        from jobs.stopper import stop_detached

        self.action_cancel()
        self.serve_state = "stopping"
        serve = serving.ServeDir(serving.serves_dir() / serve_id)
        process = await asyncio.to_thread(stop_detached, "serve", serve.path, serve.log)
        while process.poll() is None:
            await asyncio.sleep(0.2)

    # ------------------------------------------------------------------------------------------------
    # connecting

    @on(Button.Pressed, "#connect")
    @on(Input.Submitted, "#custom-url, #custom-key")
    def handle_connect(self) -> None:
        url = self.query_one("#custom-url", Input).value
        if not url.strip():
            self.notify("type the server's URL first", severity="warning")
            return
        self.serve_id = None
        self._disconnect()
        self.serve_state = "custom"
        self._connect(Endpoint.of(url, self.query_one("#custom-key", Input).value))

    @work(exclusive=True, group="connect", description="connect", exit_on_error=False)
    async def _connect(self, endpoint: Endpoint) -> None:
        # The SDK's first import takes a good fraction of a second: off the event loop.
        await asyncio.to_thread(importlib.import_module, "openai")
        client = make_client(endpoint)
        try:
            models = await list_models(client)
        except Exception as exc:
            self.notify(f"{endpoint.url}: {describe_error(exc)}", severity="error", title="cannot connect")
            return
        self.endpoint, self._client = endpoint, client
        self.models = models
        self._show_serve_state()

    def _disconnect(self) -> None:
        self.action_cancel()
        self.endpoint, self._client = None, None
        self.models = []

    def watch_models(self, models: list[str]) -> None:
        a = self.query_one("#model-a", Select)
        b = self.query_one("#model-b", Select)
        options = [(name, name) for name in models]
        a.set_options(options)
        b.set_options(options)
        if not models:
            return
        adapters = [m for m in models if m != serving.BASE_NAME]
        a.value = "adapter" if "adapter" in adapters else (adapters[-1] if adapters else models[0])
        if serving.BASE_NAME in models and a.value != serving.BASE_NAME:
            b.value = serving.BASE_NAME
        self._show_columns()  # now, not when B's Changed message comes round

    @on(Select.Changed, "#model-b")
    def handle_model_b_changed(self) -> None:
        self._show_columns()

    def _show_columns(self) -> None:
        """Column B shows while model B is picked or holds answers: a server stopping (which empties
        the pickers) must not take the transcript away."""
        value = self.query_one("#model-b", Select).value
        picked = isinstance(value, str)
        column = self.query_one("#col-b", ChatColumn)
        column.set_hint(f"model B ({value})'s answers appear here" if picked else NO_B_HINT)
        self.set_class(not picked and not column.answers, "-single")

    # ------------------------------------------------------------------------------------------------
    # asking

    def action_next_heldout(self, reread: bool = True) -> None:
        if not self._heldout and reread and self._heldout_run is not None:
            self._load_heldout(self._heldout_run, advance=True)  # heldout.jsonl may have been written since
            return
        if not self._heldout:
            self.notify(
                "the selected run has no held-out questions (heldout.jsonl is written when training starts)",
                severity="warning",
            )
            return
        self._heldout_index = (self._heldout_index + 1) % len(self._heldout)
        question = self._heldout[self._heldout_index]
        self._gold = question
        box = self.query_one("#question", QuestionBox)
        box.value = question.question
        box.move_cursor((0, 0))  # its start in view: the box shows a long question from the top
        box.scroll_home(animate=False)
        box.focus()
        line = Text()
        line.append(f"held-out {self._heldout_index + 1}/{len(self._heldout)}", "bold")
        line.append(f" · {question.type} · gold answer ")
        line.append(question.answer, "bold green")
        line.append(" · Enter asks it", "dim")
        self.query_one("#gold-bar", TextLine).update(line)

    def action_new_line(self) -> None:
        """A line break in the question box (Enter sends)."""
        box = self.query_one("#question", QuestionBox)
        if box.has_focus:
            box.new_line()

    @on(QuestionBox.Submitted, "#question")
    async def handle_question_submitted(self, event: QuestionBox.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self._client is None or not self.models:
            self.notify("no server yet: start one (Ctrl+T) or connect to a URL", severity="warning")
            return
        try:
            sampling = Sampling.parse(
                self.query_one("#temperature", Input).value,
                self.query_one("#top-p", Input).value,
                self.query_one("#max-tokens", Input).value,
            )
        except ValueError as exc:
            self.notify(str(exc), severity="error", title="sampling")
            return
        chosen = [
            (column, value)
            for column, select in (("a", "#model-a"), ("b", "#model-b"))
            if isinstance(value := self.query_one(select, Select).value, str)
        ]
        if not chosen:
            self.notify("pick model A (and B to compare)", severity="warning")
            return
        gold = self._gold if self._gold is not None and self._gold.question == question else None
        if gold is None:
            self._gold = None
            self.query_one("#gold-bar", TextLine).update("")
        messages = messages_for(question, self.query_one("#system-prompt", TextBox).text)
        event.box.value = ""
        for column_id, model in chosen:
            column = self.query_one(f"#col-{column_id}", ChatColumn)
            view = await column.add_turn(question, model)
            self.run_worker(
                self._stream(view, model, messages, sampling, gold),
                name=f"_stream_{column_id}",
                group=f"chat-{column_id}",
                description=f"answer from {model}",
                exclusive=True,
                exit_on_error=False,
            )

    async def _stream(
        self,
        view: AnswerView,
        model: str,
        messages: list[dict[str, str]],
        sampling: Sampling,
        gold: HeldOutQuestion | None,
    ) -> None:
        """Stream one answer into `view`; a cancel (Esc) closes the response, so the server stops too."""
        stats = StreamStats()
        client = self._client
        try:
            async for piece in stream_chat(
                client, model, messages, sampling, stats, extra_body=self.extra_body
            ):
                view.append(piece, stats)
        except asyncio.CancelledError:
            view.finish("stopped", stats, "Esc")
            raise
        except Exception as exc:  # the server's or the network's: shown in the answer, never a traceback
            view.finish("failed", stats, describe_error(exc))
            return
        view.finish("done", stats)
        if gold is not None:
            verdict = await asyncio.to_thread(judge, gold.answer, view.text)
            view.show_verdict(verdict)

    def action_cancel(self) -> None:
        """Stop every answer streaming now."""
        for group in ("chat-a", "chat-b"):
            self.workers.cancel_group(self, group)

    async def action_clear(self) -> None:
        self.action_cancel()
        for column in self.query(ChatColumn):
            await column.clear()
        self._show_columns()
