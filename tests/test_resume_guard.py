"""A resume whose config.toml no longer fits the last checkpoint is refused before anything starts, one line
per setting (field, checkpoint value, config value, fix), with status.json and the step untouched; settings
that may change on resume pass. The checkpoint files are in the format PEFT and TRL write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs import launch
from tests.faultkit import make_run
from workbench import presets
from workbench.config import load
from workbench.resume import resume_mismatches
from workbench.runs import RunDir, last_complete_checkpoint


def stopped_run(home: Path, **adapter: object) -> RunDir:
    """A run stopped at step 3 of 10 with one complete rank-64 checkpoint of the tiny preset."""
    run = make_run(home / "runs", "20261130-000000-guard-aaaa", state="stopped", steps=3, max_steps=10)
    checkpoint = run.checkpoints / "checkpoint-3"
    checkpoint.mkdir(parents=True)
    base = presets.resolve_model_path("tiny", create=False)
    config = {
        "r": 64,
        "lora_alpha": 64,
        "target_modules": ["v_proj", "q_proj", "k_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "base_model_name_or_path": base,
        "peft_type": "LORA",
        **adapter,
    }
    (checkpoint / "adapter_config.json").write_text(json.dumps(config))
    (checkpoint / "adapter_model.safetensors").write_bytes(b"")
    (checkpoint / "optimizer.pt").write_bytes(b"")
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": 3, "max_steps": 10}))
    return run


def edit_config(run: RunDir, text: str) -> None:
    run.config.write_text(run.config.read_text(encoding="utf-8") + text, encoding="utf-8")


REFUSED = [
    ("lora.rank", "[lora]\nrank = 8\nalpha = 64\n", "was trained with 64, config.toml now says 8"),
    ("lora.alpha", "[lora]\nalpha = 16\n", "was trained with 64, config.toml now says 16"),
    (
        "lora.target_modules",
        '[lora]\ntarget_modules = ["q_proj", "v_proj"]\n',
        "was trained with down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj, "
        "config.toml now says q_proj, v_proj",
    ),
    ("model.name", None, "was trained with tiny, config.toml now says random-1b"),
    ("grpo.max_steps", None, "was trained with 10, config.toml now says 20"),
]


@pytest.mark.parametrize(("field", "edit", "expected"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_change_the_checkpoint_cannot_take_is_refused_and_nothing_moves(
    workbench_home: Path, field: str, edit: str | None, expected: str
) -> None:
    run = stopped_run(workbench_home)
    if field == "model.name":
        run.config.write_text(run.config.read_text().replace('name = "tiny"', 'name = "random-1b"'))
    elif field == "grpo.max_steps":
        run.config.write_text(run.config.read_text().replace("max_steps = 10", "max_steps = 20"))
    else:
        assert edit is not None
        edit_config(run, edit)
    before = (run.status.read_bytes(), run.manifest.read_bytes())
    with pytest.raises(launch.LaunchError) as refused:
        launch.resume(run)
    message = str(refused.value)
    assert f"- {field}: checkpoint-3 {expected}" in message, message
    assert f"fix: set {field} back to" in message
    assert (run.status.read_bytes(), run.manifest.read_bytes()) == before, "status or manifest was touched"
    assert (run.read_status().state, run.read_status().step) == ("stopped", 3)


def test_settings_that_may_change_on_resume_pass(workbench_home: Path) -> None:
    run = stopped_run(workbench_home)
    edit_config(run, "[rewards]\ncheck_answer = 0.5\n[lora]\ndropout = 0.1\n")
    checkpoint = last_complete_checkpoint(run)
    assert checkpoint is not None
    assert resume_mismatches(load(run.config), checkpoint) == []


def test_a_moved_home_is_the_same_base_model(workbench_home: Path) -> None:
    """The checkpoint names the tiny preset's directory under another GRPO_WORKBENCH_HOME: same model."""
    run = stopped_run(
        workbench_home,
        base_model_name_or_path="/old/home/cache/models/"
        + Path(presets.resolve_model_path("tiny", create=False)).name,
    )
    checkpoint = last_complete_checkpoint(run)
    assert checkpoint is not None
    assert resume_mismatches(load(run.config), checkpoint) == []


def test_init_from_is_checked_before_launch(workbench_home: Path) -> None:
    """`lora.init_from` naming no adapter, or one of another shape, is refused by the pre-flight checks
    with the field and the fix."""
    from workbench.config import RunConfig
    from workbench.resume import init_from_problems

    run = stopped_run(workbench_home)
    checkpoint = run.checkpoints / "checkpoint-3"
    assert init_from_problems(RunConfig.model_validate({"lora": {"init_from": str(checkpoint)}})) == []
    missing = init_from_problems(RunConfig.model_validate({"lora": {"init_from": str(workbench_home)}}))
    assert [p.field for p in missing] == ["lora.init_from"] and "holds no LoRA adapter" in missing[0].message
    other = RunConfig.model_validate({"lora": {"init_from": str(checkpoint), "rank": 8, "alpha": 16}})
    messages = [p.message for p in init_from_problems(other)]
    assert any("lora.rank = 64, this run has 8; fix: set lora.rank = 64" in m for m in messages), messages
