"""Every filesystem location the workbench uses, in one place.

Runs live in the user *data* dir (never the runtime dir, which logind may wipe at logout);
`GRPO_WORKBENCH_HOME` moves everything (runs, cache, configs) under one root, which is what tests and
users with a big scratch disk want. Directories are created on demand, 0700 because run directories
may hold prompts and adapters a user considers private.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "grpo-workbench"
HOME_ENV = "GRPO_WORKBENCH_HOME"


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def home() -> Path | None:
    """The override root from `GRPO_WORKBENCH_HOME`, or None when unset."""
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


def data_dir() -> Path:
    """Where runs are kept (platformdirs user data dir unless overridden)."""
    root = home()
    return _ensure(root if root else platformdirs.user_data_path(APP_NAME))


def runs_dir() -> Path:
    """The runs home: one sub-directory per run."""
    return _ensure(data_dir() / "runs")


def cache_dir(create: bool = True) -> Path:
    """Built artefacts that can be rebuilt: the tiny model, prepared datasets (created unless `create`
    is False: a lookup must not change the home)."""
    root = home()
    path = root / "cache" if root else platformdirs.user_cache_path(APP_NAME)
    return _ensure(path) if create else path


def models_dir(create: bool = True) -> Path:
    """Locally built models (random-init architectures, the offline tiny model)."""
    path = cache_dir(create) / "models"
    return _ensure(path) if create else path


def config_dir() -> Path:
    """Saved run configs and app settings."""
    root = home()
    return _ensure(root / "config" if root else platformdirs.user_config_path(APP_NAME))


def last_config_path() -> Path:
    """Where the workbench keeps the user's last-used config (`last.toml` in the config dir)."""
    return config_dir() / "last.toml"


def bundled_sample() -> Path:
    """The sample rows the project ships, in the real dataset's schema."""
    return Path(__file__).parent / "sample_data" / "vi_math_sample.jsonl"


def warmstart_sample() -> Path:
    """The rows the tiny preset's warm start trains on: the same schema and generator as
    `bundled_sample()`, none of its questions, so no row a run trains on or holds out was seen before."""
    return Path(__file__).parent / "sample_data" / "vi_math_warmstart.jsonl"
