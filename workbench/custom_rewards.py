"""Reward functions of the user's own: loading them from a file, calling them under a time limit, and
checking what they return.

A custom reward has TRL's signature, `f(prompts, completions, answer, **kwargs) -> list[float | None]`,
and is called exactly as TRL calls the built-in ones (`workbench.rewards`): keyword arguments `prompts`
(chat messages), `completions` (`[[{"role": "assistant", "content": text}], ...]`), `completion_ids`,
every dataset column but the prompt (`answer`, `type`), `trainer_state`, `log_extra` and `log_metric`;
B prompts x G completions, each prompt repeated G times in a row. It must return one number or None per
completion. Everything that can go wrong is a `CustomRewardError` that names the file, the function,
what went wrong and the fix: the pre-launch check (`jobs.reward_check`), the training job, evaluation,
`grpo-workbench score` and the try-it screen all raise or show the same messages.

`call` runs the function in a thread and waits at most the time limit (grpo.reward_timeout_s): a
function that runs past it cannot be stopped from inside the process, so the caller gives up on it (the
training job then fails, naming it; a process that must survive a hang, such as the TUI, calls it in a
worker process it can kill: `jobs.reward_check`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
import json
import math
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import paths

if TYPE_CHECKING:
    from workbench.config import RunConfig

RewardFn = Callable[..., Any]
TRL_KWARGS = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric")
"""The keyword arguments TRL passes besides the dataset's columns (`answer`, `type`)."""
PROBE_PROMPTS = 2
"""Bundled rows the pre-launch check scores (each with grpo.num_generations completions)."""


class CustomRewardError(RuntimeError):
    """A custom reward that cannot be used: which one, what went wrong and the fix."""

    def __init__(self, file: str, function: str, what: str, fix: str, timed_out: bool = False):
        self.file = file
        self.function = function
        self.what = what
        self.fix = fix
        self.timed_out = timed_out
        """It ran past its time limit (its thread may still be running)."""
        super().__init__(f"custom reward {function} ({file}): {what}; fix: {fix}")

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "function": self.function,
            "what": self.what,
            "fix": self.fix,
            "timed_out": self.timed_out,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomRewardError:
        file, function, what, fix = (str(data.get(k, "")) for k in ("file", "function", "what", "fix"))
        return cls(file, function, what, fix, timed_out=bool(data.get("timed_out")))


# --------------------------------------------------------------------------------------------- loading

_MODULES: dict[tuple[str, str], Any] = {}
"""Modules already imported, by (path, content hash): a file is executed once per content."""


