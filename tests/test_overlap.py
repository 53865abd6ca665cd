"""Overlapped generation (`distributed.overlap_generation`): its setting and refusals, the launch plan, the
server-mode memory plan, and the pipeline's own logic (one-step lookahead over a real batch iterator, the
staleness bound), and the token-route worker's requests and answers. The mode itself runs only with a vLLM
server on a GPU: tests/test_gpu.py."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jobs.overlap import MAX_STALENESS, Lookahead, Pending, is_hit
from jobs.server_tokens import FINAL_ONLY, ROUTE, RouteUnavailable, TokenClient, parse_choices
from workbench import distributed
from workbench.config import ConfigError, apply_overrides, validate
from workbench.plan import plan
from workbench.shaping import ShapeError

OVERLAP = [
    "backend=trl",
    "model.name=random-1b",
    "grpo.completions_per_step=128",
    "distributed.gpus=[0]",
    'distributed.vllm_mode="server"',
    "distributed.server_gpu=1",
    "distributed.overlap_generation=true",
]


def config(*overrides: str) -> Any:
    return validate(apply_overrides({}, list(overrides)))


def test_overlap_without_a_server_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        config("distributed.overlap_generation=true")
    text = str(caught.value)
    assert "distributed.overlap_generation" in text and 'vllm_mode = "server"' in text


def test_overlap_with_the_server_on_its_own_gpu_launches_the_server_and_one_trainer() -> None:
    c = config(*OVERLAP)
    assert c.distributed.overlap_generation
    launch = distributed.plan_launch(
        c, Path("/runs/r"), distributed.Ports(0, 8000, 51216), resume=False, base_env={}, stop_grace=30.0
    )
    assert launch.server_argv is not None and "vllm-serve" in launch.server_argv
    assert launch.trainer_env is not None and launch.trainer_env["CUDA_VISIBLE_DEVICES"] == "0"
    assert launch.server_env is not None and launch.server_env["CUDA_VISIBLE_DEVICES"] == "1"
    assert launch.server_env["NCCL_NVLS_ENABLE"] == "0" and not launch.launcher


def test_overlap_turns_importance_sampling_correction_on() -> None:
    pytest.importorskip("trl")
    from jobs.trainer import grpo_args

    c = config(*OVERLAP)
    assert c.grpo.vllm_importance_sampling_correction is False  # the project's default stays off
    args = grpo_args(c, plan(c, 139.8, "trl"), Path("/tmp/x"), False, True, [1.0] * 4, "trl")
    assert args.vllm_importance_sampling_correction is True and args.vllm_mode == "server"


def test_server_mode_plans_the_training_gpu_without_a_vllm_share() -> None:
    colocated = plan(config("model.name=random-1b", "grpo.completions_per_step=128"), 139.8, "trl")
    served = plan(config(*OVERLAP), 139.8, "trl")
    assert colocated.vllm_share > 0 and served.vllm_share == 0.0
    est = served.shape.estimate
    assert est is not None and est.vllm_gib == est.vllm_need_gib == est.generation_gib == 0.0
    assert colocated.shape.estimate is not None
    assert est.total_gib < colocated.shape.estimate.total_gib


def test_a_server_gpu_too_small_for_a_generation_round_is_refused_with_the_numbers() -> None:
    c = config(*OVERLAP[:-1], "model.gpu_memory_utilization=0.05", "grpo.completions_per_step=512")
    with pytest.raises(ShapeError) as caught:
        plan(c, 24.0, "trl")
    text = str(caught.value)
    assert "vLLM server needs" in text and "512 sequences" in text and "model.gpu_memory_utilization" in text


def test_lookahead_hands_out_the_same_batches_in_the_same_order_one_step_early() -> None:
    """A real iterator of 5 steps of 2 micro-batches: every step gets its own batches, and while step t
    runs, step t+1's rows are known; at the end of the epoch there is nothing ahead, and a new epoch's
    iterator starts afresh."""

    def fetch(iterator: Any, n: int, device: Any) -> tuple[list[Any], None]:
        batches = []
        for _ in range(n):
            try:
                batches.append(next(iterator))
            except StopIteration:
                break
        return batches, None

    steps = [[[{"prompt": f"p{t}"}]] * 2 for t in range(5)]
    flat = iter([micro for step in steps for micro in step])
    ahead = Lookahead(fetch)
    for t in range(5):
        batches, _ = ahead.get_batch_samples(flat, 2, None)
        assert batches == steps[t]
        rows = ahead.next_rows()
        assert rows == ([{"prompt": f"p{t + 1}"}] if t < 4 else None)
    assert ahead.get_batch_samples(flat, 2, None)[0] == []
    second = iter([micro for step in steps for micro in step])
    assert ahead.get_batch_samples(second, 2, None)[0] == steps[0]


def test_a_round_in_flight_answers_only_its_own_prompts_within_the_staleness_bound() -> None:
    prompts = [[1, 2, 3]] * 4
    pending = Pending(prompts, version=6)
    assert is_hit(pending, prompts, step=6 + MAX_STALENESS)
    assert is_hit(pending, prompts, step=6)
    assert not is_hit(pending, prompts, step=6 + MAX_STALENESS + 1)  # too stale: generate afresh
    assert not is_hit(pending, [[1, 2, 4]] * 4, step=7)  # other prompts (a resume, a new epoch)
    assert not is_hit(None, prompts, step=7)


class _TokenRoute(BaseHTTPRequestHandler):
    """vLLM 0.24's token route on loopback, in the shape its GenerateResponse takes (the real server is
    exercised by tests/test_gpu.py): each prompt's n completions are the prompt's ids shifted by the choice
    index, answered in reverse index order, with one log-probability entry per token."""

    bodies: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append({"path": self.path, **body})
        if self.status != 200 or self.path != ROUTE:
            self.send_response(404 if self.path != ROUTE else self.status)
            self.end_headers()
            self.wfile.write(b'{"detail": "Not Found"}')
            return
        n = body["sampling_params"]["n"]
        choices = [
            {
                "index": i,
                "token_ids": [t + 100 * i for t in body["token_ids"]],
                "logprobs": {
                    "content": [{"token": f"token_id:{t}", "logprob": -0.5 * i} for t in body["token_ids"]]
                },
            }
            for i in reversed(range(n))
        ]
        payload = json.dumps({"request_id": "x", "choices": choices}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_server() -> Any:
    _TokenRoute.bodies, _TokenRoute.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenRoute)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _TokenRoute
    server.shutdown()


TRL_PARAMS = {
    "n": 3,
    "repetition_penalty": 1.0,
    "temperature": 0.8,
    "top_p": 1.0,
    "top_k": None,
    "min_p": 0.0,
    "max_tokens": 256,
    "logprobs": 0,
    "structured_outputs_regex": None,
    "generation_kwargs": {},
}


def test_the_token_worker_returns_completions_prompt_major_without_detokenizing(token_server: Any) -> None:
    """One request per prompt from a worker process, detokenization off, only the final output; the
    answers come back prompt-major, each prompt's completions in choice order, as TRL's client gives them."""
    url, route = token_server
    client = TokenClient(url, timeout=30)
    try:
        ids, logprobs = client.submit([[1, 2], [7]], TRL_PARAMS).result(timeout=60)
    finally:
        client.close()
    assert ids == [[1, 2], [101, 102], [201, 202], [7], [107], [207]]
    assert logprobs == [[0.0, 0.0], [-0.5, -0.5], [-1.0, -1.0], [0.0], [-0.5], [-1.0]]
    sent = {tuple(b["token_ids"]): b["sampling_params"] for b in route.bodies}
    assert set(sent) == {(1, 2), (7,)}
    params = sent[(7,)]
    assert params["detokenize"] is False and params["output_kind"] == FINAL_ONLY
    assert params["n"] == 3 and params["temperature"] == 0.8 and params["max_tokens"] == 256
    assert params["top_k"] == 0 and params["logprobs"] == 0


def test_a_server_without_the_token_route_says_so_for_the_fallback(token_server: Any) -> None:
    url, route = token_server
    route.status = 404
    client = TokenClient(url, timeout=30)
    try:
        with pytest.raises(RouteUnavailable, match="HTTP 404"):
            client.submit([[1, 2]], TRL_PARAMS).result(timeout=60)
    finally:
        client.close()


def test_an_answer_short_of_completions_is_an_error_not_a_shorter_batch() -> None:
    with pytest.raises(ValueError, match="1 completions with token ids, 2 asked for"):
        parse_choices({"choices": [{"index": 0, "token_ids": [1]}]}, 2)
