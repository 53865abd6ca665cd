"""Starting a job process that outlives its caller: the one way training, evaluation and serving jobs are
spawned (stdlib only; no torch, no Textual).

A job runs in a new session with stdin from /dev/null and its output appended to a log file, so a closed
terminal, a hung-up SSH link or a quitting TUI never reaches it, and no pipe can fill up and block it.
Its environment makes this checkout's packages importable whatever the caller's cwd.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The checkout whose `workbench`, `jobs` and `screens` packages the job imports."""


def job_env(drop: Iterable[str] = ()) -> dict[str, str]:
    """The caller's environment for a job: unbuffered output, no tokenizers fork warnings, this checkout
    first on PYTHONPATH, and without the variables named in `drop` (secrets the job must not inherit)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in drop:
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def spawn_detached(
    argv: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session, output appended to `log`, in `cwd`.

    Args:
        argv: The command (no shell is involved).
        log: The log file (created if missing, appended to otherwise).
        cwd: The job's working directory.
        env: The environment; default `job_env()`.

    Returns:
        The Popen; poll it to reap the process while the caller lives.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env if env is not None else job_env(),
            cwd=cwd,
        )