def _where(exc: BaseException, file: str) -> str:
    """` (line N of file.py)`: the deepest frame of the traceback that is in the user's file."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == file:
            line = frame.lineno
    return f" (line {line} of {Path(file).name})" if line else ""


def load_module(file: str) -> Any:
    """Import the Python file `file` as a module of its own (not on sys.path, so it shadows nothing).

    Raises:
        CustomRewardError: the file is missing, unreadable, has a syntax error or fails to import (its
            function is given as `*`: the failure is the whole file's).
    """
    path = Path(file)
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        raise CustomRewardError(
            file, "*", "the file does not exist", "check the path in [[custom_rewards]] file"
        ) from None
    except OSError as exc:
        raise CustomRewardError(
            file, "*", f"the file cannot be read ({exc.strerror})", "check its permissions"
        ) from None
    key = (str(path), hashlib.sha256(source).hexdigest())
    if key in _MODULES:
        return _MODULES[key]
    name = f"grpo_workbench_custom_rewards.{path.stem}_{key[1][:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CustomRewardError(file, "*", "Python cannot import it", "name a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise CustomRewardError(
            file, "*", f"syntax error at line {exc.lineno}: {exc.msg}", "correct the line and save the file"
        ) from None
    except ImportError as exc:
        sys.modules.pop(name, None)
        missing = getattr(exc, "name", None)
        fix = (
            f"install {missing} into this Python environment ({sys.executable} -m pip install "
            f"{missing.split('.')[0]}), or remove the import"
            if missing
            else "correct the import (the file is imported on its own: import installed packages, not "
            "files beside it)"
        )
        raise CustomRewardError(file, "*", f"cannot be imported: {exc}", fix) from None
    except BaseException as exc:  # anything the module body raises, SystemExit included
        sys.modules.pop(name, None)
        raise CustomRewardError(
            file,
            "*",
            f"raised {type(exc).__name__} while being imported{_where(exc, str(path))}: {exc}",
            "make the module importable on its own (no work at import time that can fail)",
        ) from None
    _MODULES[key] = module
    return module


def load_function(file: str, function: str) -> RewardFn:
    """The function `function` of the file `file`.

    Raises:
        CustomRewardError: the file cannot be imported, or defines no such function.
    """
    try:
        module = load_module(file)
    except CustomRewardError as exc:
        raise CustomRewardError(exc.file, function, exc.what, exc.fix) from None
    fn = getattr(module, function, None)
    if fn is None:
        defined = sorted(
            n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__
        )
        have = f" (it defines: {', '.join(defined)})" if defined else " (it defines no function)"
        raise CustomRewardError(
            file,
            function,
            f"the file has no function {function!r}{have}",
            "correct [[custom_rewards]] function, or define it in the file",
        )
    if not callable(fn):
        raise CustomRewardError(
            file,
            function,
            f"{function!r} is a {type(fn).__name__}, not a function",
            "name a function defined with def",
        )
    return fn  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------- calling


def check_scores(scores: Any, count: int) -> list[float | None]:
    """The scores a reward function returned, as TRL will use them: one float or None per completion.

    Raises:
        ValueError: what is wrong with them (the caller adds the file, function and fix).
    """
    if isinstance(scores, (str, bytes, Mapping)) or not hasattr(scores, "__len__"):
        raise ValueError(f"returned a {type(scores).__name__} instead of a list of {count} scores")
    values = list(scores)
    if len(values) != count:
        raise ValueError(
            f"returned {len(values)} score{'' if len(values) == 1 else 's'} for {count} "
            f"completion{'' if count == 1 else 's'}"
        )
    out: list[float | None] = []
    for index, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        if isinstance(value, (str, bytes)) or not _is_number(value):
            raise ValueError(f"score {index} is {value!r} (a {type(value).__name__}), not a number or None")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"score {index} is {number}, not a finite number")
        out.append(number)
    return out


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (list, tuple, dict, set))


@dataclass
class _Outcome:
    scores: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def call(
    fn: RewardFn, file: str, function: str, kwargs: dict[str, Any], timeout_s: float
) -> list[float | None]:
    """Call a custom reward as TRL would (`fn(**kwargs)`; an `async def` one is run to completion) in a
    thread of its own, wait at most `timeout_s` seconds, and check what it returned.

    Args:
        fn: The function.
        file, function: Where it comes from (for the messages).
        kwargs: TRL's keyword arguments (`prompts`, `completions`, ...); `completions` sets the count.
        timeout_s: Wall-clock seconds it may take (grpo.reward_timeout_s).

    Returns:
        One float or None per completion.

    Raises:
        CustomRewardError: it raised, returned something else or did not return in time (its thread is
            left running: a daemon, which does not keep the process alive).
    """
    count = len(kwargs.get("completions") or [])
    outcome = _Outcome()

    def run() -> None:
        try:
            result = fn(**kwargs)
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
            outcome.scores = result
        except BaseException as exc:  # noqa: BLE001 - reported whole, SystemExit included
            outcome.error = exc
        finally:
            outcome.done.set()

    threading.Thread(target=run, name=f"reward {function}", daemon=True).start()
    if not outcome.done.wait(timeout_s):
        raise CustomRewardError(
            file,
            function,
            f"did not return within {timeout_s:g} s on {count} completion{'' if count == 1 else 's'}",
            "make it faster (it is called on every step's whole batch), or raise grpo.reward_timeout_s",
            timed_out=True,
        )
    if outcome.error is not None:
        exc = outcome.error
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        fix = (
            "handle every completion (an empty one, one without tags) and return None for one it cannot score"
        )
        if isinstance(exc, TypeError) and "unexpected keyword argument" in str(exc):
            fix = (
                "add **kwargs to its parameters: TRL passes "
                + ", ".join(TRL_KWARGS)
                + " and the data columns"
            )
        raise CustomRewardError(file, function, f"raised {message}{_where(exc, file)}", fix)
    try:
        return check_scores(outcome.scores, count)
    except ValueError as exc:
        raise CustomRewardError(
            file, function, str(exc), "return a list with one float (or None) per completion, in order"
        ) from None


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


# --------------------------------------------------------------------------------------------- probing


@dataclass
class ProbeState:
    """Stands in for transformers' TrainerState in the pre-launch check (the same fields a reward reads;
    importing transformers would take seconds): step 0 of the run."""

    global_step: int = 0
    max_steps: int = 0
    epoch: float = 0.0
    num_train_epochs: int = 1
    logging_steps: int = 1
    save_steps: int = 0
    train_batch_size: int = 0
    num_input_tokens_seen: int = 0
    total_flos: float = 0.0
    log_history: list[dict[str, float]] = field(default_factory=list)
    is_local_process_zero: bool = True
    is_world_process_zero: bool = True


def _probe_completions(reasoning: str, gold: str) -> list[str]:
    """Completions as a policy writes them, from the well-formed to the broken."""
    wrong = str(int(gold) + 1) if gold.lstrip("-").isdigit() else "0"
    return [
        f"<thinking>{reasoning}</thinking><SOLUTION>{gold}</SOLUTION>",
        f"<thinking>{reasoning}</thinking>\n<SOLUTION>{wrong}</SOLUTION>",
        reasoning,
        "",
        f"<thinking>{reasoning}",
        f"<SOLUTION>{gold}</SOLUTION>",
        f"Câu trả lời là {gold}. <thinking>{reasoning}</thinking><SOLUTION>{gold}</SOLUTION> thêm",
        "<thinking>" + " ".join([reasoning] * 8) + "</thinking><SOLUTION>" + gold + "</SOLUTION>",
    ]


def probe_kwargs(num_generations: int, max_steps: int = 0) -> dict[str, Any]:
    """The keyword arguments TRL passes to a reward function, on `PROBE_PROMPTS` bundled rows with
    `num_generations` completions each (well-formed, wrong, untagged, empty, truncated, ...), each prompt
    repeated as TRL repeats it. `completion_ids` are the UTF-8 bytes of each completion (the run's
    tokenizer is not loaded for the check: they are ints, one list per completion, as in training);
    `log_extra` and `log_metric` check their arguments as TRL would use them."""
    from workbench.data import extract_answer, format_prompt

    rows = []
    with paths.bundled_sample().open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            gold = extract_answer(row["response_vi"], row.get("response_en"))
            if gold:
                rows.append((row, gold))
            if len(rows) == PROBE_PROMPTS:
                break
    prompts, completions, answers, types = [], [], [], []
    for row, gold in rows:
        reasoning = row["response_vi"].rsplit("\n", 1)[0]
        texts = _probe_completions(reasoning, gold)
        for index in range(num_generations):
            prompts.append(format_prompt(row["query_vi"]))
            completions.append([{"role": "assistant", "content": texts[index % len(texts)]}])
            answers.append(gold)
            types.append(row["type"])

    def log_extra(column: str, values: list[Any]) -> None:
        if not isinstance(column, str) or len(list(values)) != len(completions):
            raise ValueError(f"log_extra(column, values) needs a name and {len(completions)} values")

    def log_metric(name: str, value: float) -> None:
        if not isinstance(name, str):
            raise ValueError("log_metric(name, value) needs a metric name")
        float(value)

    return {
        "prompts": prompts,
        "completions": completions,
        "completion_ids": [list(c[0]["content"].encode("utf-8")) for c in completions],
        "answer": answers,
        "type": types,
        "trainer_state": ProbeState(max_steps=max_steps),
        "log_extra": log_extra,
        "log_metric": log_metric,
    }


def group_kwargs(
    prompt: list[dict[str, str]], completions: list[str], answer: str, row_type: str = "", step: int = 0
) -> dict[str, Any]:
    """TRL's keyword arguments for the completions of one prompt (what eval, try-it and `score` call
    the reward functions with); `completion_ids` are UTF-8 bytes, as in the pre-launch check."""
    count = len(completions)
    return {
        "prompts": [prompt] * count,
        "completions": [[{"role": "assistant", "content": text}] for text in completions],
        "completion_ids": [list(text.encode("utf-8")) for text in completions],
        "answer": [answer] * count,
        "type": [row_type] * count,
        "trainer_state": ProbeState(global_step=step),
        "log_extra": lambda column, values: None,
        "log_metric": lambda name, value: None,
    }


def single_kwargs(completion: str, answer: str, question: str = "", row_type: str = "") -> dict[str, Any]:
    """TRL's keyword arguments for one completion of one prompt (try-it and `score`)."""
    from workbench.data import format_prompt

    return group_kwargs(format_prompt(question), [completion], answer, row_type)


def guarded(file: str, function: str, timeout_s: float) -> RewardFn:
    """The function of `file`, wrapped for TRL: each call runs under `timeout_s` and its scores are
    checked (`call`), so a failure raises a `CustomRewardError` naming it instead of a shape error deep
    in TRL. Its `__name__` is the function's, which TRL logs as `rewards/<name>/mean`.

    Raises:
        CustomRewardError: the file cannot be imported or lacks the function.
    """
    fn = load_function(file, function)

    def reward(**kwargs: Any) -> list[float | None]:
        return call(fn, file, function, kwargs, timeout_s)

    reward.__name__ = function
    reward.__doc__ = fn.__doc__
    return reward


def training_functions(config: RunConfig, files: Mapping[str, str]) -> dict[str, RewardFn]:
    """The guarded function of every weighted custom reward of `config`, imported from `files` (function
    name -> path: the run directory's copies).

    Raises:
        CustomRewardError: one cannot be imported.
    """
    return {
        entry.function: guarded(
            files.get(entry.function, entry.file), entry.function, config.grpo.reward_timeout_s
        )
        for entry in config.custom_rewards
        if config.rewards.get(entry.function, 0.0)
    }
