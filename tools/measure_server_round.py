"""How long one GRPO generation round takes on a vLLM server alone, by route (a GPU measurement, issue 20).

Starts `trl vllm-serve` on one GPU with the flags the training job gives it (`workbench.distributed`), then
times rounds of the bench's workload (16 prompts x 8 completions x 256 tokens by default) through
vLLM's token route (`jobs.server_tokens`, what overlapped generation sends) and through TRL's own client
(the OpenAI completions route, what server mode and overlapped generation send), with and without
log-probabilities. No trainer, no weight sync: what is left is the server's own time.

Measured 2026-12-01 on one H200 (random-init 1B, 16 x 8 x 256 tokens, 3 rounds;
docs/measurements/issue20/server-round-2026-12-01.json): token route with log-probabilities 3.6-4.6 s,
without 1.6-1.8 s; TRL's client (completions route, with) 2.9-3.9 s. The sampled tokens'
log-probabilities, which importance-sampling correction needs, cost the server 1.2-2.8 s a round in
its API layer, more than detokenization saves: overlapped generation stays on TRL's client.

    python tools/measure_server_round.py --model DIR --gpu 1 --rounds 3 > round.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def generate(
    base_url: str, prompts: list[list[int]], params: dict[str, Any], timeout: float
) -> tuple[list[list[int]], Any]:
    """One round through vLLM's token route (`/inference/v1/generate`, vLLM 0.24): one request per prompt
    with n completions, detokenization off, the final output only; prompt-major answers."""
    import requests

    fields: dict[str, Any] = {
        "n": params["n"],
        "temperature": params["temperature"],
        "top_p": params["top_p"],
        "top_k": 0,
        "min_p": params["min_p"],
        "repetition_penalty": params["repetition_penalty"],
        "max_tokens": params["max_tokens"],
        "detokenize": False,
        "output_kind": 2,
    }
    if params.get("logprobs") is not None:
        fields["logprobs"] = params["logprobs"]

    def one(prompt: list[int]) -> list[list[int]]:
        body: dict[str, Any] = {"token_ids": prompt, "sampling_params": fields}
        response = requests.post(base_url + "/inference/v1/generate", json=body, timeout=timeout)
        response.raise_for_status()
        choices = sorted(response.json()["choices"], key=lambda c: c["index"])
        return [c["token_ids"] for c in choices]

    with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
        return [ids for answer in pool.map(one, prompts) for ids in answer], None


def wait_ready(url: str, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"no server at {url} after {seconds} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--gpu", default="1")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--extra", default="", help="more `vllm serve` flags, space-separated")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    argv = [
        sys.executable,
        "-m",
        "trl.cli.main",
        "vllm-serve",
        "--model",
        args.model,
        "--port",
        str(args.port),
        "--gpu-memory-utilization",
        "0.9",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "512",
    ]
    argv += args.extra.split()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": args.gpu}
    server = subprocess.Popen(argv, env=env, stdout=sys.stderr, stderr=sys.stderr)
    result: dict[str, object] = {"argv": argv[2:]}
    try:
        result["ready_s"] = round(wait_ready(url, 600), 1)
        rng = random.Random(0)
        prompts = [[rng.randrange(1000, 30000) for _ in range(150)] for _ in range(args.prompts)]
        base = {
            "n": args.n,
            "repetition_penalty": 1.0,
            "temperature": 1.0,
            "top_p": 1.0,
            "top_k": None,
            "min_p": 0.0,
            "max_tokens": args.tokens,
            "structured_outputs_regex": None,
            "generation_kwargs": {},
        }
        from trl.generation.vllm_client import VLLMClient

        client = VLLMClient(base_url=url, connection_timeout=60)
        routes = {
            "token route, logprobs": lambda: generate(url, prompts, {**base, "logprobs": 0}, 600),
            "token route, no logprobs": lambda: generate(url, prompts, {**base, "logprobs": None}, 600),
            "completions (TRL client), logprobs": lambda: client.generate(
                prompts=prompts, **{**base, "logprobs": 0}
            ),
        }
        generate(url, prompts[:2], {**base, "logprobs": 0, "max_tokens": 8}, 600)  # warm-up
        timings: dict[str, list[float]] = {}
        for name, call in routes.items():
            for _ in range(args.rounds):
                started = time.perf_counter()
                out = call()
                timings.setdefault(name, []).append(round(time.perf_counter() - started, 3))
            ids: Any = out[0] if isinstance(out, tuple) else out["completion_ids"]  # type: ignore[index]
            result[f"{name}: tokens"] = sum(len(x) for x in ids)
        result["seconds"] = timings
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
