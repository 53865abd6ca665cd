"""The export job: `python -m jobs.export RUN_DIR --format merged|gguf|adapter [--checkpoint N] [--out DIR]
[--force] [--quant f16,q8_0] [--push REPO]`.

Takes a run's LoRA adapter out of the workbench (`workbench.export` decides what and where):

* merged: the base model in float32 with the adapter merged in (PEFT `merge_and_unload`), saved as
  safetensors in the base's own dtype with the tokenizer, its chat template and the generation config;
* gguf: the same merged weights written as GGUF by llama.cpp's `gguf` package (F16 and/or Q8_0; Llama 3
  tokenizer, chat template and stop token in the metadata) and an Ollama Modelfile beside them;
* adapter: the adapter's own files and the tokenizer (no optimizer state).

Then it checks what it wrote before publishing it: the merged model is loaded back with transformers and its
logits compared with the base + adapter (they must agree within what the saved dtype allows) and with the
base alone (they must differ: the check proves the LoRA is in it); a GGUF file is read back (architecture,
tensor count and shapes, metadata), loaded by transformers' GGUF reader and compared the same way, and
where the llama.cpp runtime is installed (`llama-cpp-python`) it generates a few tokens. Everything is
written into a temporary directory that is renamed into place at the end (`workbench.export.publish`).

The job is one process on the job model (`workbench.jobdir`): it writes `<run>/exports/manifest.json`
and status.json (state, phase, percent done in `step` / `max_steps`, error), its output goes to
exports/export.log when started detached by `launch` (the TUI), and SIGTERM (`cancel`) stops it at the
next tensor or stage, leaving no partial export. `--push` uploads the result to the Hugging Face Hub with
the token from HF_TOKEN, checked for write access before anything is exported; the token is never
written, logged or put on a command line. Heavy imports live inside the functions.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from jobs.process import spawn_detached, stop_job
from workbench import export as wexport
from workbench import flags, presets
from workbench.config import load
from workbench.data import SYSTEM_PROMPT
from workbench.export import ExportError, human_bytes
from workbench.jobdir import LIVE_STATES, describe_process
from workbench.runs import ExportDir, ExportRecord, RunDir, write_export_record

PROBE_TOKENS = 48
"""Tokens of each probe prompt whose logits the checks compare."""
FALLBACK_QUESTION = "Một cửa hàng có 12 quả táo và bán 5 quả. Hỏi còn lại bao nhiêu quả táo?"
MERGED_TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 4e-2}
"""Largest logit difference between the saved merged model and base + adapter, relative to the largest
logit: float32 agrees to rounding; 16-bit weights carry 8 (bf16) or 11 (fp16) bits of mantissa."""
GGUF_TOLERANCE = {"f16": 1e-2, "q8_0": 5e-2}
"""The same for a GGUF file read back (F16 weights; Q8_0: 8-bit weights with a scale per 32)."""


def log(message: str) -> None:
    print(message, flush=True)


class Cancelled(Exception):
    """SIGTERM or Ctrl-C arrived: stop, keep nothing half written."""


class StopFlag:
    """SIGTERM/SIGINT set the flag; the job checks it between tensors and stages (`check`)."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        log(f"[export] {signal.Signals(signum).name} received: stopping, nothing half written is kept")

    def check(self) -> None:
        if self.requested:
            raise Cancelled


