"""The user's app settings: remapped keys and the chosen theme, in `settings.toml` beside the saved
configs (`GRPO_WORKBENCH_SETTINGS` names another file).

    theme = "nord"

    [keymap]              # binding id = keys (comma-separated); `grpo-workbench keys` lists the ids
    "app.help" = "f10"
    "monitor.stop" = "ctrl+x"

Settings are a convenience, never a reason not to start: a file that cannot be read or does not validate
gives the defaults and a message that names the file, the field and the fix, and is never overwritten
(the user's text is kept to be fixed). Run configs are separate (`workbench.config`): settings change how
the workbench looks and answers, never what a run does.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench import paths
from workbench.atomic import write_text_atomic

SETTINGS_ENV = "GRPO_WORKBENCH_SETTINGS"
"""An environment variable naming the settings file (instead of `<config dir>/settings.toml`)."""
_KEY = re.compile(r"^[a-z0-9_+\-]+$")
"""One key as Textual names it: `f10`, `ctrl+x`, `question_mark`, `shift+tab`."""


class AppSettings(BaseModel):
    """What the user changed about the workbench itself."""

    model_config = ConfigDict(extra="forbid")

    theme: str | None = None
    """A Textual theme name (Ctrl+P, "Change theme" picks one and saves it here); unset: the default."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id -> the keys that trigger it instead of its own (comma-separated, Textual's key names)."""

    @field_validator("keymap")
    @classmethod
    def _keys_are_key_names(cls, keymap: dict[str, str]) -> dict[str, str]:
        for binding_id, keys in keymap.items():
            names = [k.strip() for k in keys.split(",")]
            bad = [k for k in names if not _KEY.match(k)]
            if not keys.strip() or bad:
                raise ValueError(
                    f"{binding_id!r} = {keys!r}: give key names separated by commas, such as "
                    f'"f10" or "ctrl+x,f10" (not {", ".join(repr(b) for b in bad) or "nothing"})'
                )
        return {
            binding_id: ",".join(k.strip() for k in keys.split(",")) for binding_id, keys in keymap.items()
        }


def settings_path() -> Path:
    """The settings file: $GRPO_WORKBENCH_SETTINGS, else settings.toml in the config directory."""
    override = os.environ.get(SETTINGS_ENV, "").strip()
    return Path(override).expanduser() if override else paths.config_dir() / "settings.toml"


def load_settings(path: Path) -> tuple[AppSettings, str | None]:
    """The settings in `path` (defaults when it does not exist) and, when it cannot be used, why.

    Returns:
        (settings, problem): on a problem, the defaults and one message naming the file, the field and
        the fix; the file is left as it is.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AppSettings(), None
    except (OSError, UnicodeDecodeError) as exc:
        return AppSettings(), f"{path}: cannot be read ({exc}); using the default settings"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return AppSettings(), f"{path}: not valid TOML ({exc}); fix it, or delete it for the defaults"
    try:
        return AppSettings.model_validate(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(file)"
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown setting; the settings are theme and [keymap]"
        return AppSettings(), f"{path}: {field}: {message}; using the default settings until it is fixed"


def save_settings(path: Path, settings: AppSettings) -> None:
    """Write `settings` whole and atomically (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, tomli_w.dumps(settings.model_dump(exclude_none=True)))
