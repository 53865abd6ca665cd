"""Training rows: loading the Vietnamese MetaMathQA translation, extracting gold answers, formatting prompts.

The source is the hub dataset `5CD-AI/Vietnamese-meta-math-MetaMathQA-40K-gg-translated` (loaded with
`datasets.load_dataset`), a local .json/.jsonl/.parquet file in its schema, or the sample the project
ships. Gold answers come from `extract_answer`, which fixes the tutorial's bugs: its regex missed a `|`
(so "câu trả lời là" never matched), it ignored the more reliable English side, and it mangled decimal
commas. Rows without an answer or with a prompt too long for `grpo.max_prompt_length` are dropped and
counted, because TRL 1.15 never truncates prompts. `prepare_for_run` is the one place that decides and
counts: the training job, `grpo-workbench preview` and the Configure screen's preview all call it.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import paths, presets
from workbench.answers import Value, clean, english_hint, read_answer
from workbench.numbers import Lang

if TYPE_CHECKING:
    from workbench.config import DataSection, RunConfig

PromptCounter = Callable[[list[dict[str, str]]], int]
"""Counts the tokens of a formatted prompt as the model sees it (chat template applied)."""

REASONING_START, REASONING_END = "<thinking>", "</thinking>"
SOLUTION_START, SOLUTION_END = "<SOLUTION>", "</SOLUTION>"
SYSTEM_PROMPT = (
    "You are given a problem.\n"
    "Think about the problem and provide your working out.\n"
    f"Place it between {REASONING_START} and {REASONING_END}.\n"
    f"Then, provide your solution between {SOLUTION_START}{SOLUTION_END}"
)
"""The tutorial's system prompt, tags included."""

COLUMNS = ("query_vi", "response_vi", "query_en", "response_en", "type")
MAX_CHARS_PER_TOKEN = 256
"""No token of a Llama-3 tokenizer covers more characters than this: a question longer than
max_prompt_length x this is too long without tokenizing it."""
REQUIRED_COLUMNS = ("query_vi", "response_vi")

_ARTEFACTS = {"\\đóng hộp{": "\\boxed{", "\\đóng hộp {": "\\boxed{"}
_EN_ANSWER = re.compile(r"The answer is\s*:\s*(?P<answer>[^\n]+)", re.IGNORECASE)
_VI_ANSWER = re.compile(r"(?:đáp án|câu trả lời)\s+là\s*:\s*(?P<answer>[^\n]+)", re.IGNORECASE)


def normalise_text(text: str) -> str:
    """NFC-normalise and undo known translation artefacts (`\\đóng hộp{` for `\\boxed{`)."""
    text = unicodedata.normalize("NFC", text)
    for bad, good in _ARTEFACTS.items():
        text = text.replace(bad, good)
    return text


def _last(pattern: re.Pattern[str], text: str) -> str | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - we want the last match
        pass
    return found.group("answer") if found is not None else None


def _gold(raw: str, lang: Lang, hint: set[Value] | None = None) -> str | None:
    """The canonical text of a stated answer (see workbench.answers); as written, cleaned, when a number
    in it reads two ways and nothing settles which; None when nothing is left."""
    answer = read_answer(raw, lang, hint)
    if answer.shape == "empty":
        return None
    return answer.text if answer.certain and answer.shape != "too long" else clean(raw) or None


def extract_answer(response_vi: str, response_en: str | None = None) -> str | None:
    """The gold answer of a row, in the canonical text of `workbench.answers`.

    Prefers the last "The answer is:" of the English response (the reliable side); else the last
    Vietnamese "Đáp án là:" / "Câu trả lời là:" (any case, optional space before the colon, after NFC).
    Trailing punctuation and spaces are stripped, `$...$` and `\\boxed{...}` unwrapped, and every form
    is read the way the rewards read completions (see `workbench.answers.FORMS`): 2,5 -> 2.5;
    1.200 -> 1200; 9{,}500 -> 9500; `\\dfrac34` -> `\\frac{3}{4}`; "-2, 3" stays a list of two values;
    an ambiguous Vietnamese 1,200 becomes 1200 only when the English side confirms, else stays as written.

    Args:
        response_vi: The Vietnamese worked solution.
        response_en: The English worked solution, when the row has one.

    Returns:
        The answer, or None when neither side states one.
    """
    english = normalise_text(response_en) if response_en else ""
    if english:
        answer = _last(_EN_ANSWER, english)
        if answer is not None:
            return _gold(answer, "en")
    answer = _last(_VI_ANSWER, normalise_text(response_vi or ""))
    if answer is None:
        return None
    return _gold(answer, "vi", english_hint(english) if english else None)


