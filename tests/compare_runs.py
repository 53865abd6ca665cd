"""Three finished runs written by hand for the comparison tests (tests/test_tui_compare.py,
tests/test_compare.py): fixed ids, times and dead pids, so the screens render the same on every machine.

* `lr-high`: learning rate 1e-3, 30 steps, reward rising fast, completed;
* `lr-low`: learning rate 1e-4, 30 steps, reward rising slowly, started from an adapter (`lora.init_from`,
  which a clone does not copy; the directory is gone, so its config no longer loads as it is), completed;
* `beta`: learning rate 1e-3 with beta 0.04, failed at step 20 of 30.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import tomli_w

from workbench.atomic import write_json_atomic
from workbench.config import apply_overrides, validate

T0 = 1_795_200_000.0
"""2026-11-20 15:20 UTC: every time in these runs counts from here (a day before the frozen clock)."""
LR_HIGH = "20261121-090000-lr-high-aa11"
LR_LOW = "20261121-100000-lr-low-bb22"
BETA = "20261121-110000-beta-cc33"
CURVES = {
    LR_HIGH: (30, 8.0, 8.0, "completed"),
    LR_LOW: (30, 4.0, 20.0, "completed"),
    BETA: (20, 6.0, 10.0, "failed"),
}
"""run id -> (steps logged, reward gain, how many steps the gain takes, final state)."""
OVERRIDES = {
    LR_HIGH: ["name=lr-high", "grpo.learning_rate=0.001"],
    LR_LOW: ["name=lr-low", "grpo.learning_rate=0.0001"],
    BETA: ["name=beta", "grpo.learning_rate=0.001", "grpo.beta=0.04"],
}
COMMON = ["grpo.max_steps=30", "grpo.max_completion_length=96", "data.held_out=8"]
GONE_ADAPTER = "/srv/adapters/base-run/adapter"
"""lr-low's `lora.init_from`: a directory that no longer exists (the same on every machine)."""


def metrics(run_id: str) -> list[dict[str, Any]]:
    """The metrics.jsonl records of `run_id`: reward, mean completion length and loss per step."""
    steps, gain, scale, _ = CURVES[run_id]
    offset = list(CURVES).index(run_id)
    start = T0 + 3600 * offset
    return [
        {
            "step": step,
            "time": start + 2.0 * step,
            "reward": round(-2.0 + gain * (1 - math.exp(-step / scale)), 4),
            "completions/mean_length": round(180.0 - 60.0 * (1 - math.exp(-step / scale)) + offset * 5, 2),
            "loss": round(0.002 * step / (1 + offset) - 0.01 * math.sin(step / 4), 5),
        }
        for step in range(1, steps + 1)
    ]


def config_table(run_id: str) -> dict[str, Any]:
    """The config.toml of `run_id` as a table (lr-low's holds the gone adapter, so it does not validate)."""
    table = validate(apply_overrides({}, [*COMMON, *OVERRIDES[run_id]])).model_dump(mode="json")
    if run_id == LR_LOW:
        table["lora"]["init_from"] = GONE_ADAPTER
    return table


def write_compared_runs(root: Path) -> list[str]:
    """Write the three runs under `root` (the runs home). Returns their ids, newest first (the Runs
    table's order)."""
    for index, run_id in enumerate(CURVES):
        path = root / run_id
        path.mkdir(parents=True, mode=0o700)
        (path / "config.toml").write_text(tomli_w.dumps(config_table(run_id)), encoding="utf-8")
        steps, _, _, state = CURVES[run_id]
        records = metrics(run_id)
        started, finished = records[0]["time"] - 30, records[-1]["time"] + 5
        write_json_atomic(
            path / "manifest.json",
            {"pid": 999_990 + index, "pgid": 999_990 + index, "create_time": 1.0, "started_at": started,
             "attempt": 1, "host": "fixture"},
        )  # fmt: skip
        status: dict[str, Any] = {
            "state": state, "step": steps, "max_steps": 30, "heartbeat": finished, "updated_at": finished,
            "finished_at": finished, "phase": "done" if state == "completed" else "failed",
            "exit_code": 0 if state == "completed" else 1,
        }  # fmt: skip
        if state == "failed":
            status["error"] = "RuntimeError: CUDA out of memory"
        write_json_atomic(path / "status.json", status)
        (path / "metrics.jsonl").write_text(
            "".join(json.dumps(record) + "\n" for record in records), encoding="utf-8"
        )
        (path / "train.log").write_text("[trainer] hand-made run\n", encoding="utf-8")
    return list(reversed(CURVES))
