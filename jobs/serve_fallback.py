"""The fallback inference server: `python -m jobs.serve_fallback SERVE_DIR` (started by `jobs.serve`).

Where vLLM cannot run (no GPU, or vLLM not installed; and in the tests) this serves the same slice of the
OpenAI API that vLLM's server does, so one client works against both:

* `GET /health`: 200 once the model is loaded (the port is not even open before that, as with vLLM);
* `GET /v1/models`: `base` and every adapter, vLLM-style (`root` the path, `parent` the base);
* `POST /v1/chat/completions`: the chat template, then generation; with `"stream": true` the answer
  arrives as SSE `data: {chat.completion.chunk}` lines ending in `data: [DONE]`, with
  `stream_options.include_usage` a last chunk carries the token counts.

It loads the base model once and every adapter onto it as a named PEFT adapter; a request picks its
adapter with `set_adapter`, or runs with `disable_adapter()` for `base`. The active adapter is state of
the whole model, so requests generate one at a time (a lock), and two streams side by side take turns
rather than mixing. Generation runs in a thread feeding transformers' `TextIteratorStreamer`; a client
that disconnects (the chat pane's Escape) sets a stop flag the generation checks at every token, so a
cancelled answer frees the model at once.

Every request but /health needs `Authorization: Bearer <key>` (the key file of the serve directory,
compared in constant time); the server binds the spec's host, 127.0.0.1. FastAPI is imported at module
level because it resolves the handlers' annotations there; torch and transformers load in `Engine`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from workbench.serving import BASE_NAME, ServeDir, ServeSpec

DEFAULT_MAX_TOKENS = 1024


def log(message: str) -> None:
    print(f"[fallback {time.strftime('%H:%M:%S')}] {message}", flush=True)


class RequestError(ValueError):
    """A request the server refuses: HTTP status, OpenAI error type and message."""

    def __init__(
        self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": None, "code": self.code}}


@dataclass
class ChatRequest:
    """The parts of an OpenAI chat-completions request this server honours."""

    model: str
    messages: list[dict[str, str]]
    stream: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None
    seed: int | None = None
    include_usage: bool = False
    ignore_eos: bool = False
    """vLLM's extension: generate exactly max_tokens tokens (benchmarks, and tests that need a long
    stream whatever the model samples)."""

    @classmethod
    def parse(cls, body: Any, models: list[str]) -> ChatRequest:
        """Validate a request body; unknown sampling fields are refused rather than silently ignored.

        Raises:
            RequestError: 400 for a malformed request, 404 for an unknown model.
        """
        if not isinstance(body, dict):
            raise RequestError(400, "the request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError(400, "`model` is required")
        if model not in models:
            raise RequestError(
                404,
                f"The model `{model}` does not exist. Served: {', '.join(models)}",
                "NotFoundError",
                "model_not_found",
            )
        raw = body.get("messages")
        if not isinstance(raw, list) or not raw:
            raise RequestError(400, "`messages` must be a non-empty list")
        messages = []
        for message in raw:
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
                raise RequestError(400, "each message needs a role of system, user or assistant")
            content = message.get("content")
            if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if not isinstance(content, str):
                raise RequestError(400, "message content must be text")
            messages.append({"role": message["role"], "content": content})
        for unsupported in ("stop", "tools", "logprobs", "response_format"):
            if body.get(unsupported):
                raise RequestError(400, f"`{unsupported}` is not supported by the fallback server")
        if int(body.get("n") or 1) != 1:
            raise RequestError(400, "only n=1 is supported by the fallback server")
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        options = body.get("stream_options") or {}
        try:
            request = cls(
                model=model,
                messages=messages,
                stream=bool(body.get("stream")),
                temperature=float(body["temperature"]) if body.get("temperature") is not None else 1.0,
                top_p=float(body["top_p"]) if body.get("top_p") is not None else 1.0,
                max_tokens=int(max_tokens) if max_tokens is not None else None,
                seed=int(body["seed"]) if body.get("seed") is not None else None,
                include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
                ignore_eos=bool(body.get("ignore_eos")),
            )
        except (TypeError, ValueError) as exc:
            raise RequestError(400, f"bad sampling parameter: {exc}") from None
        if request.temperature < 0 or not 0 < request.top_p <= 1:
            raise RequestError(400, "temperature must be >= 0 and top_p in (0, 1]")
        if request.max_tokens is not None and request.max_tokens < 1:
            raise RequestError(400, "max_tokens must be at least 1")
        return request


@dataclass(eq=False)  # identity: in-flight generations live in a set
class Generation:
    """One generation in flight: its text pieces come through `streamer`; `stop` ends it early."""

    streamer: Any
    prompt_tokens: int
    max_new_tokens: int
    stop: threading.Event = field(default_factory=threading.Event)
    completion_tokens: int = 0
    finish_reason: str = "stop"
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Engine:
    """The base model with every adapter loaded onto it by name; generates one request at a time."""

    def __init__(self, spec: ServeSpec):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.spec = spec
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        log(f"loading {spec.base_model} on {self.device}")
        self.tokenizer = AutoTokenizer.from_pretrained(spec.base_model)
        model: Any = AutoModelForCausalLM.from_pretrained(spec.base_model, dtype=dtype)
        model = model.to(self.device)
        if spec.adapters:
            from peft import PeftModel

            names = list(spec.adapters)
            model = PeftModel.from_pretrained(model, spec.adapters[names[0]], adapter_name=names[0])
            for name in names[1:]:
                model.load_adapter(spec.adapters[name], adapter_name=name)
            log(f"loaded adapters: {', '.join(names)}")
        model.eval()
        self.model = model
        self.lock = threading.Lock()
        """The active adapter is model-wide state: one generation at a time."""
        eos = self.tokenizer.eos_token_id
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        if isinstance(self.pad_id, list):
            self.pad_id = self.pad_id[0]
        self.in_flight: set[Generation] = set()

    @property
    def models(self) -> list[str]:
        return self.spec.models

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat template applied, tokenised without a second BOS (the template already has one)."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def start(self, request: ChatRequest) -> Generation:
        """Start generating for `request` in a daemon thread; text arrives through the returned streamer."""
        from transformers import TextIteratorStreamer

        ids = self.prompt_ids(request.messages)
        room = self.spec.max_model_len - len(ids)
        if room < 1:
            raise RequestError(
                400, f"the prompt has {len(ids)} tokens; the server allows {self.spec.max_model_len} in all"
            )
        max_new = min(request.max_tokens or DEFAULT_MAX_TOKENS, room)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        generation = Generation(streamer=streamer, prompt_tokens=len(ids), max_new_tokens=max_new)
        self.in_flight.add(generation)
        thread = threading.Thread(
            target=self._generate, args=(request, ids, generation), daemon=True, name="generate"
        )
        thread.start()
        return generation

    def _generate(self, request: ChatRequest, ids: list[int], generation: Generation) -> None:
        torch = self.torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Cancelled(StoppingCriteria):
            """Ends generation at the next token once the client has gone."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                flag = generation.stop.is_set()
                return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)

        started = False
        try:
            with self.lock:
                if generation.stop.is_set():
                    return
                kwargs: dict[str, Any] = {
                    "max_new_tokens": generation.max_new_tokens,
                    "pad_token_id": self.pad_id,
                    "streamer": generation.streamer,
                    "stopping_criteria": StoppingCriteriaList([Cancelled()]),
                }
                if request.ignore_eos:
                    kwargs["min_new_tokens"] = generation.max_new_tokens
                if request.temperature == 0:
                    kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                else:
                    # top_k=0 switches off the top-50 filter transformers would otherwise apply.
                    kwargs.update(
                        do_sample=True, temperature=request.temperature, top_p=request.top_p, top_k=0
                    )
                if request.seed is not None:
                    torch.manual_seed(request.seed)
                inputs = torch.tensor([ids], device=self.device)
                # a PeftModel (adapters loaded); a bare model (`serve --model DIR`, a merged export) has
                # transformers' own set_adapter but no disable_adapter, and nothing to disable
                peft = hasattr(self.model, "disable_adapter")
                context: Any = contextlib.nullcontext()
                if request.model == BASE_NAME:
                    context = self.model.disable_adapter() if peft else contextlib.nullcontext()
                else:
                    self.model.set_adapter(request.model)
                started = True
                with torch.inference_mode(), context:
                    output = self.model.generate(
                        input_ids=inputs, attention_mask=torch.ones_like(inputs), **kwargs
                    )
                generation.completion_tokens = int(output.shape[1] - inputs.shape[1])
                if generation.completion_tokens >= generation.max_new_tokens:
                    generation.finish_reason = "length"
                if generation.stop.is_set():
                    log(f"{request.model}: stopped after {generation.completion_tokens} tokens: client gone")
        except Exception as exc:  # reported to the client as the end of the stream, never a dead server
            generation.error = f"{type(exc).__name__}: {exc}"
            log(f"generation failed: {generation.error}")
        finally:
            if not started or generation.error:
                generation.streamer.end()  # release the reader waiting on the streamer
            generation.done.set()
            self.in_flight.discard(generation)

    def cancel_all(self) -> None:
        for generation in list(self.in_flight):
            generation.stop.set()


