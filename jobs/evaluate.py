"""The evaluation job: `python -m jobs.evaluate RUN_DIR [--targets ...] [--samples N] ...`.

Generates answers for the run's held-out rows with the base model, chosen checkpoints and the final
adapter, and scores them with `workbench.evaluation` (which writes eval/ in the run directory as it
goes). Two backends: vLLM on a GPU (one engine with `enable_lora`, each adapter a `LoRARequest`, so the
base weights load once and the base target is simply no LoRA request), and transformers + PEFT batched
`generate` elsewhere (the base model loads once; adapters are loaded onto it by name and switched, the base
target runs with the adapters disabled). SIGTERM or Ctrl-C stops after the batch in flight and keeps
every finished row; a second one stops at once. Heavy imports live inside functions.

`launch` starts this job detached for the TUI (its own session, output appended to eval/eval.log, never
a pipe), refusing a second evaluation of a run while one runs; `cancel` sends that job the SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, cast

import psutil

from jobs.process import send, spawn_detached
from workbench import environment, flags, presets
from workbench.config import RunConfig, load
from workbench.custom_rewards import training_functions
from workbench.evaluation import (
    SAMPLE_TEMPERATURE,
    SAMPLE_TOP_P,
    Completion,
    Decoding,
    Generator,
    Target,
    TargetError,
    evaluate,
    format_table,
    mark_failed,
    resolve_targets,
)
from workbench.jobdir import FINAL_STATES, ProcessRef
from workbench.runs import EvalDir, EvalProgress, RunDir


def log(message: str) -> None:
    print(message, flush=True)


class StopFlag:
    """First SIGTERM/SIGINT: finish the batch in flight, write what is done, exit. Second: stop now."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log(
            f"[eval] {signal.Signals(signum).name} received: stopping after this batch, keeping finished rows"
        )

    def __call__(self) -> bool:
        return self.requested


def model_path_for(config: RunConfig) -> str:
    """The base model the run trained (building a local preset if this machine lacks it)."""
    return presets.ensure_model(config.model.name, _BuildLines())


class _BuildLines:
    """A model build's progress as `[eval]` lines (`presets.BuildProgress`); the warm start's loss lines
    stand for its steps."""

    def phase(self, name: str) -> None:
        log(f"[eval] {name}")

    def message(self, text: str) -> None:
        log(f"[eval] {text}")

    def step(self, phase: str, done: int, total: int) -> None:
        pass


def use_vllm(choice: str) -> bool:
    """vLLM only with CUDA and the package installed (`auto`), or when asked for (`vllm`)."""
    if choice == "transformers":
        return False
    import torch

    ok = torch.cuda.is_available() and environment.has_module("vllm")
    if choice == "vllm" and not ok:
        raise RuntimeError("--backend vllm needs a CUDA GPU and the vllm package (pip install -e '.[gpu]')")
    return ok


class TransformersGenerator:
    """Batched `generate` with transformers, adapters through PEFT (CPU, or a GPU without vLLM)."""

    def __init__(self, model_path: str, seed: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.cuda = torch.cuda.is_available()
        if not self.cuda:
            torch.set_num_threads(max(1, os.cpu_count() or 1))
        self.device = "cuda" if self.cuda else "cpu"
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.cuda else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        self.model: Any = model.to(self.device)
        self.model.eval()
        self.adapters: set[str] = set()
        self.seed = seed

    def _select(self, target: Target) -> Any:
        """The model to generate with: the PEFT model with `target`'s adapter active, or the base."""
        if target.adapter is None:
            return None
        from peft import PeftModel

        if not self.adapters:
            self.model = PeftModel.from_pretrained(self.model, str(target.adapter), adapter_name=target.name)
            self.model.eval()
        elif target.name not in self.adapters:
            self.model.load_adapter(str(target.adapter), adapter_name=target.name)
        self.adapters.add(target.name)
        self.model.set_adapter(target.name)
        return target.name

    def __call__(
        self, target: Target, prompts: list[list[dict[str, str]]], decoding: Decoding
    ) -> list[list[Completion]]:
        import contextlib

        torch = self.torch
        adapter = self._select(target)
        texts = [
            self.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts
        ]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        kwargs: dict[str, Any] = {
            "max_new_tokens": decoding.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "num_return_sequences": decoding.n,
        }
        if decoding.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=decoding.temperature, top_p=decoding.top_p, top_k=None)
            torch.manual_seed(decoding.seed)
        base_only = adapter is None and self.adapters
        context = self.model.disable_adapter() if base_only else contextlib.nullcontext()
        with torch.inference_mode(), context:
            output = self.model.generate(**batch, **kwargs)
        new = output[:, batch["input_ids"].shape[1] :].tolist()
        eos = self.tokenizer.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        completions: list[Completion] = []
        for ids in new:
            length = next((i + 1 for i, t in enumerate(ids) if t in eos_ids), len(ids))
            text = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
            completions.append(Completion(str(text), length))
        n = decoding.n
        return [completions[i * n : (i + 1) * n] for i in range(len(prompts))]


