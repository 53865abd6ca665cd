"""Token-in, token-out generation from the vLLM server, in a process of its own (overlapped generation).

TRL's server-mode client asks vLLM's OpenAI `/v1/completions` route, which detokenizes every sampled
token of every sequence on the server's host between decode steps, renders each token's log-probability
entry as text, and answers with a JSON body the trainer then parses in Python. In the colocated engine the
same detokenization cost 0.7 s of a 1.1-1.7 s generation on an H200 (`jobs.colocate`), and in overlapped
mode the parsing ran on a thread of the training process, where it held the interpreter while the main
thread launched the forward pass: the forward phase took 0.93 s against 0.47 s without the overlap
(2026-12-01, two H200s, docs/measurements/issue20/bench-overlap-onegpu.json).

So the overlapped round goes another way, with the same sampling:
- vLLM's token route (`/inference/v1/generate`, registered by every vLLM 0.24 server that generates): one
  request per prompt with `n` completions, `detokenize` off and only the final output
  (`output_kind` FINAL_ONLY), token ids in and out, each sampled token's log-probability (`logprobs` 0);
- sent and parsed by one worker **process** (`TokenClient`), so none of it runs on the trainer's
  interpreter; the trainer gets plain lists back (pickled, a few milliseconds).

Where the route is missing or refuses the request (another vLLM), `TokenClient.generate` raises
`RouteUnavailable` and the caller goes back to TRL's own client, once and for all. Stdlib and `requests`
only: the worker imports nothing else.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

ROUTE = "/inference/v1/generate"
"""vLLM's token-in, token-out route (vllm/entrypoints/serve/disagg/api_router.py in vLLM 0.24)."""

FINAL_ONLY = 2
"""vLLM's `RequestOutputKind.FINAL_ONLY`: the server keeps no per-step output for a request."""


class RouteUnavailable(RuntimeError):
    """The server has no token route, or refused this request's form (HTTP 404, 400, 405 or 422)."""


def sampling_params(params: dict[str, Any]) -> dict[str, Any]:
    """vLLM SamplingParams fields (JSON) for one prompt's request from TRL's request parameters (the
    dictionary `jobs.overlap._submit` builds: n, temperature, top_p, top_k, min_p, repetition_penalty,
    max_tokens, logprobs, generation_kwargs; a structured-output regex is not supported here)."""
    fields: dict[str, Any] = {
        "n": params["n"],
        "temperature": params["temperature"],
        "top_p": params["top_p"],
        "top_k": params["top_k"] if params["top_k"] is not None else 0,
        "min_p": params["min_p"],
        "repetition_penalty": params["repetition_penalty"],
        "max_tokens": params["max_tokens"],
        "detokenize": False,
        "output_kind": FINAL_ONLY,
    }
    if fields["top_k"] in (None, -1):
        fields["top_k"] = 0
    if params.get("logprobs") is not None:
        fields["logprobs"] = params["logprobs"]
    fields.update(params.get("generation_kwargs") or {})
    return fields


def parse_choices(body: dict[str, Any], n: int) -> tuple[list[list[int]], list[list[float]] | None]:
    """Completion token ids and each sampled token's log-probability from one response of the token
    route, in the order of the choices' `index` (0 .. n-1).

    Raises:
        ValueError: the body holds a different number of choices, or a choice without token ids.
    """
    choices = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
    if len(choices) != n or any(c.get("token_ids") is None for c in choices):
        raise ValueError(f"the server answered {len(choices)} completions with token ids, {n} asked for")
    ids = [list(c["token_ids"]) for c in choices]
    if any(c.get("logprobs") is None for c in choices):
        return ids, None
    logprobs = [[entry.get("logprob", 0.0) for entry in c["logprobs"]["content"]] for c in choices]
    return ids, logprobs


def generate(
    base_url: str, prompts: list[list[int]], params: dict[str, Any], timeout: float
) -> tuple[list[list[int]], list[list[float]] | None]:
    """Every prompt's `n` completions, prompt-major (prompt 0's n, then prompt 1's...), as TRL's client
    returns them; the requests go out together, so vLLM batches them as one.

    Raises:
        RouteUnavailable: the server has no token route or refused the request's form.
        requests.RequestException, ValueError: the server failed or answered something else.
    """
    import requests

    fields = sampling_params(params)
    n = int(fields["n"])
    url = base_url.rstrip("/") + ROUTE

    def one(prompt: list[int]) -> dict[str, Any]:
        response = requests.post(url, json={"token_ids": prompt, "sampling_params": fields}, timeout=timeout)
        if response.status_code in (400, 404, 405, 422):
            raise RouteUnavailable(f"{url} answered HTTP {response.status_code}: {response.text[:300]}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    with ThreadPoolExecutor(max_workers=min(64, max(1, len(prompts)))) as pool:
        bodies = list(pool.map(one, prompts))
    ids: list[list[int]] = []
    logprobs: list[list[float]] | None = []
    for body in bodies:
        got_ids, got_logprobs = parse_choices(body, n)
        ids.extend(got_ids)
        if got_logprobs is None or logprobs is None:
            logprobs = None
        else:
            logprobs.extend(got_logprobs)
    return ids, logprobs


class TokenClient:
    """One worker process that sends rounds to the token route and parses the answers.

    `submit` returns at once; the Future's result is `generate`'s, or its exception. The process is
    started with `spawn` (the trainer holds CUDA, which a forked child must not touch) on first use.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None

    def submit(
        self, prompts: list[list[int]], params: dict[str, Any]
    ) -> Future[tuple[list[list[int]], list[list[float]] | None]]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool.submit(generate, self.base_url, prompts, params, self.timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
