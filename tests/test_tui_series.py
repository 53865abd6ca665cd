"""The monitor's data model (workbench.series) and the memory estimate's positional entry point."""

from __future__ import annotations

import math

import pytest

from workbench.memory import estimate, estimate_gpu_memory_gib
from workbench.modelbuild import ARCHITECTURES, ModelShape
from workbench.series import GpuSeries, MetricsSeries, reward_key, thin


def step(n: int, t: float, **values: object) -> dict[str, object]:
    return {"step": n, "time": t, **values}


def test_ingest_keeps_each_numeric_key_in_step_order() -> None:
    series = MetricsSeries()
    taken = series.ingest([step(1, 10.0, reward=-1.0, loss=0.5), step(2, 11.0, reward=0.0, loss=0.4)])
    assert taken == 2
    assert series.get("reward") == ([1.0, 2.0], [-1.0, 0.0])
    assert series.get("loss") == ([1.0, 2.0], [0.5, 0.4])
    assert series.keys() == ["loss", "reward"]
    assert series.latest("reward") == 0.0
    assert series.get("missing") == ([], [])


def test_event_records_are_not_steps() -> None:
    series = MetricsSeries()
    series.ingest(
        [
            step(1, 10.0, reward=1.0),
            {"event": "resume", "step": 1, "time": 20.0},
            {"event": "summary", "step": 1, "time": 21.0, "train_runtime": 9.0, "train_loss": 0.1},
        ]
    )
    assert len(series) == 1
    assert series.get("train_runtime") == ([], [])
    assert series.resumes == [(1, 20.0)]
    assert series.summary is not None and series.summary["train_runtime"] == 9.0


def test_a_repeated_step_after_resume_replaces_the_old_one() -> None:
    series = MetricsSeries()
    series.ingest([step(n, 10.0 + n, reward=float(n)) for n in range(1, 6)])
    series.ingest([{"event": "resume", "step": 3, "time": 100.0}])
    assert series.current_step == 3
    series.ingest([step(4, 101.0, reward=40.0), step(5, 102.0, reward=50.0)])
    xs, ys = series.get("reward")
    assert xs == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert ys == [1.0, 2.0, 3.0, 40.0, 50.0]
    assert series.max_step == 5 and series.current_step == 5


def test_a_resume_drops_the_lost_attempts_steps_past_it() -> None:
    """A crash after the last checkpoint (or before any: a resume at step 0) loses the steps past it; the
    resumed attempt trains them again, so the series must not show the lost ones meanwhile."""
    series = MetricsSeries()
    series.ingest([step(n, 10.0 + n, reward=float(n)) for n in range(1, 7)])
    series.ingest([{"event": "resume", "step": 4, "time": 100.0}])
    assert series.get("reward") == ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]) and series.max_step == 4
    series.ingest([step(5, 101.0, reward=50.0)])
    assert series.get("reward") == ([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 50.0])
    series.ingest([{"event": "resume", "step": 0, "time": 200.0}])
    assert series.get("reward") == ([], []) and len(series) == 0 and series.max_step == 0
    series.ingest([step(1, 201.0, reward=-1.0)])
    assert series.get("reward") == ([1.0], [-1.0]) and series.current_step == 1


def test_out_of_order_steps_are_sorted_and_new_keys_start_late() -> None:
    series = MetricsSeries()
    series.ingest([step(2, 2.0, reward=2.0), step(1, 1.0, reward=1.0), step(3, 3.0, reward=3.0, kl=0.1)])
    assert series.get("reward") == ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert series.get("kl") == ([3.0], [0.1])
    assert series.has("kl") and not series.has("entropy")


def test_non_numbers_nan_and_records_without_step_are_skipped() -> None:
    series = MetricsSeries()
    taken = series.ingest(
        [
            {"time": 1.0, "reward": 1.0},
            {"step": "3", "reward": 1.0},
            {"step": True, "reward": 1.0},
            step(1, 1.0, reward=float("nan"), loss=float("inf"), note="text", flag=True, entropy=2.0),
        ]
    )
    assert taken == 1
    assert series.keys() == ["entropy"]


def test_reward_names_come_from_the_per_function_means() -> None:
    series = MetricsSeries()
    series.ingest(
        [
            step(
                1,
                1.0,
                **{
                    reward_key("check_answer"): 1.0,
                    "rewards/check_answer/std": 0.1,
                    reward_key("match_format_exactly"): 0.0,
                },
            )
        ]
    )
    assert series.reward_names() == ["check_answer", "match_format_exactly"]


def test_version_changes_only_when_something_was_taken() -> None:
    series = MetricsSeries()
    before = series.version
    series.ingest([{"no": "step"}])
    assert series.version == before
    series.ingest([step(1, 1.0, reward=0.0)])
    assert series.version > before


def test_speed_and_eta_from_the_records_time() -> None:
    series = MetricsSeries()
    series.ingest([step(n, 100.0 + 2.0 * n, reward=0.0) for n in range(1, 11)])
    assert series.steps_per_second() == pytest.approx(0.5)
    assert series.eta_seconds(max_steps=20) == pytest.approx(20.0)
    assert series.eta_seconds(max_steps=10) == 0.0
    assert series.eta_seconds(max_steps=0) is None


