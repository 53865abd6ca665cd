"""Comparing and cloning runs without the TUI: which config keys differ, what a clone copies, and
`grpo-workbench train --like RUN --set ...` through the real CLI (a real tiny CPU run)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import tomli_w
from compare_runs import BETA, GONE_ADAPTER, LR_HIGH, LR_LOW, config_table, metrics, write_compared_runs
from faultkit import cli, live

from tests.conftest import FAST
from workbench.atomic import write_json_atomic
from workbench.compare import (
    MISSING,
    clone_config,
    clone_data,
    compare_runs,
    config_differences,
    flatten,
    format_config_value,
    with_defaults,
)
from workbench.config import ConfigError, apply_overrides, load, validate
from workbench.runs import RunDir, find_run, read_config_table


def test_differences_are_dotted_keys_with_every_runs_value() -> None:
    a = {
        "name": "a",
        "grpo": {"beta": 0.0, "max_steps": 30, "lr": 1e-3},
        "lora": {"target_modules": ["q", "k"]},
    }
    b = {
        "name": "b",
        "grpo": {"beta": 0.04, "max_steps": 30.0, "lr": 1e-3},
        "lora": {"target_modules": ["q"]},
    }
    c = {
        "name": "c",
        "grpo": {"beta": 0, "max_steps": 30, "lr": 1e-3, "extra": True},
        "lora": {"target_modules": ["q", "k"]},
    }
    assert flatten(a) == {
        "name": "a",
        "grpo.beta": 0.0,
        "grpo.max_steps": 30,
        "grpo.lr": 1e-3,
        "lora.target_modules": ["q", "k"],
    }
    differences, keys = config_differences([a, b, c])
    assert keys == 6
    assert {d.key: d.values for d in differences} == {
        "name": ("a", "b", "c"),
        "grpo.beta": (0.0, 0.04, 0),
        "lora.target_modules": (["q", "k"], ["q"], ["q", "k"]),
        "grpo.extra": (MISSING, MISSING, True),
    }, "30 and 30.0 are one value; a key one config lacks differs"
    assert config_differences([a, a])[0] == []
    assert [format_config_value(v) for v in (5e-6, True, ["q", "k"], "", MISSING, 30)] == [
        "5e-06", "true", "q, k", '""', "–", "30",
    ]  # fmt: skip


def test_compare_reads_each_runs_curves_and_config(tmp_path: Path) -> None:
    write_compared_runs(tmp_path)
    comparison = compare_runs([RunDir(tmp_path / run_id) for run_id in (LR_HIGH, BETA)])
    assert [d.key for d in comparison.differences] == ["name", "grpo.beta"]
    high, beta = comparison.runs
    assert (high.state, high.step, beta.state, beta.step) == ("completed", 30, "failed", 20)
    for run, run_id in ((high, LR_HIGH), (beta, BETA)):
        xs, ys = run.curves["completions/mean_length"]
        assert ys == [r["completions/mean_length"] for r in metrics(run_id)] and xs[-1] == len(ys)
    with pytest.raises(ValueError, match="compare 2 to 8 runs"):
        compare_runs([RunDir(tmp_path / LR_HIGH)])


def test_a_clone_copies_the_settings_but_not_init_from(tmp_path: Path) -> None:
    write_compared_runs(tmp_path)
    source = RunDir(tmp_path / LR_LOW)
    with pytest.raises(ConfigError, match="lora.init_from"):
        load(source.config)  # the adapter it started from is gone: as it is, the config does not load
    clone = clone_config(source, ["grpo.beta=0.04", "name=again"])
    expected = config_table(LR_LOW)
    expected["lora"]["init_from"] = ""
    expected["grpo"]["beta"] = 0.04
    expected["name"] = "again"
    assert clone.model_dump(mode="json") == expected
    assert clone_data(source)["lora"].get("init_from") is None
    with pytest.raises(ConfigError, match="grpo.nope: is not a known setting"):
        clone_data(source, ["grpo.nope=1"])
    source.config.write_text("[grpo\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot be read .* nothing to clone"):
        clone_data(source)
    # A config the form cannot take as it is still fills it: its keys over the defaults.
    filled = with_defaults({"grpo": {"beta": 0.04, "learning_rate": "fast"}})
    assert filled["grpo"]["beta"] == 0.04 and filled["grpo"]["learning_rate"] == "fast"
    assert filled["lora"]["rank"] == 64 and filled["name"] == ""


def _source_run(home: Path) -> RunDir:
    """A finished run of the tiny model (written by hand: only its config matters to a clone) that
    started from an adapter which is gone by now."""
    path = home / "runs" / "20261130-120000-source-ab12"
    path.mkdir(parents=True, mode=0o700)
    run = RunDir(path)
    table = validate(apply_overrides({}, [*FAST, "name=source", "grpo.max_steps=9", "grpo.beta=0.02"]))
    data = table.model_dump(mode="json")
    data["lora"]["init_from"] = GONE_ADAPTER
    run.config.write_text(tomli_w.dumps(data), encoding="utf-8")
    write_json_atomic(run.manifest, {"pid": None, "started_at": time.time() - 600, "attempt": 1})
    run.write_status(state="completed", step=9, max_steps=9, finished_at=time.time() - 300)
    return run


@live
def test_train_like_a_run_is_a_new_run_with_its_settings_and_the_changes(workbench_home: Path) -> None:
    source = _source_run(workbench_home)
    before = source.config.read_bytes()
    changes = ["grpo.max_steps=1", "rewards.correctness=0.5", "name=clone"]
    result = cli("train", "--like", "source", *[a for c in changes for a in ("--set", c)])
    assert result.returncode == 0, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    assert run.run_id != source.run_id and "clone" in run.run_id
    assert run.read_status().state == "completed", "the clone trains"
    source_config = read_config_table(source)
    source_config["lora"].pop("init_from")  # what a clone does not copy
    expected = apply_overrides(source_config, changes)
    assert load(run.config).model_dump(mode="json") == validate(expected).model_dump(mode="json")
    differences, _ = config_differences([read_config_table(source), read_config_table(run)])
    assert {d.key: d.values for d in differences} == {
        "name": ("source", "clone"),
        "lora.init_from": (GONE_ADAPTER, ""),
        "rewards.correctness": (0.0, 0.5),
        "grpo.max_steps": (9, 1),
    }
    assert source.config.read_bytes() == before, "the source run is left as it was"
    assert not (run.path / "checkpoints" / "checkpoint-9").exists()
    refused = cli("train", "--like", "source", "--from", "source")
    assert refused.returncode == 2 and "--like takes every setting from the run" in refused.stderr
    unknown = cli("train", "--like", "source", "--set", "grpo.nope=1")
    assert unknown.returncode == 2 and "grpo.nope: is not a known setting" in unknown.stderr
