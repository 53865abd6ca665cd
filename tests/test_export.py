"""`grpo-workbench export` end to end on CPU, on a real tiny run trained for two steps at a learning rate
large enough that its adapter visibly moves the logits.

Checked: the merged model (loaded here, independently of the job's own check) reproduces base + adapter
and differs from the base, with its tokenizer, chat template and generation config, and the fallback
server serves it (`serve --model DIR`); the GGUF files read back (architecture, tensor count and shapes,
chat template, stop token) and the Modelfile points at one; an existing export is never overwritten
without --force (byte for byte) and --force replaces it whole; a write that runs out of file-size room
(RLIMIT_FSIZE in the job's process) leaves no half export and the old one intact; an adapter that changes
nothing is refused; a background export (the TUI's path) is refused twice and cancels to nothing; --push
fails cleanly without a token or a hub, and never shows the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAST, install_tiny_preset

from jobs import export as jexport
from workbench import export as wexport
from workbench.runs import RunDir, read_export_record

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, timeout: float = 300, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grpo_workbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=popen.pop("env", os.environ.copy()),
        **popen,
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def in_process(*argv: str) -> int:
    """`python -m jobs.export ARGV` in this process (torch is imported once for the module), with the
    signal handlers it installs put back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return jexport.main(list(argv))
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def tree_digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def leftovers(out: Path) -> list[str]:
    """Temporary directories of exports of `out` still lying beside it."""
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, tiny_preset_dir: Path) -> Path:
    """A real tiny run: two GRPO steps at lr 0.01 (checkpoint-1 falls inside the warm-up, at lr 0, so its
    adapter is still exactly LoRA's zero start), checkpoints 1 and 2 and the final adapter."""
    home = tmp_path_factory.mktemp("export-train-home")
    install_tiny_preset(home, tiny_preset_dir)
    overrides = [*FAST, "grpo.max_steps=2", "grpo.save_steps=1", "grpo.learning_rate=0.01", "name=exported"]
    result = cli(
        "train", *(a for o in overrides for a in ("--set", o)),
        timeout=900, env=dict(os.environ, GRPO_WORKBENCH_HOME=str(home)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return home / "runs" / result.stdout.strip().splitlines()[0]


@pytest.fixture
def run(trained_run: Path, home_with_tiny: Path) -> RunDir:
    """A private copy of the trained run under this test's home."""
    target = home_with_tiny / "runs" / trained_run.name
    shutil.copytree(trained_run, target, ignore=shutil.ignore_patterns("exports"))
    return RunDir(target)


def model_logits(model: Any, tokenizer: Any) -> Any:
    import torch

    messages = [{"role": "user", "content": "Một lớp có 12 bạn, thêm 5 bạn. Hỏi có bao nhiêu bạn?"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return model(input_ids=ids).logits[0].float()


def test_merged_export_is_base_plus_adapter_and_not_the_base(run: RunDir) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench import presets

    started = time.monotonic()
    result = cli("export", run.run_id, "--format", "merged")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    out = run.exports.output("merged")
    assert "checked: logits within" in result.stdout
    assert {
        "model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
        "tokenizer_config.json", "chat_template.jinja", "export.json",
    } <= set(os.listdir(out))  # fmt: skip
    record = read_export_record(out)
    assert record is not None and record.format == "merged" and record.dtype == "float32"
    assert record.bytes == sum(record.files.values()) and record.bytes <= record.estimate_bytes
    print(f"\nmerged export of the tiny model: {record.bytes} bytes, {elapsed:.1f}s through the CLI")
    status = run.exports.read_status()
    assert status.state == "completed" and status.step == 100 and status.exit_code == 0
    assert leftovers(out) == []

    # Independently of the job's own check: the merged model is base + adapter, and is not the base.
    base_path = presets.resolve_model_path("tiny")
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    base_logits = model_logits(base, tokenizer)
    reference = model_logits(PeftModel.from_pretrained(base, str(run.adapter)), tokenizer)
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    merged_logits = model_logits(merged, AutoTokenizer.from_pretrained(out))
    scale = float(reference.abs().max())
    assert float((merged_logits - reference).abs().max()) <= 1e-4 * scale
    assert float((merged_logits - base_logits).abs().max()) > 0.05 * scale
    saved = AutoTokenizer.from_pretrained(out)
    messages = [{"role": "user", "content": "2 + 2 = ?"}]
    assert saved.apply_chat_template(messages, tokenize=False) == tokenizer.apply_chat_template(
        messages, tokenize=False
    )
    assert merged.generation_config.eos_token_id == base.generation_config.eos_token_id


def test_gguf_reads_back_with_template_stop_token_and_modelfile(run: RunDir) -> None:
    import gguf
    from transformers import AutoTokenizer

    from workbench import presets

    started = time.monotonic()
    assert in_process(str(run.path), "--format", "gguf") == 0
    elapsed = time.monotonic() - started
    out = run.exports.output("gguf")
    record = read_export_record(out)
    assert record is not None and record.quants == ("q8_0", "f16")
    print(
        f"\ngguf export of the tiny model in {elapsed:.1f}s (in process): "
        + ", ".join(f"{n} {b} bytes" for n, b in record.files.items())
    )
    tokenizer = AutoTokenizer.from_pretrained(presets.resolve_model_path("tiny"))
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    # tiny: 2 layers x 9 tensors, token_embd, output_norm; the LM head is tied (no output.weight)
    expected = {
        "token_embd.weight": (4096, 64),
        "blk.0.attn_q.weight": (64, 64),
        "blk.1.attn_k.weight": (32, 64),
    }
    for quant, kind in (("q8_0", gguf.GGMLQuantizationType.Q8_0), ("f16", gguf.GGMLQuantizationType.F16)):
        reader = gguf.GGUFReader(out / f"model-{quant}.gguf")
        assert reader.fields["general.architecture"].contents() == "llama"
        assert reader.fields["llama.block_count"].contents() == 2
        assert len(reader.tensors) == 20
        shapes = {t.name: tuple(int(d) for d in reversed(t.shape.tolist())) for t in reader.tensors}
        for name, shape in expected.items():
            assert shapes[name] == shape, name
        types = {t.name: t.tensor_type for t in reader.tensors}
        assert types["blk.0.ffn_down.weight"] == kind
        assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
        assert reader.fields["tokenizer.chat_template"].contents() == tokenizer.chat_template
        assert reader.fields["tokenizer.ggml.eos_token_id"].contents() == eot
        assert reader.fields["tokenizer.ggml.eot_token_id"].contents() == eot
        assert reader.fields["tokenizer.ggml.pre"].contents() == "llama-bpe"
        assert len(reader.fields["tokenizer.ggml.tokens"].contents()) == 4096
        assert len(reader.fields["tokenizer.ggml.merges"].contents()) > 0
        check = record.verification[f"model-{quant}.gguf"]
        assert check["read_back"]["tensors"] == 20
        assert (
            check["transformers"]["max_abs_diff_vs_base"]
            > check["transformers"]["max_abs_diff_vs_base_plus_adapter"]
        )
    modelfile = (out / "Modelfile").read_text(encoding="utf-8")
    assert "FROM ./model-q8_0.gguf" in modelfile and 'PARAMETER stop "<|eot_id|>"' in modelfile
    assert "<|start_header_id|>assistant<|end_header_id|>" in modelfile and "<SOLUTION>" in modelfile


def test_an_existing_export_is_never_overwritten_without_force(run: RunDir) -> None:
    out = run.exports.output("adapter")
    assert in_process(str(run.path), "--format", "adapter") == 0
    before = tree_digest(out)
    record = read_export_record(out)
    assert record is not None and "adapter_model.safetensors" in record.files

    # refused by the job, by the TUI's launcher, and by the CLI, before anything loads
    assert in_process(str(run.path), "--format", "adapter") == 2
    assert "already holds a adapter export" in (run.exports.read_status().error or "")
    with pytest.raises(wexport.ExportError, match="--force"):
        jexport.launch(run, "adapter")
    result = cli("export", run.run_id, "--format", "adapter")
    assert result.returncode == 2 and "--force" in result.stderr
    assert tree_digest(out) == before and leftovers(out) == []

    # --force replaces it whole, and only once the new one is complete
    assert in_process(str(run.path), "--format", "adapter", "--force") == 0
    replaced = read_export_record(out)
    assert replaced is not None and replaced.created_at != record.created_at
    assert leftovers(out) == []


def test_a_full_disk_leaves_no_half_export_and_the_old_one_whole(run: RunDir, tmp_path: Path) -> None:
    out = tmp_path / "merged"
    old = tmp_path / "old"
    old.mkdir()
    (old / "marker").write_text("the old export")
    limit = 1_000_000  # bytes: the tiny model's weights (1.5 MB) cannot be written

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = jexport.job_command(run, "merged", out=out)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, preexec_fn=limited, cwd=ROOT
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "File too large" in result.stderr and "nothing was kept" in result.stderr
    assert not out.exists() and leftovers(out) == []
    status = run.exports.read_status()
    assert status.state == "failed" and "File too large" in (status.error or "")

    # the same with an old export in place and --force: it stays exactly as it was
    shutil.copytree(old, out)
    before = tree_digest(out)
    command = jexport.job_command(run, "merged", out=out, force=True)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, preexec_fn=limited, cwd=ROOT
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert tree_digest(out) == before and leftovers(out) == []


def test_an_adapter_that_changes_nothing_is_refused(run: RunDir) -> None:
    assert in_process(str(run.path), "--format", "merged", "--checkpoint", "1") == 2
    error = run.exports.read_status().error or ""
    assert "change no logit" in error and "later checkpoint" in error and "train longer" in error
    assert not run.exports.output("merged", 1).exists() and leftovers(run.exports.output("merged", 1)) == []


def test_background_export_is_one_at_a_time_and_cancels_to_nothing(run: RunDir) -> None:
    process = jexport.launch(run, "gguf")
    try:
        assert run.exports.read_status().state == "pending"
        with pytest.raises(jexport.ExportBusy, match="already running"):
            jexport.launch(run, "merged")
        wait_for(lambda: run.exports.read_status().state == "running", 120, "the export to start")
        assert jexport.cancel(run) == "stopping"
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    view = run.exports.resolve()
    assert view.state == "stopped" and view.status.exit_code == 130
    out = run.exports.output("gguf")
    assert not out.exists() and leftovers(out) == []
    assert "[export]" in run.exports.log.read_text()


def test_push_fails_cleanly_without_a_token_or_a_hub_and_never_shows_the_token(
    run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    assert in_process(str(run.path), "--format", "adapter", "--push", "me/model") == 2
    assert "HF_TOKEN" in (run.exports.read_status().error or "")
    assert in_process(str(run.path), "--format", "adapter", "--push", "not a repo") == 2
    assert "namespace/name" in (run.exports.read_status().error or "")

    secret = "hf_" + "x" * 34
    env = dict(os.environ, HF_TOKEN=secret, HF_HUB_OFFLINE="1")
    result = cli("export", run.run_id, "--format", "adapter", "--push", "me/model", env=env)
    assert result.returncode == 2
    assert "cannot check the token's write access" in result.stderr and "HF_HUB_OFFLINE" in result.stderr
    assert not run.exports.output("adapter").exists()  # checked before anything was exported
    written = (
        result.stdout + result.stderr + run.exports.status.read_text() + run.exports.manifest.read_text()
    )
    assert secret not in written


@pytest.fixture
def served_merged(run: RunDir) -> Iterator[tuple[str, str]]:
    from jobs import serve as jserve

    assert in_process(str(run.path), "--format", "merged") == 0
    spec = jserve.plan_model(str(run.exports.output("merged")), [])
    assert spec.backend == "transformers" and spec.base_model == str(run.exports.output("merged"))
    serve, process = jserve.start(spec)
    try:
        status = jserve.wait_ready(serve, timeout=240)
        yield status.url or "", serve.read_key()
    finally:
        jserve.stop(serve, wait=30)
        process.wait(timeout=30)


def test_serve_loads_the_merged_model(served_merged: tuple[str, str]) -> None:
    from workbench.chat import (
        Endpoint,
        Sampling,
        StreamStats,
        list_models,
        make_client,
        messages_for,
        stream_chat,
    )

    url, key = served_merged

    async def ask() -> tuple[list[str], str, StreamStats]:
        client = make_client(Endpoint(url, key))
        stats = StreamStats()
        try:
            models = await list_models(client)
            text = "".join(
                [
                    p
                    async for p in stream_chat(
                        client, "base", messages_for("2 + 2 = ?"), Sampling(0.8, 0.95, 8), stats
                    )
                ]
            )
        finally:
            await client.close()
        return models, text, stats

    models, text, stats = asyncio.run(ask())
    assert models == ["base"] and text and stats.completion_tokens is not None


async def test_the_runs_screen_exports_with_a_progress_bar(run: RunDir) -> None:
    """x on the selected run opens the export dialog; Export starts the real job in the background; the
    line under the table follows it (stage, percent bar) to where it wrote; x during an export would
    offer to cancel it."""
    from textual.widgets import ProgressBar, Select, Static
    from tui_helpers import wait_until

    from screens.app import WorkbenchApp
    from screens.export import ExportDialog, ExportPanel

    app = WorkbenchApp(initial_mode="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: bool(app.runs), "the run in the list", 30)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportDialog), "the export dialog", 10)
        dialog = app.screen
        assert isinstance(dialog, ExportDialog) and dialog.steps == [1, 2]
        dialog.query_one("#export-format", Select).value = "adapter"
        await pilot.click("#export-yes")
        panel = app.screen.query_one(ExportPanel)
        bar = panel.query_one("#export-bar", ProgressBar)

        def done() -> bool:
            line = str(panel.query_one("#export-line", Static).render())
            return "completed" in line and "adapter → exports/adapter (" in line

        await wait_until(pilot, done, "the export to complete in the panel", 240)
        assert panel.display and bar.progress == 100 and not bar.display  # the line takes the width

        # the same export again, without "replace": refused, with the fix in the dialog's own words
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportDialog), "the export dialog again", 10)
        app.screen.query_one("#export-format", Select).value = "adapter"
        await pilot.click("#export-yes")

        def refused() -> list[str]:
            return [n.message for n in app._notifications if "already holds" in n.message]

        await wait_until(pilot, lambda: bool(refused()), "the refusal", 30)
        assert 'tick "replace an existing export"' in refused()[0] and "--force" not in refused()[0]
    assert read_export_record(run.exports.output("adapter")) is not None
