"""The workbench app: five modes (Configure, Runs, Monitor, Chat, Evaluate) over the run directories.

The app owns what every mode shares: the runs home and its periodic scan (a thread worker), the
attached run the Monitor follows, the latest GPU reading (NVML, in a thread), the run actions
(stop, resume, delete: each asks first where work would be interrupted or lost; clone), and the terminal
bell when a run it saw running completes, fails or crashes. Runs are OS processes
started detached by `jobs.launch`; quitting the app never stops one, and on start it re-attaches to the
newest live run and replays its whole history. It never imports torch and never trains.

Everything time- or machine-dependent is injectable for tests: the runs root, the clock, whether runs
are followed live, the GPU sampler and the first mode. Screens see those, and the app's runs and
actions, through a typed `screens.context.ScreenContext`, not through the app's attributes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.notifications import Notify, SeverityLevel
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from screens.commands import RunCommands
from screens.context import Clock, GpuSampler, ModeKey, ScreenContext
from screens.dialogs import ConfirmScreen, HelpScreen, KeySection, PathPromptScreen, on_yes
from screens.formatting import toast_id
from screens.heap import HeapKeeper
from screens.keyorder import InOrderKeys
from workbench import gpu as wgpu
from workbench import paths
from workbench.gpu import GpuSample
from workbench.notify import NOTIFY_STATES
from workbench.runs import FINAL_STATES, LIVE_STATES, RunDir, RunInfo, list_runs, resolve_state, run_dirs
from workbench.settings import load_settings, save_settings, settings_path

if TYPE_CHECKING:
    from screens.configure import ConfigureScreen
    from workbench.config import RunConfig
    from workbench.environment import Machine

SCAN_SECONDS = 2.0
"""How often the runs home is rescanned (state, step, latest reward of every run)."""
GPU_SECONDS = 2.0
"""How often NVML is read for the live GPU gauge."""
HEAP_TICK_SECONDS = 0.25
"""How often the heap keeper (`screens.heap`) looks for a pause in the input to collect in."""
CONFIRMATION_SECONDS = 3.0
"""How long an information toast (a confirmation: launched, deleted, stopping) stays unless told
otherwise; warnings and errors keep Textual's 5 s or the timeout they ask for."""

KeyRows = tuple[tuple[str, str], ...]
"""(keys, what they do) rows of the help."""


@dataclass(frozen=True)
class ModeSpec:
    """One of the app's modes, named once: MODES, its key binding, its palette command and its help
    section are all derived from this.

    A mode's screen is imported when the mode is first shown (or its keys are listed), not with the app:
    the first frame waits only for the first mode's module (Configure's pydantic models, Monitor's
    plotext, Chat's HTTP client and the others are not needed to paint Runs).
    """

    name: str
    """The mode's name, as `switch_mode` takes it."""
    title: str
    """Its name for people: the palette's "Mode: <title>" and the help section's title."""
    screen_path: str
    """Its base screen, as `module:Class` (imported on first use: `screen`)."""
    f_key: str
    """Its function key (works everywhere, text fields included)."""
    digit: str
    """Its digit key (works outside text fields)."""
    binding_id: str
    """The id of its key binding. Users remap it in settings.toml and `grpo-workbench keys` lists it:
    never change one."""
    label: str
    """The binding's short description (`grpo-workbench keys`, the palette's key hints)."""
    tooltip: str
    """What the mode is for, as the key's tooltip and in the help."""
    command_help: str
    """What the mode is for, as the palette command's help."""
    help_before: KeyRows = ()
    """Keys of the screen's widgets, listed in the help before the screen's bindings."""
    help_after: KeyRows = ()
    """Keys of the screen's widgets, listed in the help after the screen's bindings."""

    @property
    def screen(self) -> type[Screen[Any]]:
        """Its base screen class (importing its module on first use)."""
        module, _, name = self.screen_path.partition(":")
        screen: type[Screen[Any]] = getattr(importlib.import_module(module), name)
        return screen

    def make_screen(self) -> Screen[Any]:
        """A new instance of its base screen (what `MODES` calls when the mode is first shown), born with
        the breakpoint classes of the terminal's size.

        Textual adds those classes on the screen's first resize, which restyles every widget of the
        screen a second time (on Configure's form, a tenth of a second before the first frame); a screen
        that has them from the start is styled once.
        """
        screen = self.screen()
        app = screen.app
        width, height = app.size
        classes = [
            name
            for size, breakpoints in (
                (width, app.HORIZONTAL_BREAKPOINTS or []),
                (height, app.VERTICAL_BREAKPOINTS or []),
            )
            for name in _breakpoint(size, breakpoints)
        ]
        screen.add_class(*classes, update=False)
        return screen

    def binding(self) -> Binding:
        """The app-wide key that switches to this mode."""
        return Binding(
            f"{self.f_key},{self.digit}",
            f"switch_mode({self.name!r})",
            self.label,
            id=self.binding_id,
            show=False,  # the mode bar on top of every mode shows every mode's key
            tooltip=f"{self.tooltip} ({self.digit} outside text fields)",
        )


