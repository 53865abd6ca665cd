"""The math-verify worker process of `workbench.verifier` (stdlib + math_verify; run as a script).

Protocol, one JSON line each way: the parent writes `["<gold LaTeX>", "<prediction LaTeX>", seconds]`,
the worker answers `1` (equivalent) or `0` (not, or math-verify failed on it). On start it writes `ready`
once math_verify is imported and warm, or `{"error": "..."}` when it cannot be. The parent kills the
worker when an answer is late (math-verify's own timeouts use SIGALRM, which cannot interrupt a long C
computation such as sympy raising an integer to a huge power). Should the parent die first, an idle
worker reads end-of-file and exits, and a busy one is stopped by the kernel: before each comparison the
worker lowers its own CPU-time limit to what it has used plus the comparison's seconds plus one (CPU
time never runs ahead of wall-clock time, so this never fires before the parent's kill would).

It must be started with `python -P` (no script directory on sys.path: workbench/numbers.py would shadow
the standard library's `numbers`).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import warnings

MEMORY_LIMIT_BYTES = 4 << 30
"""Address-space cap: a runaway computation fails with MemoryError instead of swapping the machine."""
GOLD_CACHE = 4096
"""Parsed gold answers kept (each is scored against every completion of its group)."""


def _limit_cpu(seconds: float) -> None:
    """SIGXCPU (which terminates) once this comparison has used `seconds` + 1 of CPU time."""
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds + 1)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    except (ImportError, ValueError, OSError):  # not POSIX: the parent's kill is the only limit
        pass


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the job, which stops the worker
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    logging.disable(logging.CRITICAL)  # math-verify's "Timeout is disabled" and parse warnings
    warnings.simplefilter("ignore")
    try:
        from math_verify import parse, verify

        half = parse("$\\frac{1}{2}$", parsing_timeout=None)
        verify(half, parse("$0.5$", parsing_timeout=None), timeout_seconds=None)  # warm: loads sympy
    except Exception as exc:
        sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        sys.stdout.flush()
        return 1
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    golds: dict[str, list[object]] = {}
    for line in sys.stdin:
        equal = False
        try:
            gold, prediction, seconds = json.loads(line)
            _limit_cpu(float(seconds))
            parsed_gold = golds.get(gold)
            if parsed_gold is None:
                if len(golds) >= GOLD_CACHE:
                    golds.clear()
                parsed_gold = golds[gold] = parse(f"${gold}$", parsing_timeout=None)
            parsed = parse(f"${prediction}$", parsing_timeout=None)
            equal = bool(parsed_gold and parsed and verify(parsed_gold, parsed, timeout_seconds=None))
        except (Exception, MemoryError, RecursionError):  # a malformed answer is simply not equal
            equal = False
        sys.stdout.write("1\n" if equal else "0\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
