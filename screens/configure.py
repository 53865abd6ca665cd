"""Configure: every setting of a run, validated as it is typed, with the model's size, a GPU memory
estimate and a preview of the training rows; Launch stays disabled until the config can run.

The form is generated from `workbench.config.RunConfig` (field types, choices and attribute docstrings),
so a new setting appears here without touching this file. Each keystroke re-validates the whole config
(microseconds of pydantic) and puts every message next to its field; the machine checks (pre-flight) and
the data preview (which imports `datasets`, and counts prompt tokens with `tokenizers` the way the run
will: `workbench.data.prepare_for_run`) run debounced in thread workers.
"""

from __future__ import annotations

import subprocess
import types
import typing
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast, get_args, get_origin

from pydantic import BaseModel
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.message import Message
from textual.reactive import reactive, var
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from screens.context import ScreenContext, screen_context
from screens.dialogs import PathPromptScreen
from screens.formatting import TOAST_WIDTH, parameter_size, toast_id
from screens.modescreen import ModeScreen
from screens.widgets.choice import ChoiceField
from screens.widgets.footer import SteadyFooter
from screens.widgets.forminput import FormInput
from screens.widgets.helpline import HelpLine
from screens.widgets.modebar import ModeBar
from screens.widgets.textline import TextLine
from workbench import presets
from workbench.config import (
    ALL_PROJECTIONS,
    ConfigError,
    Problem,
    RunConfig,
    default_config_path,
    validate,
)
from workbench.rewards import REWARD_NAMES

if TYPE_CHECKING:
    from workbench.data import DataStats

FieldKind = Literal[
    "text", "int", "float", "choice", "bool", "modules", "gpus", "gpu", "rewardfiles", "names"
]
DEBOUNCE_SECONDS = 0.4
"""Machine checks and the data preview wait for typing to pause this long."""
PREVIEW_ROWS = 3
STATUS_LINES = 4
"""The status beside the buttons wraps onto at most this many lines (a problem without a field of its
own, such as an unwritable runs home, is only there)."""
FIELD_HELP_HINT = "Tab / Shift+Tab move between fields; the focused field's description shows here."
PICKER_HELP = (
    "pick a model: a preset fills model.name (its parameter count beside it); any other hub id or local "
    "directory can be typed in model.name below"
)
SECTION_TITLES = {
    "run": "Run",
    "model": "Model",
    "lora": "LoRA",
    "rewards": "Reward weights",
    "grpo": "GRPO and optimiser",
    "distributed": "Several GPUs",
    "data": "Data",
}
GPU_FIELDS = ("distributed.gpus", "distributed.server_gpu")
"""Fields that name GPUs: disabled (showing "no GPU") on a machine without one, unless they hold a
choice that has to be cleared."""


@dataclass(frozen=True)
class FieldSpec:
    """One editable setting of the form."""

    key: str
    """The dotted config key, e.g. `lora.rank`."""
    kind: FieldKind
    description: str
    choices: tuple[str, ...] = ()
    group: str = ""
    """The form section it shows in, when not the key's own (custom_rewards sits with the weights)."""

    @property
    def section(self) -> str:
        return self.group or (self.key.split(".")[0] if "." in self.key else "run")

    @property
    def label(self) -> str:
        """The key without its section (the section title is above it): `rank` for `lora.rank`."""
        return self.key.split(".", 1)[-1]

    @property
    def widget_id(self) -> str:
        """The id of the field's input widget: `f-` and the key with dots as dashes."""
        return "f-" + self.key.replace(".", "-")

    @property
    def message_id(self) -> str:
        return "m-" + self.key.replace(".", "-")


def _kind_of(annotation: Any) -> tuple[FieldKind, tuple[str, ...]]:
    if annotation is bool:
        return "bool", ("true", "false")
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    if get_origin(annotation) is Literal:
        return "choice", tuple(str(arg) for arg in get_args(annotation))
    if get_origin(annotation) is list and get_args(annotation) == (int,):
        return "gpus", ()
    if get_origin(annotation) is list and get_origin(get_args(annotation)[0]) is Literal:
        return "names", tuple(str(arg) for arg in get_args(get_args(annotation)[0]))
    if get_origin(annotation) is list:
        return "modules", ALL_PROJECTIONS
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return "text", ()
    return "text", ()


def _describe(text: str | None) -> str:
    return " ".join((text or "").split())


