"""OS processes: the run launcher and supervisor (stdlib + psutil) and the training job itself."""

from __future__ import annotations
