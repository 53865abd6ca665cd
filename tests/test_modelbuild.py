"""Offline model building: the tiny model builds, loads, generates; 1B/3B shapes match Llama 3.2 exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# huggingface_hub reads this once at import: set it before anything imports transformers, so a test that
# accidentally reached for the hub fails instead of downloading.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from workbench import modelbuild  # noqa: E402
from workbench.modelbuild import ARCHITECTURES, build_model, build_tokenizer, special_token_ids  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

SYSTEM_USER = [
    {"role": "system", "content": "  Bạn là trợ lý giải toán.\n"},
    {"role": "user", "content": "Tính 12 + 35.  "},
]
EXPECTED_PROMPT = (
    "<|begin_of_text|>"
    "<|start_header_id|>system<|end_header_id|>\n\nBạn là trợ lý giải toán.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nTính 12 + 35.<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)

REAL_LLAMA3_IDS = {
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<|reserved_special_token_0|>": 128002,
    "<|reserved_special_token_1|>": 128003,
    "<|finetune_right_pad_id|>": 128004,
    "<|reserved_special_token_2|>": 128005,
    "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007,
    "<|eom_id|>": 128008,
    "<|eot_id|>": 128009,
    "<|python_tag|>": 128010,
    "<|reserved_special_token_3|>": 128011,
    "<|reserved_special_token_247|>": 128255,
}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny model built for the whole module (a few seconds)."""
    messages: list[str] = []
    out = build_model("tiny", tmp_path_factory.mktemp("models") / "tiny", progress=messages.append)
    assert any(m.startswith("training tokenizer") for m in messages)
    assert any(m.startswith("initialising weights") for m in messages)
    assert any(m.startswith("saving") for m in messages)
    return out


@pytest.fixture(scope="module")
def tiny_model(tiny_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir)


def test_module_import_does_not_load_the_training_stack() -> None:
    code = (
        "import sys, workbench.modelbuild as m; "
        "assert m.ARCHITECTURES['3b'].parameter_count() > 0; "
        "bad = [n for n in ('torch', 'transformers', 'tokenizers') if n in sys.modules]; "
        "assert not bad, bad"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env)