def format_prompt(question: str) -> list[dict[str, str]]:
    """The chat prompt of one row: the tutorial's system prompt, then the Vietnamese question."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": normalise_text(question).strip()},
    ]


@dataclass
class DataStats:
    """What happened to the source rows: shown in Configure's preview and saved in the run."""

    source_rows: int = 0
    used_rows: int = 0
    kept: int = 0
    dropped_no_answer: int = 0
    dropped_too_long: int = 0
    dropped_empty_question: int = 0
    train: int = 0
    held_out: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    longest_prompt_tokens: int = 0
    prompt_tokens_counted: bool = False
    """Prompts were measured with the model's tokenizer (else only the certainly-too-long ones were
    dropped: the model's tokenizer was not on this machine yet)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for logs, the CLI and the Configure screen."""
        line = (
            f"{self.used_rows} rows read: {self.kept} kept ({self.train} train, {self.held_out} held out); "
            f"dropped {self.dropped_no_answer} without an answer, {self.dropped_too_long} with a prompt "
            f"too long, {self.dropped_empty_question} with an empty question"
        )
        if not self.prompt_tokens_counted:
            line += (
                " (prompt lengths not counted: the model's tokenizer is not on this machine yet; the run "
                "counts them when it starts)"
            )
        return line


@dataclass
class PreparedData:
    """Rows ready for the trainer, and the held-out rows for evaluation."""

    train: list[dict[str, Any]]
    held_out: list[dict[str, Any]]
    stats: DataStats


class DataError(ValueError):
    """The data cannot be used; the message names the problem and the fix."""


def check_columns(columns: Iterable[str], source: str) -> None:
    """Raise DataError unless the source has the columns the workbench reads."""
    missing = [c for c in REQUIRED_COLUMNS if c not in set(columns)]
    if missing:
        raise DataError(
            f"data.source {source!r} lacks column(s) {missing}; fix: use a file in the dataset's schema "
            f"({', '.join(COLUMNS)})"
        )


def prepare(
    rows: list[dict[str, Any]],
    data: DataSection,
    max_prompt_tokens: int | None = None,
    prompt_tokens: PromptCounter | None = None,
) -> PreparedData:
    """Shuffle, limit, extract answers, format prompts, drop and count bad rows, split off held-out rows.

    Args:
        rows: Source rows in the dataset's schema.
        data: The config's data section (limit, held_out, seed).
        max_prompt_tokens: Rows whose prompt is longer are dropped (None: no length check).
        prompt_tokens: Counts the tokens of a formatted prompt (the model's chat template).

    Returns:
        Train rows {prompt, answer, type, question}, held-out rows, and the counts.
    """
    stats = DataStats(source_rows=len(rows), prompt_tokens_counted=prompt_tokens is not None)
    order = list(range(len(rows)))
    random.Random(data.seed).shuffle(order)
    if data.limit:
        order = order[: data.limit]
    stats.used_rows = len(order)
    kept: list[dict[str, Any]] = []
    types: Counter[str] = Counter()
    for index in order:
        row = rows[index]
        question = normalise_text(str(row.get("query_vi") or "")).strip()
        if not question:
            stats.dropped_empty_question += 1
            continue
        answer = extract_answer(str(row.get("response_vi") or ""), row.get("response_en") or None)
        if answer is None:
            stats.dropped_no_answer += 1
            continue
        if max_prompt_tokens is not None and len(question) > max_prompt_tokens * MAX_CHARS_PER_TOKEN:
            # Certainly too long, and tokenizing megabytes of one runaway row would stall the job.
            stats.dropped_too_long += 1
            continue
        prompt = format_prompt(question)
        if prompt_tokens is not None:
            length = prompt_tokens(prompt)
            if max_prompt_tokens is not None and length > max_prompt_tokens:
                stats.dropped_too_long += 1
                continue
            stats.longest_prompt_tokens = max(stats.longest_prompt_tokens, length)
        row_type = str(row.get("type") or "unknown")
        types[row_type] += 1
        kept.append(
            {
                "prompt": prompt,
                "answer": answer,
                "type": row_type,
                "question": question,
                "source_index": index,
            }
        )
    stats.kept = len(kept)
    stats.by_type = dict(sorted(types.items()))
    held = min(data.held_out, len(kept))
    if len(kept) - held < 1:
        raise DataError(
            f"data.source {data.source!r} has only {len(kept)} usable rows after dropping "
            f"{stats.dropped_no_answer} without an answer, "
            f"{stats.dropped_too_long} too long and {stats.dropped_empty_question} with an empty question "
            f"(query_vi), and data.held_out = {data.held_out} leaves none to train on; "
            "fix: lower data.held_out, raise data.limit or grpo.max_prompt_length, or use a larger source"
        )
    stats.held_out, stats.train = held, len(kept) - held
    return PreparedData(train=kept[held:], held_out=kept[:held], stats=stats)


