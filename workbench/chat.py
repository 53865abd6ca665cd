"""The chat client: one OpenAI-compatible client for every server (vLLM, the fallback, any URL), the
held-out questions of a run, and how an answer is split and judged (no Textual; no torch).

The chat pane and `jobs.chat_bench` both talk through `stream_chat`, the `openai` SDK's `AsyncOpenAI`
with `stream=True`, so what the pane shows and what the benchmark measures go through the same code.
The SDK is imported on first use (it takes a noticeable fraction of a second), never at import time.

Each question is sent as a fresh conversation, system prompt then question, because that is the
single-turn shape the model was trained on; comparing two models means two streams of the same messages.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.data import REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START, SYSTEM_PROMPT
from workbench.runs import RunDir

DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95
DEFAULT_MAX_TOKENS = 1024
"""The tutorial's sampling settings for trying the model out."""
DEFAULT_SYSTEM_PROMPT = SYSTEM_PROMPT
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 120.0
"""Seconds without a byte before a stream is given up (vLLM can queue a request behind others)."""


@dataclass(frozen=True)
class Endpoint:
    """Where an OpenAI-compatible server listens and the key it wants."""

    url: str
    """The base URL, ending in /v1."""
    key: str

    @classmethod
    def of(cls, url: str, key: str) -> Endpoint:
        """An endpoint from what a user typed: `host:port`, `http://host:port` or a URL ending in /v1."""
        url = url.strip().rstrip("/")
        if not re.match(r"^https?://", url):
            url = f"http://{url}"
        if not url.endswith("/v1"):
            url += "/v1"
        return cls(url, key.strip() or "none")


@dataclass(frozen=True)
class Sampling:
    """The sampling settings of one request."""

    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    max_tokens: int = DEFAULT_MAX_TOKENS

    @classmethod
    def parse(cls, temperature: str, top_p: str, max_tokens: str) -> Sampling:
        """From the pane's text fields.

        Raises:
            ValueError: a field that is not a number or out of range; the message names it and the range.
        """
        try:
            t = float(temperature)
        except ValueError:
            raise ValueError(f"temperature {temperature!r} is not a number; use 0 (greedy) to 2") from None
        try:
            p = float(top_p)
        except ValueError:
            raise ValueError(f"top_p {top_p!r} is not a number; use a value in (0, 1]") from None
        try:
            m = int(max_tokens)
        except ValueError:
            raise ValueError(f"max_tokens {max_tokens!r} is not a whole number; use 1 to 32768") from None
        if not 0 <= t <= 2:
            raise ValueError(f"temperature {t} is out of range; use 0 (greedy) to 2")
        if not 0 < p <= 1:
            raise ValueError(f"top_p {p} is out of range; use a value in (0, 1]")
        if not 1 <= m <= 32768:
            raise ValueError(f"max_tokens {m} is out of range; use 1 to 32768")
        return cls(t, p, m)


def messages_for(question: str, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> list[dict[str, str]]:
    """The conversation sent for one question: the system prompt (when not blank), then the question."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    return messages + [{"role": "user", "content": question}]


def make_client(endpoint: Endpoint, read_timeout: float = READ_TIMEOUT) -> Any:
    """An `openai.AsyncOpenAI` for `endpoint` (no retries: a failed chat is shown, not silently resent)."""
    from openai import AsyncOpenAI, Timeout

    timeout = Timeout(read_timeout, connect=CONNECT_TIMEOUT)
    return AsyncOpenAI(base_url=endpoint.url, api_key=endpoint.key, timeout=timeout, max_retries=0)


async def list_models(client: Any) -> list[str]:
    """The model names the server answers to, in its order (the base first on our servers)."""
    page = await client.models.list()
    return [model.id for model in page.data]


@dataclass
class StreamStats:
    """What one stream measured, client side."""

    started: float = field(default_factory=time.perf_counter)
    first_token_s: float | None = None
    """Seconds from sending to the first non-empty text."""
    elapsed_s: float = 0.0
    chunks: int = 0
    """Chunks that carried text."""
    completion_tokens: int | None = None
    """From the server's usage chunk."""
    prompt_tokens: int | None = None
    finish_reason: str | None = None

    @property
    def tokens_per_s(self) -> float | None:
        """Generated tokens per second after the first one (the decode rate), when usage was reported."""
        if not self.completion_tokens or self.first_token_s is None:
            return None
        decode = self.elapsed_s - self.first_token_s
        return (self.completion_tokens - 1) / decode if decode > 0 and self.completion_tokens > 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_token_s": self.first_token_s,
            "elapsed_s": self.elapsed_s,
            "chunks": self.chunks,
            "completion_tokens": self.completion_tokens,
            "prompt_tokens": self.prompt_tokens,
            "finish_reason": self.finish_reason,
            "tokens_per_s": self.tokens_per_s,
        }