def field_specs() -> list[FieldSpec]:
    """Every setting of RunConfig in form order: run, model, lora, rewards, grpo, data."""
    specs: list[FieldSpec] = []
    sections: list[tuple[str, type[BaseModel]]] = []
    for name, info in RunConfig.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections.append((name, annotation))
        elif name in ("rewards", "custom_rewards"):
            continue
        else:
            kind, choices = _kind_of(annotation)
            specs.append(FieldSpec(name, kind, _describe(info.description), choices))
    for name, model in sections:
        for sub, info in model.model_fields.items():
            kind, choices = _kind_of(info.annotation)
            if f"{name}.{sub}" in GPU_FIELDS and kind == "int":
                kind = "gpu"  # one GPU index, -1 (none) shown as an empty field
            specs.append(FieldSpec(f"{name}.{sub}", kind, _describe(info.description), choices))
        if name == "lora":
            rewards_doc = _describe(RunConfig.model_fields["rewards"].description)
            specs += [
                FieldSpec(f"rewards.{reward}", "float", f"Weight of {reward}. {rewards_doc}")
                for reward in REWARD_NAMES
            ]
            custom_doc = _describe(RunConfig.model_fields["custom_rewards"].description)
            specs.append(
                FieldSpec(
                    "custom_rewards",
                    "rewardfiles",
                    f"FILE.py:FUNCTION, comma-separated, e.g. examples/custom_rewards.py:length_reward. "
                    f"{custom_doc} Each gets a weight field below; Ctrl+T tries every reward on a "
                    "completion.",
                    group="rewards",
                )
            )
    return specs


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def format_value(spec: FieldSpec, value: Any) -> str:
    """A config value as the form shows it."""
    if spec.kind == "bool":
        return "true" if value else "false"
    if spec.kind == "modules":
        chosen = list(value or [])
        return "all" if set(chosen) == set(ALL_PROJECTIONS) else ", ".join(chosen)
    if spec.kind == "names":
        return ", ".join(str(name) for name in value or [])
    if spec.kind == "gpus":
        return ", ".join(str(index) for index in value or [])
    if spec.kind == "gpu":
        return "" if value is None or value < 0 else str(value)
    if spec.kind == "rewardfiles":
        return ", ".join(f"{_shown_path(e['file'])}:{e['function']}" for e in value or [])
    if value is None:
        return ""
    return str(value)


def parse_value(spec: FieldSpec, raw: str) -> Any:
    """The typed value of what the user entered.

    Raises:
        ValueError: with the message to show next to the field.
    """
    text = raw.strip()
    if spec.kind == "int":
        if not text:
            raise ValueError("is empty; fix: enter a whole number")
        try:
            return int(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"must be a whole number (got {text!r})") from None
    if spec.kind == "float":
        if not text:
            raise ValueError("is empty; fix: enter a number such as 0.5 or 5e-6")
        try:
            return float(text.replace("_", ""))
        except ValueError:
            raise ValueError(f"must be a number such as 0.5 or 5e-6 (got {text!r})") from None
    if spec.kind == "bool":
        return text == "true"
    if spec.kind == "modules":
        if text.lower() == "all":
            return list(ALL_PROJECTIONS)
        return [part for part in text.replace(",", " ").split() if part]
    if spec.kind == "names":
        return [part for part in text.replace(",", " ").split() if part]
    if spec.kind == "gpus":
        parts = text.strip("[]").replace(",", " ").split()
        if not all(part.isdigit() for part in parts):
            raise ValueError(f"must be GPU indices such as 0, 1 (got {text!r}); empty: the default GPU")
        return [int(part) for part in parts]
    if spec.kind == "rewardfiles":
        entries = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            file, colon, function = item.rpartition(":")
            if not colon or not file.strip() or not function.strip():
                raise ValueError(
                    f"{item!r} is not FILE.py:FUNCTION; fix: e.g. examples/custom_rewards.py:length_reward"
                )
            entries.append({"file": file.strip(), "function": function.strip()})
        return entries
    if spec.kind == "gpu":
        if not text:
            return -1
        if not text.isdigit():
            raise ValueError(f"must be one GPU index such as 2 (got {text!r}); empty: none")
        return int(text)
    return text


def _shown_path(file: str) -> str:
    """A custom reward file as the form writes it: relative to the working directory when inside it."""
    path = Path(file)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return file


def custom_names(raw: str) -> list[str]:
    """The function names of a custom_rewards field's text (the parseable entries; duplicates once)."""
    names: list[str] = []
    for item in raw.split(","):
        _, colon, function = item.strip().rpartition(":")
        function = function.strip()
        if colon and function.isidentifier() and function not in names and function not in REWARD_NAMES:
            names.append(function)
    return names


