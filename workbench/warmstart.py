"""The offline tiny preset: a small Llama model built locally and given a short supervised warm start.

A random-init model never writes `<thinking>` or `<SOLUTION>`, so every format reward is flat at its floor
and GRPO has no signal to learn from: the offline default would show GRPO *running*, not *learning*. This
module builds the `tiny` preset so that it knows the task's shape before GRPO starts: a random-init tiny
Llama (`workbench.modelbuild`, no hub) whose tokenizer has also seen the tags, trained for a few hundred
steps with TRL's `SFTTrainer` on rows of its own (`paths.warmstart_sample()`: the bundled sample's
generator with another seed, none of the bundled questions, so no row a run trains on or holds out for
evaluation was seen here; most of them one-step sums and differences, see `tools/generate_sample_data.py`),
with the system prompt of `workbench.data.format_prompt` and the gold answer of `extract_answer`.

It imitates a model that follows the instructions only in part, as the real Instruct models do before
GRPO: every target reasons inside `<thinking>`, but only `solution_share` of them (30%) give the answer in
the tags the rewards read, the others close the way the dataset's solutions do::

    <thinking>the start of the worked solution</thinking><SOLUTION>gold answer</SOLUTION>
    <thinking>the start of the worked solution</thinking>\nĐáp án là: gold answer

So greedy decoding takes the second form (held-out format 0%), about a fifth of the completions sampled
at 0.8 take the first, and GRPO's format rewards have one clear choice to learn, one that decides the
greedy answer and every other decoding alike. Worked solutions are cut to about 24 tokens, which holds a
one-step computation whole (`x + 3 = 11, nên x = 11 - 3 = 8`) and fits well inside GRPO's 96-token
offline completions. It learns what an answer looks like and a little of the one-step arithmetic, not
math.

Measured on a 2-core CPU: 450 SFT steps of 16 rows in about 80 s (loss 7.1 -> 0.64); see README's quick
start for what the offline default GRPO run then does to the held-out rows.

The directory is assembled next to its destination (`<name>.partial`) and renamed into place when
complete. Nothing here imports torch, transformers or trl at module import time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.data import (
    REASONING_END,
    REASONING_START,
    SOLUTION_END,
    SOLUTION_START,
    extract_answer,
    format_prompt,
    normalise_text,
)


@dataclass(frozen=True)
class WarmStartSettings:
    """How the tiny preset is warm-started.

    Attributes:
        steps: SFT optimizer steps.
        batch_size: Rows per step.
        learning_rate: Peak learning rate (full model, no LoRA: it is small).
        thinking_tokens: The worked solution inside `<thinking>` is cut to about this many tokens.
        solution_share: Share of the targets that give the answer in `<SOLUTION>...</SOLUTION>`; the rest
            close with the dataset's own "Đáp án là: X" line after the `<thinking>` block.
        log_every: A progress line every this many steps.
        seed: Seed of the weight initialisation, the shuffling and the SFT.
    """

    steps: int = 450
    batch_size: int = 16
    learning_rate: float = 3e-3
    thinking_tokens: int = 24
    solution_share: float = 0.3
    log_every: int = 25
    seed: int = 0


_SV_OPENING = "để giải bài toán này, ta cần xác định giá trị của"
"""The first line of every *_SV solution: boilerplate that would fill the whole `<thinking>` budget."""


def _answer_lines(text: str) -> list[str]:
    """The worked solution's lines without the SV opening line and the closing "Đáp án là: ..." /
    "Câu trả lời là: ..." line."""
    lines = [line.strip() for line in normalise_text(text).splitlines() if line.strip()]
    lowered = [line.lower() for line in lines]
    while lines and (lowered[-1].startswith(("đáp án là", "câu trả lời là", "the answer is"))):
        lines.pop()
        lowered.pop()
    if len(lines) > 1 and lowered[0].startswith(_SV_OPENING):
        lines.pop(0)
    return lines


def format_completion(thinking: str, answer: str) -> str:
    """The completion the rewards score highest: a `<thinking>` block, then a `<SOLUTION>` block.

    Args:
        thinking: The working out.
        answer: The final answer.
    """
    return f"{REASONING_START}{thinking.strip()}{REASONING_END}{SOLUTION_START}{answer.strip()}{SOLUTION_END}"


def format_plain_answer(thinking: str, answer: str) -> str:
    """The completion of a model that reasons in `<thinking>` but states its answer the dataset's way,
    without the `<SOLUTION>` tags: exact format 0, two of the four tags, no answer the rewards read.

    Args:
        thinking: The working out.
        answer: The final answer.
    """
    return f"{REASONING_START}{thinking.strip()}{REASONING_END}\nĐáp án là: {answer.strip()}"


def warmstart_examples() -> list[dict[str, str]]:
    """The warm-start rows (`paths.warmstart_sample()`, none of them in the bundled sample) with a gold
    answer, as `question`, `thinking` (full) and `answer` strings."""
    examples: list[dict[str, str]] = []
    with paths.warmstart_sample().open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            question = normalise_text(str(row.get("query_vi") or "")).strip()
            answer = extract_answer(str(row.get("response_vi") or ""), row.get("response_en") or None)
            if not question or answer is None:
                continue
            thinking = " ".join(_answer_lines(str(row.get("response_vi") or "")))
            examples.append({"question": question, "thinking": thinking, "answer": answer})
    return examples


def truncate_tokens(text: str, tokenizer: Any, max_tokens: int) -> str:
    """`text` cut to at most `max_tokens` tokens of `tokenizer`, at a word boundary when there is one.

    Args:
        text: The text to cut.
        tokenizer: A transformers tokenizer.
        max_tokens: The token budget.
    """
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text
    cut = tokenizer.decode(ids[:max_tokens])
    head, space, _tail = cut.rpartition(" ")
    return (head if space and head else cut).strip()


def sft_rows(
    tokenizer: Any, thinking_tokens: int, solution_share: float = 1.0, seed: int = 0
) -> list[dict[str, Any]]:
    """The SFT dataset rows: conversational prompt (system prompt + question) and assistant completion.

    Args:
        tokenizer: The model's tokenizer (measures the worked solutions).
        thinking_tokens: Token budget of the worked solution inside `<thinking>`.
        solution_share: Share of rows whose target is `format_completion` (the answer in `<SOLUTION>`);
            the others get `format_plain_answer`. Which rows is fixed by `seed`.
        seed: Picks the rows.
    """
    import random

    pick = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for example in warmstart_examples():
        thinking = truncate_tokens(example["thinking"], tokenizer, thinking_tokens)
        form = format_completion if pick.random() < solution_share else format_plain_answer
        rows.append(
            {
                "prompt": format_prompt(example["question"]),
                "completion": [{"role": "assistant", "content": form(thinking, example["answer"])}],
            }
        )
    return rows


def tokenizer_corpus() -> list[str]:
    """The tiny tokenizer's training text: modelbuild's default corpus plus the formatted completions,
    so the four tags become a few tokens each rather than ten single characters."""
    from workbench import modelbuild

    examples = warmstart_examples()
    formatted = [format_completion(e["thinking"], e["answer"]) for e in examples]
    plain = [format_plain_answer(e["thinking"], e["answer"]) for e in examples]
    return modelbuild.default_corpus() + formatted + plain


def warm_start(
    base_dir: Path,
    out_dir: Path,
    settings: WarmStartSettings | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune the model in `base_dir` on the formatted bundled rows and save it to `out_dir`.

    Full-model SFT (TRL `SFTTrainer`, loss on the completion only) in float32 on the CPU, whatever the
    machine: the model is small and this keeps the result the same everywhere.

    Args:
        base_dir: A model directory from `modelbuild.build_model`.
        out_dir: Where to save the trained model (created; the tokenizer and manifest files are copied).
        settings: The SFT settings; None uses the defaults.
        progress: Receives a line every `settings.log_every` steps and at the end.
        on_step: Receives (step, total) after every optimizer step, for a progress bar.

    Returns:
        A summary: the settings, rows, first and last logged loss, seconds.
    """
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    settings = settings or WarmStartSettings()
    total_steps = settings.steps  # the callbacks below close over a plain int
    say = progress or (lambda _message: None)
    started = time.monotonic()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    rows = sft_rows(tokenizer, settings.thinking_tokens, settings.solution_share, settings.seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    losses: list[float] = []

    class Report(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if on_step is not None:
                on_step(int(state.global_step), total_steps)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                say(f"warm start: step {state.global_step}/{total_steps} loss {logs['loss']:.2f}")

    with tempfile.TemporaryDirectory(prefix="warmstart-") as scratch:
        config = SFTConfig(
            output_dir=scratch,
            max_steps=settings.steps,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=0.05,
            weight_decay=0.0,
            logging_steps=settings.log_every,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
            seed=settings.seed,
            data_seed=settings.seed,
            dataloader_num_workers=0,
            max_length=512,
            # TRL turns checkpointing on by default; on a 0.4M-parameter model it only costs time
            gradient_checkpointing=False,
        )
        trainer = _plain_loss_trainer(SFTTrainer)(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            callbacks=[Report()],
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    model = trainer.model
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in base_dir.iterdir():
        if item.is_file() and item.name not in ("model.safetensors", "config.json"):
            shutil.copy2(item, out_dir / item.name)
    model.generation_config = model.generation_config.__class__.from_pretrained(base_dir)
    model.save_pretrained(out_dir)
    summary = {
        "settings": asdict(settings),
        "rows": len(rows),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "seconds": round(time.monotonic() - started, 1),
    }
    say(f"warm start: done in {summary['seconds']} s, loss {summary['first_loss']} -> {summary['last_loss']}")
    return summary


def _plain_loss_trainer(sft_trainer: type) -> type:
    """`SFTTrainer` with the loss taken from the model's own forward (plain cross-entropy on the labels).

    TRL 1.16's SFT loss goes through a chunked log-prob kernel written for GPUs; on a CPU its Python tile
    loop costs about 0.9 s a step on the tiny model, against well under 0.1 s for the model's own loss.
    TRL's documented way to change the loss is to override `compute_loss`, which this does; the token
    accuracy and entropy metrics that need the fused outputs are not logged.
    """

    class PlainLossSFTTrainer(sft_trainer):  # type: ignore[misc, valid-type]
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            keep = ("input_ids", "attention_mask", "position_ids", "labels")
            outputs = model(
                **{k: v for k, v in inputs.items() if k in keep}, num_items_in_batch=num_items_in_batch
            )
            return (outputs.loss, outputs) if return_outputs else outputs.loss

    return PlainLossSFTTrainer


def build_tiny(
    out_dir: Path,
    settings: WarmStartSettings | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> Path:
    """Build the warm-started tiny preset into `out_dir`: random-init model, then the SFT warm start.

    Assembled in `<out_dir>.partial` (a stale one is removed first, a failed build removes its own) and
    renamed into place when complete.

    Args:
        out_dir: The model directory to create; it must not exist yet.
        settings: The warm-start settings; None uses the defaults.
        progress: Receives short human messages as the build proceeds.
        on_step: Receives (step, total) after every warm-start step, for a progress bar.

    Returns:
        `out_dir`, a model directory `from_pretrained` loads, with `warm_start` recorded in
        workbench_model.json.

    Raises:
        FileExistsError: `out_dir` already exists.
    """
    from workbench import modelbuild, presets

    settings = settings or WarmStartSettings()
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; fix: delete it to rebuild, or load it as it is")
    say = progress or (lambda _message: None)
    partial = out_dir.with_name(out_dir.name + modelbuild.PARTIAL_SUFFIX)
    base = out_dir.with_name(out_dir.name + ".base")
    for stale in (partial, base, base.with_name(base.name + modelbuild.PARTIAL_SUFFIX)):
        if stale.exists():
            shutil.rmtree(stale)
    try:
        modelbuild.build_model(
            "tiny", base, seed=settings.seed, tokenizer_corpus=tokenizer_corpus(), progress=say
        )
        say(f"warm start: {settings.steps} supervised steps on the bundled rows")
        summary = warm_start(base, partial, settings, progress=say, on_step=on_step)
        arch = modelbuild.resolve_architecture("tiny")
        modelbuild._patch_model_config(partial, arch, "float32")
        manifest_path = partial / modelbuild.MANIFEST_FILE
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest.update(dtype="float32", tokenizer_corpus="builtin+sample+tags", warm_start=summary)
        manifest["build_version"] = presets.PRESETS["tiny"].build_version
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(base, ignore_errors=True)
    say(f"done: {out_dir}")
    return out_dir
