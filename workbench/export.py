"""Exports: taking a run's model out of the workbench, as a merged model, GGUF files or the adapter.

Pure decisions and file moves (no torch; the job `jobs/export.py` does the heavy work): which adapter a run
exports, where the output goes, how large it will be and whether the disk has room, and the atomic
publication of the finished directory. Every export is written into a temporary directory beside its
target (`.<name>.partial-<pid>`) and renamed into place only after it was checked, so a failure, a
cancel or a full disk leaves either the old export or nothing, never half of one; an existing export is
replaced only when asked (`--force`), and then only at the very end, after the new one passed its check.

Formats:

| format | files | loads in |
| --- | --- | --- |
| merged | model*.safetensors, config.json, generation_config.json, tokenizer | transformers, vLLM, serve |
| gguf | model-<type>.gguf (f16, q8_0), Modelfile | llama.cpp, `ollama create NAME -f Modelfile` |
| adapter | adapter_config.json, adapter_model.safetensors, tokenizer | PEFT, vLLM `--lora-modules` |

Each output directory also holds export.json (`workbench.runs.ExportRecord`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.jobdir import process_matches
from workbench.runs import RunDir, checkpoints, read_export_record

FORMATS = ("merged", "gguf", "adapter")
GGUF_TYPES = ("f16", "q8_0")
"""The GGUF tensor types written (`--quant`); llama.cpp's names, lower case."""
DEFAULT_GGUF_TYPES = ("q8_0", "f16")
"""Both by default: Q8_0 is what the Modelfile loads (half the size, indistinguishable in use); F16 is
the lossless one to quantize further with llama.cpp's own tools."""
GGUF_PACKAGE = "gguf"
"""The package that writes GGUF: llama.cpp's own Python library (`pip install gguf`)."""
DISK_MARGIN = 1.10
"""Free space wanted over the estimate (file-system overhead, the estimate's error)."""
DISK_RESERVE = 256 * 2**20
"""Bytes left free beyond the export itself (logs, status files, other jobs)."""
HUB_TOKEN_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
"""Where `--push` reads the Hugging Face token from (never from argv, never written anywhere)."""
_HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
STAGES: dict[str, tuple[tuple[str, int], ...]] = {
    "merged": (("loading", 20), ("merging", 15), ("saving", 25), ("checking", 35), ("publishing", 5)),
    "gguf": (("loading", 15), ("merging", 10), ("writing", 35), ("checking", 35), ("publishing", 5)),
    "adapter": (("loading", 30), ("copying", 20), ("checking", 45), ("publishing", 5)),
}
"""Each format's stages and their share of the progress bar (percent; each sums to 100)."""


class ExportError(ValueError):
    """An export that cannot be done as asked; the message names the cause and the fix."""


def stage_start(fmt: str, stage: str) -> int:
    """Percent done when `stage` of a `fmt` export begins."""
    done = 0
    for name, share in STAGES[fmt]:
        if name == stage:
            return done
        done += share
    raise KeyError(f"{fmt} exports have no stage {stage!r}")


def stage_share(fmt: str, stage: str) -> int:
    """The percent of the bar `stage` of a `fmt` export takes."""
    return dict(STAGES[fmt])[stage]


# ------------------------------------------------------------------------------------- what and where


def source_adapter(run: RunDir, checkpoint: int | None = None) -> tuple[Path, int | None]:
    """The adapter an export of `run` takes: checkpoint-`checkpoint`, else the final adapter/, else the
    newest complete checkpoint.

    Returns:
        (the adapter directory, its checkpoint step or None for the final adapter).

    Raises:
        ExportError: the checkpoint is missing or half written, or the run has no adapter yet (the
            message lists the checkpoints it has).
    """
    complete = {step: path for step, path, ok in checkpoints(run) if ok}
    if checkpoint is not None:
        if checkpoint not in complete:
            have = ", ".join(str(s) for s in complete) or "none"
            raise ExportError(
                f"run {run.run_id} has no complete checkpoint-{checkpoint} (complete ones: {have}); "
                "fix: pick one of those, or leave --checkpoint out for the final adapter"
            )
        return complete[checkpoint], checkpoint
    if (run.adapter / "adapter_config.json").is_file():
        return run.adapter, None
    if complete:
        step = max(complete)
        return complete[step], step
    raise ExportError(
        f"run {run.run_id} has no adapter or complete checkpoint yet; fix: train or resume it past "
        "grpo.save_steps"
    )


def default_output(run: RunDir, fmt: str, checkpoint: int | None) -> Path:
    """`<run>/exports/<fmt>[-checkpoint-N]`."""
    return run.exports.output(fmt, checkpoint)


