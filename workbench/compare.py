"""Comparing and cloning runs (no Textual): what differs between the configs of two or more runs, their
reward, completion-length and loss curves side by side, and the config of a new run made like an old one.

A comparison flattens each run's config.toml into dotted keys (`grpo.learning_rate`, `rewards.check_answer`)
and keeps the keys whose values are not the same in every run; the curves are the runs' metrics.jsonl
series under TRL's key names. The Runs screen shows both (`screens.compare`).

A clone is a *new* run (new id, new directory) whose config is the old run's config.toml with
`lora.init_from` cleared (the clone starts from a fresh adapter: `train --from RUN` is the way to start from
a run's adapter) and the user's changes applied on top (`--set key=value` on the command line, the form in
Configure). Nothing else of the old run is carried over: no checkpoints, adapter, metrics, samples, logs,
evaluations or status.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.config import ConfigError, Problem, RunConfig, apply_overrides, validate
from workbench.runs import RunDir, read_config_table, run_info
from workbench.series import MetricsSeries
from workbench.tail import read_jsonl

COMPARED_METRICS: tuple[tuple[str, str], ...] = (
    ("reward", "reward"),
    ("completion length", "completions/mean_length"),
    ("loss", "loss"),
)
"""(title, metrics.jsonl key) of each overlaid plot: TRL's total reward, mean completion length, loss."""
MAX_COMPARED = 8
"""The most runs compared at once: one line colour each (the plots' palette has eight)."""
NOT_COPIED = ("lora.init_from",)
"""Config keys a clone does not take from its source run (set them again with `--set` if wanted)."""


class Missing:
    """The value of a key a run's config does not have (an older config, or a hand-written one)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config table as dotted keys: `{"grpo": {"beta": 0.04}}` -> `{"grpo.beta": 0.04}`.

    Lists and other values are leaves (`lora.target_modules` is one key); an empty table is left out.
    """
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


@dataclass(frozen=True)
class ConfigDifference:
    """One config key whose value is not the same in every compared run."""

    key: str
    """The dotted key (`grpo.learning_rate`)."""
    values: tuple[Any, ...]
    """Its value in each run, in the runs' order; `MISSING` where a run's config lacks the key."""


def config_differences(tables: Sequence[Mapping[str, Any]]) -> tuple[list[ConfigDifference], int]:
    """The keys whose values differ between the configs `tables` (nested, as config.toml reads).

    Args:
        tables: One config table per run, in the order the comparison shows them.

    Returns:
        (differences in key order of first appearance, how many distinct keys the configs have).
    """
    flats = [flatten(table) for table in tables]
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    differences = []
    for key in keys:
        values = tuple(flat.get(key, MISSING) for flat in flats)
        if any(_differs(values[0], value) for value in values[1:]):
            differences.append(ConfigDifference(key, values))
    return differences, len(keys)


def _differs(a: Any, b: Any) -> bool:
    """Different values; 1 and 1.0 (TOML's int and float of one setting) are the same, true and 1 not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is not type(b) or a != b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) != float(b)
    return bool(a != b)


def format_config_value(value: Any) -> str:
    """A config value in a few characters: `5e-06`, `true`, `q_proj, k_proj`, `""` for an empty string,
    `–` for a key the run's config lacks."""
    if isinstance(value, Missing):
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_config_value(v) for v in value) or "[]"
    if value == "":
        return '""'
    return str(value)


@dataclass(frozen=True)
class ComparedRun:
    """One run of a comparison: who it is and its curves."""

    run_id: str
    label: str
    """The run's name from its config ('' when it has none)."""
    model: str
    state: str
    step: int
    max_steps: int
    latest_reward: float | None
    curves: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    """metrics.jsonl key (those of `COMPARED_METRICS`) -> (steps, values), in step order."""


@dataclass(frozen=True)
class Comparison:
    """What the comparison view shows: the runs with their curves, and how their configs differ."""

    runs: tuple[ComparedRun, ...]
    differences: list[ConfigDifference]
    keys: int
    """How many distinct config keys the runs have (the differences are out of these)."""


def compare_runs(runs: Sequence[RunDir]) -> Comparison:
    """Read the configs and whole metrics of `runs` (run it off the UI thread: a long run's metrics.jsonl
    is megabytes).

    Raises:
        ValueError: fewer than two runs, or more than `MAX_COMPARED`.
    """
    if not 2 <= len(runs) <= MAX_COMPARED:
        raise ValueError(f"compare 2 to {MAX_COMPARED} runs at once (got {len(runs)})")
    compared = []
    tables = []
    for run in runs:
        tables.append(read_config_table(run))
        info = run_info(run)
        series = MetricsSeries()
        series.ingest(read_jsonl(run.metrics))
        curves = {key: series.get(key) for _, key in COMPARED_METRICS}
        compared.append(
            ComparedRun(
                run_id=run.run_id,
                label=info.label,
                model=info.model,
                state=info.state,
                step=max(info.step, series.max_step),
                max_steps=info.max_steps,
                latest_reward=info.latest_reward,
                curves={key: (list(xs), list(ys)) for key, (xs, ys) in curves.items()},
            )
        )
    differences, keys = config_differences(tables)
    return Comparison(tuple(compared), differences, keys)


def clone_data(run: RunDir, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The config data of a new run made like `run`: its config.toml with `NOT_COPIED` keys cleared, then
    `overrides` (`key=value`, as `--set` takes them) applied. Not validated: the caller validates (the CLI)
    or shows every problem at its field (Configure).

    Raises:
        ConfigError: config.toml cannot be read, or an override names an unknown key.
    """
    try:
        data = read_config_table(run, strict=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            [Problem("", f"run {run.run_id}: {run.config} cannot be read ({exc}); there is nothing to clone")]
        ) from None
    for key in NOT_COPIED:
        section, _, name = key.partition(".")
        if isinstance(data.get(section), dict):
            data[section].pop(name, None)
    return apply_overrides(data, list(overrides))


def clone_config(run: RunDir, overrides: Sequence[str] = ()) -> RunConfig:
    """`clone_data`, validated.

    Raises:
        ConfigError: every problem, each naming its field and the fix.
    """
    return validate(clone_data(run, overrides))


def with_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """Config data complete for a form: validated and dumped when it validates, else laid over the
    defaults section by section (so a key an old config lacks shows its default and a bad value stays
    where the form can point at it)."""
    try:
        return validate(dict(copy.deepcopy(data))).model_dump(mode="json")
    except ConfigError:
        pass
    merged = RunConfig().model_dump(mode="json")
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key].update(copy.deepcopy(dict(value)))
        else:
            merged[key] = copy.deepcopy(value)
    return merged