def prepare_for_run(rows: list[dict[str, Any]], config: RunConfig, tokenizer: Any = None) -> PreparedData:
    """The rows a run of `config` trains on, every dropped row counted: the one function behind the
    training job's data, `grpo-workbench preview` and the Configure preview, so they agree.

    Prompts longer than grpo.max_prompt_length tokens are dropped, measured with the model's own
    tokenizer and chat template: `model_prompt_counter` (from the model's files, light enough for the
    TUI), else `tokenizer` (a loaded transformers tokenizer, the job's). With neither (a preset not built
    yet, a hub model not downloaded yet) only prompts certainly too long are dropped, and
    `stats.prompt_tokens_counted` says so.

    Raises:
        DataError: nothing is left to train on.
    """
    counter = model_prompt_counter(presets.resolve_model_path(config.model.name, create=False))
    if counter is None and tokenizer is not None:
        counter = prompt_length_counter(tokenizer)
    return prepare(rows, config.data, config.grpo.max_prompt_length, counter)


def prompt_length_counter(tokenizer: Any) -> PromptCounter:
    """Prompt tokens by a loaded transformers tokenizer: its chat template, then its tokens."""

    def count(messages: list[dict[str, str]]) -> int:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_COUNTERS: dict[tuple[str, float], PromptCounter] = {}


def _tokenizer_file(model: str, name: str) -> Path | None:
    """A tokenizer file of a local model directory, or of a hub model already in the local cache."""
    directory = Path(model).expanduser()
    if directory.is_dir():
        path = directory / name
        return path if path.is_file() else None
    if model.startswith(("/", ".", "~")) or model.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache  # light; never downloads

        found = try_to_load_from_cache(model, name)
    except Exception:  # an unusual cache layout: the job will count with its loaded tokenizer
        return None
    return Path(found) if isinstance(found, str) else None


def model_prompt_counter(model: str) -> PromptCounter | None:
    """Prompt tokens exactly as `prompt_length_counter` counts them with the model's transformers
    tokenizer, from the model's files alone (tokenizer.json through `tokenizers`, the chat template
    rendered by jinja2 as transformers renders it): no torch, so the TUI can count too.

    Args:
        model: A local model directory or a hub id (read from the local cache only).

    Returns:
        The counter, or None when the files are not on this machine or have no fast tokenizer or chat
        template.
    """
    tokenizer_json = _tokenizer_file(model, "tokenizer.json")
    config_json = _tokenizer_file(model, "tokenizer_config.json")
    if tokenizer_json is None or config_json is None:
        return None
    key = (str(tokenizer_json), tokenizer_json.stat().st_mtime)
    if key in _COUNTERS:
        return _COUNTERS[key]
    import json

    config = json.loads(config_json.read_text(encoding="utf-8"))
    template_file = _tokenizer_file(model, "chat_template.jinja")
    template = template_file.read_text(encoding="utf-8") if template_file else config.get("chat_template")
    if isinstance(template, list):  # named templates: transformers uses "default"
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    if not isinstance(template, str):
        return None
    special = {}
    for name in _SPECIAL_TOKENS:
        value = config.get(name)
        value = value.get("content") if isinstance(value, dict) else value
        if isinstance(value, str):
            special[name] = value
    from tokenizers import Tokenizer

    compiled = _compile_chat_template(template)
    tokenizer = Tokenizer.from_file(str(tokenizer_json))

    def count(messages: list[dict[str, str]]) -> int:
        text = compiled.render(
            messages=messages, tools=None, documents=None, add_generation_prompt=True, **special
        )
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    _COUNTERS[key] = count
    return count