def parse_quants(text: str | None) -> tuple[str, ...]:
    """`f16,q8_0` -> ("f16", "q8_0"); None or empty: the default types.

    Raises:
        ExportError: a type this exporter does not write.
    """
    if not text or not text.strip():
        return DEFAULT_GGUF_TYPES
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [q for q in chosen if q not in GGUF_TYPES]
    if unknown or not chosen:
        raise ExportError(f"--quant {text!r}: unknown type {unknown}; fix: use {', '.join(GGUF_TYPES)}")
    return chosen


def check_hub_repo(repo: str) -> str:
    """A hub repository id (`user/name`), stripped.

    Raises:
        ExportError: not of the form `namespace/name`.
    """
    repo = repo.strip()
    if not _HUB_REPO.match(repo):
        raise ExportError(
            f"--push {repo!r} is not a hub repository id; fix: give namespace/name, e.g. you/my-model"
        )
    return repo


def hub_token(environ: dict[str, str] | None = None) -> str | None:
    """The Hugging Face token from the environment (HF_TOKEN, then HUGGING_FACE_HUB_TOKEN), or None."""
    env = os.environ if environ is None else environ
    for name in HUB_TOKEN_ENV:
        if env.get(name, "").strip():
            return env[name].strip()
    return None


# --------------------------------------------------------------------------------------- size and disk


def base_config(base_dir: Path) -> dict[str, Any]:
    """The base model's config.json (empty when it cannot be read)."""
    try:
        data = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def saved_dtype(config: dict[str, Any]) -> str:
    """The dtype a merged model is saved in: the base's own (`dtype`, or the older `torch_dtype`)."""
    value = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    return value if value in _DTYPE_BYTES else "float32"


def parameter_count(config: dict[str, Any]) -> int | None:
    """The base model's parameters from its config.json (Llama shape), or None when it is not one."""
    from workbench.modelbuild import ModelShape

    try:
        return ModelShape.from_hf_config(config).parameter_count()
    except ValueError:
        return None


def tokenizer_bytes(base_dir: Path | None) -> int:
    """The size of the base's tokenizer files (what every export copies), or 20 MiB when they cannot be
    measured (a hub model: Llama 3's tokenizer.json is 9 MiB)."""
    if base_dir is None or not base_dir.is_dir():
        return 20 * 2**20
    names = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")
    return sum((base_dir / n).stat().st_size for n in names if (base_dir / n).is_file()) + 64 * 2**10


def estimate_bytes(
    fmt: str,
    config: dict[str, Any],
    adapter: Path,
    quants: tuple[str, ...] = (),
    base_dir: Path | None = None,
) -> int:
    """The bytes an export will write, from the base's config.json and the adapter's files.

    merged: every parameter in the saved dtype; gguf: 2 bytes a weight for f16, 34 bytes per 32 weights
    for q8_0 (a 16-bit scale per block); adapter: the adapter's own files. The tokenizer files
    (`tokenizer_bytes` of `base_dir`) are added to each.

    Raises:
        ExportError: the base model's config.json cannot be read as a Llama model (merged and gguf).
    """
    tokenizer = tokenizer_bytes(base_dir)
    if fmt == "adapter":
        return tokenizer + sum(p.stat().st_size for p in adapter.iterdir() if p.name.startswith("adapter_"))
    params = parameter_count(config)
    if params is None:
        raise ExportError(
            "the base model's config.json could not be read as a Llama model, so the export's size is "
            "unknown; fix: make sure the run's model.name points at a Llama-architecture model"
        )
    if fmt == "merged":
        return tokenizer + params * _DTYPE_BYTES[saved_dtype(config)]
    per_weight = {"f16": 2.0, "q8_0": 34 / 32}
    return tokenizer + int(sum(params * per_weight[q] for q in quants))


def check_disk(target: Path, needed: int) -> int:
    """Refuse an export the disk holding `target` has no room for.

    Returns:
        The free bytes found.

    Raises:
        ExportError: less than `needed` x DISK_MARGIN + DISK_RESERVE bytes are free; the message gives
            both figures, the mount and the fix.
    """
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    wanted = int(needed * DISK_MARGIN) + DISK_RESERVE
    if free < wanted:
        raise ExportError(
            f"the export needs about {human_bytes(wanted)} and only {human_bytes(free)} is free under "
            f"{probe}; fix: free space there or write elsewhere with --out DIR"
        )
    return free


