"""One counting function for dropped rows (issue 16): the training job, `grpo-workbench preview` and the
Configure preview drop and count the same rows, prompts measured with the model's tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grpo_workbench import cli
from workbench import data as wdata
from workbench.config import RunConfig, validate
from workbench.data import (
    format_prompt,
    load_rows,
    model_prompt_counter,
    prepare_for_run,
    prompt_length_counter,
)

LONG_QUESTION = "Một cửa hàng bán táo, cam và lê với giá khác nhau mỗi ngày trong tuần. " * 25
"""About 500 tokens of the tiny model's tokenizer."""


def _rows_file(tmp_path: Path) -> Path:
    rows = [
        {
            "query_vi": f"Câu hỏi {i}?",
            "response_vi": f"Đáp án là: {i}",
            "query_en": "",
            "response_en": "",
            "type": "GSM",
        }
        for i in range(40)
    ]
    rows.append(
        {
            "query_vi": LONG_QUESTION,
            "response_vi": "Đáp án là: 7",
            "query_en": "",
            "response_en": "",
            "type": "GSM",
        }
    )
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _config(model: Path, source: Path) -> RunConfig:
    return validate(
        {
            "model": {"name": str(model)},
            "grpo": {"max_prompt_length": 128},
            "data": {"source": str(source), "held_out": 4},
        }
    )


def test_the_light_counter_counts_as_the_models_transformers_tokenizer(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    exact = prompt_length_counter(AutoTokenizer.from_pretrained(tiny_model_dir))
    light = model_prompt_counter(str(tiny_model_dir))
    assert light is not None
    rows = load_rows(validate({}).data)
    prompts = [format_prompt(r["query_vi"]) for r in rows] + [format_prompt(LONG_QUESTION)]
    assert [light(p) for p in prompts] == [exact(p) for p in prompts]
    assert exact(format_prompt(LONG_QUESTION)) > 400


def test_a_model_not_on_this_machine_has_no_counter(tmp_path: Path) -> None:
    assert model_prompt_counter(str(tmp_path / "nowhere")) is None
    assert model_prompt_counter("someone/not-downloaded") is None


def test_preview_configure_and_the_job_drop_the_same_rows(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoTokenizer

    from jobs.trainer import training_rows

    source = _rows_file(tmp_path)
    config = _config(tiny_model_dir, source)
    job = training_rows(config, AutoTokenizer.from_pretrained(tiny_model_dir))
    configure = prepare_for_run(load_rows(config.data), config)
    assert job.stats.dropped_too_long == configure.stats.dropped_too_long == 1
    assert job.stats.to_dict() == configure.stats.to_dict()
    assert configure.stats.prompt_tokens_counted

    code = cli.main(
        ["preview", "-n", "0", "--set", f"model.name={tiny_model_dir}", "--set", "grpo.max_prompt_length=128"]
        + ["--set", f"data.source={source}", "--set", "data.held_out=4"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert job.stats.summary() in out
    assert "1 with a prompt too long" in out


def test_without_the_models_tokenizer_the_preview_says_lengths_are_not_counted(tmp_path: Path) -> None:
    """The tiny preset is built by the first run: until then a preview cannot count its tokens."""
    config = validate({"model": {"name": "tiny"}, "data": {"source": str(_rows_file(tmp_path))}})
    prepared = prepare_for_run(load_rows(config.data), config)
    assert not prepared.stats.prompt_tokens_counted
    assert "prompt lengths not counted" in prepared.stats.summary()
    assert wdata.DataStats(prompt_tokens_counted=True).summary().endswith("with an empty question")