class VllmGenerator:
    """vLLM on a GPU: one engine with LoRA enabled; each adapter is a LoRARequest, the base none."""

    def __init__(self, model_path: str, config: RunConfig, memory_share: float):
        from vllm import LLM

        self.llm = LLM(
            model=model_path,
            enable_lora=True,
            max_lora_rank=config.lora.max_lora_rank,
            max_loras=1,
            max_model_len=config.model.max_seq_length,
            gpu_memory_utilization=memory_share,
            seed=config.grpo.seed,
        )
        self.lora_ids: dict[str, int] = {}

    def _request(self, target: Target) -> Any:
        if target.adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        lora_id = self.lora_ids.setdefault(target.name, len(self.lora_ids) + 1)
        return LoRARequest(target.name, lora_id, str(target.adapter))

    def __call__(
        self, target: Target, prompts: list[list[dict[str, str]]], decoding: Decoding
    ) -> list[list[Completion]]:
        from vllm import SamplingParams

        if decoding.greedy:
            params = SamplingParams(n=1, temperature=0.0, max_tokens=decoding.max_new_tokens)
        else:
            params = SamplingParams(
                n=decoding.n,
                temperature=decoding.temperature,
                top_p=decoding.top_p,
                max_tokens=decoding.max_new_tokens,
                seed=decoding.seed,
            )
        outputs = self.llm.chat(
            cast(Any, prompts), params, lora_request=self._request(target), use_tqdm=False
        )
        return [[Completion(o.text, len(o.token_ids)) for o in out.outputs] for out in outputs]


def decodings_from(args: argparse.Namespace, config: RunConfig) -> list[Decoding]:
    max_new = args.max_new_tokens or config.grpo.max_completion_length
    found = []
    if args.greedy:
        found.append(Decoding(greedy=True, max_new_tokens=max_new, seed=args.seed))
    if args.samples and args.samples > 0:
        found.append(
            Decoding(
                greedy=False,
                samples=args.samples,
                temperature=args.temperature,
                top_p=args.top_p,
                max_new_tokens=max_new,
                seed=args.seed,
            )
        )
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Evaluate a run on its held-out rows.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--targets",
        default=None,
        help="comma list: base, adapter, checkpoint-N (or N), checkpoints, last, all "
        "(default: base and the adapter, or the newest checkpoint)",
    )
    parser.add_argument("--limit", type=flags.ROW_LIMIT, default=None, help="only the first N held-out rows")
    parser.add_argument(
        "--samples",
        type=flags.SAMPLES,
        default=0,
        help=f"also sample N >= {flags.MIN_SAMPLES} completions per row (pass@k; 0: greedy only)",
    )
    parser.add_argument("--greedy", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--max-new-tokens",
        type=flags.MAX_NEW_TOKENS,
        default=None,
        help="default: grpo.max_completion_length",
    )
    parser.add_argument(
        "--batch-size", type=flags.BATCH_SIZE, default=None, help="rows per batch (8 CPU, 64 vLLM)"
    )
    parser.add_argument("--temperature", type=flags.TEMPERATURE, default=SAMPLE_TEMPERATURE)
    parser.add_argument("--top-p", type=flags.TOP_P, default=SAMPLE_TOP_P)
    parser.add_argument("--seed", type=flags.SEED, default=3407)
    parser.add_argument("--backend", choices=["auto", "vllm", "transformers"], default="auto")
    parser.add_argument(
        "--gpu-memory", type=flags.GPU_SHARE, default=0.85, help="vLLM's share of the GPU (0.85)"
    )
    return parser