def _breakpoint(size: int, breakpoints: list[tuple[int, str]]) -> list[str]:
    """The class of the largest breakpoint at most `size` (Textual's rule for HORIZONTAL_BREAKPOINTS)."""
    for threshold, name in sorted(breakpoints, reverse=True):
        if size >= threshold:
            return [name]
    return []


MODE_SPECS: tuple[ModeSpec, ...] = (
    ModeSpec(
        name="configure",
        title="Configure",
        screen_path="screens.configure:ConfigureScreen",
        f_key="f2",
        digit="1",
        binding_id="app.configure",
        label="Config",
        tooltip="Configure and launch a run",
        command_help="Edit and launch a run",
        help_after=(("tab, shift+tab", "Next / previous field"),),
    ),
    ModeSpec(
        name="runs",
        title="Runs",
        screen_path="screens.runs:RunsScreen",
        f_key="f3",
        digit="2",
        binding_id="app.runs",
        label="Runs",
        tooltip="Every run, live and past",
        command_help="Every run, live and past",
        help_before=(("↑, ↓", "Select a run"),),
    ),
    ModeSpec(
        name="monitor",
        title="Monitor",
        screen_path="screens.monitor:MonitorScreen",
        f_key="f4",
        digit="3",
        binding_id="app.monitor",
        label="Monitor",
        tooltip="Plots, samples and log of the attached run",
        command_help="Plots, samples and log of the attached run",
        help_after=(("tab", "Focus the samples or the log, then ↑/↓/PgUp/PgDn to scroll"),),
    ),
    ModeSpec(
        name="chat",
        title="Chat",
        screen_path="screens.chat:ChatScreen",
        f_key="f5",
        digit="4",
        binding_id="app.chat",
        label="Chat",
        tooltip="Chat with a run's base model and adapters, side by side",
        command_help="Serve a run and chat with its base model and adapters",
        help_after=(
            ("enter", "In the question box: ask A (and B)"),
            ("paste", "A pasted question arrives whole, on as many lines as it has"),
        ),
    ),
    ModeSpec(
        name="evaluate",
        title="Evaluate",
        screen_path="screens.evaluate:EvaluateScreen",
        f_key="f6",
        digit="5",
        binding_id="app.evaluate",
        label="Evaluate",
        tooltip="Held-out accuracy of base, checkpoints and adapter",
        command_help="Held-out accuracy before and after training",
        help_after=(
            ("tab, shift+tab", "Next / previous control: run, targets, decoding, buttons"),
            ("space", "Tick or untick the target under the cursor"),
        ),
    ),
)
"""The five modes, in key order (F2..F6, 1..5)."""