def memory_summary(config: RunConfig, gpu_total_gib: float | None, backend: str) -> str:
    """Parameters, trainable LoRA parameters and the GPU memory estimate, as two or three lines."""
    from workbench import plan as wplan

    preset = presets.PRESETS.get(config.model.name)
    lines = []
    shape = wplan.model_shape(config.model.name)
    if shape is None:
        lines.append(f"{config.model.name}: size unknown until the job loads it (a hub id)")
        return "\n".join(lines)
    what = preset.description if preset else "local model directory"
    lora = shape.lora_parameters(config.lora.rank, config.lora.target_modules)
    lines.append(
        f"{parameter_size(shape.parameter_count())} parameters ({what}); LoRA r={config.lora.rank} on "
        f"{len(config.lora.target_modules)} projections trains {lora / 1e6:,.2f}M"
    )
    from workbench.distributed import num_processes, rank_config

    try:
        run_plan = wplan.plan(rank_config(config), gpu_total_gib, backend)  # one process's share
    except ValueError as exc:  # ShapeError: nothing fits
        lines.append(f"GPU memory: does not fit: {exc}")
        return "\n".join(lines)
    est = run_plan.shape.estimate
    if gpu_total_gib and est is not None:
        verdict = "fits" if est.total_gib <= gpu_total_gib else "DOES NOT FIT"
        lines.append(
            f"GPU memory ≈ {est.total_gib:.1f} of {gpu_total_gib:.0f} GiB ({verdict}): trainer "
            f"{est.trainer_gib:.1f} + vLLM share {run_plan.vllm_share:.2f} = {est.vllm_gib:.1f} GiB; "
            f"backend {backend}, batch {run_plan.per_device_train_batch_size} x "
            f"{run_plan.gradient_accumulation_steps}"
            + (f" on each of {num_processes(config)} GPUs" if num_processes(config) > 1 else "")
        )
    else:
        from workbench.memory import estimate

        g = config.grpo
        est = estimate(
            shape,
            lora_rank=config.lora.rank,
            target_modules=config.lora.target_modules,
            micro_batch=run_plan.per_device_train_batch_size,
            generation_batch=g.generation_batch_size,
            max_prompt_length=g.max_prompt_length,
            max_completion_length=g.max_completion_length,
            vllm_share=0.0,
            gpu_total_gib=None,
            backend="trl",
            load_in_4bit=config.model.load_in_4bit,
        )
        lines.append(
            f"No GPU: this run trains on the CPU (backend {backend}). On a GPU without vLLM it would "
            f"need ≈ {est.total_gib:.1f} GiB."
        )
    return "\n".join(lines)


def field_label(text: str, key: str) -> Label:
    """A field's label: one line, cut with `…` when longer than the label column (a custom reward's
    function can be any length), with the whole dotted key as its tooltip (and in the help line when
    the field is focused), so the name stays findable."""
    label = Label(text, classes="field-label")
    label.tooltip = key
    return label


OTHER_MODEL = "__other__"
"""The model picker's last entry: a hub id or a local directory, typed in model.name."""


def model_choices() -> list[tuple[str, str]]:
    """The model picker: every preset with its parameter count, then "another"."""
    from workbench import plan as wplan

    choices = []
    for name in presets.PRESETS:
        shape = wplan.model_shape(name)
        count = shape.parameter_count() if shape is not None else 0
        choices.append((f"{name} · {parameter_size(count)} parameters", name))
    choices.append(("another: type a hub id or a path in name", OTHER_MODEL))
    return choices