def human_bytes(count: float) -> str:
    """`1.5 GiB`, `312.0 MiB`, `12.0 KiB`, `800 B`."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


# ------------------------------------------------------------------------------------ atomic publication


def check_target(out: Path, force: bool) -> None:
    """Refuse to overwrite an existing output unless `force`.

    Raises:
        ExportError: `out` exists (and `force` is off), or is a file.
    """
    if out.is_file() or out.is_symlink():
        raise ExportError(f"{out} exists and is not a directory; fix: choose another --out")
    if out.exists() and not force:
        record = read_export_record(out)
        what = f"a {record.format} export" if record else "a directory"
        raise ExportError(
            f"{out} already holds {what}; fix: pass --force to replace it (the old one stays until the "
            "new one is complete), or choose another --out"
        )


def staging_dir(out: Path, pid: int | None = None) -> Path:
    """The temporary directory an export of `out` is written into: `.<name>.partial-<pid>` beside it,
    on the same file system, so the final rename is atomic."""
    return out.parent / f".{out.name}.partial-{pid if pid is not None else os.getpid()}"


def stale_staging(out: Path) -> list[Path]:
    """Temporary directories of earlier exports of `out` whose process is gone (a SIGKILL, a power cut):
    they hold half an export, never a usable one."""
    found = []
    try:
        candidates = list(out.parent.glob(f".{out.name}.partial-*"))
    except OSError:
        return []
    for path in candidates:
        pid_text = path.name.rsplit("-", 1)[-1]
        pid = int(pid_text) if pid_text.isdigit() else None
        alive = pid is not None and _pid_alive(pid)
        if not alive:
            found.append(path)
    return found


def _pid_alive(pid: int) -> bool:
    from workbench.jobdir import process_start_time

    return process_matches(pid, process_start_time(pid))


def remove_tree(path: Path) -> None:
    """Delete a directory tree, ignoring what is already gone."""
    shutil.rmtree(path, ignore_errors=True)


def publish(staging: Path, out: Path, force: bool) -> None:
    """Move a finished, checked export into place.

    Without `force` the rename fails if `out` appeared meanwhile (the old export is never touched).
    With `force` the old export is first renamed aside (`.<name>.old-<pid>`), the new one renamed in, and
    only then the old one deleted: at every moment `out` is either the old export or the new one.

    Raises:
        ExportError: `out` exists and `force` is off.
        OSError: a rename failed (the staging directory is left for the caller to remove).
    """
    if out.exists() and not force:
        check_target(out, force)
    aside: Path | None = None
    if out.exists():
        aside = out.parent / f".{out.name}.old-{os.getpid()}"
        remove_tree(aside)
        os.rename(out, aside)
    try:
        os.rename(staging, out)
    except OSError:
        if aside is not None:
            os.rename(aside, out)
        raise
    if aside is not None:
        remove_tree(aside)


def directory_files(directory: Path) -> dict[str, int]:
    """Name -> bytes of every file in `directory` (one level; sorted by name)."""
    return {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file()}


# ------------------------------------------------------------------------------------------ Ollama

LLAMA3_OLLAMA_TEMPLATE = (
    "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n"
    "{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n"
    "{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{{ .Response }}<|eot_id|>"
)
"""Ollama's Llama 3 prompt template (Go template syntax): the chat format the model was trained on."""
LLAMA3_STOPS = ("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>")


@dataclass(frozen=True)
class Sampling:
    """The decoding defaults an export carries (from the base's generation_config.json)."""

    temperature: float | None = None
    top_p: float | None = None


def modelfile(gguf_name: str, system_prompt: str, sampling: Sampling | None = None) -> str:
    """An Ollama Modelfile for `gguf_name` (beside it): the Llama 3 template, its stop tokens, the system
    prompt the run trained with (the model answers in <thinking>/<SOLUTION> only under it) and the
    base model's sampling defaults. `ollama create NAME -f Modelfile` in that directory imports it."""
    lines = [
        f"# written by grpo-workbench export on {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"FROM ./{gguf_name}",
        f'TEMPLATE """{LLAMA3_OLLAMA_TEMPLATE}"""',
    ]
    lines += [f'PARAMETER stop "{stop}"' for stop in LLAMA3_STOPS]
    if sampling and sampling.temperature is not None:
        lines.append(f"PARAMETER temperature {sampling.temperature:g}")
    if sampling and sampling.top_p is not None:
        lines.append(f"PARAMETER top_p {sampling.top_p:g}")
    lines.append(f'SYSTEM """{system_prompt}"""')
    return "\n".join(lines) + "\n"


def gguf_file_name(quant: str) -> str:
    """`model-q8_0.gguf`."""
    return f"model-{quant}.gguf"
