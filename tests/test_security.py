"""Security properties of the workbench, each checked on the real code paths.

* Run directories (and every directory the workbench creates) are private: 0700 whatever the umask.
* No shell ever sees a user's string: no `shell=True`, `os.system`, `os.popen`, `eval`/`exec` in the
  packages (a source scan that fails on the first one).
* Configs are data: TOML through tomllib, strings such as `$(rm -rf ~)` stored and passed verbatim and
  never executed, through a real training run whose model directory, data file and label are full of
  shell syntax.
* Hub tokens come from the environment and never reach the config, the logs or the run directory: a
  unique canary in HF_TOKEN is looked for in every byte the same real run wrote.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import REPO, cli, live, sets

from workbench import paths
from workbench.runs import create_run_dir, find_run

PACKAGES = ("workbench", "jobs", "screens")
"""The code that runs with the user's strings (serving lives in these packages too)."""


# ------------------------------------------------------------------------------------------------------
# private directories


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: whatever the workbench creates must still come out private."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


@pytest.mark.usefixtures("open_umask")
def test_every_directory_the_workbench_creates_is_private(
    workbench_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.HOME_ENV, str(workbench_home / "fresh"))
    for make in (paths.data_dir, paths.runs_dir, paths.cache_dir, paths.models_dir, paths.config_dir):
        assert _mode(make()) == "0o700", make.__name__
    run = create_run_dir("private")
    assert _mode(run.path) == "0o700"
    run.write_status(state="pending")
    assert _mode(run.status) == "0o600"


# ------------------------------------------------------------------------------------------------------
# no shell


FORBIDDEN_CALLS = {
    "os.system",
    "os.popen",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "asyncio.create_subprocess_shell",
    "pty.spawn",
    "eval",
    "exec",
}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def shell_uses(source: str, filename: str) -> list[str]:
    """Every call in `source` that could hand a string to a shell or an interpreter."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name in FORBIDDEN_CALLS or name.endswith(".create_subprocess_shell"):
            found.append(f"{filename}:{node.lineno}: {name}()")
        for keyword in node.keywords:
            value = keyword.value
            if keyword.arg == "shell" and not (isinstance(value, ast.Constant) and value.value is False):
                found.append(f"{filename}:{node.lineno}: {name}(shell=...)")
    return found


def test_the_scan_finds_what_it_looks_for() -> None:
    source = (
        "import os, subprocess\nos.system('x')\nsubprocess.run('x', shell=True)\n"
        "subprocess.Popen(['x'], shell=False)\neval('1')\nos.popen('x')\n"
    )
    assert [f.split(": ")[1] for f in shell_uses(source, "t.py")] == [
        "os.system()",
        "subprocess.run(shell=...)",
        "eval()",
        "os.popen()",
    ]


def test_no_shell_and_no_eval_with_user_strings_anywhere_in_the_packages() -> None:
    files = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    assert len(files) > 20
    found = [hit for path in files for hit in shell_uses(path.read_text(encoding="utf-8"), str(path))]
    assert found == [], "a shell or an interpreter could see a user's string:\n" + "\n".join(found)


# ------------------------------------------------------------------------------------------------------
# configs are data


def test_a_shell_command_as_model_name_is_refused_as_data(tmp_path: Path) -> None:
    canary = tmp_path / "executed"
    result = cli("config", "--set", f"model.name=$(touch {canary})")
    assert result.returncode == 2
    assert f"- model.name: '$(touch {canary})' is neither a preset" in result.stderr
    assert not canary.exists()


def test_a_config_file_is_read_by_tomllib_only(tmp_path: Path) -> None:
    canary = tmp_path / "executed"
    odd = f"__import__('os').system('touch {canary}') $(touch {canary}) `touch {canary}`"
    path = tmp_path / "odd.toml"
    path.write_text(f"name = {json.dumps(odd)}\n", encoding="utf-8")
    result = cli("config", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["name"] == odd
    assert not canary.exists()


def _files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                yield path


@live
def test_hub_token_and_shell_strings_in_a_real_run(home_with_tiny: Path, tmp_path: Path) -> None:
    """One real tiny run with every string a user controls set to shell syntax and a canary in HF_TOKEN:
    nothing is executed, the strings are stored verbatim, and the token is nowhere in what the run
    wrote (its directory, its log, the CLI's output)."""
    marker = tmp_path / "pwned"
    tiny = next((home_with_tiny / "cache" / "models").iterdir())
    model_dir = tmp_path / "model $(touch pwned-model) `touch pwned-model`; touch pwned-model"
    shutil.copytree(tiny, model_dir)
    rows = tmp_path / "rows $(touch pwned-data); touch pwned-data.jsonl"
    shutil.copy2(paths.bundled_sample(), rows)
    label = f"$(touch {marker}-1); `touch {marker}-2` && touch {marker}-3 | rm -rf ~ #"
    canary = f"hf_canary_{uuid.uuid4().hex}"
    env = dict(os.environ, HF_TOKEN=canary, HUGGING_FACE_HUB_TOKEN=canary)
    result = cli(
        "train",
        *sets(
            f"model.name={model_dir}",
            f"data.source={rows}",
            f"name={label}",
            "grpo.max_steps=2",
            "grpo.save_steps=1",
        ),
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = find_run(result.stdout.strip().splitlines()[0])
    assert run.read_status().state == "completed"

    config = tomllib.loads(run.config.read_text(encoding="utf-8"))
    assert (config["name"], config["model"]["name"], config["data"]["source"]) == (
        label,
        str(model_dir),
        str(rows),
    )
    assert re.fullmatch(r"\d{8}-\d{6}-touch-[a-z0-9-]+-[0-9a-f]{4}", run.run_id), "a sanitised slug"
    places = [*_files_under(tmp_path, home_with_tiny), *REPO.iterdir(), *Path.home().iterdir()]
    executed = [p for p in places if p.name.startswith("pwned")]  # what `touch pwned...` would make
    assert executed == [], f"a shell ran a user's string: {executed}"

    scanned = 0
    leaks = []
    for path in _files_under(home_with_tiny):
        data = path.read_bytes()
        scanned += len(data)
        if canary.encode() in data:
            leaks.append(str(path.relative_to(home_with_tiny)))
    assert (result.stdout + result.stderr).count(canary) == 0
    assert leaks == [], f"the hub token reached: {leaks}"
    assert _mode(run.path) == "0o700" and _mode(run.path.parent) == "0o700"
    files = sum(1 for _ in _files_under(run.path))
    print(
        f"\nFIGURES {json.dumps({'security': 'HF_TOKEN canary', 'files': files, 'bytes_scanned': scanned})}"
    )
