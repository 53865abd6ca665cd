"""GPU telemetry through NVML (nvidia-ml-py), with no torch and no CUDA context.

NVML reads memory and utilisation of every GPU without creating a CUDA context, so the TUI and the
supervisor can watch GPUs a training job owns. On machines without an NVIDIA driver every function
returns an empty answer instead of raising: "no GPU" is a normal state here, not an error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

_lock = threading.Lock()
_initialised: bool | None = None


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU."""

    index: int
    name: str
    memory_used_mib: float
    memory_total_mib: float
    utilization_pct: float
    time: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _init() -> bool:
    global _initialised
    with _lock:
        if _initialised is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                _initialised = True
            except Exception:  # no driver, no library, no permission: all mean "no GPU here"
                _initialised = False
        return _initialised


def device_count() -> int:
    """Number of NVIDIA GPUs NVML sees (0 without a driver)."""
    if not _init():
        return 0
    import pynvml

    try:
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:
        return 0


def sample(indices: Iterable[int] | None = None) -> list[GpuSample]:
    """Read memory and utilisation of every GPU now, or of the NVML `indices` only (a run on chosen GPUs
    of a shared machine records its own; indices NVML does not have are skipped)."""
    if not _init():
        return []
    import pynvml

    samples = []
    now = time.time()
    count = device_count()
    wanted = range(count) if indices is None else sorted({i for i in indices if 0 <= i < count})
    for index in wanted:
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            samples.append(
                GpuSample(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    memory_used_mib=memory.used / 2**20,
                    memory_total_mib=memory.total / 2**20,
                    utilization_pct=float(util.gpu),
                    time=now,
                )
            )
        except Exception:
            continue
    return samples


def driver_version() -> str | None:
    """The NVIDIA driver version, or None."""
    if not _init():
        return None
    import pynvml

    try:
        version = pynvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return None


def processes(index: int) -> list[int]:
    """Pids holding memory on GPU `index` (may be empty inside containers that hide them)."""
    if not _init():
        return []
    import pynvml

    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        return [p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)]
    except Exception:
        return []
