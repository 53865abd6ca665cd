"""Overlapped generation (`distributed.overlap_generation`): its setting and refusals, the launch plan, the
server-mode memory plan, and the pipeline's own logic (one-step lookahead over a real batch iterator, the
staleness bound). The mode itself runs only with a vLLM server on a GPU: tests/test_gpu.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs.overlap import MAX_STALENESS, Lookahead, Pending, is_hit
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
