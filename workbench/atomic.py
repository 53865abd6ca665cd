"""Crash-safe file writes: the run directory is the job/UI contract, so no reader may see half a file.

Whole-file state (config.toml, manifest.json, status.json) goes to a temp file in the same directory,
is fsynced, then `os.replace`d over the target, which is atomic on POSIX filesystems. Append-only
streams (metrics.jsonl) are written one complete line per `write` call and flushed, and their readers
keep any torn last line for the next read (see `workbench.tail`).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace `path` with `text` so readers see the old or the new file, never a mix.

    Args:
        path: The target file; its directory must exist.
        text: The whole new content.
        mode: Permission bits of the new file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as pretty JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path) -> Any | None:
    """Read a JSON file, or None when it is missing or unreadable (a reader never crashes on state)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class JsonlWriter:
    """Appends one JSON object per line and flushes each, so a crash loses at most the line in flight."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = path.open("a", encoding="utf-8")
        if _ends_torn(path):
            # A writer killed mid-line (or cut off by a full disk) left a torn last line: end it here, so
            # this writer's first record starts on its own line instead of being glued to the torn one.
            self._fh.write("\n")
            self._fh.flush()

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a complete line."""
        self.write_line(json.dumps(record, ensure_ascii=False, default=_jsonable) + "\n")

    def write_line(self, line: str) -> None:
        """Append one line already serialised (it must end with a newline), in one write, flushed."""
        self._fh.write(line)
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _ends_torn(path: Path) -> bool:
    """True when `path` is non-empty and its last byte is not a newline."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except OSError:
        return False


def _jsonable(value: Any) -> Any:
    """Numbers from torch/numpy arrive as 0-d tensors or numpy scalars; store plain floats."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)
