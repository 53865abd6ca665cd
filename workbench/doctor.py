"""`grpo-workbench doctor`: what is installed, what is missing, and what to do about it.

Checks versions against the set verified together on an H200 (the GPU path) or the CPU set, GPUs and
the driver through NVML, CUDA as torch sees it (in a subprocess, so a broken CUDA install cannot hang or
crash the doctor), free GPU memory, and the runs home. Every finding says how to fix it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

from workbench import environment, gpu, paths


@dataclass(frozen=True)
class Check:
    """One finding: OK, WARN or FAIL, with the fix when it is not OK."""

    name: str
    level: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _torch_cuda() -> dict[str, object] | None:
    code = (
        "import json, torch; print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, "
        "'available': torch.cuda.is_available(), 'count': torch.cuda.device_count()}))"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError, OSError):
        return None


VLLM_SERVER = "import vllm.entrypoints.openai.api_server"
"""What `vllm serve` imports first. vLLM 0.24's server needs `model_hosting_container_standards` (with
jmespath and supervisor), which its training path does not: an offline wheelhouse that trains fine failed
at the chat pane's first server start on the H200."""
CHAT_CLIENT = "import openai; openai.AsyncOpenAI(api_key='x', base_url='http://127.0.0.1:9/v1')"
"""The chat pane's client, built as `workbench.chat.make_client` builds it. The OpenAI SDK 3.x transport
(httpcore2) imports `truststore` only when a client is made, so a missing one passes `import openai` and
fails the first chat (it did on the H200)."""


def python_failure(code: str, timeout: float = 300.0) -> str | None:
    """None when `code` runs in a fresh interpreter, else the error's last line.

    A subprocess, like the CUDA check: an import that crashes or hangs cannot take the doctor with it.
    """
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"took over {timeout:.0f} s"
    except OSError as exc:
        return str(exc)
    if out.returncode == 0:
        return None
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {out.returncode}"


def python_check(name: str, code: str, works: str, timeout: float = 300.0) -> Check:
    """A check that `code` runs (`works` describes success); a missing module gets its pip install line."""
    failure = python_failure(code, timeout)
    if failure is None:
        return Check(name, "OK", works)
    missing = re.search(r"No module named '([^'.]+)", failure)
    fix = (
        f"pip install {missing.group(1).replace('_', '-')}"
        if missing
        else "reinstall: pip install -e '.[gpu]'"
    )
    return Check(name, "FAIL", failure, fix)


def run_checks() -> list[Check]:
    """Every check, in the order a user would fix them."""
    checks: list[Check] = [
        Check(
            "python",
            "OK" if sys.version_info >= (3, 11) else "FAIL",
            sys.version.split()[0],
            "" if sys.version_info >= (3, 11) else "use Python 3.11 or newer",
        )
    ]
    gpus = gpu.device_count()
    for package in environment.CORE:
        installed = environment.version(package)
        if installed is None:
            checks.append(
                Check(package, "FAIL", "not installed", "pip install -e . (or pip install grpo-workbench)")
            )
            continue
        wanted = (environment.KNOWN_GOOD_GPU if gpus else environment.KNOWN_GOOD_CPU).get(package)
        ok = (
            wanted is None
            or installed.split("+")[0].startswith(wanted)
            or (not gpus and environment.version_at_least(package, wanted))
        )
        checks.append(
            Check(
                package,
                "OK" if ok else "WARN",
                installed,
                "" if ok else f"the verified version is {wanted}; pip install '{package}=={wanted}*'",
            )
        )
    if environment.version("openai") is not None:
        checks.append(python_check("chat client", CHAT_CLIENT, "the OpenAI client of the chat pane builds"))
    if not gpus and not environment.version_at_least("trl", "1.16"):
        checks.append(
            Check(
                "trl on CPU",
                "FAIL",
                f"trl {environment.version('trl')} cannot run GRPO without a GPU",
                "pip install 'trl>=1.16,<1.17'",
            )
        )
    if gpus:
        for package in ("unsloth", "unsloth-zoo", "vllm", "flashinfer-python", "xgrammar"):
            installed = environment.version(package)
            wanted = environment.KNOWN_GOOD_GPU[package]
            if installed is None:
                checks.append(
                    Check(
                        package,
                        "WARN",
                        "not installed (backend unsloth and vLLM generation need it)",
                        "pip install -e '.[gpu]'",
                    )
                )
            else:
                ok = installed.startswith(wanted)
                checks.append(
                    Check(
                        package,
                        "OK" if ok else "WARN",
                        installed,
                        "" if ok else f"the verified version is {wanted}",
                    )
                )
        if environment.version("vllm") is not None:
            checks.append(python_check("vllm serve", VLLM_SERVER, "vLLM's OpenAI server imports"))
        checks.append(Check("driver", "OK", gpu.driver_version() or "unknown"))
        for s in gpu.sample():
            free = s.memory_total_mib - s.memory_used_mib
            level = "OK" if free > 0.5 * s.memory_total_mib else "WARN"
            checks.append(
                Check(
                    f"gpu {s.index}",
                    level,
                    f"{s.name}: {free / 1024:.1f} of "
                    f"{s.memory_total_mib / 1024:.1f} GiB free, {s.utilization_pct:.0f}% busy",
                    "" if level == "OK" else "another process holds this GPU; see nvidia-smi",
                )
            )
        cuda = _torch_cuda()
        if cuda is None or not cuda.get("available"):
            checks.append(
                Check(
                    "cuda",
                    "FAIL",
                    f"torch cannot use the GPU ({cuda})",
                    "install a CUDA build of torch that matches the driver (the [gpu] extra pins 2.11.0)",
                )
            )
        else:
            checks.append(
                Check("cuda", "OK", f"torch {cuda['torch']} with CUDA {cuda['cuda']}, {cuda['count']} GPU(s)")
            )
    else:
        checks.append(
            Check(
                "gpu",
                "WARN",
                "no NVIDIA GPU found: the trl backend trains the tiny model on CPU",
                "for real models run on a machine with a CUDA GPU",
            )
        )
    runs = paths.runs_dir()
    problems = environment.disk_problems(runs)
    free = shutil.disk_usage(runs).free / 2**30
    checks.append(
        Check(
            "runs home",
            "FAIL" if problems else "OK",
            f"{runs} ({free:.0f} GiB free)",
            problems[0].message if problems else "",
        )
    )
    return checks
