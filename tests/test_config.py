"""Every bad config fails before anything starts, names the field and the fix, and leaves nothing behind."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from grpo_workbench import cli
from workbench.config import ConfigError, RunConfig, apply_overrides, load, reference_markdown, validate

BAD = [
    (
        ["grpo.per_device_train_batch_size=6", "grpo.num_generations=4"],
        "grpo.num_generations",
        "not divisible by grpo.num_generations",
    ),
    (["grpo.num_generations=1"], "grpo.num_generations", "greater than or equal to 2"),
    (["lora.rank=128"], "lora.rank", "set lora.max_lora_rank = 128"),
    (["lora.max_lora_rank=48"], "lora.max_lora_rank", "not a rank vLLM accepts"),
    (["grpo.max_completion_length=2000"], "grpo.max_completion_length", "exceeds model.max_seq_length"),
    (["rewards.speed=1.0"], "rewards", "unknown reward(s) ['speed']"),
    (
        [
            "rewards.match_format_exactly=0",
            "rewards.match_format_approximately=0",
            "rewards.check_answer=0",
            "rewards.check_numbers=0",
        ],
        "rewards",
        "nothing to learn",
    ),
    (["data.source=/no/such/file.jsonl"], "data.source", "does not exist"),
    (["data.source=./README.md"], "data.source", "use a .json, .jsonl or .parquet file"),
    (["model.name=/no/such/model"], "model.name", "does not exist"),
    (["model.name=not a model"], "model.name", "neither a preset"),
    (["lora.target_modules=['q_proj', 'lm_head']"], "lora.target_modules", "unknown module(s) ['lm_head']"),
    (["grpo.learning_rate=-1"], "grpo.learning_rate", "greater than 0"),
    (["grpo.max_steps=ten"], "grpo.max_steps", "valid integer"),
    (["grpo.loss_type=ppo"], "grpo.loss_type", "dapo"),
    (["grpo.lr=1e-5"], "grpo.lr", "is not a known setting"),
    (["backend=jax"], "backend", "'auto', 'unsloth' or 'trl'"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_bad_config_is_refused_with_its_field_and_leaves_nothing(
    overrides: list[str], field: str, message: str, workbench_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--detach"] + [a for o in overrides for a in ("--set", o)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert f"- {field}: " in err, err
    assert message in err, err
    runs = workbench_home / "runs"
    assert not runs.exists() or not any(runs.iterdir())


def test_model_dir_without_config_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty-model").mkdir()
    assert cli.main(["config", "--set", f"model.name={tmp_path / 'empty-model'}"]) == 2
    assert "has no config.json" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text("{}\n")
    path.chmod(0)
    assert cli.main(["config", "--set", f"data.source={path}"]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_bad_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[grpo\nmax_steps = 3\n")
    assert cli.main(["train", "--config", str(broken)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_defaults_reproduce_the_tutorial() -> None:
    config = RunConfig()
    assert (config.lora.rank, config.lora.alpha, len(config.lora.target_modules)) == (64, 64, 7)
    assert (config.grpo.learning_rate, config.grpo.weight_decay, config.grpo.warmup_ratio) == (
        5e-6,
        5e-4,
        0.1,
    )
    assert (config.grpo.lr_scheduler_type, config.grpo.num_generations, config.grpo.max_grad_norm) == (
        "cosine",
        8,
        0.1,
    )
    assert config.model.max_seq_length == 2048
    assert config.active_rewards == [
        "match_format_exactly",
        "match_format_approximately",
        "check_answer",
        "check_numbers",
    ]


def test_toml_round_trip(tmp_path: Path) -> None:
    config = validate(apply_overrides({}, ["grpo.max_steps=7", "rewards.correctness=0.5", "name='mine'"]))
    path = tmp_path / "c.toml"
    config.save(path)
    assert load(path) == config
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_config_reference_is_committed_and_current() -> None:
    committed = Path(__file__).parent.parent / "docs" / "config.md"
    assert committed.read_text(encoding="utf-8").strip() == reference_markdown().strip(), (
        "docs/config.md is stale: run `grpo-workbench config --reference > docs/config.md`"
    )


def _bounded_fields() -> list[tuple[str, str]]:
    """(dotted key, a value just past one of its bounds) for every bounded number in RunConfig."""
    import annotated_types
    from pydantic import BaseModel

    cases = []
    for section, info in RunConfig.model_fields.items():
        annotation = info.annotation
        fields = (
            [(f"{section}.{name}", sub) for name, sub in annotation.model_fields.items()]
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else [(section, info)]
        )
        for key, field in fields:
            for bound in field.metadata:
                step = 1 if field.annotation is int else 0.5
                if isinstance(bound, annotated_types.Ge):
                    cases.append((key, str(bound.ge - step)))
                elif isinstance(bound, annotated_types.Gt):
                    cases.append((key, str(bound.gt)))
                elif isinstance(bound, annotated_types.Le):
                    cases.append((key, str(bound.le + step)))
                elif isinstance(bound, annotated_types.Lt):
                    cases.append((key, str(bound.lt)))
    return cases


BOUNDED = _bounded_fields()


@pytest.mark.parametrize(("key", "value"), BOUNDED, ids=[f"{k}={v}" for k, v in BOUNDED])
def test_every_bound_names_its_fix(key: str, value: str) -> None:
    """Rank 1000 said 'Input should be less than or equal to 512' and stopped there: every bound's
    message now says what to use instead."""
    with pytest.raises(ConfigError) as raised:
        validate(apply_overrides(RunConfig().model_dump(mode="json"), [f"{key}={value}"]))
    mine = [p for p in raised.value.problems if p.field == key]
    assert mine and all("fix: " in p.message for p in mine), raised.value.problems


def test_bound_and_type_messages_say_what_to_use() -> None:
    problems = {}
    for item in ("lora.rank=1000", "grpo.temperature=3", "grpo.max_steps=ten", "model.load_in_4bit=maybe"):
        with pytest.raises(ConfigError) as raised:
            validate(apply_overrides(RunConfig().model_dump(mode="json"), [item]))
        problems[item] = raised.value.problems[0].message
    assert problems["lora.rank=1000"].endswith("; fix: use a whole number from 1 to 512 (default 64)")
    assert problems["grpo.temperature=3"].endswith(
        "fix: use a number above 0.0 and at most 2.0 (default 1.0)"
    )
    assert problems["grpo.max_steps=ten"].endswith("; fix: use a whole number")
    assert problems["model.load_in_4bit=maybe"].endswith("; fix: use true or false")


def test_a_bound_message_quotes_this_machines_default() -> None:
    """On a CPU the offline default trains at 1e-3 (the schema's 5e-6 is the 1B recipe's): a bound message
    given this machine's defaults quotes the value Ctrl+N or a fresh `train` would use here."""
    from workbench.config import machine_default

    defaults = machine_default(0).model_dump(mode="json")
    data = apply_overrides(machine_default(0).model_dump(mode="json"), ["grpo.learning_rate=5"])
    with pytest.raises(ConfigError) as raised:
        validate(data, defaults)
    assert raised.value.problems[0].message.endswith("(default 0.001)")
    with pytest.raises(ConfigError) as raised:
        validate(data)  # without them, the schema's own
    assert raised.value.problems[0].message.endswith("(default 5e-06)")