class ConfigureScreen(ModeScreen):
    """The run form."""

    CSS_PATH = str(Path(__file__).with_name("configure.tcss"))
    """Absolute, so subclasses defined elsewhere (tests, benchmarks) find it."""
    AUTO_FOCUS = "#f-name"
    """Start in the first field (focusing the scrolling form instead restyles all ~250 widgets in it)."""
    BINDINGS = [
        Binding(
            "ctrl+l",
            "launch",
            "Launch",
            id="configure.launch",
            tooltip="Launch a run with this config (only when it is valid)",
        ),
        Binding(
            "ctrl+s",
            "save",
            "Save",
            id="configure.save",
            show=False,
            tooltip="Save this config to a TOML file",
        ),
        Binding(
            "ctrl+o",
            "load",
            "Load",
            id="configure.load",
            show=False,
            tooltip="Load a config from a TOML file",
        ),
        Binding(
            "ctrl+r",
            "preview",
            "Preview",
            id="configure.preview",
            tooltip="Load the data source again and show formatted rows and statistics (scrolls there)",
        ),
        Binding(
            "ctrl+g",
            "show_data",
            "Data",
            id="configure.data",
            tooltip="Go to the data preview at the end of the form (Tab or a click goes back to a field)",
        ),
        Binding(
            "ctrl+t",
            "try_rewards",
            "Try rewards",
            id="configure.try_rewards",
            tooltip="Try every reward (built-in and custom) on a completion, with this form's weights",
        ),
        Binding(
            "ctrl+n",
            "defaults",
            "Defaults",
            id="configure.defaults",
            show=False,
            tooltip="Reset every field to the offline default (tiny model, bundled rows)",
        ),
    ]
    SPECS: ClassVar[list[FieldSpec]] = field_specs()

    config: var[RunConfig | None] = var(None, always_update=True)
    """The valid config the form describes, or None while any field is invalid."""
    problems: var[list[Problem]] = var(list, always_update=True)
    """Everything wrong with the form now: field parsing, validation, machine checks, the data."""
    launching: reactive[bool] = reactive(False)
    """A launch is in flight (the button is disabled meanwhile)."""

    @dataclass
    class RunLaunched(Message):
        """A run was created and its supervisor started (detached); the app attaches to it."""

        run_id: str
        process: subprocess.Popen[bytes]

    @dataclass
    class LaunchRefused(Message):
        """The launch was refused before anything was created (the pre-flight found problems)."""

        problems: list[Problem]

    @dataclass
    class DataPreviewed(Message):
        """The data source was loaded and prepared (or failed to)."""

        data_key: str
        stats: DataStats | None
        rows: list[dict[str, Any]]
        error: str | None

    @dataclass
    class PreflightChecked(Message):
        """The machine checks of a config finished."""

        config_key: str
        problems: list[Problem]

    def __init__(self) -> None:
        super().__init__()
        self._debounce: Timer | None = None
        self._previewed_key: str | None = None
        self._data_problem: Problem | None = None
        self._preflight: tuple[str, list[Problem]] | None = None
        self.field_messages: dict[str, str] = {}
        """The message shown next to each field ('' when it is fine)."""
        self._model_info = ""
        self._custom_weights: dict[str, str] = {}
        """What the weight field of each custom reward holds (kept while its name is edited away and back)."""
        self._custom_shown: list[str] = []
        """The custom rewards whose weight rows are shown, in order."""
        self._custom_inputs: dict[str, Input] = {}
        self._custom_messages: dict[str, Static] = {}
        self._reward_check: tuple[str, list[Problem]] | None = None
        """(what the custom reward check depends on, its problems): the check spawns a process, so it runs
        again only when the files, their functions or the limits change."""
        self.last_valid: RunConfig | None = None
        """The last config the form described without a problem (what try-it scores with)."""
        """The text shown under model.name (parameters and memory estimate)."""

    @property
    def context(self) -> ScreenContext:
        """What this screen uses of the app: the runs home, the clock, the app's runs and actions."""
        return screen_context(self.app)

    # ------------------------------------------------------------------------------------------------
    # layout

    def compose(self) -> ComposeResult:
        yield ModeBar("configure")
        with VerticalScroll(id="form"):
            section = None
            for spec in self.SPECS:
                if spec.section != section:
                    section = spec.section
                    yield Static(SECTION_TITLES.get(section, section), classes="section-title")
                yield self._field_row(spec)
                if spec.key == "custom_rewards":
                    yield Vertical(id="custom-weights")
                if spec.key == "model.name":
                    yield Horizontal(
                        Label("pick a model", classes="field-label"),
                        ChoiceField(
                            model_choices(),
                            id="model-preset",
                            classes="preset-input",
                            tooltip="Fills model.name; any hub id or local directory can be typed there",
                        ),
                        classes="field-row preset-row",
                    )
                    yield Static("", id="model-info", classes="info")
            yield Static("", id="data-stats", classes="info")
            yield Static("", id="data-preview", classes="info")
        yield HelpLine(FIELD_HELP_HINT, id="field-help")
        with Horizontal(id="actions"):
            yield Button("Launch ^L", id="launch", variant="success", compact=True, disabled=True)
            yield Button("Save ^S", id="save", compact=True)
            yield Button("Load ^O", id="load", compact=True)
            yield TextLine("", wrap=True, max_lines=STATUS_LINES, id="config-status")
        yield SteadyFooter(compact=True)

    def _field_row(self, spec: FieldSpec) -> Widget:
        widget: Widget
        if spec.kind in ("choice", "bool"):
            # not Textual's Select: opening its list lays out the whole form (screens/widgets/choice.py)
            widget = ChoiceField([(c, c) for c in spec.choices], id=spec.widget_id, classes="field-input")
        else:
            widget = FormInput(compact=True, id=spec.widget_id, classes="field-input", select_on_focus=False)
            if spec.kind == "rewardfiles":
                widget.placeholder = "none (FILE.py:FUNCTION, …)"
        widget.tooltip = spec.description
        return Horizontal(
            field_label(spec.label, spec.key),
            widget,
            Static("", id=spec.message_id, classes="field-message"),
            classes="field-row",
        )

    def on_mount(self) -> None:
        self.sub_title = "Configure"
        self._fill(self._initial_config())
        self.watch(self.app, "gpus", self._gpus_changed, init=False)
        self.call_after_refresh(self._schedule_checks)
        # The form opens at its top: AUTO_FOCUS's scroll to the run name runs before the form's first
        # layout is final, and left the form two rows down at 80x24 (the heading and the model picker
        # hidden; test_a_key_jumps_to_the_data_preview).
        self.call_after_refresh(self.query_one("#form", VerticalScroll).scroll_home, animate=False)

    def _gpus_changed(self) -> None:
        """A new GPU reading can change the memory verdict and the machine checks."""
        self._update_gpu_fields()
        self._revalidate()
        self._schedule_checks()

    def _update_gpu_fields(self) -> None:
        """The GPU picker: the GPU fields list this machine's GPUs (NVML) as their placeholder, and are
        disabled, showing "no GPU", where there is none (enabled while they hold a choice to clear)."""
        gpus = list(self.context.services.gpus)
        names = ", ".join(sorted({g.name for g in gpus}))
        hint = f"GPUs 0-{len(gpus) - 1} ({names})" if len(gpus) > 1 else f"GPU 0 ({names})"
        for key in GPU_FIELDS:
            widget = self.query_one(f"#f-{key.replace('.', '-')}", Input)
            if gpus:
                widget.placeholder = hint + ("; empty: the default GPU" if key == "distributed.gpus" else "")
                widget.disabled = False
            else:
                widget.placeholder = "no GPU"
                widget.disabled = not widget.value.strip()

    def _initial_config(self) -> dict[str, Any]:
        """The last-used config if there is a valid one, else the offline default."""
        path = self.context.config_path
        if path.exists():
            try:
                from workbench.config import load

                return load(path).model_dump(mode="json")
            except ConfigError as exc:
                self.notify(
                    f"{path}: {exc.problems[0]}; starting from the offline default",
                    severity="warning",
                    title="last config",
                )
        return self._machine_default()

    def _machine_default(self) -> dict[str, Any]:
        """The offline demo without a GPU, the real 1B model with one (the injected sampler decides)."""
        from workbench.config import machine_default

        return machine_default(len(self.context.gpu_sampler())).model_dump(mode="json")

    @cached_property
    def _defaults(self) -> dict[str, Any]:
        """This machine's defaults, which a bound message quotes (`validate`'s `defaults`): read once, as
        the form validates on every keystroke."""
        return self._machine_default()

    # ------------------------------------------------------------------------------------------------
    # the form's values

    def _widget(self, spec: FieldSpec) -> Input | ChoiceField:
        return cast("Input | ChoiceField", self.query_one(f"#{spec.widget_id}"))

    def _fill(self, data: dict[str, Any]) -> None:
        """Show `data` (a config dump) in the form."""
        # One validation for the whole fill, not one per field's Changed message.
        with self.prevent(Input.Changed, ChoiceField.Changed):
            for spec in self.SPECS:
                value = format_value(spec, _lookup(data, spec.key))
                widget = self._widget(spec)
                if isinstance(widget, ChoiceField):
                    if value in spec.choices:
                        widget.value = value
                else:
                    widget.value = value
                    widget.cursor_position = len(value)
        weights = data.get("rewards") or {}
        for entry in data.get("custom_rewards") or []:
            name = entry.get("function") if isinstance(entry, dict) else None
            if isinstance(name, str) and name in weights:
                self._custom_weights[name] = format_value(FieldSpec("", "float", ""), weights[name])
        self._sync_custom_rows()
        self._show_preset(self.query_one("#f-model-name", Input).value)
        self._update_gpu_fields()
        self._revalidate()

    def collect(self) -> tuple[dict[str, Any], list[Problem]]:
        """The config data the form describes, and the fields that could not even be parsed."""
        data: dict[str, Any] = {}
        problems: list[Problem] = []
        for spec in self.SPECS:
            raw = self._widget(spec).value
            try:
                _assign(data, spec.key, parse_value(spec, raw))
            except ValueError as exc:
                problems.append(Problem(spec.key, str(exc)))
        weight = FieldSpec("", "float", "")
        for name in self._custom_shown:
            try:
                _assign(data, f"rewards.{name}", parse_value(weight, self._custom_weights.get(name, "1.0")))
            except ValueError as exc:
                problems.append(Problem(f"rewards.{name}", str(exc)))
        return data, problems

    # ------------------------------------------------------------------------------------------------
    # custom rewards: a weight row for each function named in custom_rewards

    def _sync_custom_rows(self) -> None:
        """Show one weight row per function the custom_rewards field names (new ones weigh 1.0)."""
        names = custom_names(self.query_one("#f-custom_rewards", Input).value)
        for name in names:
            self._custom_weights.setdefault(name, "1.0")
        if names == self._custom_shown:
            return
        self._custom_shown = names
        self._custom_inputs, self._custom_messages = {}, {}
        for key in [k for k in self.field_messages if k.startswith("rewards.") and k[8:] not in REWARD_NAMES]:
            del self.field_messages[key]
        rows = []
        for name in names:
            field = FormInput(
                self._custom_weights[name],
                compact=True,
                classes="field-input custom-weight",
                select_on_focus=False,
            )
            field.tooltip = f"Weight of the custom reward {name} (0 switches it off)"
            message = Static("", classes="field-message")
            self._custom_inputs[name], self._custom_messages[name] = field, message
            label = field_label(name, f"rewards.{name}")
            rows.append(Horizontal(label, field, message, classes="field-row"))
        box = self.query_one("#custom-weights", Vertical)
        box.remove_children()  # no ids in these rows: the new ones may mount before the old are gone
        box.mount_all(rows)

    def _custom_name_of(self, widget: Any) -> str | None:
        return next((n for n, w in self._custom_inputs.items() if w is widget), None)

    @on(Input.Changed, ".field-input")
    @on(ChoiceField.Changed, ".field-input")
    def handle_field_changed(self, event: Input.Changed | ChoiceField.Changed) -> None:
        custom = self._custom_name_of(event.control)
        if custom is not None:
            self._custom_weights[custom] = str(event.value)
        elif event.control.id == "f-custom_rewards":
            self._sync_custom_rows()
        if event.control.id == "f-model-name":
            self._show_preset(str(event.value))
        self._revalidate()
        self._schedule_checks()

    @on(ChoiceField.Changed, "#model-preset")
    def handle_preset_picked(self, event: ChoiceField.Changed) -> None:
        """A model picked from the list goes into model.name (which validates and sizes it)."""
        if event.value != OTHER_MODEL:
            field = self.query_one("#f-model-name", Input)
            if field.value != event.value:
                field.value = event.value
                field.cursor_position = len(event.value)
        else:
            self.query_one("#f-model-name", Input).focus()

    def _show_preset(self, name: str) -> None:
        """The picker follows model.name: its preset, or "another" for a hub id or a path."""
        picker = self.query_one("#model-preset", ChoiceField)
        value = name.strip() if name.strip() in presets.PRESETS else OTHER_MODEL
        if picker.value != value:
            with self.prevent(ChoiceField.Changed):
                picker.value = value

    def _revalidate(self) -> None:
        data, problems = self.collect()
        config: RunConfig | None = None
        if not problems:
            try:
                config = validate(data, self._defaults)
            except ConfigError as exc:
                problems = list(exc.problems)
        else:
            try:
                validate(data, self._defaults)  # the other fields' messages, even while one cannot be parsed
            except ConfigError as exc:
                parsed = {p.field for p in problems}
                problems += [p for p in exc.problems if p.field not in parsed]
        if config is not None:
            if self._preflight and self._preflight[0] == config.model_dump_json():
                problems += self._preflight[1]
            if self._data_problem and self._previewed_key == self._data_key(config):
                problems.append(self._data_problem)
        self.problems = problems
        self.config = config

    def watch_problems(self, problems: list[Problem]) -> None:
        by_field: dict[str, list[str]] = {}
        general: list[str] = []
        keys = {spec.key for spec in self.SPECS} | {f"rewards.{name}" for name in self._custom_messages}
        for problem in problems:
            if problem.field in keys:
                by_field.setdefault(problem.field, []).append(problem.message)
            else:
                general.append(str(problem))
        changed: list[DOMNode] = []
        for name, widget in self._custom_messages.items():
            key = f"rewards.{name}"
            text = "; ".join(by_field.get(key, []))
            if self.field_messages.get(key) != text:
                self.field_messages[key] = text
                widget.update(text)
                if widget.parent is not None:
                    widget.parent.set_class(bool(text), "-invalid")
                    changed.append(widget.parent)
        for spec in self.SPECS:
            messages = by_field.get(spec.key, [])
            text = "; ".join(messages)
            if self.field_messages.get(spec.key) == text:
                continue  # most fields do not change on a keystroke: leave them alone
            self.field_messages[spec.key] = text
            message = self.query_one(f"#{spec.message_id}", Static)
            message.update(text)
            row = message.parent
            if row is not None:
                row.set_class(bool(messages), "-invalid")
                changed.append(row)
        focused = self.focused
        if focused is not None and isinstance(focused.parent, Widget) and focused.parent in changed:
            # its message came, went or changed: once the row has its new height, show all of it
            self.call_after_refresh(self._reveal_row, focused.parent)
        status = self.query_one("#config-status", TextLine)
        if problems:
            first = general[0] if general else f"{problems[0].field}: {problems[0].message}"
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            status.update(Text.assemble((f"✗ {count}", "bold red"), f" · {first}"))
        else:
            status.update(Text.assemble(("✓ valid", "bold green"), " · Ctrl+L launches"))
        self._update_launch()

    def watch_config(self, config: RunConfig | None) -> None:
        self._update_launch()
        if config is None:
            return
        self.last_valid = config
        services = self.context.services
        try:
            summary = memory_summary(config, services.gpu_total_gib, services.backend_for(config))
        except Exception as exc:  # the estimate is advice: a bug in it must not break the form
            summary = f"estimate unavailable: {exc}"
        if summary != self._model_info:
            # Static.update lays the whole form out again (tens of ms): only when the text changed,
            # which most keystrokes (a run name, a learning rate) do not.
            self._model_info = summary
            self.query_one("#model-info", Static).update(summary)

    def watch_launching(self) -> None:
        self._update_launch()

    def _update_launch(self) -> None:
        launch = self.query_one("#launch", Button)
        launch.disabled = self.config is None or bool(self.problems) or self.launching

    @property
    def can_launch(self) -> bool:
        """True when Launch is enabled."""
        return not self.query_one("#launch", Button).disabled

    def on_descendant_focus(self, event: Any) -> None:
        widget = getattr(event, "widget", None)
        spec = next((s for s in self.SPECS if widget is not None and widget.id == s.widget_id), None)
        custom = self._custom_name_of(widget)
        if custom is not None:
            rewards_doc = _describe(RunConfig.model_fields["rewards"].description)
            spec = FieldSpec(
                f"rewards.{custom}", "float", f"Weight of the custom reward {custom}. {rewards_doc}"
            )
        if spec is None and widget is not None and widget.id == "model-preset":
            spec = FieldSpec("model.name", "choice", PICKER_HELP)
        self.query_one("#field-help", HelpLine).show(
            Text.assemble((spec.key, "bold"), " · ", spec.description) if spec else FIELD_HELP_HINT
        )

    def set_focus(
        self, widget: Widget | None, scroll_visible: bool = True, from_app_focus: bool = False
    ) -> None:
        """Focus `widget`. A field whose row holds a message scrolls its whole row into view, message
        included, where Textual would scroll to the input alone (and a message wrapped under or beside
        it could end below the fold). Done here, in Textual's place, rather than after it: two scrolls
        queued by focus would race, and the form end up in one place or the other."""
        row = widget.parent if widget is not None else None
        if scroll_visible and isinstance(row, Widget) and row.has_class("-invalid"):
            super().set_focus(widget, scroll_visible=False, from_app_focus=from_app_focus)
            self.call_later(self._reveal_row, row)
            return
        super().set_focus(widget, scroll_visible, from_app_focus)

    def _reveal_row(self, row: Widget) -> None:
        """Centre a field's row in the form (as Textual centres a focused widget it cannot show whole),
        if its field is still focused and the row is not wholly in view; a row taller than the form shows
        from its top."""
        focused = self.focused
        if focused is not None and focused.parent is row and not self.can_view_entire(row):
            self.scroll_to_center(row, animate=False, origin_visible=True)

    # ------------------------------------------------------------------------------------------------
    # machine checks and data preview (debounced, in threads)

    @staticmethod
    def _data_key(config: RunConfig) -> str:
        """What the preview depends on: the data section, and the model and length that drop prompts."""
        return f"{config.data.model_dump_json()} {config.model.name} {config.grpo.max_prompt_length}"

    def _schedule_checks(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_SECONDS, self._run_checks)

    def _run_checks(self) -> None:
        config = self.config
        if config is None:
            return
        self._check_machine(config)
        key = self._data_key(config)
        if key != self._previewed_key:
            self._previewed_key = key
            self._data_problem = None
            self.query_one("#data-stats", Static).update(Text("loading the data source…", style="dim"))
            self._preview_data(config)

    def action_preview(self) -> None:
        config = self.config
        if config is None:
            self.notify("fix the config first", severity="warning")
            return
        self._previewed_key = self._data_key(config)
        self._data_problem = None
        self.query_one("#data-stats", Static).update(Text("loading the data source…", style="dim"))
        self._preview_data(config)
        self.action_show_data()

    def action_show_data(self) -> None:
        """Scroll the form to the data statistics and preview rows (about 60 fields down)."""
        form = self.query_one("#form", VerticalScroll)
        stats = self.query_one("#data-stats", Static)
        # after the next layout: rows mounted above it on this same turn (a custom reward's weight) count
        self.call_after_refresh(form.scroll_to_widget, stats, top=True, animate=False)

    @work(
        thread=True, exclusive=True, group="preflight", description="check the machine", exit_on_error=False
    )
    def _check_machine(self, config: RunConfig) -> None:
        from workbench.environment import preflight

        problems = preflight(config, self.context.services.machine())
        problems += self._check_rewards(config)
        self.post_message(self.PreflightChecked(config.model_dump_json(), problems))

    def _check_rewards(self, config: RunConfig) -> list[Problem]:
        """The launch's check of the custom reward files (`jobs.reward_check`, a process of its own), again
        only when a file, a function or a limit changed."""
        if not config.custom_rewards:
            return []
        import json

        def stamp(file: str) -> list[int] | None:
            try:
                info = Path(file).stat()
            except OSError:
                return None
            return [info.st_mtime_ns, info.st_size]

        g = config.grpo
        key = json.dumps(
            [[e.file, e.function, stamp(e.file)] for e in config.custom_rewards]
            + [g.num_generations, g.max_steps, g.reward_timeout_s]
        )
        if self._reward_check is None or self._reward_check[0] != key:
            from jobs.reward_check import check

            self._reward_check = (key, check(config))
        return list(self._reward_check[1])

    @work(thread=True, exclusive=True, group="preview", description="preview the data", exit_on_error=False)
    def _preview_data(self, config: RunConfig) -> None:
        from workbench import data as wdata

        key = self._data_key(config)
        try:
            rows = wdata.load_rows(config.data)
            prepared = wdata.prepare_for_run(rows, config)
        except wdata.DataError as exc:
            self.post_message(self.DataPreviewed(key, None, [], str(exc)))
            return
        self.post_message(self.DataPreviewed(key, prepared.stats, prepared.train[:PREVIEW_ROWS], None))

    @on(PreflightChecked)
    def handle_preflight_checked(self, event: PreflightChecked) -> None:
        self._preflight = (event.config_key, event.problems)
        self._revalidate()

    @on(DataPreviewed)
    def handle_data_previewed(self, event: DataPreviewed) -> None:
        if event.data_key != self._previewed_key:
            return  # the data fields changed since; a newer preview is on its way
        stats_widget = self.query_one("#data-stats", Static)
        preview = self.query_one("#data-preview", Static)
        if event.error or event.stats is None:
            self._data_problem = Problem("data.source", event.error or "could not be read")
            stats_widget.update(Text(event.error or "", style="red"))
            preview.update("")
        else:
            self._data_problem = None
            s = event.stats
            by_type = ", ".join(f"{k} {v}" for k, v in s.by_type.items())
            summary = s.summary() + (f"; types: {by_type}" if by_type else "") + "."
            stats_widget.update(Text.assemble(("Data: ", "bold"), summary))
            preview.update(self._render_rows(event.rows))
        self._revalidate()

    @staticmethod
    def _render_rows(rows: list[dict[str, Any]]) -> Text:
        text = Text()
        for number, row in enumerate(rows, 1):
            messages = row.get("prompt") or []
            user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
            system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
            text.append(f"row {number} ", "bold")
            text.append(f"({row.get('type', '?')}) ", "dim")
            if number == 1 and system:
                text.append("\n[system] ", "bold dim")
                text.append(" ".join(system.split()), "dim")
            text.append("\n[user] ", "bold")
            text.append(" ".join(str(user).split()))
            text.append("\n[gold answer] ", "bold")
            text.append(str(row.get("answer")), "green")
            text.append("\n")
        return text

    # ------------------------------------------------------------------------------------------------
    # launch, save, load

    @on(Button.Pressed, "#launch")
    def handle_launch_pressed(self) -> None:
        self.action_launch()

    @on(Button.Pressed, "#save")
    def handle_save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#load")
    def handle_load_pressed(self) -> None:
        self.action_load()

    def action_launch(self) -> None:
        config = self.config
        if config is None or not self.can_launch:
            first = self.problems[0] if self.problems else None
            self.notify(f"cannot launch: {first}" if first else "cannot launch yet", severity="warning")
            return
        self.launching = True
        self._launch_run(config)

    @work(thread=True, exclusive=True, group="launch", description="launch run", exit_on_error=False)
    def _launch_run(self, config: RunConfig) -> None:
        from jobs.launch import launch

        try:
            run, process = launch(config, root=self.context.runs_root)
        except ConfigError as exc:
            self.post_message(self.LaunchRefused(list(exc.problems)))
            return
        try:
            config.save(self.context.config_path)
        except OSError:
            pass  # remembering the config is a convenience; the run has its own copy
        self.post_message(self.RunLaunched(run.run_id, process))

    @on(LaunchRefused)
    def handle_launch_refused(self, event: LaunchRefused) -> None:
        self.launching = False
        self._preflight = (self.config.model_dump_json(), event.problems) if self.config else None
        self._revalidate()
        self.notify("\n".join(str(p) for p in event.problems[:3]), severity="error", title="launch refused")

    @on(RunLaunched)
    def handle_run_launched(self, event: RunLaunched) -> None:
        """Re-enable the button; the event bubbles on to the app, which attaches to the run."""
        self.launching = False

    @on(Worker.StateChanged)
    def handle_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one router for this screen's workers: failures become notifications, never tracebacks."""
        worker = event.worker
        if worker.state == WorkerState.ERROR:
            if worker.group == "launch":
                self.launching = False
            self.notify(f"{worker.description}: {worker.error}", severity="error")

    def action_save(self) -> None:
        config = self.config
        if config is None:
            self.notify("fix the config before saving it", severity="warning")
            return
        name = config.name or config.model.name
        suggestion = default_config_path().parent / f"{name}.toml"

        def save(path: Path | None) -> None:
            if path is None:
                return
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                config.save(path)
            except OSError as exc:
                self.notify(f"could not save {path}: {exc.strerror or exc}", severity="error")
                return
            self.notify(f"saved {path}")

        self.app.push_screen(PathPromptScreen("Save config as", suggestion), save)

    def action_load(self) -> None:
        def load(path: Path | None) -> None:
            if path is None:
                return
            from workbench.config import load as load_config

            try:
                # over this machine's defaults, as `--config` does: a partial file changes what it names
                config = load_config(path, base=self._machine_default())
            except ConfigError as exc:
                self.notify("\n".join(str(p) for p in exc.problems[:3]), severity="error", title=f"{path}")
                return
            self._fill(config.model_dump(mode="json"))
            self._schedule_checks()
            self.notify(f"loaded {path}")

        self.app.push_screen(PathPromptScreen("Load config from", self.context.config_path), load)

    def action_try_rewards(self) -> None:
        """Open try-it with the form's config (the last valid one while a field is being fixed)."""
        from screens.tryit import TryRewardsScreen

        config = self.config or self.last_valid
        if config is None:
            self.notify("fix the config first: try-it scores with its weights", severity="warning")
            return
        self.app.push_screen(TryRewardsScreen(config))

    def fill_from_run(self, run_id: str, data: dict[str, Any]) -> None:
        """Clone with changes: show `data` (a run's settings, `workbench.compare.clone_data`) in the form;
        Launch starts a new run with them, whatever is changed first."""
        self._fill(data)
        self._schedule_checks()
        self.query_one("#f-name", Input).focus()
        self.notify(f"settings of {toast_id(run_id)} (all but lora.init_from)", title="clone")

    def action_defaults(self) -> None:
        data = self._machine_default()
        self._fill(data)
        self._schedule_checks()
        # one row on the footer's (a longer toast covered the status line that says what the reset led
        # to): what the fields now hold is in them, the toast names only what weighs most if it fits
        message = "every field is back to this machine's default"
        detail = f": {data['model']['name']}, {data['grpo']['max_steps']} steps"
        if len("defaults · ") + len(message + detail) <= TOAST_WIDTH:
            message += detail
        self.notify(message, title="defaults")

    # ------------------------------------------------------------------------------------------------
    # for tests and the command palette

    def set_field(self, key: str, value: str) -> None:
        """Put `value` in the field of `key` as if typed."""
        if key.startswith("rewards.") and key[8:] in self._custom_inputs:
            self._custom_inputs[key[8:]].value = value
            return
        spec = next(s for s in self.SPECS if s.key == key)
        widget = self._widget(spec)
        widget.value = value

    def field_message(self, key: str) -> str:
        """The message shown next to the field of `key` ('' when it is fine)."""
        return self.field_messages.get(key, "")


__all__ = ["ConfigureScreen", "FieldSpec", "field_specs", "format_value", "memory_summary", "parse_value"]
