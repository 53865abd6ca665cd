"""The user's app settings: remapped keys, the chosen theme and how a run's end is announced, in
`settings.toml` beside the saved configs (`GRPO_WORKBENCH_SETTINGS` names another file).

    theme = "nord"

    [keymap]              # binding id = keys (comma-separated); `grpo-workbench keys` lists the ids
    "app.help" = "f10"
    "monitor.stop" = "ctrl+x"

    [notify]              # when a run completes, fails or crashes
    bell = true           # the TUI rings the terminal bell (runs that end while it watches)
    webhook_url = "https://hooks.slack.com/services/..."   # the run's supervisor POSTs there

Settings are a convenience, never a reason not to start: a file that cannot be read or does not validate
gives the defaults and a message that names the file, the field and the fix, and is never overwritten
(the user's text is kept to be fixed). Run configs are separate (`workbench.config`): settings change how
the workbench looks and answers, never what a run does. The webhook URL is a secret (whoever has it can
post to the channel): it is never logged, never put in a command line, and errors that could carry it are
redacted (`workbench.notify`).
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


class NotifySettings(BaseModel):
    """How the end of a run (completed, failed or crashed; not a stop the user asked for) is announced."""

    model_config = ConfigDict(extra="forbid")

    bell: bool = True
    """Ring the terminal bell in the TUI when a run it watched running ends (once per ending)."""
    webhook_url: str | None = None
    """A Slack or Discord incoming-webhook URL (or any endpoint taking JSON): the run's supervisor POSTs
    run, state, steps, final reward and duration there when the run ends. Unset: no webhook."""
    webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    """Seconds each attempt may take (connect and answer); three attempts at most, never holding the run."""

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not rest.split("/")[0]:
            # The URL itself is a secret: the message never repeats it.
            raise ValueError(
                "is not an http(s) URL; fix: paste the whole webhook URL, starting with https://"
            )
        return value


class AppSettings(BaseModel):
    """What the user changed about the workbench itself."""

    model_config = ConfigDict(extra="forbid")

    theme: str | None = None
    """A Textual theme name (Ctrl+P, "Change theme" picks one and saves it here); unset: the default."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id -> the keys that trigger it instead of its own (comma-separated, Textual's key names)."""
    notify: NotifySettings = Field(default_factory=NotifySettings)
    """The bell and the webhook at the end of a run."""

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
        if first["type"] == "extra_forbidden" and field.startswith("notify."):
            message = "unknown setting; [notify] takes " + ", ".join(NotifySettings.model_fields)
        elif first["type"] == "extra_forbidden":
            message = "unknown setting; the settings are theme, [keymap] and [notify]"
        return AppSettings(), f"{path}: {field}: {message}; using the default settings until it is fixed"


def save_settings(path: Path, settings: AppSettings) -> None:
    """Write `settings` whole and atomically (a crash leaves the old file or the new one), readable by the
    user alone (0600: it may hold a webhook URL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Defaults are left out, so a theme change does not spell out every [notify] default in the user's file.
    write_text_atomic(path, tomli_w.dumps(settings.model_dump(exclude_none=True, exclude_defaults=True)))