class EvalLaunchError(RuntimeError):
    """An evaluation cannot start (one already runs on the run, no held-out rows, nothing to do)."""


def running_pid(run: RunDir) -> int | None:
    """The pid of the evaluation job working on `run` now, or None.

    eval/progress.json names the pid; it counts only when that process is alive, not a zombie, started
    no later than the file says (pid reuse), and its command line is `-m jobs.evaluate <this run>`: a
    recycled pid of some other program must never be signalled or block a launch. A job whose file says
    it ended (completed, stopped, failed) no longer counts while its interpreter winds down: it writes
    nothing more, so the next evaluation may start.
    """
    progress = run.eval.read_progress()
    pid = progress.pid
    if progress.state in FINAL_STATES or pid is None or not progress.process.alive:
        return None
    try:
        process = psutil.Process(pid)
        argv = process.cmdline()
        where = Path(process.cwd())
    except psutil.Error:
        return None
    if "jobs.evaluate" not in argv or argv.index("jobs.evaluate") + 1 >= len(argv):
        return None
    target = Path(argv[argv.index("jobs.evaluate") + 1])
    try:
        same = (where / target).resolve() == run.path.resolve()
    except OSError:
        return None
    return pid if same else None


@contextlib.contextmanager
def _launch_lock(eval_dir: EvalDir) -> Iterator[None]:
    """Serialise launches on one run: the is-one-running check and the write of the new pid are one
    step, so two quick presses (or the TUI and a script) cannot both start a job."""
    eval_dir.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (eval_dir.path / ".launch.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def job_command(
    run: RunDir,
    targets: str | Sequence[str] | None = None,
    *,
    limit: int | None = None,
    samples: int = 0,
    greedy: bool = True,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    backend: str = "auto",
) -> list[str]:
    """The `python -m jobs.evaluate ...` command line for these choices (see `launch`).

    Raises:
        EvalLaunchError: a number the job's own parser would refuse (the same rule: `workbench.flags`).
    """
    problems = [
        f"{flag}: {problem}"
        for flag, rule, value in (
            ("--limit", flags.ROW_LIMIT, limit),
            ("--samples", flags.SAMPLES, samples),
            ("--max-new-tokens", flags.MAX_NEW_TOKENS, max_new_tokens),
            ("--batch-size", flags.BATCH_SIZE, batch_size),
        )
        if value is not None and (problem := rule.problem(value))
    ]
    if problems:
        raise EvalLaunchError("; ".join(problems))
    spec = targets if isinstance(targets, str) or targets is None else ",".join(targets)
    command = [sys.executable, "-m", "jobs.evaluate", str(run.path), "--backend", backend]
    for flag, value in (
        ("--targets", spec),
        ("--limit", limit),
        ("--samples", samples or None),
        ("--max-new-tokens", max_new_tokens),
        ("--batch-size", batch_size),
    ):
        if value is not None:
            command += [flag, str(value)]
    command.append("--greedy" if greedy else "--no-greedy")
    return command


