"""Where a GRPO step goes: each phase's own seconds, read from TRL's own profiling blocks.

Used by `grpo-workbench bench` (per-variant medians) and by the training job, which writes each step's
split into metrics.jsonl under `workbench.series.phase_key` names (`time/<phase>`), so the Monitor can
say what a step spends its time on.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

PHASES: dict[str, tuple[str, ...]] = {
    "generate": ("generate",),
    "weight sync": ("sync_weights",),
    "rewards": ("_calculate_rewards",),
    "scoring": ("_prepare_inputs",),
    "forward": ("_get_per_token_logps",),
    "loss": ("compute_loss",),
}
"""The step's phases read from TRL's profiling blocks (names as TRL gives them, matched by substring, the
first match wins): generation (vLLM's or transformers'), pushing the LoRA-merged weights into vLLM,
the reward functions, the rest of turning completions into a batch (tokenizing, advantages: TRL's
`_prepare_inputs` less the three before), the policy's forward passes, and the loss arithmetic
(`compute_loss` less its forward). Each phase counts its own time only, the phases nested in it taken
out, so the phases add up to the step. Generation, weight sync and rewards wait for their results, so
their wall time is real; the GPU work of a forward pass that a block launches but does not wait for shows
under a later phase. What is left of the step (`the rest`) is the backward pass and the optimizer."""


def phase_of(name: str) -> str | None:
    return next((phase for phase, keys in PHASES.items() if any(k in name for k in keys)), None)


class PhaseClock:
    """Seconds per phase of the step in flight, from TRL's own instrumentation.

    TRL times its blocks with `trl.extras.profiling.ProfilingContext` and hands each duration to
    `_log_metrics`, which reports to W&B/MLflow/Trackio only. `install` wraps `__enter__` and that method
    (process-wide, in the bench's or the training job's own process; the originals still called) to see
    where a step goes: whether generation or the update is the part to make faster. Blocks nest
    (`_prepare_inputs` holds generation and rewards), so a stack of open blocks gives each phase its
    exclusive time.
    """

    def __init__(self) -> None:
        self.current: dict[str, float] = {}
        self.installed = False
        self._step_start = time.perf_counter()
        self._open: list[list[Any]] = []
        """[phase or None, seconds of phased blocks nested inside] per open block, innermost last."""

    def enter(self, name: str) -> None:
        self._open.append([phase_of(name), 0.0])

    def leave(self, duration: float) -> None:
        if not self._open:
            return
        phase, nested = self._open.pop()
        if phase is not None:
            self.current[phase] = self.current.get(phase, 0.0) + max(0.0, duration - nested)
        if self._open:  # the enclosing block subtracts this one (an unphased block passes its own on)
            self._open[-1][1] += duration if phase is not None else nested

    def install(self) -> None:
        try:
            from trl.extras import profiling
        except ImportError:  # an older TRL without the hook: no breakdown, the step times stand
            return
        context = profiling.ProfilingContext
        if getattr(context._log_metrics, "_bench_clock", None) is not None:
            return
        original_enter, original_log = context.__enter__, context._log_metrics
        clock = self

        def enter(ctx: Any) -> Any:
            clock.enter(str(ctx.name))
            return original_enter(ctx)

        def record(ctx: Any, duration: float) -> None:
            clock.leave(duration)
            original_log(ctx, duration)

        record._bench_clock = self  # type: ignore[attr-defined]
        context.__enter__ = enter  # type: ignore[method-assign]
        context._log_metrics = record  # type: ignore[method-assign,assignment]
        self.installed = True

    def start_step(self) -> None:
        """An optimizer step begins: its phases and its wall time start from zero."""
        self.current = {}
        self._step_start = time.perf_counter()

    def end_step(self) -> tuple[float, dict[str, float]]:
        """The step's wall seconds since `start_step`, and its phases (`take`)."""
        seconds = time.perf_counter() - self._step_start
        return seconds, self.take(seconds)

    def take(self, step_seconds: float) -> dict[str, float]:
        """This step's phases (plus `the rest` of `step_seconds`), and start the next step from zero."""
        phases, self.current = self.current, {}
        if self.installed:
            phases["the rest"] = max(0.0, step_seconds - sum(phases.values()))
        return phases


def median_phases(steps: list[dict[str, float]]) -> dict[str, float]:
    """Each phase's median over the timed steps (0 for a step that did not run it)."""
    names = [n for n in (*PHASES, "the rest") if any(n in s for s in steps)]
    return {n: statistics.median(s.get(n, 0.0) for s in steps) for n in names}