async def stream_chat(
    client: Any,
    model: str,
    messages: list[dict[str, str]],
    sampling: Sampling,
    stats: StreamStats | None = None,
    seed: int | None = None,
    extra_body: dict[str, Any] | None = None,
) -> AsyncIterator[str]:
    """Stream one chat completion: yields text as it arrives and fills `stats` on the way.

    Closing the iterator (or cancelling the task consuming it) closes the HTTP response, which the
    server sees as a disconnect and stops generating.

    Args:
        client: From `make_client`.
        model: A served model name (`base`, `adapter`, `checkpoint-N`).
        messages: From `messages_for`.
        sampling: Temperature, top_p, max_tokens.
        stats: Receives time to first token, token counts and the finish reason.
        seed: A sampling seed (reproducible answers).
        extra_body: Server-specific request fields, e.g. vLLM's `{"ignore_eos": true}`.
    """
    stats = stats if stats is not None else StreamStats()
    stats.started = time.perf_counter()
    extra: dict[str, Any] = {"seed": seed} if seed is not None else {}
    if extra_body:
        extra["extra_body"] = extra_body
    stream = await client.chat.completions.create(
        model=model,
        messages=messages,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    try:
        async for chunk in stream:
            if chunk.usage is not None:
                stats.completion_tokens = chunk.usage.completion_tokens
                stats.prompt_tokens = chunk.usage.prompt_tokens
            for choice in chunk.choices:
                if choice.finish_reason:
                    stats.finish_reason = choice.finish_reason
                text = choice.delta.content if choice.delta else None
                if text:
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - stats.started
                    stats.chunks += 1
                    yield text
    finally:
        stats.elapsed_s = time.perf_counter() - stats.started
        await stream.close()


# ---------------------------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class AnswerParts:
    """A (possibly still streaming) answer cut into what the pane shows differently."""

    before: str
    """Text before <thinking> (the exact-format reward wants none)."""
    thinking: str | None
    """The reasoning, without tags; None when there is no <thinking> yet."""
    thinking_closed: bool
    middle: str
    """Text between </thinking> and <SOLUTION>."""
    solution: str | None
    """The solution, without tags; None when there is no <SOLUTION> yet."""
    solution_closed: bool
    after: str
    """Anything after </SOLUTION> (or after </thinking> when there is no solution)."""


def split_answer(text: str) -> AnswerParts:
    """Cut an answer at its first <thinking> block and the first <SOLUTION> after it. An unclosed block
    runs to the end of the text (the answer is still streaming, or was cut at max_tokens)."""
    before, thinking, thinking_closed, rest = text, None, False, ""
    start = text.find(REASONING_START)
    solution_at = text.find(SOLUTION_START)
    if start != -1 and (solution_at == -1 or start < solution_at):
        before = text[:start]
        body = text[start + len(REASONING_START) :]
        end = body.find(REASONING_END)
        if end == -1:
            thinking, rest = body, ""
        else:
            thinking, thinking_closed, rest = body[:end], True, body[end + len(REASONING_END) :]
    else:
        before, rest = "", text
    middle, solution, solution_closed, after = rest, None, False, ""
    at = rest.find(SOLUTION_START)
    if at != -1:
        middle = rest[:at]
        body = rest[at + len(SOLUTION_START) :]
        end = body.find(SOLUTION_END)
        if end == -1:
            solution = body
        else:
            solution, solution_closed, after = body[:end], True, body[end + len(SOLUTION_END) :]
    if thinking is None and solution is None:
        before, middle = text, ""
    return AnswerParts(before, thinking, thinking_closed, middle, solution, solution_closed, after)


@dataclass(frozen=True)
class Verdict:
    """How an answer compares with a held-out row's gold answer."""

    gold: str
    solution: str | None
    """The extracted <SOLUTION> (None when the answer has none)."""
    correct: bool


def judge(gold: str, answer: str) -> Verdict:
    """Judge an answer the way `grpo-workbench eval` does: the last <SOLUTION>, compared with the gold
    answer (`workbench.rewards.is_equivalent`: math-verify for symbolic answers, in a worker process that
    takes about a second to start on first use): call it from a thread."""
    from workbench.rewards import extract_solution, is_equivalent

    solution = extract_solution(answer)
    return Verdict(gold, solution, bool(solution) and is_equivalent(gold, solution or ""))


# ---------------------------------------------------------------------------------------------- held out


@dataclass(frozen=True)
class HeldOutQuestion:
    """A held-out row of a run, as the chat pane offers it."""

    index: int
    question: str
    answer: str
    type: str


def heldout_questions(run: RunDir, limit: int = 500) -> list[HeldOutQuestion]:
    """The run's held-out questions (never trained on) with their gold answers; [] when it has none."""
    path: Path = run.held_out
    found: list[HeldOutQuestion] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for index, line in enumerate(lines[:limit]):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict) or row.get("answer") is None:
            continue
        prompt = row.get("prompt")
        if not isinstance(prompt, list):
            prompt = []
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        question = str(row.get("question") or (users[-1] if users else ""))
        if question:
            found.append(HeldOutQuestion(index, question, str(row["answer"]), str(row.get("type") or "")))
    return found