def _compile_chat_template(template: str) -> Any:
    """A chat template compiled as transformers 5 compiles it (`chat_template_utils`): sandboxed jinja2
    with trim_blocks, lstrip_blocks, loop controls, its tojson, raise_exception, strftime_now and a
    pass-through {% generation %} block."""
    import json
    from datetime import datetime

    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

        def _render(self, caller: Callable[[], str]) -> str:
            return caller()

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: Any = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def _data_files(source: str) -> tuple[str, str]:
    """The `datasets` builder and file for a local source."""
    path = str(paths.bundled_sample()) if source == "bundled" else source
    return ("parquet" if path.endswith(".parquet") else "json"), path


def _check_local_text(source: str) -> None:
    """Refuse an empty or non-UTF-8 JSON file with its own message: the parser would only say
    `StopIteration` or "Invalid value in row 40".

    Raises:
        DataError: the file is empty or not UTF-8 text.
    """
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, blank = 0, True
    try:
        with open(source, "rb") as fh:
            while chunk := fh.read(1 << 20):
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"data.source {source!r} could not be loaded: it is not UTF-8 text (byte "
                        f"{offset + exc.start} cannot be decoded); fix: re-save the file as UTF-8"
                    ) from None
                blank = blank and not text.strip()
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise DataError(
            f"data.source {source!r} could not be loaded: it is not UTF-8 text (it ends in the middle "
            "of a character); fix: re-save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise DataError(
            f"data.source {source!r} could not be loaded: {exc.strerror}; fix: check the path and permissions"
        ) from None
    if blank:
        raise DataError(
            f"data.source {source!r} could not be loaded: it is empty; fix: point at a file with rows"
        )


def load_rows(data: DataSection) -> list[dict[str, Any]]:
    """Read the source rows with `datasets.load_dataset` (hub id or local file).

    Raises:
        DataError: the source cannot be read or lacks the schema's columns.
    """
    import datasets  # heavy: only in jobs and CLI commands, never at import time

    datasets.disable_progress_bars()
    source = data.source
    if source != "bundled" and source.endswith((".json", ".jsonl")):
        _check_local_text(source)
    # datasets logs a parse failure itself before raising it: the DataError below says it once, clearly.
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        if source == "bundled" or source.endswith((".json", ".jsonl", ".parquet")):
            builder, path = _data_files(source)
            dataset = datasets.load_dataset(builder, data_files=path, split="train")
        else:
            dataset = datasets.load_dataset(source, split=data.split)
    except Exception as exc:  # datasets raises many types; the user needs the message and the source
        # datasets wraps the parser's error ("JSON parse error ... in row 20") in a generic one: the cause
        # at the bottom of the chain is the one that says what is wrong with the file.
        while exc.__cause__ is not None:
            exc = exc.__cause__  # type: ignore[assignment]
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "corresponds to no data" in message:  # datasets' words for an empty JSON array
            message = "it holds no rows"
        raise DataError(
            f"data.source {source!r} could not be loaded: {message}; fix: check the file's "
            "format (JSON lines or a JSON array in the dataset's schema), or the hub id and "
            "network (set HF_TOKEN for gated data)"
        ) from None
    finally:
        datasets.logging.set_verbosity(verbosity)
    check_columns(dataset.column_names, source)
    if len(dataset) == 0:
        raise DataError(f"data.source {source!r} has no rows; fix: point at a file with rows")
    return dataset.to_list()