def test_speed_counts_only_the_attempt_after_the_last_resume() -> None:
    series = MetricsSeries()
    series.ingest([step(n, float(n), reward=0.0) for n in range(1, 6)])  # 1 step/s
    series.ingest([{"event": "resume", "step": 5, "time": 1000.0}])
    assert series.steps_per_second() is None  # nothing timed since the resume yet
    series.ingest([step(6, 1010.0, reward=0.0), step(7, 1014.0, reward=0.0), step(8, 1018.0, reward=0.0)])
    assert series.steps_per_second() == pytest.approx(0.25)


def test_speed_is_unknown_with_one_point() -> None:
    series = MetricsSeries()
    series.ingest([step(1, 1.0, reward=0.0)])
    assert series.steps_per_second() is None
    assert series.eta_seconds(10) is None


def test_gpu_series_per_index_interleaved() -> None:
    gpu = GpuSeries()
    records = []
    for tick in range(3):
        for index in (0, 1):
            records.append(
                {
                    "index": index,
                    "name": "H200",
                    "memory_used_mib": 1000.0 * (tick + 1) + index,
                    "memory_total_mib": 4000.0,
                    "utilization_pct": 10.0 * tick,
                    "time": 50.0 + tick,
                }
            )
    records.append({"index": 2, "time": 1.0})  # incomplete: skipped
    assert gpu.ingest(records) == 6
    assert gpu.indices() == [0, 1]
    assert gpu.tracks[0].used_mib == [1000.0, 2000.0, 3000.0]
    assert gpu.tracks[1].memory_pct[0] == pytest.approx(100 * 1001 / 4000)
    assert gpu.elapsed(1) == [0.0, 1.0, 2.0]
    assert gpu.tracks[0].name == "H200"


def test_gpu_series_stays_bounded() -> None:
    gpu = GpuSeries(max_points=100)
    gpu.ingest(
        [
            {
                "index": 0,
                "memory_used_mib": 1.0,
                "memory_total_mib": 2.0,
                "utilization_pct": 0.0,
                "time": float(t),
            }
            for t in range(1000)
        ]
    )
    track = gpu.tracks[0]
    assert len(track.times) <= 100
    assert track.times == sorted(track.times)


def test_thin_keeps_the_last_point_and_the_limit() -> None:
    xs = [float(i) for i in range(1000)]
    txs, tys = thin(xs, xs, 50)
    assert len(txs) <= 50 and txs[-1] == 999.0 and txs[0] == 0.0 and txs == tys
    assert thin([1.0, 2.0], [3.0, 4.0], 50) == ([1.0, 2.0], [3.0, 4.0])


def test_memory_estimate_grows_with_batch_and_fits_an_h200_for_1b() -> None:
    args = dict(
        lora_rank=64,
        target_modules=["q_proj", "v_proj"],
        num_generations=8,
        max_prompt_length=256,
        max_completion_length=256,
        vllm_share=0.5,
        total_gib=139.8,
    )
    small = estimate_gpu_memory_gib(ARCHITECTURES["1b"], per_device_batch=8, **args)  # type: ignore[arg-type]
    large = estimate_gpu_memory_gib(ARCHITECTURES["1b"], per_device_batch=64, **args)  # type: ignore[arg-type]
    assert 0.5 * 139.8 < small < large < 139.8
    assert math.isfinite(large)


def test_memory_estimate_parts_without_gpu() -> None:
    shape = ModelShape.of("tiny")
    est = estimate(
        shape,
        lora_rank=8,
        target_modules=["q_proj"],
        micro_batch=4,
        generation_batch=4,
        max_prompt_length=64,
        max_completion_length=32,
        vllm_share=0.5,
        gpu_total_gib=None,
    )
    assert est.vllm_gib == 0.0 and est.generation_gib > 0.0 and est.fits is None
    assert est.lora_parameters == 2 * 8 * (64 + 64)
    assert shape.parameter_count() == ARCHITECTURES["tiny"].parameter_count()


def test_step_split_groups_the_latest_steps_phases() -> None:
    """The training job writes `time/<phase>` seconds per step (jobs/phases.py); the Monitor shows the
    latest step's, grouped: generation, weight sync, scoring, update."""
    series = MetricsSeries()
    assert series.step_split() == []
    series.ingest(
        [
            {"step": 1, "reward": 0.1, "time/generate": 2.0, "time/the_rest": 1.0},
            {
                "step": 2,
                "time/generate": 1.25,
                "time/weight_sync": 0.05,
                "time/rewards": 0.01,
                "time/scoring": 0.19,
                "time/forward": 0.5,
                "time/loss": 0.02,
                "time/the_rest": 0.68,
            },
            {"step": 3, "reward": 0.2},  # a step logged without a split: the latest split stands
        ]
    )
    split = dict(series.step_split())
    assert list(split) == ["generate", "sync", "rewards", "update"]
    assert split == pytest.approx({"generate": 1.25, "sync": 0.05, "rewards": 0.2, "update": 1.2})
    series.ingest([{"step": 4, "time/generate": 0.5}])  # CPU: no vLLM sync, no other phases logged
    assert series.step_split() == [("generate", 0.5)]