def test_a_negative_reward_weight_is_refused_naming_its_weight() -> None:
    """Decided: refused, not shown as a penalty (every function already scores bad output below 0)."""
    with pytest.raises(ConfigError) as raised:
        validate({"rewards": {"check_answer": -1.0}})
    (problem,) = raised.value.problems
    assert problem.field == "rewards.check_answer"
    assert "is negative" in problem.message and "fix: use 0 to switch it off" in problem.message


def test_a_partial_rewards_table_keeps_the_other_weights(tmp_path: Path) -> None:
    """README's example names only a custom reward in [rewards]: the built-in rewards keep their default
    weights (they used to drop to 0, so the run trained on the custom reward alone without a word)."""
    custom = tmp_path / "r.py"
    custom.write_text("def mine(completions, **kwargs):\n    return [0.0] * len(completions)\n")
    file = tmp_path / "run.toml"
    file.write_text(
        f'[[custom_rewards]]\nfile = "{custom}"\nfunction = "mine"\n\n'
        "[rewards]\nmine = 0.5\ncheck_answer = 2.0\n",
        encoding="utf-8",
    )
    weights = load(file).rewards
    assert weights == {
        "match_format_exactly": 1.0, "match_format_approximately": 1.0, "check_answer": 2.0,
        "check_numbers": 1.0, "correctness": 0.0, "mine": 0.5,
    }  # fmt: skip