def launch(
    run: RunDir,
    targets: str | Sequence[str] | None = None,
    *,
    limit: int | None = None,
    samples: int = 0,
    greedy: bool = True,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    backend: str = "auto",
) -> subprocess.Popen[bytes]:
    """Start the evaluation of `run` as a detached job and return at once (for the TUI).

    The job runs in its own session with stdin from /dev/null and its output appended to eval/eval.log,
    so a closed terminal or a quitting TUI never reaches it and no pipe can fill up and block it. Its pid
    goes into eval/progress.json (state `starting`) before this returns, so a watcher sees the job, and a
    second launch is refused, while the model still loads (the job itself rewrites the file from its first
    batch on).

    Args:
        run: The run directory; it needs heldout.jsonl.
        targets: A comma list or names (`base`, `adapter`, `checkpoint-N`, ...); None: base + adapter.
        limit: Only the first `limit` held-out rows.
        samples: Also sample this many completions per row (pass@k); 0: none.
        greedy: Also decode greedily.
        max_new_tokens: Completion budget (default: the run's max_completion_length).
        batch_size: Rows per batch (default: 8 on CPU, 64 with vLLM).
        backend: `auto`, `vllm` or `transformers`.

    Returns:
        The job's Popen (poll it to reap it while the caller lives).

    Raises:
        TargetError: a target the run does not have (the message lists those it has).
        EvalLaunchError: an evaluation of this run is already running, the run has no held-out rows,
            neither greedy decoding nor sampling was asked for, or a number is out of its range.
    """
    if not greedy and not samples:
        raise EvalLaunchError("nothing to evaluate: turn greedy decoding on or ask for samples")
    if not run.held_out.is_file():
        raise EvalLaunchError(
            f"run {run.run_id} has no heldout.jsonl: it never got as far as preparing its data "
            "(or data.held_out was 0)"
        )
    spec = targets if isinstance(targets, str) or targets is None else ",".join(targets)
    resolve_targets(run, spec)  # a bad name fails here, with the list of good ones, not in the job
    eval_dir = run.eval
    command = job_command(
        run,
        spec,
        limit=limit,
        samples=samples,
        greedy=greedy,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        backend=backend,
    )
    with _launch_lock(eval_dir):
        busy = running_pid(run)
        if busy is not None:
            raise EvalLaunchError(
                f"an evaluation of {run.run_id} is already running (pid {busy}); wait for it or cancel it"
            )
        process = spawn_detached(command, eval_dir.log, run.path)
        now = time.time()
        ref = ProcessRef.of(process.pid)
        eval_dir.write_progress(
            EvalProgress(
                state="starting",
                pid=ref.pid,
                create_time=ref.create_time,
                started_at=now,
                updated_at=now,
                command=tuple(command[1:]),
            )
        )
    return process


def cancel(run: RunDir) -> int | None:
    """Ask the evaluation of `run` to stop: it finishes the batch in flight, marks the cut task partial
    and keeps every finished row.

    Only the job's own pid is signalled, not its process group: vLLM's engine processes are in that
    group, and killing them would lose the batch in flight instead of finishing it.

    Returns:
        The pid signalled, or None when no evaluation of `run` is running.
    """
    pid = running_pid(run)
    if pid is None:
        return None
    progress = run.eval.read_progress()
    if not send(progress.process, signal.SIGTERM, group=False):
        return None  # it ended between the check and the signal
    return pid


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = RunDir(args.run_dir.resolve())
    stop = StopFlag()
    stop.install()
    busy = running_pid(run)
    if busy is not None and busy != os.getpid():
        # checked before anything is written: the running job's progress.json must stay its own
        print(f"error: an evaluation of {run.run_id} is already running (pid {busy})", file=sys.stderr)
        return 2
    try:
        config = load(run.config)
        targets = resolve_targets(run, args.targets)
        decodings = decodings_from(args, config)
        if not decodings:
            raise TargetError("nothing to do: --no-greedy needs --samples N")
        if presets.resolve_model_path(config.model.name).startswith("/"):
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        model_path = model_path_for(config)
        vllm = use_vllm(args.backend)
        backend = "vllm" if vllm else "transformers"
        log(f"[eval] loading {config.model.name} ({backend}); targets {', '.join(t.name for t in targets)}")
        started = time.monotonic()
        generate: Generator
        if vllm:
            generate = VllmGenerator(model_path, config, args.gpu_memory)
        else:
            generate = TransformersGenerator(model_path, args.seed)
        log(f"[eval] model loaded in {time.monotonic() - started:.1f}s")
        results = evaluate(
            run,
            targets,
            decodings,
            generate,
            limit=args.limit,
            batch_size=args.batch_size or (64 if vllm else 8),
            should_stop=stop,
            echo=log,
            extra={"model": config.model.name, "backend": backend},
            scoring_timeout_s=config.grpo.scoring_timeout_s,
            rewards=training_functions(config, run.custom_reward_files(config.custom_rewards)),
        )
        log(format_table(results))
        return 0
    except KeyboardInterrupt:
        mark_failed(run, "interrupted twice: stopped at once")
        return 130
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if run.eval.read_progress().pid == os.getpid():
            # a detached job the TUI follows: its progress.json says why it ended. A refusal on the
            # command line writes nothing (a finished evaluation's record stays as it was)
            mark_failed(run, str(exc))
        return 2
    except Exception as exc:
        traceback.print_exc()
        mark_failed(run, f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
