"""Stops that outlive their caller: `stop_detached` starts `python -m jobs.stopper KIND DIR`, which runs
the job's own blocking stop (SIGTERM, the grace period, SIGKILL if it hangs, the final state recorded)
in a session of its own, so the stop completes even if the TUI that asked for it quits meanwhile.
stdlib + psutil only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Literal

from jobs.process import spawn_detached

Kind = Literal["run", "serve"]


def stop_detached(kind: Kind, job_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start the stop of the job in `job_dir` in its own session and return at once.

    Args:
        kind: `run` (a training run) or `serve` (a serve job).
        job_dir: The job's directory.
        log: Where the stopper's own output is appended (the job's log).

    Returns:
        The stopper's Popen: await or poll it to learn when the stop has completed.
    """
    return spawn_detached([sys.executable, "-m", "jobs.stopper", kind, str(job_dir)], log, job_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Stop one job and wait for its end (see stop_detached).")
    parser.add_argument("kind", choices=["run", "serve"])
    parser.add_argument("job_dir", type=Path)
    args = parser.parse_args(argv)
    if args.kind == "run":
        from jobs import launch
        from workbench.runs import RunDir

        print(f"[stopper] {launch.stop(RunDir(args.job_dir.resolve()))}", flush=True)
    else:
        from jobs import serve
        from workbench.serving import ServeDir

        print(f"[stopper] {serve.stop(ServeDir(args.job_dir.resolve()))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