def test_a_partial_config_file_is_laid_over_this_machines_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--config FILE` naming one setting keeps this machine's default for every other one (on a machine
    without a GPU: the offline demo's model, rows and learning rate), as `--set` does; it used to start from
    the schema's defaults, so the tiny model trained at the 1B model's 5e-6 and did not learn."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    from workbench.config import machine_default, merge

    file = tmp_path / "partial.toml"
    file.write_text("[grpo]\nmax_steps = 7\n\n[rewards]\ncheck_answer = 2.0\n", encoding="utf-8")
    assert cli.main(["config", "--config", str(file), "--set", "lora.rank=8"]) == 0
    shown = tomllib.loads(capsys.readouterr().out)
    default = machine_default(0)
    assert shown["grpo"]["max_steps"] == 7 and shown["lora"]["rank"] == 8
    assert shown["grpo"]["learning_rate"] == default.grpo.learning_rate != RunConfig().grpo.learning_rate
    assert shown["model"]["name"] == default.model.name and shown["data"]["source"] == default.data.source
    assert shown["rewards"]["check_answer"] == 2.0
    assert shown["rewards"]["match_format_exactly"] == default.rewards["match_format_exactly"]
    # a run's own config.toml is read as written: load() without a base fills from the schema
    assert load(file).grpo.learning_rate == RunConfig().grpo.learning_rate
    assert merge({"a": {"b": 1, "c": [1]}, "d": 2}, {"a": {"c": [2]}}) == {"a": {"b": 1, "c": [2]}, "d": 2}


def test_bitsandbytes_settings_are_refused_on_cpu_naming_field_and_fix() -> None:
    """A 4-bit base needs bitsandbytes on CUDA as the 8-bit optimisers do: both are refused before a CPU
    run starts (load_in_4bit used to pass and fail loading the model), neither on a GPU machine, and the
    offline default (tiny model, CPU) passes."""
    from workbench.environment import Machine, preflight

    cpu = Machine(gpus=0, unsloth=False, vllm=False)
    gpu = Machine(gpus=1, unsloth=True, vllm=True, gpu_total_gib=80.0, gpu_totals_gib=(80.0,))
    fields = ("model.load_in_4bit", "grpo.optim")

    def refused(config: RunConfig, machine: Machine) -> dict[str, str]:
        return {p.field: p.message for p in preflight(config, machine) if p.field in fields}

    assert refused(RunConfig(), cpu) == {}
    both = RunConfig.model_validate({"model": {"load_in_4bit": True}, "grpo": {"optim": "paged_adamw_8bit"}})
    problems = refused(both, cpu)
    assert problems == {
        "model.load_in_4bit": "a 4-bit base needs bitsandbytes on a GPU; fix: set model.load_in_4bit = false "
        "on CPU",
        "grpo.optim": 'paged_adamw_8bit needs bitsandbytes on a GPU; fix: use "adamw_torch" on CPU',
    }
    assert refused(both, gpu) == {}
