"""What the workbench app gives its screens, typed: the screens look it up with `screen_context` instead of
reaching into the app.

Two parts. The injectables, fixed for the app's life (the runs home, the clock, live following, the config
file, the GPU sampler): a frozen test app and a real one differ only there. And the app's services: its
live facts (the scanned runs, the attached run, the GPU reading) and the run actions that ask first.
The facts are also reactives of the app, which a screen watches (`self.watch(self.app, "runs", ...)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from textual.app import App

from workbench.gpu import GpuSample
from workbench.runs import RunInfo

if TYPE_CHECKING:
    from workbench.config import RunConfig
    from workbench.environment import Machine

Clock = Callable[[], float]
"""Wall-clock time in seconds (tests freeze it)."""
GpuSampler = Callable[[], list[GpuSample]]
"""Reads every GPU now (NVML; tests inject fixed readings)."""


@dataclass(frozen=True)
class ModeKey:
    """One mode as the mode bar shows it."""

    name: str
    """The mode's name, as `switch_mode` takes it."""
    title: str
    """Its name for people."""
    key: str
    """The key that switches to it, as the footer writes keys (the user's keymap applied)."""


class WorkbenchServices(Protocol):
    """The app's live facts and the actions screens call (WorkbenchApp is the one implementation)."""

    @property
    def runs(self) -> list[RunInfo]:
        """Every run under the runs home, newest first, as of the latest scan."""
        ...

    @property
    def attached(self) -> str | None:
        """The id of the run the Monitor follows."""
        ...

    @property
    def gpus(self) -> list[GpuSample]:
        """The latest reading of every GPU (empty on a machine without one)."""
        ...

    @property
    def gpu_total_gib(self) -> float | None:
        """Memory of the first GPU, or None without a GPU."""
        ...

    def machine(self) -> Machine:
        """This machine as the pre-flight sees it."""
        ...

    def backend_for(self, config: RunConfig) -> str:
        """The backend a run of `config` would use here."""
        ...

    def attach_run(self, run_id: str) -> None:
        """Follow `run_id` in the Monitor and show it."""
        ...

    def request_stop(self, run_id: str) -> None:
        """Ask, then stop `run_id` cleanly."""
        ...

    def request_resume(self, run_id: str) -> None:
        """Resume `run_id` from its last complete checkpoint."""
        ...

    def request_delete(self, run_id: str) -> None:
        """Ask, then delete a finished run's directory."""
        ...

    def clone_run(self, run_id: str) -> None:
        """Open Configure filled from `run_id`'s settings, for a new run with changes."""
        ...

    def rescan(self) -> None:
        """Scan the runs home now."""
        ...

    def mode_keys(self) -> list[ModeKey]:
        """Every mode, in key order, with the key in force for it."""
        ...


@dataclass(frozen=True)
class ScreenContext:
    """What a screen may use of the app."""

    runs_root: Path
    """The runs home."""
    clock: Clock
    """Wall-clock time, for ages and ETAs."""
    follow: bool
    """Poll runs live; False: each run is replayed once (frozen views, snapshots)."""
    config_path: Path
    """The last-used run config, loaded by Configure and rewritten at each launch."""
    gpu_sampler: GpuSampler
    """Reads every GPU now."""
    services: WorkbenchServices
    """The app's live facts and run actions."""


def screen_context(app: App[Any]) -> ScreenContext:
    """The context `app` gives its screens (the one way a screen or a palette provider finds it).

    Raises:
        TypeError: `app` is not a workbench app.
    """
    context = getattr(app, "screen_context", None)
    if not isinstance(context, ScreenContext):
        raise TypeError(f"{type(app).__name__} gives its screens no ScreenContext")
    return context
