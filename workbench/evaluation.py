"""Held-out evaluation: targets, decodings, metrics and the eval/ files of a run directory.

GRPO rewards say how the policy does on the rows it trains on; whether it learned anything shows only on
rows it never saw. The trainer saves those rows as heldout.jsonl (fixed by the data seed), and this module
scores generations for them: answer accuracy on the extracted <SOLUTION> (`workbench.rewards.grade`, the
training reward's reading of every answer form, math-verify for symbolic answers under a time limit;
a comparison that runs out of time counts as wrong and is counted in `scoring_timeouts`), exact-format
compliance, completion length, pass@k with the unbiased estimator when several samples are drawn, per
type family (GSM_*, MATH_*) and per full type, with 95% Wilson intervals for every proportion.

It holds everything except generation itself, so it stays free of torch and vLLM (the job
`jobs/evaluate.py` supplies a generator: vLLM with LoRA requests on a GPU, transformers + PEFT on CPU).
Results go to `<run>/eval/` and are written as they happen, so a cancelled evaluation keeps what it
finished:

| file | what |
| --- | --- |
| progress.json | state, current task, rows done/total, rows/s, ETA (for a watcher such as a TUI) |
| rows-<target>-<decoding>.jsonl | one line per evaluated row: completions, solutions, scores, lengths |
| eval-<target>-<decoding>.json | the metrics of one target and decoding (marked partial when cancelled) |
| summary.csv | every eval-*.json of the run flattened into one table, one line per group |
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from workbench.atomic import JsonlWriter, write_text_atomic
from workbench.jobdir import process_start_time
from workbench.rewards import extract_solution, grade, match_format_exactly
from workbench.runs import (
    Estimate,
    EvalDir,
    EvalProgress,
    EvalResult,
    GroupMetrics,
    RunDir,
    checkpoint_step,
    checkpoints,
)

Z95 = 1.959963984540054
"""The two-sided 95% normal quantile."""
SAMPLE_TEMPERATURE = 0.8
SAMPLE_TOP_P = 0.95
"""The tutorial's sampling settings for evaluation."""


# --------------------------------------------------------------------------- statistics


def wilson_interval(successes: float, total: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default).

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 or n successes and for
    small n, which is what a few dozen held-out rows give. `successes` may be fractional (a mean of
    per-row rates times the row count).

    Args:
        successes: Number of successes (0 <= successes <= total).
        total: Number of trials; 0 gives (0.0, 1.0), nothing known.
        z: The normal quantile of the confidence level.

    Returns:
        (lower, upper) bounds.
    """
    if total <= 0:
        return 0.0, 1.0
    p = successes / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k).

    The probability that at least one of k samples drawn without replacement from the n generated is
    correct, given that c of the n are.

    Args:
        n: Samples generated for the row.
        c: Correct samples among them.
        k: Samples allowed (1 <= k <= n).
    """
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_ks(n: int) -> list[int]:
    """The k reported for n samples: 1, 2, 4, ... up to n, and n itself."""
    ks = [k for k in (2**i for i in range(0, 20)) if k <= n]
    if n >= 1 and ks[-1] != n:
        ks.append(n)
    return ks


def type_family(row_type: str) -> str:
    """The family of a MetaMathQA type: `GSM_Rephrased` -> `GSM`, `MATH_FOBAR` -> `MATH`."""
    head = row_type.split("_", 1)[0]
    return head if head else "unknown"


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Completion:
    """One generated completion: its text and its length in generated tokens."""

    text: str
    tokens: int


