"""Custom reward functions, run where a hang or a crash cannot hurt the caller: a worker process that
imports them, calls them on bundled rows (the pre-launch check) or on one completion (the try-it screen)
and is killed when it runs past the time limit.

`check(config)` is the pre-launch check that `jobs.launch.launch` and the Configure screen run: for each
`[[custom_rewards]]` entry, the worker imports the file and calls the function with the keyword arguments
TRL passes, on `workbench.custom_rewards.PROBE_PROMPTS` bundled rows of grpo.num_generations completions
each; the import and the call each get grpo.reward_timeout_s. Every failure is one `Problem` naming the
file, the function, what went wrong and the fix. `Scorer` keeps a worker for scoring one completion at a
time with every reward of a config (`workbench.rewards.score_completion`, the code training runs).

Protocol: one JSON object per line each way; the worker answers each request with `{"ok": ...}` or
`{"error": {file, function, what, fix}}`. Its own stdout is the protocol: what a reward function
prints goes to stderr (discarded), never into the answers. Run as `python -m jobs.reward_check`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the worker starts without pydantic and psutil (0.6 s less)
    from workbench.config import Problem, RunConfig

STARTUP_TIMEOUT_S = 60.0
"""Seconds the worker may take to start (it imports only the workbench's reward code)."""
GRACE_S = 2.0
"""Beyond a call's own limit (which the worker enforces and reports), before the worker is killed."""


class WorkerGone(RuntimeError):
    """The worker process exited or could not start."""


class RewardWorker:
    """One worker process and the read end of its answers."""

    def __init__(self) -> None:
        from jobs.process import job_env

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobs.reward_check"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            env=job_env(),
        )
        self.buffer = b""
        if self._read(STARTUP_TIMEOUT_S) != {"ok": "ready"}:
            self.close()
            raise WorkerGone("the reward worker did not start")

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """Send one request and wait at most `timeout_s` for its answer; None when it did not come (the
        worker is then killed: make a new one).

        Raises:
            WorkerGone: the worker exited.
        """
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except OSError:
            self.close()
            raise WorkerGone("the reward worker exited") from None
        answer = self._read(timeout_s)
        if answer is None:
            self.close()
        return answer

    def _read(self, timeout_s: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.close()
                raise WorkerGone("the reward worker exited")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        answer = json.loads(line)
        return answer if isinstance(answer, dict) else None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


def _problem(error: dict[str, Any]) -> Problem:
    from workbench.config import Problem
    from workbench.custom_rewards import CustomRewardError

    return Problem("custom_rewards", str(CustomRewardError.from_json(error)))


@dataclass(frozen=True)
class CheckReport:
    """What the pre-launch check found, and how long it took."""

    problems: list[Problem]
    seconds: float


def check(config: RunConfig) -> list[Problem]:
    """The pre-launch check of every custom reward of `config` (see the module docstring); [] when
    there is none or all are fine."""
    return check_report(config).problems


def check_report(config: RunConfig) -> CheckReport:
    """`check`, with its wall-clock time."""
    started = time.monotonic()
    problems: list[Problem] = []
    limit = config.grpo.reward_timeout_s
    worker: RewardWorker | None = None
    try:
        for entry in config.custom_rewards:
            where = {"file": entry.file, "function": entry.function}
            try:
                if worker is None:
                    worker = RewardWorker()
                answer = worker.request({"op": "load", **where}, limit)
                if answer is None:
                    worker = None
                    problems.append(
                        _problem(
                            {
                                **where,
                                "what": f"importing the file took longer than {limit:g} s",
                                "fix": "do no slow work at import time, or raise grpo.reward_timeout_s",
                            }
                        )
                    )
                    continue
                if "error" in answer:
                    problems.append(_problem(answer["error"]))
                    continue
                probe = {
                    "op": "probe",
                    **where,
                    "num_generations": config.grpo.num_generations,
                    "max_steps": config.grpo.max_steps,
                    "timeout_s": limit,
                }
                answer = worker.request(probe, limit + GRACE_S)
                if answer is None or answer.get("timed_out"):
                    if worker is not None and worker.alive:
                        worker.close()  # its thread still runs the late call
                    worker = None
                if answer is None:
                    answer = {
                        "error": {
                            **where,
                            "what": f"did not return within {limit:g} s (it held the interpreter)",
                            "fix": "make it faster, or raise grpo.reward_timeout_s",
                        }
                    }
                if "error" in answer:
                    problems.append(_problem(answer["error"]))
            except WorkerGone as exc:
                worker = None
                problems.append(
                    _problem(
                        {
                            **where,
                            "what": f"{exc} while checking it (the function may exit the process)",
                            "fix": "never call exit() or os._exit() in a reward function",
                        }
                    )
                )
    finally:
        if worker is not None:
            worker.close()
    return CheckReport(problems, time.monotonic() - started)


class Scorer:
    """Scores one completion with every reward of a config in a worker process (the try-it screen): a
    custom reward that hangs costs the worker, never the caller. Not thread-safe: one caller at a time."""

    def __init__(self) -> None:
        self.worker: RewardWorker | None = None

    def score(
        self, config: RunConfig, completion: str, answer: str, question: str = "", row_type: str = ""
    ) -> dict[str, Any]:
        """`workbench.rewards.score_completion` of the completion (its JSON), computed in the worker.

        Raises:
            WorkerGone: the worker could not start or died (a reward function exited the process).
        """
        limit = config.grpo.reward_timeout_s
        request = {
            "op": "score",
            "config": config.model_dump(mode="json"),
            "completion": completion,
            "answer": answer,
            "question": question,
            "type": row_type,
        }
        if self.worker is None or not self.worker.alive:
            self.worker = RewardWorker()
        # built-in scoring can take up to scoring_timeout_s per comparison; custom rewards their own limit
        budget = limit * max(1, len(config.custom_rewards)) + config.grpo.scoring_timeout_s * 2 + GRACE_S
        reply = self.worker.request(request, budget)
        if reply is None:
            self.worker = None
            raise WorkerGone(f"scoring did not finish within {budget:g} s")
        if reply.get("timed_out"):
            self.worker.close()
            self.worker = None
        if "error" in reply:
            raise WorkerGone(str(reply["error"]))
        return dict(reply["ok"])

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


# --------------------------------------------------------------------------------------------- worker


def _serve(message: dict[str, Any]) -> dict[str, Any]:
    from workbench import custom_rewards as cr

    op = message.get("op")
    if op == "load":
        cr.load_function(message["file"], message["function"])
        return {"ok": True}
    if op == "probe":
        fn = cr.load_function(message["file"], message["function"])
        kwargs = cr.probe_kwargs(int(message["num_generations"]), int(message.get("max_steps", 0)))
        started = time.monotonic()
        cr.call(fn, message["file"], message["function"], kwargs, float(message["timeout_s"]))
        return {"ok": {"seconds": time.monotonic() - started}}
    if op == "score":
        from workbench.config import validate
        from workbench.rewards import score_completion

        config = validate(message["config"])
        report = score_completion(
            config,
            str(message["completion"]),
            str(message["answer"]),
            question=str(message.get("question", "")),
            row_type=str(message.get("type", "")),
        )
        return {"ok": report.to_json(), "timed_out": report.timed_out}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    """The worker: answer requests from stdin until it closes."""
    from workbench.custom_rewards import CustomRewardError

    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # what reward functions print must not reach the protocol
    sys.stdout = sys.stderr

    def answer(data: dict[str, Any]) -> None:
        protocol.write(json.dumps(data) + "\n")
        protocol.flush()

    answer({"ok": "ready"})
    for line in sys.stdin:
        try:
            message = json.loads(line)
            answer(_serve(message))
        except CustomRewardError as exc:
            answer({"error": exc.to_json(), "timed_out": exc.timed_out})
        except Exception as exc:  # a bug of ours: say it rather than hang the caller
            answer({"error": {"file": "", "function": "", "what": f"{type(exc).__name__}: {exc}", "fix": ""}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