class Reporter:
    """Writes the job's status (state, phase, percent in step / max_steps) and a progress line per change:
    `[export] merged  saving     40% |########            |`."""

    def __init__(self, job: ExportDir, fmt: str, stop: StopFlag):
        self.job = job
        self.fmt = fmt
        self.stop = stop
        self.stage = ""
        self.percent = -1
        self.last_write = 0.0

    def at(self, stage: str, fraction: float = 0.0) -> None:
        """`stage` is `fraction` done (0..1); raises Cancelled when a stop was asked for."""
        self.stop.check()
        start = wexport.stage_start(self.fmt, stage)
        percent = min(100, int(start + wexport.stage_share(self.fmt, stage) * max(0.0, min(1.0, fraction))))
        now = time.monotonic()
        if stage == self.stage and (percent == self.percent or now - self.last_write < 0.25):
            return
        self.stage, self.percent, self.last_write = stage, percent, now
        self.job.write_status(
            state="running", phase=stage, step=percent, max_steps=100, heartbeat=time.time()
        )
        bar = "#" * (percent // 5)
        log(f"[export] {self.fmt:<7} {stage:<10} {percent:3d}% |{bar:<20}|")


# ------------------------------------------------------------------------------------ loading models


def _torch_setup() -> Any:
    import logging

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("gguf").setLevel(logging.ERROR)
    if not torch.cuda.is_available():
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    return torch


def load_base(model_path: str) -> tuple[Any, Any]:
    """(tokenizer, base model in float32 on CPU): merging in float32 loses nothing before the cast."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch = _torch_setup()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model.eval()
    return tokenizer, model


def probe_batch(tokenizer: Any, run: RunDir) -> list[Any]:
    """Token ids of two chat prompts as the run trained on them (its first held-out questions, else a
    fixed one), each cut to PROBE_TOKENS: what every check compares logits on."""
    import torch

    prompts: list[list[dict[str, str]]] = []
    try:
        prompts = [row["prompt"] for row in run.read_held_out(2) if isinstance(row.get("prompt"), list)]
    except (FileNotFoundError, ValueError):
        prompts = []
    if not prompts:
        prompts = [
            [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": FALLBACK_QUESTION}]
        ]
    batch = []
    for prompt in prompts:
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"][:, -PROBE_TOKENS:]
        batch.append(ids.to(torch.long))
    return batch


def logits_of(model: Any, batch: list[Any]) -> Any:
    """The float32 logits of every probe prompt, concatenated along the positions ([positions, vocab])."""
    import torch

    device = next(model.parameters()).device
    with torch.inference_mode():
        out = [model(input_ids=ids.to(device)).logits[0].float().cpu() for ids in batch]
    return torch.cat(out)


def compare(candidate: Any, reference: Any, base: Any, tolerance: float, what: str) -> dict[str, Any]:
    """Check `candidate` logits against base + adapter (`reference`) and the base alone (`base`).

    Passes when the largest difference from the reference is within `tolerance` x the largest reference
    logit, and the candidate is nearer to the reference than to the base (the adapter's effect survived).

    Raises:
        ExportError: either fails; the message gives the figures.
    """
    scale = float(reference.abs().max())
    to_reference = float((candidate - reference).abs().max())
    to_base = float((candidate - base).abs().max())
    adapter_effect = float((reference - base).abs().max())
    agree = float((candidate.argmax(-1) == reference.argmax(-1)).float().mean())
    result = {
        "max_abs_diff_vs_base_plus_adapter": to_reference,
        "max_abs_diff_vs_base": to_base,
        "adapter_effect": adapter_effect,
        "max_abs_logit": scale,
        "tolerance": tolerance * scale,
        "top1_agreement": agree,
        "positions": int(reference.shape[0]),
    }
    if not math.isfinite(to_reference) or to_reference > tolerance * scale:
        raise ExportError(
            f"{what}: its logits differ from base + adapter by up to {to_reference:.3g} (allowed "
            f"{tolerance * scale:.3g}), so it is not the trained model; the export was not kept"
        )
    if adapter_effect <= 1e-6 * scale:
        raise ExportError(
            f"{what}: LoRA's weights change no logit (by at most {adapter_effect:.3g}), so the export would "
            "be the base model itself. Training never moved them: every step it saw had learning rate 0 (in "
            "grpo.warmup_ratio) or zero reward variance in every group (see the run's health alerts); fix: "
            "export a later checkpoint, or train longer with rewards that tell the completions apart"
        )
    if not to_base > to_reference or to_base <= 1e-6 * scale:
        raise ExportError(
            f"{what}: its logits are no nearer to base + adapter ({to_reference:.3g}) than to the base alone "
            f"({to_base:.3g}; the adapter itself moves them by {adapter_effect:.3g}), so the LoRA is not in "
            "it (an adapter too small for the saved precision?); the export was not kept"
        )
    return result


# ------------------------------------------------------------------------------------------ formats


class Context:
    """What every format needs: the run, the adapter, the base, the probe logits, the progress."""

    def __init__(self, run: RunDir, adapter: Path, report: Reporter, model_path: str):
        from peft import PeftModel

        report.at("loading")
        self.run = run
        self.adapter = adapter
        self.report = report
        self.model_path = model_path
        self.tokenizer, base = load_base(model_path)
        report.at("loading", 0.6)
        self.peft: Any = PeftModel.from_pretrained(base, str(adapter))
        self.peft.eval()
        self.batch = probe_batch(self.tokenizer, run)
        self.reference = logits_of(self.peft, self.batch)
        with self.peft.disable_adapter():
            self.base_logits = logits_of(self.peft, self.batch)
        report.at("loading", 1.0)

    def merged(self) -> Any:
        """The base with the adapter merged in (float32), the PEFT wrapper gone."""
        self.report.at("merging")
        model = self.peft.merge_and_unload()
        model.eval()
        self.report.at("merging", 1.0)
        return model


def export_merged(ctx: Context, staging: Path, dtype: str) -> dict[str, Any]:
    """Save the merged model in `dtype` with its tokenizer and generation config, load it back, check it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = ctx.merged().to(getattr(torch, dtype))
    ctx.report.at("saving")
    model.save_pretrained(staging, safe_serialization=True)
    ctx.report.at("saving", 0.8)
    ctx.tokenizer.save_pretrained(staging)
    if not (staging / "generation_config.json").is_file() and model.generation_config is not None:
        model.generation_config.save_pretrained(staging)
    del model
    ctx.report.at("checking")
    loaded = AutoModelForCausalLM.from_pretrained(staging, dtype=getattr(torch, dtype)).float()
    loaded.eval()
    candidate = logits_of(loaded, ctx.batch)
    result = compare(candidate, ctx.reference, ctx.base_logits, MERGED_TOLERANCE[dtype], "the merged model")
    ctx.report.at("checking", 0.8)
    tokenizer = AutoTokenizer.from_pretrained(staging)
    probe = [{"role": "user", "content": "1 + 1 = ?"}]
    same = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    if not tokenizer.chat_template or same != ctx.tokenizer.apply_chat_template(
        probe, tokenize=False, add_generation_prompt=True
    ):
        raise ExportError("the saved tokenizer renders the chat template differently from the base's")
    if not (staging / "generation_config.json").is_file():
        raise ExportError("the merged model has no generation_config.json")
    result["loaded_with"] = "transformers AutoModelForCausalLM (safetensors), upcast to float32"
    return {"logits": result, "chat_template": True, "generation_config": True}


def export_adapter(ctx: Context, staging: Path) -> dict[str, Any]:
    """Copy the adapter's own files and the tokenizer, load them back onto the base, check the logits."""
    ctx.report.at("copying")
    copied = []
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "README.md"):
        if (ctx.adapter / name).is_file():
            shutil.copy2(ctx.adapter / name, staging / name)
            copied.append(name)
    ctx.tokenizer.save_pretrained(staging)
    ctx.report.at("checking")
    ctx.peft.load_adapter(str(staging), adapter_name="exported")
    ctx.peft.set_adapter("exported")
    candidate = logits_of(ctx.peft, ctx.batch)
    result = compare(candidate, ctx.reference, ctx.base_logits, MERGED_TOLERANCE["float32"], "the adapter")
    result["loaded_with"] = "PEFT load_adapter onto the float32 base"
    return {"logits": result, "files": copied}


# --------------------------------------------------------------------------------------------- GGUF


def gguf_module() -> Any:
    """llama.cpp's `gguf` package.

    Raises:
        ExportError: it is not installed; the message says which package to install.
    """
    try:
        import gguf
    except ImportError:
        raise ExportError(
            "GGUF export needs llama.cpp's Python package `gguf`, which is not installed; fix: "
            "pip install gguf (or pip install -e .), then run the export again"
        ) from None
    return gguf


def _permute(weights: Any, heads: int) -> Any:
    """llama.cpp's query/key row order: Hugging Face's rotary layout (halves) to GGML's (interleaved
    pairs), per head, as convert_hf_to_gguf.py permutes them."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def rope_factors(config: dict[str, Any], head_dim: int) -> list[float] | None:
    """Llama 3's RoPE frequency factors (`rope_freqs.weight` in GGUF), or None for plain RoPE: the formula
    of convert_hf_to_gguf.py's LlamaModel, from `rope_parameters` (transformers 5) or `rope_scaling`."""
    scaling = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if str(scaling.get("rope_type", scaling.get("type", ""))).lower() != "llama3":
        return None
    base = float(scaling.get("rope_theta") or config.get("rope_theta") or 10000.0)
    factor = float(scaling.get("factor", 8.0))
    low = float(scaling.get("low_freq_factor", 1.0))
    high = float(scaling.get("high_freq_factor", 4.0))
    old_context = float(scaling.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_context / low, old_context / high
    factors = []
    for i in range(0, head_dim, 2):
        freq = 1.0 / (base ** (i / head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return factors


def gguf_tensors(state: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, Any]]:
    """(GGUF name, float32 numpy array in Hugging Face's [out, in] layout) of every tensor, in file order:
    names from gguf's own Llama name map, q/k rows permuted, the LM head left out when it is tied to the
    embeddings (llama.cpp then uses token_embd), Llama 3's rope_freqs added."""
    import numpy as np

    gguf = gguf_module()
    layers = int(config["num_hidden_layers"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    tied = bool(config.get("tie_word_embeddings", False))
    out: list[tuple[str, Any]] = []
    factors = rope_factors(config, head_dim)
    if factors is not None:
        out.append(("rope_freqs.weight", np.asarray(factors, dtype=np.float32)))
    for key, tensor in state.items():
        if key == "lm_head.weight" and tied:
            continue
        if "rotary_emb" in key:
            continue
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ExportError(f"tensor {key} has no GGUF name for a Llama model; only Llama models export")
        array = tensor.detach().float().cpu().numpy()
        if key.endswith("q_proj.weight"):
            array = _permute(array, heads)
        elif key.endswith("k_proj.weight"):
            array = _permute(array, kv_heads)
        out.append((name, array))
    return out


def tensor_type(name: str, array: Any, quant: str) -> Any:
    """The GGML type a tensor is stored as: 1-D tensors (norms, rope factors) stay F32, as llama.cpp
    keeps them; matrices are F16 or Q8_0 (F16 when a row does not split into 32-weight blocks)."""
    gguf = gguf_module()
    types = gguf.GGMLQuantizationType
    if array.ndim == 1:
        return types.F32
    if quant == "q8_0" and array.shape[-1] % 32 == 0:
        return types.Q8_0
    return types.F16


def vocabulary(tokenizer: Any, vocab_size: int) -> tuple[list[str], list[int]]:
    """(tokens, token types) as llama.cpp's converter lists a byte-level BPE vocabulary: every id up to
    the model's vocab_size, special added tokens as CONTROL, other added ones USER_DEFINED, holes UNUSED."""
    gguf = gguf_module()
    kinds = gguf.TokenType
    reverse = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.get_added_vocab()
    decoder = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for index in range(vocab_size):
        token = reverse.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(int(kinds.UNUSED))
        elif token in added:
            tokens.append(token)
            special = index in decoder and decoder[index].special
            types.append(int(kinds.CONTROL if special else kinds.USER_DEFINED))
        else:
            tokens.append(token)
            types.append(int(kinds.NORMAL))
    return tokens, types


def write_gguf(
    path: Path,
    tensors: list[tuple[str, Any]],
    config: dict[str, Any],
    tokenizer: Any,
    tokenizer_dir: Path,
    quant: str,
    name: str,
    on_tensor: Callable[[int, int], None],
) -> dict[str, Any]:
    """Write one GGUF file: Llama hyper-parameters, the Llama 3 tokenizer (byte-level BPE, `llama-bpe`
    pre-tokenizer, merges), chat template and stop token, then the tensors one at a time (converted as
    they are written, so memory holds one converted tensor at a time).

    Returns:
        What was written: tensor count, types, the stop token id.
    """
    import numpy as np

    gguf = gguf_module()
    heads = int(config["num_attention_heads"])
    head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
    vocab_size = int(config["vocab_size"])
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_type("model")
    writer.add_name(name)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_context_length(int(config.get("max_position_embeddings", 8192)))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or heads))
    rope = config.get("rope_parameters") or {}
    writer.add_rope_freq_base(float(rope.get("rope_theta") or config.get("rope_theta") or 10000.0))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-5)))
    writer.add_vocab_size(vocab_size)
    writer.add_rope_dimension_count(head_dim)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    file_type = gguf.LlamaFileType.MOSTLY_Q8_0 if quant == "q8_0" else gguf.LlamaFileType.MOSTLY_F16
    writer.add_file_type(int(file_type))
    if quant == "q8_0":
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tokens, types = vocabulary(tokenizer, vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(tokenizer_dir, load_merges=True, n_vocab=vocab_size)
    special.chat_template = None  # written below, from the tokenizer the run trained with
    special.add_to_gguf(writer, quiet=True)
    if not special.merges:
        raise ExportError(
            "the tokenizer has no BPE merges; only a Llama 3 (byte-level BPE) tokenizer exports"
        )
    template = tokenizer.chat_template
    if not isinstance(template, str) or not template:
        raise ExportError("the tokenizer has no chat template; a GGUF without one cannot chat")
    writer.add_chat_template(template)
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    if not isinstance(eot, int) or eot < 0 or eot == tokenizer.unk_token_id:
        raise ExportError("the tokenizer has no <|eot_id|> token; only Llama 3 chat models export to GGUF")
    writer.add_eot_token_id(eot)
    # Llama 3 Instruct ends a turn with <|eot_id|>: that is the token generation must stop at.
    if special.special_token_ids.get("eos") != eot:
        writer.add_eos_token_id(eot)

    kinds: list[Any] = []
    for tensor_name, array in tensors:
        kind = tensor_type(tensor_name, array, quant)
        kinds.append(kind)
        if kind == gguf.GGMLQuantizationType.Q8_0:
            rows = int(np.prod(array.shape[:-1]))
            byte_shape = (*array.shape[:-1], array.shape[-1] // 32 * 34)
            writer.add_tensor_info(tensor_name, byte_shape, np.dtype(np.uint8), rows * byte_shape[-1], kind)
        else:
            dtype = np.dtype(np.float32 if kind == gguf.GGMLQuantizationType.F32 else np.float16)
            writer.add_tensor_info(tensor_name, array.shape, dtype, array.size * dtype.itemsize)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for index, ((_, array), kind) in enumerate(zip(tensors, kinds, strict=True)):
        data = gguf.quants.quantize(np.ascontiguousarray(array, dtype=np.float32), kind)
        writer.write_tensor_data(data)
        on_tensor(index + 1, len(tensors))
    writer.close()
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind.name] = counts.get(kind.name, 0) + 1
    return {"tensors": len(tensors), "types": counts, "eot_token_id": eot}


def read_back(path: Path, expected: list[tuple[str, Any]], quant: str, tokenizer: Any) -> dict[str, Any]:
    """Read a GGUF file back with gguf's reader and check architecture, tensor count, names, shapes,
    types, the chat template and the stop token.

    Raises:
        ExportError: anything differs from what was meant to be written.
    """
    gguf = gguf_module()
    reader = gguf.GGUFReader(path)

    def field(key: str) -> Any:
        item = reader.fields.get(key)
        return item.contents() if item is not None else None

    arch = field("general.architecture")
    if arch != "llama":
        raise ExportError(f"{path.name}: general.architecture is {arch!r}, not 'llama'")
    if len(reader.tensors) != len(expected):
        raise ExportError(f"{path.name}: {len(reader.tensors)} tensors read back, {len(expected)} written")
    for tensor, (name, array) in zip(reader.tensors, expected, strict=True):
        shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
        if tensor.name != name or shape != tuple(array.shape):
            raise ExportError(
                f"{path.name}: tensor {tensor.name} {shape} read back where {name} {array.shape} was written"
            )
        if tensor.tensor_type != tensor_type(name, array, quant):
            raise ExportError(f"{path.name}: tensor {name} is {tensor.tensor_type.name}")
    template = field("tokenizer.chat_template")
    if template != tokenizer.chat_template:
        raise ExportError(f"{path.name}: the chat template read back differs from the tokenizer's")
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    if field("tokenizer.ggml.eot_token_id") != eot or field("tokenizer.ggml.eos_token_id") != eot:
        raise ExportError(f"{path.name}: the stop token <|eot_id|> ({eot}) is not its eos/eot token")
    tokens = field("tokenizer.ggml.tokens")
    return {
        "architecture": arch,
        "tensors": len(reader.tensors),
        "shapes_checked": len(expected),
        "tokens": len(tokens) if tokens is not None else 0,
        "chat_template": True,
        "eos_token_id": eot,
        "file_type": field("general.file_type"),
    }


def transformers_check(ctx: Context, directory: Path, file_name: str, quant: str) -> dict[str, Any]:
    """Load the GGUF file with transformers' GGUF reader (which undoes llama.cpp's q/k permutation and
    dequantizes) into the base's architecture, compare its logits, and generate a few tokens."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(ctx.model_path)
    model: Any = AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=file_name, config=config, dtype=torch.float32
    )
    model.eval()
    candidate = logits_of(model, ctx.batch)
    result = compare(candidate, ctx.reference, ctx.base_logits, GGUF_TOLERANCE[quant], file_name)
    with torch.inference_mode():
        ids = ctx.batch[0]
        out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=ctx.tokenizer.eos_token_id)
    result["generated"] = ctx.tokenizer.decode(out[0, ids.shape[1] :])
    result["loaded_with"] = "transformers GGUF reader (gguf_file=), dequantized to float32"
    return result


def llama_cpp_check(path: Path, tokenizer: Any) -> dict[str, Any]:
    """Generate a few tokens with llama.cpp itself where its Python binding is installed."""
    try:
        from llama_cpp import Llama  # type: ignore[import-not-found]
    except ImportError:
        return {"ran": False, "why": "llama-cpp-python is not installed (pip install llama-cpp-python)"}
    llm = Llama(model_path=str(path), n_ctx=256, verbose=False)
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": FALLBACK_QUESTION}]
    reply = llm.create_chat_completion(messages=messages, max_tokens=8, temperature=0.0)
    text = reply["choices"][0]["message"]["content"]
    return {"ran": True, "generated": text, "tokens": reply["usage"]["completion_tokens"]}


def export_gguf(ctx: Context, staging: Path, quants: tuple[str, ...], label: str) -> dict[str, Any]:
    """Write one GGUF file per type and the Modelfile, and check each file."""
    config = wexport.base_config(Path(ctx.model_path)) if Path(ctx.model_path).is_dir() else {}
    if not config:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(ctx.model_path).to_dict()
    if config.get("model_type") != "llama":
        raise ExportError(f"GGUF export handles Llama models; this base is {config.get('model_type')!r}")
    merged = ctx.merged()
    tensors = gguf_tensors(merged.state_dict(), config)
    del merged
    tokenizer_dir = staging / ".tokenizer"
    ctx.tokenizer.save_pretrained(tokenizer_dir)
    written: dict[str, Any] = {}
    for n, quant in enumerate(quants):
        name = wexport.gguf_file_name(quant)

        def on_tensor(done: int, total: int, n: int = n) -> None:
            ctx.report.at("writing", (n + done / total) / len(quants))

        written[name] = write_gguf(
            staging / name, tensors, config, ctx.tokenizer, tokenizer_dir, quant, label, on_tensor
        )
    wexport.remove_tree(tokenizer_dir)
    first = wexport.gguf_file_name(quants[0])
    generation = _generation_defaults(ctx.model_path)
    (staging / "Modelfile").write_text(wexport.modelfile(first, SYSTEM_PROMPT, generation), encoding="utf-8")
    checks: dict[str, Any] = {}
    for n, quant in enumerate(quants):
        name = wexport.gguf_file_name(quant)
        ctx.report.at("checking", n / len(quants))
        check = {"read_back": read_back(staging / name, tensors, quant, ctx.tokenizer)}
        check["written"] = written[name]
        check["transformers"] = transformers_check(ctx, staging, name, quant)
        check["llama_cpp"] = llama_cpp_check(staging / name, ctx.tokenizer)
        checks[name] = check
    return checks


def _generation_defaults(model_path: str) -> wexport.Sampling:
    try:
        from transformers import GenerationConfig

        config = GenerationConfig.from_pretrained(model_path)
    except (OSError, ValueError):
        return wexport.Sampling()
    return wexport.Sampling(temperature=config.temperature, top_p=config.top_p)


# ------------------------------------------------------------------------------------------- the hub


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def check_push(repo: str, token: str | None) -> Any:
    """Before any work: a token is there, the hub answers, and the token may write to `repo`'s namespace.

    Returns:
        An `HfApi` holding the token (never printed).

    Raises:
        ExportError: no token, the hub cannot be reached, the token is read-only or cannot write there.
    """
    if not token:
        raise ExportError(
            "--push needs a Hugging Face token with write access in HF_TOKEN; fix: create one at "
            "huggingface.co/settings/tokens and `export HF_TOKEN=...` (it is read from the environment only)"
        )
    from huggingface_hub import HfApi, is_offline_mode

    api = HfApi(token=token)
    try:
        info = api.whoami()
    except Exception as exc:  # offline mode, DNS, TLS, 401: all mean the same to the user here
        kind = type(exc).__name__
        detail = _scrub(str(exc).splitlines()[0] if str(exc) else "", token)
        why = "HF_HUB_OFFLINE is set" if is_offline_mode() else f"{kind}: {detail}"
        raise ExportError(
            f"cannot check the token's write access on the hub ({why}); fix: check the network and "
            "HF_TOKEN, or export without --push and upload later"
        ) from None
    namespace = repo.split("/", 1)[0]
    access = info.get("auth", {}).get("accessToken", {}) if isinstance(info, dict) else {}
    role = access.get("role")
    user = info.get("name", "") if isinstance(info, dict) else ""
    orgs = [o.get("name") for o in info.get("orgs", [])] if isinstance(info, dict) else []
    if role == "read":
        raise ExportError("the HF_TOKEN token is read-only; fix: use a token with write access")
    if namespace not in (user, *orgs):
        raise ExportError(
            f"the token belongs to {user!r}, which cannot write to {namespace!r}; fix: push to {user}/NAME "
            "or use a token of that organisation"
        )
    if role == "fineGrained":
        scoped = access.get("fineGrained", {}).get("scoped", [])
        allowed = any(
            s.get("entity", {}).get("name") == namespace and "repo.write" in s.get("permissions", [])
            for s in scoped
        )
        if not allowed:
            raise ExportError(
                f"the fine-grained HF_TOKEN token has no repo.write permission on {namespace!r}; fix: grant "
                "it in the token's settings"
            )
    return api


def push(api: Any, repo: str, directory: Path, token: str | None) -> str:
    """Upload `directory` to the model repository `repo` (created private when missing)."""
    try:
        api.create_repo(repo, repo_type="model", private=True, exist_ok=True)
        api.upload_folder(repo_id=repo, folder_path=str(directory), repo_type="model")
    except Exception as exc:
        raise ExportError(f"upload to {repo} failed: {_scrub(str(exc), token)}") from None
    return repo


# ------------------------------------------------------------------------------------------ the job


@contextlib.contextmanager
def _lock(job: ExportDir) -> Iterator[None]:
    """One export of a run at a time: the is-one-live check and the claim are one step."""
    job.ensure()
    with (job.path / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def busy(job: ExportDir, me: int | None = None) -> int | None:
    """The pid of a live export of this run other than `me`, or None.

    A `pending` status the launcher wrote for a process not started yet counts as live (its pid is in
    the status); so does a running one whose manifest process is alive.
    """
    view = job.resolve()
    if view.state not in LIVE_STATES:
        return None
    pid = view.manifest.pid if view.alive else view.status.pid
    if pid is None or pid == me:
        return None
    return pid


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Export a run's model: merged, GGUF or the adapter.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--format", choices=wexport.FORMATS, required=True)
    parser.add_argument("--checkpoint", type=flags.CHECKPOINT, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--quant", default=None, help="gguf: comma list of f16, q8_0 (default both)")
    parser.add_argument("--push", default=None, metavar="REPO")
    return parser


def job_command(
    run: RunDir,
    fmt: str,
    *,
    checkpoint: int | None = None,
    out: Path | None = None,
    force: bool = False,
    quant: str | None = None,
    push_to: str | None = None,
) -> list[str]:
    """The `python -m jobs.export ...` command line (no secret on it: the token stays in the env)."""
    command = [sys.executable, "-m", "jobs.export", str(run.path), "--format", fmt]
    for flag, value in (
        ("--checkpoint", checkpoint),
        ("--out", out),
        ("--quant", quant),
        ("--push", push_to),
    ):
        if value is not None:
            command += [flag, str(value)]
    if force:
        command.append("--force")
    return command


class ExportBusy(RuntimeError):
    """An export of this run is already running."""


def launch(
    run: RunDir,
    fmt: str,
    *,
    checkpoint: int | None = None,
    out: Path | None = None,
    force: bool = False,
    quant: str | None = None,
    push_to: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start an export of `run` as a detached job (for the TUI) and return at once.

    The quick refusals (no such checkpoint, the target exists without `force`, a bad type, no room) come
    here, before a process starts; the job repeats them. Its status is `pending` with its pid before this
    returns, so a watcher sees it and a second launch is refused.

    Raises:
        ExportError: the export cannot be done as asked (the message says the fix).
        ExportBusy: an export of this run is already running.
    """
    target = plan_target(run, fmt, checkpoint, out, force, quant)
    if push_to is not None:
        wexport.check_hub_repo(push_to)
    job = run.exports
    with _lock(job):
        pid = busy(job)
        if pid is not None:
            raise ExportBusy(
                f"an export of {run.run_id} is already running (pid {pid}); wait for it or cancel it"
            )
        command = job_command(
            run, fmt, checkpoint=checkpoint, out=out, force=force, quant=quant, push_to=push_to
        )
        process = spawn_detached(command, job.log, run.path)
        job.write_status(
            state="pending", pid=process.pid, phase=f"{fmt} -> {target}", step=0, max_steps=100,
            error=None, exit_code=None, finished_at=None, heartbeat=time.time(),
        )  # fmt: skip
    return process


def cancel(run: RunDir) -> str:
    """Ask the export of `run` to stop (SIGTERM to its process group); it removes what it had written.

    Returns:
        `stopping`, or the recorded state when no export was running.
    """
    return stop_job(run.exports, wait=0)


def plan_target(
    run: RunDir, fmt: str, checkpoint: int | None, out: Path | None, force: bool, quant: str | None
) -> Path:
    """The quick checks every export passes before it loads a model: the adapter, the target, the types.

    Raises:
        ExportError: see `workbench.export`.
    """
    if fmt not in wexport.FORMATS:
        raise ExportError(f"unknown format {fmt!r}; fix: use one of {', '.join(wexport.FORMATS)}")
    _, step = wexport.source_adapter(run, checkpoint)
    if fmt == "gguf":
        wexport.parse_quants(quant)
        gguf_module()
    target = (out or wexport.default_output(run, fmt, step)).expanduser().resolve()
    wexport.check_target(target, force)
    return target


def run_export(args: argparse.Namespace, run: RunDir, report: Reporter, stop: StopFlag) -> int:
    fmt = args.format
    started = time.monotonic()
    config = load(run.config)
    adapter, step = wexport.source_adapter(run, args.checkpoint)
    quants = wexport.parse_quants(args.quant) if fmt == "gguf" else ()
    if fmt == "gguf":
        gguf_module()
    out = (args.out or wexport.default_output(run, fmt, step)).expanduser().resolve()
    wexport.check_target(out, args.force)
    token = wexport.hub_token()
    api = None
    if args.push:
        repo = wexport.check_hub_repo(args.push)
        log(f"[export] checking write access to {repo} on the hub")
        api = check_push(repo, token)
    if presets.resolve_model_path(config.model.name).startswith("/"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_path = presets.ensure_model(config.model.name)
    base = wexport.base_config(Path(model_path)) if Path(model_path).is_dir() else {}
    if not base:
        from transformers import AutoConfig

        base = AutoConfig.from_pretrained(model_path).to_dict()
    local = Path(model_path) if Path(model_path).is_dir() else None
    estimate = wexport.estimate_bytes(fmt, base, adapter, quants, local)
    out.parent.mkdir(parents=True, exist_ok=True)
    free = wexport.check_disk(out, estimate)
    where = f"checkpoint-{step}" if step is not None else "the final adapter"
    log(f"[export] {fmt} of {run.run_id} ({where}) -> {out}")
    log(f"[export] about {human_bytes(estimate)} to write, {human_bytes(free)} free there")
    for stale in wexport.stale_staging(out):
        log(f"[export] removing {stale.name}, left by an export that did not finish")
        wexport.remove_tree(stale)
    staging = wexport.staging_dir(out)
    wexport.remove_tree(staging)
    staging.mkdir(mode=0o755)
    try:
        ctx = Context(run, adapter, report, model_path)
        dtype = wexport.saved_dtype(base)
        if fmt == "merged":
            verification = export_merged(ctx, staging, dtype)
        elif fmt == "adapter":
            verification = export_adapter(ctx, staging)
        else:
            verification = export_gguf(ctx, staging, quants, f"{run.run_id}-{where}")
        report.at("publishing")
        files = wexport.directory_files(staging)
        record = ExportRecord(
            format=fmt,
            run_id=run.run_id,
            source=str(adapter),
            checkpoint=step,
            base_model=config.model.name,
            dtype=dtype if fmt == "merged" else "",
            quants=quants,
            files=dict(files),
            bytes=sum(files.values()),
            estimate_bytes=estimate,
            elapsed_s=round(time.monotonic() - started, 2),
            verification=verification,
            created_at=time.time(),
        )
        write_export_record(staging, record)
        stop.check()
        wexport.publish(staging, out, args.force)
    finally:
        wexport.remove_tree(staging)
    log(f"[export] wrote {human_bytes(record.bytes)} in {record.elapsed_s:.1f}s: {out}")
    for name, size in record.files.items():
        log(f"[export]   {name}  {human_bytes(size)}")
    log("[export] checked: " + summary(fmt, verification))
    if api is not None:
        log(f"[export] uploading to {args.push}")
        pushed = push(api, args.push, out, token)
        write_export_record(out, record.replace(pushed_to=pushed))
        log(f"[export] uploaded: https://huggingface.co/{pushed}")
    if fmt == "gguf":
        log(f"[export] Ollama: cd {out} && ollama create NAME -f Modelfile")
    elif fmt == "merged":
        log(f"[export] serve it: grpo-workbench serve --model {out}")
    return 0


def summary(fmt: str, verification: dict[str, Any]) -> str:
    """One line of what the check measured."""
    if fmt in ("merged", "adapter"):
        v = verification["logits"]
        return (
            f"logits within {v['max_abs_diff_vs_base_plus_adapter']:.3g} of base + adapter (allowed "
            f"{v['tolerance']:.3g}), {v['max_abs_diff_vs_base']:.3g} from the base alone"
        )
    parts = []
    for name, check in verification.items():
        t = check["transformers"]
        cpp = "llama.cpp generated" if check["llama_cpp"].get("ran") else "llama.cpp not installed"
        parts.append(
            f"{name}: {check['read_back']['tensors']} tensors read back, logits within "
            f"{t['max_abs_diff_vs_base_plus_adapter']:.3g} of base + adapter ({t['tolerance']:.3g} allowed), "
            f"{cpp}"
        )
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = RunDir(args.run_dir.resolve())
    job = run.exports
    stop = StopFlag()
    stop.install()
    with _lock(job):
        other = busy(job, me=os.getpid())
        if other is not None:
            print(f"error: an export of {run.run_id} is already running (pid {other})", file=sys.stderr)
            return 2
        previous = job.read_manifest()
        job.write_manifest(describe_process(sys.argv, os.getpid(), previous.attempt + 1, None))
        job.write_status(
            state="starting", pid=os.getpid(), phase="starting", step=0, max_steps=100, error=None,
            exit_code=None, finished_at=None, heartbeat=time.time(),
        )  # fmt: skip
    report = Reporter(job, args.format, stop)
    state, error, code = "completed", None, 0
    try:
        code = run_export(args, run, report, stop)
    except Cancelled:
        state, error, code = "stopped", "cancelled; nothing was kept", 130
    except ExportError as exc:
        state, error, code = "failed", str(exc), 2
        print(f"error: {exc}", file=sys.stderr, flush=True)
    except OSError as exc:
        state, error, code = "failed", f"could not write the export: {exc.strerror or exc}", 1
        print(f"error: {error}; nothing was kept", file=sys.stderr, flush=True)
    except Exception as exc:
        if "(os error" in str(exc):  # an I/O error from Rust (safetensors): disk full, file too large
            error = f"could not write the export: {exc}"
        else:
            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc}"
        state, code = "failed", 1
        print(f"error: {error}; nothing was kept", file=sys.stderr, flush=True)
    with contextlib.suppress(OSError):
        job.write_status(
            state=state, error=error, exit_code=code, finished_at=time.time(), heartbeat=time.time(),
            step=100 if state == "completed" else report.percent if report.percent >= 0 else 0,
            phase="done" if state == "completed" else state,
        )  # fmt: skip
    return code


if __name__ == "__main__":
    sys.exit(main())