class WorkbenchApp(InOrderKeys[None]):
    """grpo-workbench: configure, launch, follow and manage GRPO runs from a terminal."""

    TITLE = "grpo-workbench"
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    """Absolute, so subclasses defined elsewhere (tests, benchmarks) find it."""
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        spec.name: spec.make_screen for spec in MODE_SPECS
    }
    COMMANDS = App.COMMANDS | {RunCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1,question_mark", "help", "Help", id="app.help", tooltip="Show every key"),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            priority=True,
            id="app.quit",
            tooltip="Quit the workbench (runs keep going)",
        ),
        Binding("q", "quit", "Quit", show=False, id="app.quit_q", tooltip="Quit (outside text fields)"),
        *(spec.binding() for spec in MODE_SPECS),
    ]

    runs: var[list[RunInfo]] = var(list, always_update=True)
    """Every run under the runs home, newest first (rescanned every SCAN_SECONDS)."""
    attached: var[str | None] = var(None)
    """The id of the run the Monitor follows."""
    gpus: var[list[GpuSample]] = var(list, always_update=True)
    """The latest reading of every GPU (empty on a machine without one)."""

    def __init__(
        self,
        runs_root: Path | None = None,
        clock: Clock = time.time,
        follow: bool = True,
        gpu_sampler: GpuSampler = wgpu.sample,
        initial_mode: str | None = None,
        *,
        attach: str | None = None,
        config_path: Path | None = None,
        settings_file: Path | None = None,
    ) -> None:
        """The app.

        Args:
            runs_root: The runs home (default: `$GRPO_WORKBENCH_HOME/runs` or the user data dir).
            clock: Wall-clock time for ages (tests freeze it).
            follow: Poll runs and GPUs live; False replays each run once (frozen views, snapshots).
            gpu_sampler: Reads every GPU now (default NVML; tests inject fixed readings).
            initial_mode: The first mode; default: Monitor on the newest live run, else Runs when there
                are runs, else Configure.
            attach: A run id to attach to at start.
            config_path: The last-used config, loaded by Configure and rewritten at each launch.
            settings_file: The user's settings (keymap, theme; default `workbench.settings.settings_path`).
        """
        super().__init__()
        self.runs_root = Path(runs_root) if runs_root is not None else paths.runs_dir()
        self.clock = clock
        self.follow = follow
        self.gpu_sampler = gpu_sampler
        self.initial_mode = initial_mode
        self.config_path = config_path or paths.last_config_path()
        self._attach_at_start = attach
        self.settings_file = settings_file or settings_path()
        self.settings, self._settings_problem = load_settings(self.settings_file)
        self.keymap: dict[str, str] = {}
        """The remapped keys in force (binding id -> keys): the settings' keymap less unknown ids."""
        self._children: list[subprocess.Popen[bytes]] = []
        self._modules: dict[str, bool] = {}
        self._seen_running: set[str] = set()
        """Runs a scan of this app found not yet ended: their ending rings the bell."""
        self.endings_rung: list[tuple[str, str]] = []
        """(run id, state) of every ending this app rang the bell for, in order."""
        self.screen_context = ScreenContext(
            runs_root=self.runs_root,
            clock=clock,
            follow=follow,
            config_path=self.config_path,
            gpu_sampler=gpu_sampler,
            services=self,
        )
        """What the screens use of the app (`screens.context.screen_context` finds it)."""
        self.heap = HeapKeeper()
        """Collects garbage while the input pauses, so that a full collection does not land on a key."""
        self._input_at = 0.0
        """When the user last pressed a key or used the mouse (`time.time()`, as notifications' raised_at)."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Textual's notify, as one line on the footer row (app.tcss docks the toasts there).

        Toasts used to stand above the footer, three to five rows tall, over what the user had just
        acted on: the loss plot after Ctrl+L launched a run, the Runs detail line after a key there.
        Like an editor's echo area they now sit on the footer's row, which holds keys, not data: the
        title leads the message on the same row (in bold) instead of a row of its own, and a
        confirmation goes after CONFIRMATION_SECONDS. A new toast replaces the confirmations and
        warnings raised before the user's last key or click (answers to an earlier action: stale, and
        stacked they climbed over the rows above); those of the same action (the settings' warnings at
        start) stand together, and errors stay their time. Only these and a message longer than a
        toast's width (a refused launch's problems, one a line) stand over the rows above.
        """
        for shown in list(self._notifications):  # private, the only way in (textual is pinned exactly)
            if shown.severity != "error" and shown.raised_at < self._input_at:
                self._unnotify(shown, refresh=False)
        if title:
            lead = f"[b]{escape(title)}[/b]" if markup else title
            message = f"{lead} · {message}"
        if timeout is None and severity == "information":
            timeout = CONFIRMATION_SECONDS
        super().notify(message, severity=severity, timeout=timeout, markup=markup)

    def _on_notify(self, event: Notify) -> None:
        """Show a notification unless the same one is on screen already: said again (a delete set off a
        scan per change, each saying `deleted RUN`), it stacked three rows over the Runs detail line.
        Checked here, before Textual's own handler adds it to the shown ones (`notify` only posts it;
        Textual then calls this class's handler and App's, unless the default is prevented)."""
        new = event.notification
        if any(n.message == new.message and n.severity == new.severity for n in self._notifications):
            event.prevent_default()

    # ------------------------------------------------------------------------------------------------
    # start

    def on_mount(self) -> None:
        self._apply_settings()
        mode = self.initial_mode or self._startup_mode()
        if self._attach_at_start:
            self.attached = self._attach_at_start
        elif mode == "monitor" and self.attached is None:
            self.attached = self._newest_run()
        self.switch_mode(mode)
        self.rescan()
        self._sample_gpus()
        self.set_interval(HEAP_TICK_SECONDS, self.heap.tick)
        if self.follow:
            self.set_interval(SCAN_SECONDS, self.rescan)
            self.set_interval(GPU_SECONDS, self._sample_gpus)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent) and not event.is_forwarded:
            self.heap.touch()
            self._input_at = time.time()
        await super().on_event(event)

    def on_unmount(self) -> None:
        self.heap.release()

    def _apply_settings(self) -> None:
        """The user's keymap and theme; whatever cannot be used is reported, never fatal."""

        def warn(message: str) -> None:
            self.notify(message, title="Settings", severity="warning", timeout=15)

        if self._settings_problem:
            warn(self._settings_problem)
        # Every screen's bindings are needed only to check a keymap (and importing them all costs the
        # first frame a few hundred milliseconds).
        known = {binding_id for binding_id, _, _ in binding_rows()} if self.settings.keymap else set()
        unknown = sorted(set(self.settings.keymap) - known)
        if unknown:
            warn(
                f"{self.settings_file}: keymap: unknown binding id {', '.join(map(repr, unknown))}; "
                "`grpo-workbench keys` lists them"
            )
        self.keymap = {k: v for k, v in self.settings.keymap.items() if k in known}
        if self.keymap:
            self.set_keymap(self.keymap)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        elif self.settings.theme:
            warn(
                f"{self.settings_file}: theme {self.settings.theme!r} is not one of "
                f"{', '.join(sorted(self.available_themes))}"
            )
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme: Any) -> None:
        """Keep the theme picked in the palette for the next start (unless the file needs fixing first)."""
        if self._settings_problem or theme.name == self.settings.theme:
            return
        self.settings = self.settings.model_copy(update={"theme": theme.name})
        try:
            save_settings(self.settings_file, self.settings)
        except OSError as exc:
            self.notify(f"could not save the theme to {self.settings_file}: {exc}", severity="warning")

    def _run_dirs(self) -> list[RunDir]:
        # workbench.runs.run_dirs leaves out entries it cannot inspect (a chmod 000 run, another user's)
        return run_dirs(self.runs_root) if self.runs_root.is_dir() else []

    def _newest_run(self) -> str | None:
        runs = self._run_dirs()
        return runs[0].run_id if runs else None

    def _startup_mode(self) -> str:
        """Monitor on the newest live run (re-attach), Runs when there are only past runs, else Configure."""
        runs = self._run_dirs()
        for run in runs:
            state, alive, _ = resolve_state(run)
            if alive or state in LIVE_STATES:
                self.attached = run.run_id
                return "monitor"
        return "runs" if runs else "configure"

    # ------------------------------------------------------------------------------------------------
    # shared facts

    @property
    def gpu_total_gib(self) -> float | None:
        """Memory of the first GPU (the one a single-GPU run uses), or None without a GPU."""
        return self.gpus[0].memory_total_mib / 1024 if self.gpus else None

    def _has_module(self, name: str) -> bool:
        if name not in self._modules:
            from workbench.environment import has_module

            self._modules[name] = has_module(name)
        return self._modules[name]

    def machine(self) -> Machine:
        """This machine as the pre-flight sees it, from the injected GPU sampler's latest reading."""
        from workbench.environment import Machine

        return Machine(
            gpus=len(self.gpus),
            unsloth=self._has_module("unsloth"),
            vllm=self._has_module("vllm"),
            gpu_total_gib=self.gpu_total_gib,
        )

    def backend_for(self, config: RunConfig) -> str:
        """The backend a run of `config` would use here."""
        from workbench.environment import resolve_backend

        return resolve_backend(config, self.machine())

    def run_info(self, run_id: str) -> RunInfo | None:
        """The latest scanned facts about one run."""
        return next((info for info in self.runs if info.run.run_id == run_id), None)

    # ------------------------------------------------------------------------------------------------
    # background work

    def mode_keys(self) -> list[ModeKey]:
        """Every mode, in key order, with its first key in force (the user's keymap applied)."""
        modes = []
        for spec in MODE_SPECS:
            keys = self.keymap.get(spec.binding_id) or spec.binding().key
            first = next(iter(Binding.make_bindings([Binding(keys, "")])), None)
            display = self.get_key_display(first) if first is not None else keys
            modes.append(ModeKey(spec.name, spec.title, display))
        return modes

    def rescan(self) -> None:
        """Scan the runs home now (and reap the runs this app started that have exited)."""
        self._children = [proc for proc in self._children if proc.poll() is None]
        self._scan_runs()

    @work(thread=True, exclusive=True, group="scan", description="scan runs", exit_on_error=False)
    def _scan_runs(self) -> list[RunInfo]:
        return list_runs(self.runs_root) if self.runs_root.is_dir() else []

    @work(thread=True, exclusive=True, group="gpu", description="read GPUs", exit_on_error=False)
    def _sample_gpus(self) -> list[GpuSample]:
        return list(self.gpu_sampler())

    @on(Worker.StateChanged)
    def handle_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one router for the app's workers: results go where they belong, errors to a notification."""
        worker = event.worker
        if worker.state == WorkerState.ERROR:
            self.notify(f"{worker.description}: {worker.error}", severity="error", title="error")
            return
        if worker.state != WorkerState.SUCCESS:
            return
        if worker.name == "_scan_runs":
            self.runs = list(worker.result or [])
            self._announce_endings(self.runs)
        elif worker.name == "_sample_gpus":
            if worker.result != self.gpus:
                self.gpus = list(worker.result or [])
        elif worker.name == "_resume_run" and worker.result is not None:
            self._children.append(worker.result)
            self.rescan()
        elif worker.name == "_delete_run" and worker.result:
            if self.attached == worker.result:
                self.attached = None
            self.notify(f"deleted {toast_id(worker.result)}")
            self.rescan()

    def _announce_endings(self, infos: list[RunInfo]) -> None:
        """Ring the terminal bell for each run that a scan of this app saw running and that has now
        completed, failed or crashed: once per ending (a resumed run that ends again rings again), never
        for runs that had ended before the app saw them, nor for a stop the user asked for."""
        for info in infos:
            run_id = info.run.run_id
            if info.alive or info.state not in FINAL_STATES:
                self._seen_running.add(run_id)
                continue
            if run_id not in self._seen_running:
                continue
            self._seen_running.discard(run_id)
            if info.state in NOTIFY_STATES and self.settings.notify.bell:
                self.endings_rung.append((run_id, info.state))
                self.bell()

    # ------------------------------------------------------------------------------------------------
    # run actions

    def attach_run(self, run_id: str) -> None:
        """Follow `run_id` in the Monitor and show it."""
        self.attached = run_id
        self.switch_mode("monitor")

    def on_configure_screen_run_launched(self, event: ConfigureScreen.RunLaunched) -> None:
        """A run launched from Configure: attach to it (named for the message, so that the app need not
        import Configure's module before that mode is shown)."""
        self._children.append(event.process)
        self.notify(f"launched {toast_id(event.run_id)}", title="run started")
        self.attach_run(event.run_id)
        self.rescan()

    def _orphan(self, run_id: str) -> bool:
        """A trainer still running after its supervisor was killed: the run reads crashed, yet Stop must
        reach it (the CLI's `stop` does the same)."""
        from jobs.launch import orphan_trainer

        return orphan_trainer(RunDir(self.runs_root / run_id)) is not None

    def request_stop(self, run_id: str) -> None:
        """Ask, then stop `run_id` cleanly (the trainer checkpoints first)."""
        info = self.run_info(run_id)
        if info is not None and not info.alive and info.state in FINAL_STATES and not self._orphan(run_id):
            self.notify(f"{toast_id(run_id)} is not running ({info.state})", severity="warning")
            return
        self.push_screen(
            ConfirmScreen(
                f"Stop run {run_id}?",
                "The trainer saves a checkpoint, then exits; Resume continues from there.",
                yes="Stop",
            ),
            on_yes(lambda: self._stop_run(run_id)),
        )

    # Not exclusive: stopping a second run must not drop the wait (and the notification) of the first.
    @work(exclusive=False, group="stop", description="stop run", exit_on_error=False)
    async def _stop_run(self, run_id: str) -> None:
        """Stop through the jobs' detached stopper (`jobs.stopper`): the stop (checkpoint, grace period,
        kill if it hangs) finishes even if this app quits meanwhile, and waiting here never blocks the UI."""
        from jobs.stopper import stop_detached

        run = RunDir(self.runs_root / run_id)
        self.notify(f"stopping {toast_id(run_id)}: it saves a checkpoint first…", title="stop")
        process = await asyncio.to_thread(stop_detached, "run", run.path, run.log)
        while process.poll() is None:
            await asyncio.sleep(0.2)
        state, _, _ = await asyncio.to_thread(resolve_state, run)
        self.notify(f"{toast_id(run_id)}: {state}", title="stop")
        self.rescan()

    def request_resume(self, run_id: str) -> None:
        """Resume `run_id` from its last complete checkpoint; without one, ask first.

        A run with no complete checkpoint starts training again from step 0 and its logged steps are
        dropped. That used to happen silently (the toast said only `resuming`, and only train.log told
        why step 8 became step 1), so it is asked like the other actions that throw work away.
        """
        info = self.run_info(run_id)
        if info is None or info.resume_step or not info.step:
            self._resume_run(run_id)
            return
        self.push_screen(
            ConfirmScreen(
                f"Start run {run_id} again from step 0?",
                f"It has no complete checkpoint to resume from: training starts again from step 0 and the "
                f"{info.step} steps it logged are dropped.",
                yes="Start over",
            ),
            on_yes(lambda: self._resume_run(run_id)),
        )

    @work(thread=True, exclusive=True, group="resume", description="resume run", exit_on_error=False)
    def _resume_run(self, run_id: str) -> subprocess.Popen[bytes] | None:
        from jobs.launch import LaunchError, resume

        try:
            process = resume(RunDir(self.runs_root / run_id))
        except LaunchError as exc:
            self.call_from_thread(self.notify, str(exc), severity="warning", title="resume")
            return None
        start = RunDir(self.runs_root / run_id).read_status().step  # where the launcher said it starts
        self.call_from_thread(self.notify, f"resuming {toast_id(run_id)} from step {start}", title="resume")
        self.call_from_thread(self.rescan)  # the row reads the new attempt's step now, not in a scan's time
        return process

    def clone_run(self, run_id: str) -> None:
        """Open Configure filled from `run_id`'s settings, less what a clone does not copy
        (`workbench.compare.NOT_COPIED`): Launch then starts a new run with a new id."""
        from workbench.compare import clone_data, with_defaults
        from workbench.config import ConfigError

        try:
            data = with_defaults(clone_data(RunDir(self.runs_root / run_id)))
        except ConfigError as exc:
            self.notify(str(exc.problems[0]), severity="error", title="clone")
            return
        self._clone_into_configure(run_id, data)

    @work(exclusive=True, group="clone", description="clone run", exit_on_error=False)
    async def _clone_into_configure(self, run_id: str, data: dict[str, Any]) -> None:
        from screens.configure import ConfigureScreen

        await self.switch_mode("configure")
        screen = self.screen
        if isinstance(screen, ConfigureScreen):
            # after the screen's own first fill (on mount), never before it
            screen.call_after_refresh(screen.fill_from_run, run_id, data)

    def request_delete(self, run_id: str) -> None:
        """Ask, then delete a finished run's directory."""
        info = self.run_info(run_id)
        if info is not None and (info.alive or info.state in LIVE_STATES):
            self.notify(f"{toast_id(run_id)} is {info.state}; stop it before deleting it", severity="warning")
            return
        self.push_screen(
            ConfirmScreen(
                f"Delete run {run_id}?",
                "Its directory goes: metrics, samples, log, checkpoints and the adapter. "
                "This cannot be undone.",
                yes="Delete",
            ),
            on_yes(lambda: self._delete_run(run_id)),
        )

    @work(thread=True, exclusive=True, group="delete", description="delete run", exit_on_error=False)
    def _delete_run(self, run_id: str) -> str | None:
        run = RunDir(self.runs_root / run_id)
        state, alive, _ = resolve_state(run)
        if alive or state in LIVE_STATES:
            self.call_from_thread(
                self.notify, f"{toast_id(run_id)} is {state}; stop it first", severity="warning"
            )
            return None
        shutil.rmtree(run.path)
        return run_id

    # ------------------------------------------------------------------------------------------------
    # help and palette

    def _key_rows(self, bindings: Iterable[BindingType]) -> KeyRows:
        rows = []
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue
            if binding.id in self.keymap:  # show the keys in force, as the user remapped them
                binding = dataclasses.replace(binding, key=self.keymap[binding.id])
            keys = ", ".join(self.get_key_display(b) for b in Binding.make_bindings([binding]))
            rows.append((keys, binding.tooltip or binding.description))
        return tuple(rows)

    def help_sections(self) -> list[KeySection]:
        """Every key, by where it works."""
        from screens.dialogs.choice import ChoiceScreen
        from screens.tryit import TryRewardsScreen
        from screens.widgets.choice import ChoiceField

        return [
            KeySection(
                "Everywhere",
                self._key_rows(self.BINDINGS)
                + (("ctrl+p", "Command palette: modes, attach:/stop:/resume: <run>, theme, keys"),),
            ),
            *(
                KeySection(
                    spec.title, spec.help_before + self._key_rows(spec.screen.BINDINGS) + spec.help_after
                )
                for spec in MODE_SPECS
            ),
            KeySection(
                "Choice lists (Configure)",
                self._key_rows(ChoiceField.BINDINGS)
                + (
                    ("↑, ↓, home, end, pgup, pgdn", "In an open list: move the highlight"),
                    ("type", "In an open list: jump to the first choice holding what is typed"),
                    ("tab, shift+tab", "In an open list: close it and go to the next / previous field"),
                )
                + self._key_rows([b for b in ChoiceScreen.BINDINGS if isinstance(b, Binding) and b.id]),
            ),
            KeySection(
                "Try the rewards (Ctrl+T in Configure)",
                (("type", "Edit the completion, the gold answer or the row number: every score updates"),)
                + self._key_rows(TryRewardsScreen.BINDINGS),
            ),
            KeySection("Dialogs", self._key_rows(ConfirmScreen.BINDINGS)),
        ]

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(
            HelpScreen(
                self.help_sections(),
                intro="Runs are separate processes: quitting never stops them; starting again re-attaches.",
            )
        )

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for spec in MODE_SPECS:
            yield SystemCommand(
                f"Mode: {spec.title}", spec.command_help, partial(self.switch_mode, spec.name)
            )
        yield SystemCommand("Help: keys", "Every key of every mode", self.action_help)
        yield SystemCommand("Rescan runs", "Scan the runs home now", self.rescan)


def binding_rows() -> list[tuple[str, str, str]]:
    """(binding id, default keys, what it does) for every binding with an id: what a keymap can remap."""
    from screens.compare import CompareScreen
    from screens.dialogs.choice import ChoiceScreen
    from screens.tryit import TryRewardsScreen
    from screens.widgets.choice import ChoiceField

    owners: list[Any] = [
        WorkbenchApp,
        *(spec.screen for spec in MODE_SPECS),
        CompareScreen,
        ChoiceField,
        ChoiceScreen,
        ConfirmScreen,
        PathPromptScreen,
        HelpScreen,
        TryRewardsScreen,
    ]
    rows = []
    for owner in owners:
        for binding in owner.BINDINGS:
            if isinstance(binding, Binding) and binding.id:
                rows.append((binding.id, binding.key, binding.tooltip or binding.description))
    return rows


def run_app(runs_root: Path | None = None) -> None:
    """Run the TUI until the user quits; runs keep going after it exits."""
    WorkbenchApp(runs_root).run()
