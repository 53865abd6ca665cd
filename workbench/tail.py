"""Following append-only JSONL files (metrics, samples, GPU samples) without ever blocking or losing a line.

A reader keeps a byte offset, reads bounded chunks, splits at the last newline and keeps the partial
tail for the next read, so a line the writer is half-way through is never parsed. If the file shrinks
below the offset (replaced or truncated), the reader starts over. Lines that are not valid JSON are
skipped and counted rather than raised: a torn line left by a killed writer must not break a viewer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024
"""Most bytes read per call: a huge backlog is replayed over several ticks instead of freezing one."""


class LineTail:
    """Incremental reader of one append-only text file: complete lines only, torn last line kept back."""

    def __init__(self, path: Path, chunk: int = CHUNK):
        self.path = path
        self.chunk = chunk
        self.offset = 0
        self.reset_count = 0
        """Times the file shrank and was replayed from the start."""
        self._partial = b""

    def read_lines(self, max_bytes: int | None = None) -> list[bytes]:
        """The complete new lines since the last call (at most `max_bytes` read), without newlines."""
        limit = max_bytes or self.chunk
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:
            self.offset, self._partial = 0, b""
            self.reset_count += 1
        if size == self.offset:
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read(min(limit, size - self.offset))
        self.offset += len(data)
        buffer = self._partial + data
        cut = buffer.rfind(b"\n")
        if cut < 0:
            self._partial = buffer
            return []
        self._partial = buffer[cut + 1 :]
        return buffer[:cut].split(b"\n")

    @property
    def pending(self) -> bool:
        """True when the file holds bytes not read yet."""
        try:
            return self.path.stat().st_size > self.offset
        except FileNotFoundError:
            return False


class JsonlTail(LineTail):
    """Incremental reader of one JSONL file."""

    def __init__(self, path: Path, chunk: int = CHUNK):
        super().__init__(path, chunk)
        self.bad_lines = 0
        """Lines skipped because they were not JSON objects (torn writes, foreign text)."""

    def read(self, max_bytes: int | None = None) -> list[dict[str, Any]]:
        """Return the complete new records since the last call (at most `max_bytes` read)."""
        records = []
        for line in self.read_lines(max_bytes):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                self.bad_lines += 1
        return records

    def read_all(self) -> list[dict[str, Any]]:
        """Read everything available now, chunk by chunk."""
        records: list[dict[str, Any]] = []
        while True:
            batch = self.read()
            if not batch and not self.pending:
                break
            records += batch
        return records


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All complete records of a JSONL file (a torn last line is ignored)."""
    return JsonlTail(path).read_all()