def _next_piece(streamer: Iterator[str]) -> str | None:
    return next(streamer, None)


async def pieces(generation: Generation) -> AsyncIterator[str]:
    """The generation's text pieces as they come, without blocking the event loop; a cancelled consumer
    (the client went away) stops the generation."""
    try:
        while (piece := await asyncio.to_thread(_next_piece, generation.streamer)) is not None:
            if piece:
                yield piece
    finally:
        generation.stop.set()


def create_app(engine: Engine, key: str) -> FastAPI:
    """The FastAPI application over `engine`, requiring `key` on every request but /health."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        engine.cancel_all()  # a stop must not wait for a 1024-token answer to finish

    app = FastAPI(
        title="grpo-workbench fallback server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    created = int(time.time())

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        if request.url.path == "/health":
            return await call_next(request)
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {key}".encode()):
            error = RequestError(
                401, "invalid or missing API key", "invalid_request_error", "invalid_api_key"
            )
            return JSONResponse(error.body(), status_code=401)
        return await call_next(request)

    @app.get("/health")
    async def health() -> Any:
        return JSONResponse({})

    @app.get("/v1/models")
    async def models() -> Any:
        data = [
            {
                "id": BASE_NAME,
                "object": "model",
                "created": created,
                "owned_by": "grpo-workbench",
                "root": engine.spec.base_model,
                "parent": None,
                "max_model_len": engine.spec.max_model_len,
            }
        ]
        data += [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "grpo-workbench",
                "root": path,
                "parent": BASE_NAME,
            }
            for name, path in engine.spec.adapters.items()
        ]
        return JSONResponse({"object": "list", "data": data})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            try:
                body = await request.json()
            except ValueError:
                raise RequestError(400, "the request body is not JSON") from None
            chat_request = ChatRequest.parse(body, engine.models)
            generation = engine.start(chat_request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        ident = f"chatcmpl-{uuid.uuid4().hex}"
        if chat_request.stream:
            return StreamingResponse(
                sse(generation, chat_request, ident, created=int(time.time())),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        text = "".join([piece async for piece in pieces(generation)])
        await asyncio.to_thread(generation.done.wait)
        if generation.error:
            return JSONResponse(RequestError(500, generation.error, "InternalServerError").body(), 500)
        return JSONResponse(
            {
                "id": ident,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": chat_request.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": generation.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": usage(generation),
            }
        )

    return app


def usage(generation: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
    }


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def sse(generation: Generation, request: ChatRequest, ident: str, created: int) -> AsyncIterator[str]:
    """The OpenAI chunk stream: a role chunk, one chunk per text piece, a finish chunk, the usage chunk
    when asked for, then `[DONE]`. Being cancelled (client gone) stops the generation."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": request.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    yield _event(chunk({"role": "assistant", "content": ""}))
    async for piece in pieces(generation):
        yield _event(chunk({"content": piece}))
    await asyncio.to_thread(generation.done.wait)
    if generation.error:
        yield _event({"error": {"message": generation.error, "type": "InternalServerError", "code": 500}})
    else:
        yield _event(chunk({}, generation.finish_reason))
        if request.include_usage:
            final = chunk({})
            final["choices"] = []
            final["usage"] = usage(generation)
            yield _event(final)
    yield "data: [DONE]\n\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The transformers + PEFT OpenAI-compatible server.")
    parser.add_argument("serve_dir", type=Path)
    args = parser.parse_args(argv)
    serve = ServeDir(args.serve_dir.resolve())
    spec = serve.read_spec()
    key = serve.read_key()
    if not key:
        print("error: the serve directory has no key; refusing to serve without one", file=sys.stderr)
        return 2
    import uvicorn

    engine = Engine(spec)
    app = create_app(engine, key)
    log(f"listening on http://{spec.host}:{spec.port} ({', '.join(engine.models)})")
    uvicorn.run(
        app,
        host=spec.host,
        port=spec.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