def score_row(
    row: dict[str, Any],
    completions: Sequence[Completion],
    index: int,
    timeout_s: float | None = None,
    rewards: Mapping[str, Callable[..., list[float | None]]] | None = None,
) -> dict[str, Any]:
    """Score the completions of one held-out row: the line written to rows-<target>-<decoding>.jsonl.

    Args:
        row: The held-out row {prompt, answer, type, question, source_index}.
        completions: Its generated completions (1 for greedy, n for sampling).
        index: The row's position in heldout.jsonl.
        timeout_s: Wall-clock seconds each math-verify comparison may take (None: the default).
        rewards: The run's custom rewards by name (`workbench.custom_rewards.training_functions`), each
            called on the row's completions as TRL calls it; their scores go in `rewards`.

    Raises:
        CustomRewardError: a custom reward raised, returned something else or ran out of time.
    """
    gold = str(row["answer"])
    texts = [c.text for c in completions]
    solutions = [extract_solution(t) for t in texts]
    grades = grade([gold] * len(solutions), solutions, timeout_s)
    correct = [g.correct for g in grades]
    formatted = [(score or 0.0) > 0 for score in match_format_exactly(texts)]
    return {
        "index": index,
        "source_index": row.get("source_index"),
        "type": str(row.get("type") or "unknown"),
        "answer": gold,
        "completions": texts,
        "solutions": solutions,
        "correct": correct,
        "timed_out": [g.timed_out for g in grades],
        "formatted": formatted,
        "lengths": [c.tokens for c in completions],
        **({"rewards": _custom_scores(row, texts, rewards)} if rewards else {}),
    }


def _custom_scores(
    row: dict[str, Any], texts: list[str], rewards: Mapping[str, Callable[..., list[float | None]]]
) -> dict[str, list[float | None]]:
    from workbench.custom_rewards import group_kwargs

    prompt = row.get("prompt") or []
    kwargs = group_kwargs(prompt, texts, str(row["answer"]), str(row.get("type") or ""))
    return {name: fn(**kwargs) for name, fn in rewards.items()}


def _proportion(successes: float, rows: int) -> dict[str, float]:
    low, high = wilson_interval(successes, rows)
    return {"value": successes / rows if rows else 0.0, "ci_low": low, "ci_high": high}