def test_tiny_builds_and_loads(tiny_dir: Path, tiny_model, tiny_tokenizer) -> None:
    names = {p.name for p in tiny_dir.iterdir()}
    for expected in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "workbench_model.json",
    ):
        assert expected in names
    arch = ARCHITECTURES["tiny"]
    cfg = tiny_model.config
    assert cfg.model_type == "llama"
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) == (64, 256, 2)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.vocab_size) == (4, 2, 4096)
    assert cfg.max_position_embeddings == 4096 and cfg.tie_word_embeddings
    assert cfg.rope_parameters["rope_theta"] == arch.rope_theta
    assert str(tiny_model.dtype) == "torch.bfloat16"
    assert tiny_model.lm_head.weight.data_ptr() == tiny_model.model.embed_tokens.weight.data_ptr()

    manifest = json.loads((tiny_dir / "workbench_model.json").read_text())
    assert manifest["architecture"] == "tiny"
    assert manifest["seed"] == 0 and manifest["vocab_size"] == 4096
    assert set(manifest["built_with"]) >= {"transformers", "torch"}

    assert len(tiny_tokenizer) == 4096
    assert tiny_tokenizer.model_max_length == 4096
    ids = special_token_ids(4096)
    assert (
        tiny_tokenizer.bos_token == "<|begin_of_text|>"
        and tiny_tokenizer.bos_token_id == ids["<|begin_of_text|>"]
    )
    assert tiny_tokenizer.eos_token == "<|eot_id|>" and tiny_tokenizer.eos_token_id == ids["<|eot_id|>"]
    assert tiny_tokenizer.pad_token_id == ids["<|finetune_right_pad_id|>"]

    gen = json.loads((tiny_dir / "generation_config.json").read_text())
    assert gen["bos_token_id"] == 3840 and gen["eos_token_id"] == [3841, 3848, 3849]
    assert gen["pad_token_id"] == 3844
    assert gen["do_sample"] is True and gen["temperature"] == 0.6 and gen["top_p"] == 0.9

    # transformers 4 spellings sit next to transformers 5's, for older readers (vLLM images).
    raw = json.loads((tiny_dir / "config.json").read_text())
    assert raw["rope_theta"] == 500000.0 and raw["torch_dtype"] == "bfloat16"
    tok_cfg = json.loads((tiny_dir / "tokenizer_config.json").read_text())
    assert tok_cfg["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tok_cfg["chat_template"] == modelbuild.LLAMA3_CHAT_TEMPLATE


def test_parameter_count_matches_built_tiny(tiny_dir: Path, tiny_model) -> None:
    counted = sum(p.numel() for p in tiny_model.parameters())
    assert ARCHITECTURES["tiny"].parameter_count() == counted
    assert json.loads((tiny_dir / "workbench_model.json").read_text())["parameters"] == counted


def test_llama32_shapes_and_parameter_counts_without_building() -> None:
    one, three = ARCHITECTURES["1b"], ARCHITECTURES["3b"]
    assert one.parameter_count() == 1_235_814_400
    assert three.parameter_count() == 3_212_749_824
    for arch, hidden, layers, heads in ((one, 2048, 16, 32), (three, 3072, 28, 24)):
        assert (arch.hidden_size, arch.num_hidden_layers, arch.num_attention_heads) == (hidden, layers, heads)
        assert arch.intermediate_size == 8192 and arch.num_key_value_heads == 8
        assert arch.vocab_size == 128256 and arch.max_position_embeddings == 131072
        assert arch.tie_word_embeddings and arch.rope_theta == 500000.0 and arch.rms_norm_eps == 1e-5
        assert arch.rope_scaling == {
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        }


def test_parameter_count_untied_adds_the_lm_head() -> None:
    import dataclasses

    tiny = ARCHITECTURES["tiny"]
    untied = dataclasses.replace(tiny, tie_word_embeddings=False)
    assert untied.parameter_count() == tiny.parameter_count() + tiny.vocab_size * tiny.hidden_size


def test_special_token_ids_are_the_real_llama3_ids() -> None:
    mapping = special_token_ids(128256)
    assert len(mapping) == 256
    for token, token_id in REAL_LLAMA3_IDS.items():
        assert mapping[token] == token_id

    tokenizer = build_tokenizer(128256)
    assert len(tokenizer) == 128256
    vocab = tokenizer.get_vocab()
    assert len(vocab) == 128256  # every id is a distinct token string
    for token, token_id in REAL_LLAMA3_IDS.items():
        assert vocab[token] == token_id
        assert tokenizer.convert_ids_to_tokens(token_id) == token
    assert tokenizer.bos_token_id == 128000
    assert tokenizer.eos_token_id == 128009
    assert tokenizer.pad_token_id == 128004
    assert tokenizer("x")["input_ids"][0] == 128000  # bos is prepended, as Llama 3 does

    # A random-init model samples every id and vLLM detokenizes them: all must decode, none empty.
    decoded = tokenizer.backend_tokenizer.decode_batch(
        [[i] for i in range(128256)], skip_special_tokens=False
    )
    assert all(decoded)


def test_chat_template_renders_llama3_format(tiny_tokenizer) -> None:
    rendered = tiny_tokenizer.apply_chat_template(SYSTEM_USER, tokenize=False, add_generation_prompt=True)
    assert rendered == EXPECTED_PROMPT
    without_prompt = tiny_tokenizer.apply_chat_template(SYSTEM_USER, tokenize=False)
    assert without_prompt == EXPECTED_PROMPT.removesuffix("<|start_header_id|>assistant<|end_header_id|>\n\n")

    ids = special_token_ids(4096)
    encoded = tiny_tokenizer.apply_chat_template(SYSTEM_USER, add_generation_prompt=True, return_dict=True)
    input_ids = list(encoded["input_ids"])
    assert input_ids[0] == ids["<|begin_of_text|>"] and input_ids.count(ids["<|begin_of_text|>"]) == 1
    assert input_ids.count(ids["<|eot_id|>"]) == 2
    assert tiny_tokenizer.decode(input_ids) == EXPECTED_PROMPT


def test_every_tiny_id_decodes(tiny_tokenizer) -> None:
    for token_id in range(len(tiny_tokenizer)):
        text = tiny_tokenizer.decode([token_id])
        assert isinstance(text, str) and text, token_id
    assert all(tiny_tokenizer.batch_decode([[i] for i in range(4096)], skip_special_tokens=True)[:3840])


def test_tiny_tokenizer_round_trips_vietnamese(tiny_tokenizer) -> None:
    text = "Một cửa hàng bán được 125 quyển sách. Đáp án là: 42\n\nThe answer is 47."
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.decode(ids) == text
    assert len(ids) < len(text.encode("utf-8"))  # the BPE learned merges, not just bytes


def test_tiny_generates(tiny_model, tiny_tokenizer) -> None:
    import torch

    encoded = tiny_tokenizer.apply_chat_template(
        SYSTEM_USER, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    torch.manual_seed(0)
    with torch.no_grad():
        out = tiny_model.generate(**encoded, max_new_tokens=8, do_sample=True, min_new_tokens=8)
    new = out[0, encoded["input_ids"].shape[1] :]
    assert new.numel() == 8
    assert isinstance(tiny_tokenizer.decode(new), str)


def test_atomic_write_leaves_no_partial(tiny_dir: Path) -> None:
    assert tiny_dir.is_dir()
    assert not tiny_dir.with_name(tiny_dir.name + ".partial").exists()
    assert [p.name for p in tiny_dir.parent.iterdir()] == [tiny_dir.name]


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "broken"

    def fail_on_save(message: str) -> None:
        if message.startswith("saving"):
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        build_model("tiny", out, progress=fail_on_save)
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_is_replaced_and_existing_dir_refused(tmp_path: Path) -> None:
    out = tmp_path / "m"
    stale = tmp_path / "m.partial"
    stale.mkdir()
    (stale / "junk.bin").write_bytes(b"half a model")
    build_model("tiny", out, dtype="float32")
    assert not stale.exists() and not (out / "junk.bin").exists()
    assert json.loads((out / "config.json").read_text())["dtype"] == "float32"
    with pytest.raises(FileExistsError):
        build_model("tiny", out)


def test_same_seed_same_weights(tiny_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    again = build_model("tiny", tmp_path / "again", seed=0)
    other = build_model("tiny", tmp_path / "other", seed=1)
    first, second, third = (load_file(d / "model.safetensors") for d in (tiny_dir, again, other))
    assert first.keys() == second.keys()
    assert all(first[k].equal(second[k]) for k in first)
    assert not all(first[k].equal(third[k]) for k in first)
    assert (tiny_dir / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()


def test_rejects_unknown_architecture_and_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("7b", tmp_path / "x")
    with pytest.raises(ValueError, match="unknown dtype"):
        build_model("tiny", tmp_path / "x", dtype="int8")
    assert list(tmp_path.iterdir()) == []


def test_custom_corpus(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(1024, ["xin chào thế giới"] * 20)
    assert len(tokenizer) == 1024
    assert tokenizer.convert_ids_to_tokens(768) == "<|begin_of_text|>"
    assert len(tokenizer("xin chào thế giới", add_special_tokens=False)["input_ids"]) <= 4


def test_default_corpus_reads_the_bundled_sample_when_present(tmp_path: Path, monkeypatch) -> None:
    from workbench import paths

    sample = tmp_path / "vi_math_sample.jsonl"
    rows = [
        {
            "query_vi": "Câu hỏi một",
            "response_vi": "Lời giải một",
            "response_en": "Solution one",
            "x": "skip",
        },
        {"query_vi": "Câu hỏi hai", "response_vi": None},
    ]
    sample.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\nnot json\n")
    monkeypatch.setattr(paths, "bundled_sample", lambda: sample)
    corpus = modelbuild.default_corpus()
    assert corpus[-4:] == ["Câu hỏi một", "Lời giải một", "Solution one", "Câu hỏi hai"]

    monkeypatch.setattr(paths, "bundled_sample", lambda: tmp_path / "missing.jsonl")
    assert modelbuild.default_corpus() == modelbuild._builtin_corpus()
