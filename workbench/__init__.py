"""grpo-workbench's domain core: run configs, data, rewards, run directories and GPU telemetry.

Nothing here imports Textual, and nothing imports torch at import time: the TUI must start fast and
never touch CUDA, so the training stack is imported lazily inside the functions that need it.
"""

from __future__ import annotations

__version__ = "0.1.0"