def group_metrics(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of a group of scored rows.

    Accuracy and format are per-sample rates averaged per row (so with n samples, accuracy is pass@1);
    their Wilson interval counts rows, not samples, because samples of one row are not independent.
    Length is in generated tokens, with a normal-approximation 95% interval over the per-row means.
    `scoring_timeouts` counts the completions whose answer comparison ran out of time (scored wrong).
    """
    rows = len(records)
    samples = sum(len(r["correct"]) for r in records)
    accuracy = sum(sum(r["correct"]) / len(r["correct"]) for r in records if r["correct"])
    formatted = sum(sum(r["formatted"]) / len(r["formatted"]) for r in records if r["formatted"])
    lengths = [sum(r["lengths"]) / len(r["lengths"]) for r in records if r["lengths"]]
    mean_length = sum(lengths) / len(lengths) if lengths else 0.0
    if len(lengths) > 1:
        variance = sum((x - mean_length) ** 2 for x in lengths) / (len(lengths) - 1)
        half = Z95 * math.sqrt(variance / len(lengths))
    else:
        half = 0.0
    metrics: dict[str, Any] = {
        "rows": rows,
        "samples": samples,
        "scoring_timeouts": sum(sum(r.get("timed_out") or ()) for r in records),
        "accuracy": _proportion(accuracy, rows),
        "format": _proportion(formatted, rows),
        "mean_length": {"value": mean_length, "ci_low": mean_length - half, "ci_high": mean_length + half},
        "pass_at_k": {},
    }
    names = list(dict.fromkeys(name for r in records for name in r.get("rewards") or {}))
    if names:
        means = {}
        for name in names:
            scores = [s for r in records for s in (r.get("rewards") or {}).get(name, []) if s is not None]
            means[name] = sum(scores) / len(scores) if scores else None
        metrics["rewards"] = means
    n_values = {len(r["correct"]) for r in records}
    if rows and len(n_values) == 1 and (n := n_values.pop()) > 1:
        for k in pass_ks(n):
            total = sum(pass_at_k(n, sum(r["correct"]), k) for r in records)
            metrics["pass_at_k"][str(k)] = _proportion(total, rows)
    return metrics


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Metrics overall, per type family (GSM, MATH) and per full type."""
    families: dict[str, list[dict[str, Any]]] = {}
    types: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        families.setdefault(type_family(record["type"]), []).append(record)
        types.setdefault(record["type"], []).append(record)
    return {
        "overall": group_metrics(records),
        "by_family": {name: group_metrics(rs) for name, rs in sorted(families.items())},
        "by_type": {name: group_metrics(rs) for name, rs in sorted(types.items())},
    }


# --------------------------------------------------------------------------- targets and decodings


@dataclass(frozen=True)
class Target:
    """What generates: the base model, or the base with a LoRA adapter (a checkpoint or the final one)."""

    name: str
    """`base`, `checkpoint-N` or `adapter`: part of the file names."""
    adapter: Path | None


@dataclass(frozen=True)
class Decoding:
    """How it generates: greedy (one completion) or sampling with `samples` completions per row."""

    greedy: bool
    samples: int = 1
    temperature: float = SAMPLE_TEMPERATURE
    top_p: float = SAMPLE_TOP_P
    max_new_tokens: int = 256
    seed: int = 3407

    @property
    def name(self) -> str:
        """`greedy` or `sample-n<N>`: part of the file names."""
        return "greedy" if self.greedy else f"sample-n{self.samples}"

    @property
    def n(self) -> int:
        return 1 if self.greedy else self.samples

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["name"] = self.name
        if self.greedy:
            out.update(samples=1, temperature=0.0, top_p=1.0)
        return out


class TargetError(ValueError):
    """A target the run does not have; the message lists the ones it has."""


def available_targets(run: RunDir) -> list[Target]:
    """Every target the run offers: base, each complete checkpoint, the final adapter."""
    found = [Target("base", None)]
    found += [Target(p.name, p) for _, p, complete in checkpoints(run) if complete]
    if (run.adapter / "adapter_config.json").is_file():
        found.append(Target("adapter", run.adapter))
    return found


def resolve_targets(run: RunDir, spec: str | None) -> list[Target]:
    """Targets from a comma list: `base`, `adapter`, `checkpoint-N` (or just `N`), `checkpoints` (all),
    `last` (the newest checkpoint), `all`. The default is base plus the adapter (or the newest checkpoint
    when the run has no final adapter yet).

    Raises:
        TargetError: a name the run does not have.
    """
    available = {t.name: t for t in available_targets(run)}
    ckpts = [t for t in available.values() if checkpoint_step(Path(t.name)) is not None]
    if not spec:
        second = available.get("adapter") or (ckpts[-1] if ckpts else None)
        return [available["base"]] + ([second] if second else [])
    chosen: list[Target] = []
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        name = f"checkpoint-{raw}" if raw.isdigit() else raw
        if name == "all":
            picked = list(available.values())
        elif name == "checkpoints":
            picked = ckpts
        elif name == "last":
            picked = ckpts[-1:]
        elif name in available:
            picked = [available[name]]
        else:
            raise TargetError(
                f"run {run.run_id} has no target {raw!r}; it has: {', '.join(available)} "
                "(half-written checkpoints are skipped)"
            )
        chosen += [t for t in picked if t not in chosen]
    if not chosen:
        raise TargetError("no targets given; use e.g. --targets base,adapter")
    return chosen


# --------------------------------------------------------------------------- files


def final_step(run: RunDir) -> int | None:
    """The training step the final adapter was saved at: status.json's step, else the newest checkpoint's."""
    step = run.read_status().step
    if step > 0:
        return step
    steps = [s for s, _, complete in checkpoints(run) if complete]
    return steps[-1] if steps else None


def target_step(name: str, final: int | None) -> int | None:
    """Where a target sits on a training-step axis: base at 0, `checkpoint-N` at N, the adapter at the
    run's final step (`final`, None when unknown); None for a name that is none of these."""
    if name == "base":
        return 0
    if name == "adapter":
        return final
    return checkpoint_step(Path(name))


def target_order(name: str) -> tuple[int, int]:
    """Sort key of target names in training order: base, the checkpoints by step, then the adapter."""
    if name == "base":
        return (0, 0)
    step = checkpoint_step(Path(name))
    if step is not None:
        return (1, step)
    return (2, 0) if name == "adapter" else (3, 0)


CSV_FIELDS = (
    "target",
    "decoding",
    "group",
    "rows",
    "samples",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "format",
    "format_ci_low",
    "format_ci_high",
    "mean_length",
    "mean_length_ci_low",
    "mean_length_ci_high",
    "pass_at_k",
    "rewards",
    "scoring_timeouts",
    "partial",
)


def result_groups(result: EvalResult, *, types: bool = True) -> list[tuple[str, GroupMetrics]]:
    """(name, metrics) of every group of one result that holds rows: `all`, then `family:GSM`, ..., then
    (with `types`) `type:GSM_Rephrased`, ..."""
    groups = [("all", result.overall)]
    groups += [(f"family:{k}", v) for k, v in result.by_family.items()]
    if types:
        groups += [(f"type:{k}", v) for k, v in result.by_type.items()]
    return [(name, m) for name, m in groups if m.rows]


def summary_rows(result: EvalResult) -> list[dict[str, Any]]:
    """One CSV row per group (`all`, `family:GSM`, `type:GSM_Rephrased`, ...) of one eval result."""
    out = []
    for group, m in result_groups(result):
        row: dict[str, Any] = {
            "target": result.target,
            "decoding": result.decoding,
            "group": group,
            "rows": m.rows,
            "samples": m.samples,
            "scoring_timeouts": m.scoring_timeouts,
            "partial": result.partial,
            "pass_at_k": " ".join(f"{k}:{v.value:.4f}" for k, v in m.pass_at_k.items()),
            "rewards": " ".join(f"{k}:{v:.4f}" for k, v in m.rewards.items() if v is not None),
        }
        for key, estimate in (("accuracy", m.accuracy), ("format", m.format), ("mean_length", m.mean_length)):
            e = estimate or Estimate()
            row[key] = round(e.value, 6)
            row[f"{key}_ci_low"] = round(e.ci_low, 6)
            row[f"{key}_ci_high"] = round(e.ci_high, 6)
        out.append(row)
    return out


def write_summary_csv(eval_dir: EvalDir) -> Path:
    """Rebuild summary.csv from every eval-*.json in the directory (earlier invocations included)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for result in eval_dir.results():
        writer.writerows(summary_rows(result))
    write_text_atomic(eval_dir.summary_csv, buffer.getvalue())
    return eval_dir.summary_csv


# --------------------------------------------------------------------------- the evaluation loop


class Generator(Protocol):
    """Generates completions for a batch of chat prompts with one target and one decoding."""

    def __call__(
        self, target: Target, prompts: list[list[dict[str, str]]], decoding: Decoding
    ) -> list[list[Completion]]: ...


@dataclass
class ProgressWriter:
    """Writes eval/progress.json and one progress line per batch (rows/s and ETA over the whole job)."""

    eval_dir: EvalDir
    total: int
    echo: Callable[[str], None] | None = None
    done: int = 0
    state: EvalProgress = field(default_factory=EvalProgress)
    started: float = field(default_factory=time.monotonic)

    def update(self, **fields: Any) -> None:
        """Merge `fields` (`EvalProgress` fields; another name raises) and the rates, and write the file."""
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        eta = (self.total - self.done) / rate if rate else None
        self.state = self.state.replace(
            **fields,
            done=self.done,
            total=self.total,
            elapsed_s=round(elapsed, 3),
            rows_per_s=round(rate, 4),
            eta_s=round(eta, 1) if eta is not None else None,
            updated_at=time.time(),
        )
        self.eval_dir.write_progress(self.state)

    def line(self) -> str:
        """`[eval] adapter greedy  12/40 rows  30% |######    |  2.10 rows/s  ETA 0:13`."""
        s = self.state
        fraction = self.done / self.total if self.total else 1.0
        bar = "#" * int(fraction * 20)
        eta = s.eta_s
        eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta is not None else "--:--:--"
        return (
            f"[eval] {s.target or ''} {s.decoding or ''}  {self.done}/{self.total} rows  "
            f"{fraction:4.0%} |{bar:<20}|  {s.rows_per_s or 0.0:.2f} rows/s  ETA {eta_text}"
        )

    def say(self, message: str) -> None:
        if self.echo:
            self.echo(message)


def evaluate(
    run: RunDir,
    targets: Sequence[Target],
    decodings: Sequence[Decoding],
    generate: Generator,
    *,
    limit: int | None = None,
    batch_size: int = 8,
    should_stop: Callable[[], bool] = lambda: False,
    echo: Callable[[str], None] | None = None,
    extra: dict[str, Any] | None = None,
    scoring_timeout_s: float | None = None,
    rewards: Mapping[str, Callable[..., list[float | None]]] | None = None,
) -> list[EvalResult]:
    """Evaluate every target with every decoding on the held-out rows, writing eval/ as it goes.

    Rows are generated `batch_size` at a time; each batch's scored rows are appended to the rows file
    and progress.json is refreshed, so stopping (`should_stop` turns true, checked between batches)
    loses at most the batch in flight. The task that was cut short gets an eval-*.json marked partial
    with the rows it finished; later tasks are not started.

    Args:
        run: The run directory (its heldout.jsonl is read).
        targets: What to evaluate (from `resolve_targets`).
        decodings: How to decode (greedy and/or sampling).
        generate: The backend.
        limit: Only the first `limit` held-out rows.
        batch_size: Rows per generate call.
        should_stop: Polled between batches.
        echo: Receives progress lines (the CLI prints them).
        extra: Fields copied into every eval-*.json (model, backend, ...).
        scoring_timeout_s: Wall-clock seconds each math-verify comparison may take (the run's
            grpo.scoring_timeout_s; None: the default).
        rewards: The run's custom rewards by name: each result gets their mean score (`rewards`).

    Returns:
        The eval-*.json contents written, in order.
    """
    rows = run.read_held_out(limit)
    eval_dir = run.eval.ensure()
    tasks = [(t, d) for t in targets for d in decodings]
    progress = ProgressWriter(eval_dir, total=len(rows) * len(tasks), echo=echo)
    progress.update(
        state="running",
        tasks=tuple(f"{t.name}/{d.name}" for t, d in tasks),
        started_at=time.time(),
        target=None,
        decoding=None,
        task=0,
        pid=os.getpid(),
        create_time=process_start_time(os.getpid()),
    )
    results: list[EvalResult] = []
    stopped = False
    for task_index, (target, decoding) in enumerate(tasks, start=1):
        if should_stop():
            stopped = True
            break
        progress.update(target=target.name, decoding=decoding.name, task=task_index)
        progress.say(f"[eval] {target.name} with {decoding.name} decoding on {len(rows)} held-out rows")
        rows_path = eval_dir.rows(target.name, decoding.name)
        rows_path.unlink(missing_ok=True)
        writer = JsonlWriter(rows_path)
        records: list[dict[str, Any]] = []
        started = time.monotonic()
        try:
            for start in range(0, len(rows), max(1, batch_size)):
                if should_stop():
                    stopped = True
                    break
                batch = rows[start : start + max(1, batch_size)]
                outputs = generate(target, [r["prompt"] for r in batch], decoding)
                for offset, (row, completions) in enumerate(zip(batch, outputs, strict=True)):
                    record = score_row(row, completions, start + offset, scoring_timeout_s, rewards)
                    writer.write(record)
                    records.append(record)
                progress.done += len(batch)
                progress.update()
                progress.say(progress.line())
        finally:
            writer.close()
            elapsed = time.monotonic() - started
            result = {
                "run_id": run.run_id,
                "target": target.name,
                "adapter_path": str(target.adapter) if target.adapter else None,
                "decoding": decoding.to_dict(),
                "rows_total": len(rows),
                "rows_done": len(records),
                "partial": len(records) < len(rows),
                "elapsed_s": round(elapsed, 3),
                "rows_per_s": round(len(records) / elapsed, 4) if elapsed > 0 else None,
                "finished_at": time.time(),
                **(extra or {}),
                "metrics": summarize(records),
            }
            results.append(eval_dir.write_result(result))
            write_summary_csv(eval_dir)
            if timeouts := results[-1].overall.scoring_timeouts:
                progress.say(f"[eval] {_timeout_note(timeouts)}")
        if stopped:
            break
    progress.update(state="stopped" if stopped else "completed", finished_at=time.time())
    return results


def mark_failed(run: RunDir, error: str) -> None:
    """Record a failed evaluation in progress.json (keeping what it said so far)."""
    eval_dir = run.eval.ensure()
    eval_dir.write_progress(
        eval_dir.read_progress().replace(state="failed", error=error, updated_at=time.time())
    )


# --------------------------------------------------------------------------- reporting


def percent(estimate: Estimate | None, digits: int = 0) -> str:
    """`42%` (with `digits` decimals), or `–` when there is no value."""
    return "–" if estimate is None else f"{estimate.value:.{digits}%}"


def percent_interval(estimate: Estimate | None, wide: bool = False, digits: int = 1) -> str:
    """A proportion with its 95% interval: `42.5% [30–55]` (compact, the value with `digits` decimals),
    or `` 42.5% [30.1%, 55.0%]`` (`wide`, aligned for plain-text tables); `–` when there is no value."""
    if estimate is None:
        return "–"
    if wide:
        return f"{estimate.value:6.1%} [{estimate.ci_low:5.1%}, {estimate.ci_high:5.1%}]"
    return f"{estimate.value:.{digits}%} [{100 * estimate.ci_low:.0f}–{100 * estimate.ci_high:.0f}]"


def top_pass_at_k(metrics: GroupMetrics) -> str:
    """pass@k at the largest k (`@8 63%`), or `–` without sampling."""
    if not metrics.pass_at_k:
        return "–"
    top = max(metrics.pass_at_k)
    return f"@{top} {metrics.pass_at_k[top].value:.0%}"


def format_table(results: Iterable[EvalResult], by_family: bool = True) -> str:
    """A plain-text table of accuracy, format and length with their 95% intervals, per target."""
    results = list(results)
    custom = list(dict.fromkeys(name for r in results for name in r.overall.rewards))
    widths = {name: max(7, len(name)) for name in custom}
    header = (
        f"{'TARGET':<16} {'DECODING':<12} {'GROUP':<8} {'ROWS':>5}  {'ACCURACY [95% CI]':<23}  "
        f"{'FORMAT [95% CI]':<23}  {'LENGTH':>7}  "
        + "".join(f"{name.upper():>{widths[name]}}  " for name in custom)
        + "PASS@K"
    )
    lines = [header]
    for result in results:
        for group, m in result_groups(result, types=False)[: None if by_family else 1]:
            passes = " ".join(f"@{k} {v.value:.1%}" for k, v in m.pass_at_k.items())
            length = m.mean_length.value if m.mean_length else 0.0
            means = "".join(
                f"{m.rewards[n]:>{widths[n]}.3f}  "
                if m.rewards.get(n) is not None
                else f"{'–':>{widths[n]}}  "
                for n in custom
            )
            lines.append(
                f"{result.label:<16} {result.decoding:<12} {group.removeprefix('family:'):<8} "
                f"{m.rows:>5}  {percent_interval(m.accuracy, wide=True):<23}  "
                f"{percent_interval(m.format, wide=True):<23}  {length:7.1f}  {means}{passes}"
            )
    if any(r.partial for r in results):
        lines.append("* partial: the evaluation was stopped before every row was done")
    timeouts = sum(r.overall.scoring_timeouts for r in results)
    if timeouts:
        lines.append(_timeout_note(timeouts))
    return "\n".join(lines)


def _timeout_note(count: int) -> str:
    return (
        f"{count} completion(s) took longer than grpo.scoring_timeout_s to compare with their gold answer "
        "and count as wrong (scoring_timeouts in the results)"
    )
