"""The `grpo-workbench` command line.

With no command it opens the TUI. Every command imports only what it needs, so `--help`, `runs` and
`stop` answer in a fraction of a second even on a machine where importing torch takes several.
Exit codes: 0 success, 1 the run or check failed, 2 bad arguments or config, 130 interrupted, 141 the
reader of stdout went away (`grpo-workbench runs | head -1`: no traceback, as Unix tools do).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

EPILOG = """\
examples:
  grpo-workbench                                   open the workbench (TUI)
  grpo-workbench train --set grpo.max_steps=20     train the offline default in the foreground
  grpo-workbench train --config my.toml --detach   start a run in the background, print its id
  grpo-workbench train --like RUN --set grpo.beta=0.04
                                                   a new run with RUN's settings, one changed
  grpo-workbench runs                              list runs and their state
  grpo-workbench stop RUN | resume RUN             stop cleanly (checkpoint) / continue a run
  grpo-workbench preview -n 3                      show formatted rows and their gold answers
  grpo-workbench score --completion c.txt --answer 25   every reward's score and reason, as JSON
  grpo-workbench doctor                            check versions, GPU, CUDA, vLLM server, disk
  grpo-workbench build-model 1b ./random-1b        random-init Llama-3.2-1B shape, local tokenizer
  grpo-workbench bench --model random-1b           tutorial vs workbench batch shape on this GPU
  grpo-workbench eval RUN --samples 8              held-out accuracy of base and adapter, pass@k
  grpo-workbench serve RUN --detach                OpenAI-compatible server for base + adapters
  grpo-workbench export RUN --format gguf          GGUF (Q8_0 + F16) and an Ollama Modelfile
  grpo-workbench keys                              key binding ids, to remap in settings.toml

runs live under $GRPO_WORKBENCH_HOME/runs (default: the user data dir); RUN is a run id, a unique
prefix of one, or a run directory.
"""


def _adapter_of(ref: str) -> tuple[Any, Path]:
    """`RUN` or `RUN:checkpoint-N` -> (the run, the adapter directory to start from): the run's final
    adapter/, else its newest complete checkpoint, or the checkpoint named.

    Raises:
        LookupError: no such run or checkpoint, or the run has no adapter yet.
    """
    from workbench.runs import checkpoints, find_run, last_complete_checkpoint

    name, _, checkpoint = ref.partition(":")
    run = find_run(name)
    if checkpoint:
        found = {p.name: p for _, p, complete in checkpoints(run) if complete}
        if checkpoint not in found:
            have = ", ".join(found) or "none"
            raise LookupError(f"run {run.run_id} has no complete {checkpoint} (it has: {have})")
        return run, found[checkpoint]
    if (run.adapter / "adapter_config.json").is_file():
        return run, run.adapter
    last = last_complete_checkpoint(run)
    if last is None:
        raise LookupError(f"run {run.run_id} has no adapter and no complete checkpoint to start from yet")
    return run, last


def _config_from(args: argparse.Namespace) -> Any:
    from workbench import config as wconfig

    like = getattr(args, "like", None)
    if like:
        # A clone: the run's settings, less what a clone does not copy (workbench.compare.NOT_COPIED).
        from workbench.compare import clone_config
        from workbench.runs import find_run

        if getattr(args, "config", None) or getattr(args, "from_run", None):
            raise wconfig.ConfigError(
                [
                    wconfig.Problem(
                        "",
                        "--like takes every setting from the run: give it without --config "
                        "and --from, and change settings with --set",
                    )
                ]
            )
        return clone_config(find_run(like), list(getattr(args, "set", None) or []))
    from workbench import gpu

    source = getattr(args, "from_run", None)
    defaults = wconfig.machine_default(gpu.device_count()).model_dump(mode="json")
    if source and not getattr(args, "config", None):
        # A run started from another's adapter begins with that run's settings (then --set changes them).
        data = wconfig.load(_adapter_of(source)[0].config).model_dump(mode="json")
    else:
        data = copy.deepcopy(defaults)  # apply_overrides changes its data in place
        if getattr(args, "config", None):
            # the file's settings over this machine's defaults: a partial file changes what it names
            data = wconfig.load(Path(args.config), base=data).model_dump(mode="json")
    data = wconfig.apply_overrides(data, list(getattr(args, "set", None) or []))
    if source:
        data.setdefault("lora", {})["init_from"] = str(_adapter_of(source)[1])
    return wconfig.validate(data, defaults)  # a bound message quotes this machine's default


def _print_problems(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


def cmd_tui(args: argparse.Namespace) -> int:
    from screens.app import run_app

    run_app()
    return 0


def _follow(run: Any, from_start: bool = True) -> str:
    """Stream train.log to stdout until the run ends; Ctrl-C stops the run cleanly."""
    from jobs import launch
    from workbench.runs import FINAL_STATES, resolve_state

    offset = 0 if from_start else (run.log.stat().st_size if run.log.exists() else 0)
    stopping = False
    while True:
        try:
            if run.log.exists():
                with run.log.open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                offset += len(chunk)
                if chunk:
                    sys.stdout.write(chunk.decode("utf-8", "replace"))
                    sys.stdout.flush()
            state, alive, _ = resolve_state(run)
            if state in FINAL_STATES and not alive:
                return state
            time.sleep(0.3)
        except KeyboardInterrupt:
            if stopping:
                raise
            stopping = True
            print(
                "\nstopping the run (it saves a checkpoint first; Ctrl-C again to leave it running)...",
                file=sys.stderr,
            )
            launch.stop(run, wait=0)


def cmd_keys(args: argparse.Namespace) -> int:
    """Every key binding's id, default keys and action: what `[keymap]` in settings.toml can remap."""
    from screens.app import binding_rows
    from workbench.settings import load_settings, settings_path

    path = settings_path()
    settings, problem = load_settings(path)
    if problem:
        print(f"warning: {problem}", file=sys.stderr)
    rows = binding_rows()
    unknown = sorted(set(settings.keymap) - {binding_id for binding_id, _, _ in rows})
    if unknown:  # as the TUI says it at start
        print(f"warning: {path}: keymap: unknown binding id {', '.join(map(repr, unknown))}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                [{"id": i, "keys": settings.keymap.get(i, k), "default": k, "action": a} for i, k, a in rows]
            )
        )
        return 0
    width = max(len(i) for i, _, _ in rows)
    for binding_id, keys, action in rows:
        mapped = settings.keymap.get(binding_id)
        shown = f"{mapped} (default {keys})" if mapped else keys
        print(f"{binding_id:<{width}}  {shown:<28} {action}")
    print(f'\nremap in {path}, e.g.\n  [keymap]\n  "app.help" = "f10"')
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from jobs import launch
    from workbench.config import ConfigError

    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)

    try:
        config = _config_from(args)
        run, proc = launch.launch(config, check=not args.no_check, force=args.force, warn=warn)
    except (ConfigError, LookupError) as exc:  # launch.check_data turns a DataError into a ConfigError
        return _print_problems(exc)
    except launch.LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(run.run_id, flush=True)
    if args.detach:
        print(
            f"started in the background: {run.path}\nfollow with `grpo-workbench logs {run.run_id} -f`",
            file=sys.stderr,
        )
        return 0
    state = _follow(run)
    proc.wait()
    print(f"run {run.run_id}: {state}", file=sys.stderr)
    return 0 if state in ("completed", "stopped") else 1


def _find(ref: str) -> Any:
    from workbench.runs import find_run

    return find_run(ref)


def cmd_runs(args: argparse.Namespace) -> int:
    from workbench import paths
    from workbench.runs import list_runs

    root = paths.runs_dir()
    infos = list_runs(root)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    if not infos:
        print(
            f"no runs under {root} (GRPO_WORKBENCH_HOME moves it); start one with "
            "`grpo-workbench train` or from the workbench"
        )
        return 0
    print(f"{'RUN':<44} {'STATE':<10} {'STEP':>11} {'REWARD':>8}  {'MODEL':<14} HEALTH")
    for info in infos:
        reward = f"{info.latest_reward:8.3f}" if info.latest_reward is not None else " " * 8
        health = ", ".join(f"{a.title} since step {a.since_step}" for a in info.health) or "ok"
        print(
            f"{info.run.run_id:<44} {info.state:<10} {info.step:>5}/{info.max_steps:<5} {reward}  "
            f"{info.model:<14} {health}"
        )
        if info.status.supervisor_gone and info.error:
            print(f"  ! {info.error.strip().splitlines()[-1]}")  # the supervisor is gone: what then
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from jobs import launch

    try:
        run = _find(args.run)
    except LookupError as exc:
        return _print_problems(exc)
    state = launch.stop(run, wait=0.0 if args.no_wait else args.timeout)
    print(f"{run.run_id}: {state if not args.no_wait else 'stop requested'}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from jobs import launch

    try:
        run = _find(args.run)
        proc = launch.resume(run)
    except (LookupError, launch.LaunchError) as exc:
        return _print_problems(exc)
    print(run.run_id, flush=True)
    if args.detach:
        return 0
    state = _follow(run, from_start=False)
    proc.wait()
    print(f"run {run.run_id}: {state}", file=sys.stderr)
    return 0 if state in ("completed", "stopped") else 1


def cmd_logs(args: argparse.Namespace) -> int:
    try:
        run = _find(args.run)
    except LookupError as exc:
        return _print_problems(exc)
    if args.follow:
        _follow(run)
    elif run.log.exists():
        sys.stdout.write(run.log.read_text(encoding="utf-8", errors="replace"))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from workbench.doctor import run_checks

    checks = run_checks()
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        for check in checks:
            print(
                f"[{check.level:>4}] {check.name}: {check.detail}"
                + (f"\n        fix: {check.fix}" if check.fix else "")
            )
    return 1 if any(c.level == "FAIL" for c in checks) else 0


def cmd_build_model(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from workbench import modelbuild

    if args.arch not in modelbuild.ARCHITECTURES:
        print(
            f"error: unknown architecture {args.arch!r}; choose {', '.join(modelbuild.ARCHITECTURES)}",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} exists and is not empty; choose a new directory", file=sys.stderr)
        return 2
    start = time.monotonic()
    path = modelbuild.build_model(
        args.arch,
        out,
        seed=args.seed,
        dtype=args.dtype,
        progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True),
    )
    arch = modelbuild.ARCHITECTURES[args.arch]
    print(
        f"built {args.arch} ({arch.parameter_count():,} parameters) in "
        f"{time.monotonic() - start:.1f}s: {path}"
    )
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from workbench import config as wconfig

    if args.reference:
        print(wconfig.reference_markdown())
        return 0
    try:
        config = _config_from(args)
    except wconfig.ConfigError as exc:
        return _print_problems(exc)
    text = config.to_toml()
    if args.output:
        try:
            config.save(Path(args.output))
        except OSError as exc:
            # The write is atomic: a file already there is left as it was.
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from workbench import config as wconfig
    from workbench import data as wdata

    try:
        config = _config_from(args)
        rows = wdata.load_rows(config.data)
        prepared = wdata.prepare_for_run(rows, config)
    except (wconfig.ConfigError, wdata.DataError) as exc:
        return _print_problems(exc)
    print(prepared.stats.summary())
    print("types: " + ", ".join(f"{k} {v}" for k, v in prepared.stats.by_type.items()))
    for row in prepared.train[: args.n]:
        print("-" * 72)
        for message in row["prompt"]:
            content = message["content"]
            if len(content) > 4000:  # a runaway row must not flood the terminal
                content = content[:4000] + f"… ({len(content):,} characters)"
            print(f"[{message['role']}] {content}")
        print(f"[gold answer] {row['answer']}   ({row['type']})")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score one completion with every reward of the config (built-in and custom, weight 0 ones too) as
    training does (`workbench.rewards.score_completion`), printing JSON: each reward's score, weight,
    weighted score and reason, and the weighted total. Exit 1 when a custom reward could not score it."""
    from workbench import config as wconfig
    from workbench.rewards import score_completion

    try:
        config = _config_from(args)
    except (wconfig.ConfigError, LookupError) as exc:
        return _print_problems(exc)
    try:
        if args.completion == "-":
            completion = sys.stdin.read()
        else:
            completion = Path(args.completion).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read the completion {args.completion}: {exc}", file=sys.stderr)
        return 2
    report = score_completion(config, completion, args.answer, question=args.question, row_type=args.type)
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=None if args.compact else 2))
    failed = [s for s in report.scores if s.error]
    for score in failed:
        print(f"error: {score.error}", file=sys.stderr)
    if report.timed_out:
        sys.stdout.flush()
        os._exit(1)  # a custom reward's thread is still running: do not wait for it
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace, extra: list[str]) -> int:
    import subprocess

    from jobs.bench import build_parser as bench_parser
    from workbench import gpu

    bench_parser().parse_args(extra)  # a bad command line is refused on any machine, before the GPU check
    if gpu.device_count() == 0:
        print(
            "error: bench measures a GPU and this machine has none (NVML found no NVIDIA GPU); "
            "run it on the GPU server",
            file=sys.stderr,
        )
        return 1
    return subprocess.run([sys.executable, "-m", "jobs.bench", *extra]).returncode


def cmd_eval(args: argparse.Namespace) -> int:
    """Run `jobs.evaluate` in the foreground: it prints progress lines and the final table and writes
    eval/ in the run directory; Ctrl-C reaches it too and it keeps the finished rows."""
    import subprocess

    try:
        run = _find(args.run)
    except LookupError as exc:
        return _print_problems(exc)
    from jobs.evaluate import job_command
    from jobs.process import job_env

    command = job_command(
        run,
        args.targets,
        limit=args.limit,
        samples=args.samples or 0,
        greedy=args.greedy,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        backend=args.backend or "auto",
    )
    proc = subprocess.Popen(command, env=job_env())
    while True:
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:
            print(
                "\nstopping the evaluation after this batch (Ctrl-C again to stop at once)...",
                file=sys.stderr,
            )
    if code == 0:
        print(f"results: {run.path / 'eval'}", file=sys.stderr)
    return code if code in (0, 1, 2) else 1


def cmd_export(args: argparse.Namespace) -> int:
    """Run `jobs.export` in the foreground (progress lines, then what it wrote and how it was checked), or
    start it detached with --detach; Ctrl-C cancels it and nothing half written is kept."""
    import subprocess

    try:
        run = _find(args.run)
    except LookupError as exc:
        return _print_problems(exc)
    from jobs import export as jexport
    from jobs.process import job_env

    out = Path(args.out) if args.out else None
    if args.detach:
        try:
            jexport.launch(
                run, args.format, checkpoint=args.checkpoint, out=out, force=args.force, quant=args.quant,
                push_to=args.push,
            )  # fmt: skip
        except (jexport.ExportError, jexport.ExportBusy) as exc:
            return _print_problems(exc)
        print(f"exporting in the background; log: {run.exports.log}", file=sys.stderr)
        return 0
    command = jexport.job_command(
        run, args.format, checkpoint=args.checkpoint, out=out, force=args.force, quant=args.quant,
        push_to=args.push,
    )  # fmt: skip
    proc = subprocess.Popen(command, env=job_env())
    while True:
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:
            print("\ncancelling the export (nothing half written is kept)...", file=sys.stderr)
    return code if code in (0, 1, 2, 130) else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """Start, list or stop serve jobs: an OpenAI-compatible server (vLLM on a GPU, transformers + PEFT
    elsewhere) for a run's base model and adapters, detached like a training run (`jobs/serve.py`)."""
    from jobs import serve as jserve
    from workbench import serving

    if args.list:
        infos = serving.list_serves()
        if args.json:
            print(json.dumps([i.to_dict() for i in infos], indent=2))
        elif not infos:
            print("no serve jobs yet; start one with `grpo-workbench serve RUN`")
        for info in infos if not args.json else []:
            models = ",".join(info.models)
            print(
                f"{info.serve_id:<48} {info.state:<9} {info.spec.backend:<12} {info.url or '':<28} {models}"
            )
        return 0
    if args.stop:
        try:
            serve = serving.find_serve(args.stop)
        except LookupError as exc:
            return _print_problems(exc)
        print(f"{serve.serve_id}: {jserve.stop(serve, wait=args.timeout or 60.0)}")
        return 0
    if not args.run and not args.model:
        return _print_problems(
            ValueError("give a RUN to serve, or --model; --list and --stop ID manage jobs")
        )
    from workbench import gpu
    from workbench.environment import has_module

    gpus, has_vllm = gpu.device_count(), has_module("vllm")
    common: dict[str, Any] = dict(
        backend=args.backend,
        gpus=gpus,
        has_vllm=has_vllm,
        port=args.port or 0,
        max_lora_rank=args.max_lora_rank,
        gpu_memory_utilization=args.gpu_memory,
    )
    try:
        if args.run:
            spec = jserve.plan_for_run(
                _find(args.run), checkpoint=args.checkpoint, base_only=args.base_only, **common
            )
        else:
            spec = jserve.plan_model(args.model, args.adapter or [], **common)
    except (LookupError, jserve.ServeError) as exc:
        return _print_problems(exc)
    live = serving.live_training_runs() if spec.backend == "vllm" else []
    if live and not args.force:
        print(
            f"error: training run {', '.join(live)} is live and holds the GPU; a vLLM server beside it would "
            "run out of memory. fix: stop it first, or pass --force with a small --gpu-memory",
            file=sys.stderr,
        )
        return 1
    serve, proc = jserve.start(spec)
    print(serve.serve_id, flush=True)
    print(f"starting the {spec.backend} server ({spec.base_model}); log: {serve.log}", file=sys.stderr)
    try:
        status = jserve.wait_ready(
            serve, timeout=args.timeout or (900.0 if spec.backend == "vllm" else 300.0)
        )
    except jserve.ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        jserve.stop(serve, wait=30)
        return 1
    except KeyboardInterrupt:
        print("\nstopping the server...", file=sys.stderr)
        jserve.stop(serve)
        return 130
    print(f"url: {status.url}\nkey file: {serve.key_file}")
    print(f"models: {', '.join(status.models)}", flush=True)
    if args.detach:
        print(f"stop it with `grpo-workbench serve --stop {serve.serve_id}`", file=sys.stderr, flush=True)
        return 0
    print("serving in the foreground; Ctrl-C stops the server", file=sys.stderr, flush=True)
    offset = serve.log.stat().st_size if serve.log.exists() else 0
    try:
        while True:
            with serve.log.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            offset += len(chunk)
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
            view = serve.resolve()
            if view.final:
                print(f"server {serve.serve_id}: {view.state}", file=sys.stderr)
                return 0 if view.state == "stopped" else 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(f"\nstopping the server: {jserve.stop(serve)}", file=sys.stderr)
        proc.wait()
        return 0


def build_parser() -> argparse.ArgumentParser:
    from workbench import __version__, flags

    parser = argparse.ArgumentParser(
        prog="grpo-workbench",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="GRPO fine-tuning of Llama-3.2 with LoRA on Vietnamese math: a workbench and CLI.",
    )
    parser.add_argument("--version", action="version", version=f"grpo-workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            metavar="FILE",
            help="a TOML run config, laid over this machine's defaults: a partial file changes what it names "
            "(see `config --reference`)",
        )
        p.add_argument(
            "--set",
            metavar="KEY=VALUE",
            action="append",
            default=[],
            help="override one setting, e.g. --set grpo.max_steps=20 (repeatable)",
        )

    p = sub.add_parser("tui", help="open the workbench (the default)")
    p.set_defaults(func=cmd_tui)
    p = sub.add_parser("keys", help="list every key binding's id and keys (to remap in settings.toml)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_keys)
    p = sub.add_parser("train", help="start a training run (foreground unless --detach)")
    with_config(p)
    p.add_argument("--detach", action="store_true", help="start in the background and print the run id")
    p.add_argument(
        "--from",
        dest="from_run",
        metavar="RUN[:checkpoint-N]",
        help="a new run that starts from another run's adapter (its final one, or checkpoint-N) and its "
        "settings; --set changes them (the fix for a resume its changed config.toml refuses)",
    )
    p.add_argument(
        "--like",
        metavar="RUN",
        help="a new run with RUN's settings (a clone, with a new id; lora.init_from is not copied and "
        "nothing but the settings is: no checkpoints, adapter or metrics); --set changes them",
    )
    p.add_argument("--no-check", action="store_true", help="skip the machine pre-flight checks")
    p.add_argument(
        "--force",
        action="store_true",
        help="start even on a GPU another run or process is using (warns instead of refusing)",
    )
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("runs", help="list runs")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("stop", help="stop a run cleanly (it saves a checkpoint)")
    p.add_argument("run")
    p.add_argument("--no-wait", action="store_true", help="send the signal and return at once")
    p.add_argument(
        "--timeout",
        type=flags.seconds("give the seconds to wait before killing, 0 or more (0: only ask)", zero=True),
        default=600.0,
        help="seconds to wait before killing (600)",
    )
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser("resume", help="continue a stopped/failed/crashed run from its last checkpoint")
    p.add_argument("run")
    p.add_argument("--detach", action="store_true", help="resume in the background")
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("logs", help="print a run's train.log")
    p.add_argument("run")
    p.add_argument("-f", "--follow", action="store_true", help="keep following until the run ends")
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser(
        "doctor", help="check versions against the known-good set, GPU, CUDA, vLLM's server, disk"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("build-model", help="build a random-init Llama model and a local tokenizer (no hub)")
    p.add_argument("arch", help="tiny, 1b (Llama-3.2-1B shape) or 3b (Llama-3.2-3B shape)")
    p.add_argument("out", help="output directory (must not exist or be empty)")
    p.add_argument("--seed", type=flags.SEED, default=0)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32", "float16"])
    p.set_defaults(func=cmd_build_model)
    p = sub.add_parser(
        "bench", help="time the tutorial's batch shape against the workbench's on this GPU", add_help=False
    )
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("config", help="print or write a config; --reference prints every setting")
    with_config(p)
    p.add_argument("--reference", action="store_true", help="print the config reference (Markdown)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the TOML here instead of printing it")
    p.set_defaults(func=cmd_config)
    p = sub.add_parser("preview", help="show formatted training rows with their gold answers and data stats")
    with_config(p)
    p.add_argument(
        "-n", type=flags.Whole(0, "give 0 or more rows to show"), default=3, help="rows to show (3)"
    )
    p.set_defaults(func=cmd_preview)
    p = sub.add_parser(
        "score",
        help="score one completion with every reward (built-in and custom): scores, reasons, total as JSON",
        description="Score a completion against a gold answer with every reward function of the config "
        "(the run config's weights and [[custom_rewards]]), exactly as training calls them; prints JSON "
        '{"rewards": {name: {score, weight, weighted, reason, custom[, error]}}, "total": weighted sum}.',
    )
    with_config(p)
    p.add_argument("--completion", required=True, metavar="FILE", help="the completion's text; - reads stdin")
    p.add_argument(
        "--answer",
        required=True,
        metavar="A",
        help="the gold answer, e.g. 25 or 3/4 (a negative one as --answer=-7)",
    )
    p.add_argument("--question", default="", metavar="Q", help="the question (what custom rewards may read)")
    p.add_argument("--type", default="", metavar="T", help="the row's type, e.g. GSM_AnsAug")
    p.add_argument("--compact", action="store_true", help="one line of JSON")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("eval", help="held-out accuracy, format and length of base, checkpoints and adapter")
    p.add_argument("run")
    p.add_argument(
        "--targets",
        metavar="LIST",
        help="comma list of base, adapter, checkpoint-N (or N), checkpoints, last, all "
        "(default: base and the adapter, or the newest checkpoint)",
    )
    p.add_argument("--limit", type=flags.ROW_LIMIT, metavar="N", help="only the first N held-out rows")
    p.add_argument(
        "--samples",
        type=flags.SAMPLES,
        metavar="N",
        help=f"also sample N >= {flags.MIN_SAMPLES} completions per row at temperature 0.8, top_p 0.95 "
        "(pass@k for k = 1, 2, 4, ... N)",
    )
    p.add_argument(
        "--greedy", action=argparse.BooleanOptionalAction, default=True, help="greedy decoding (on)"
    )
    p.add_argument(
        "--max-new-tokens",
        type=flags.MAX_NEW_TOKENS,
        metavar="N",
        help="default: the run's max_completion_length",
    )
    p.add_argument(
        "--batch-size", type=flags.BATCH_SIZE, metavar="N", help="rows per batch (8 on CPU, 64 with vLLM)"
    )
    p.add_argument("--backend", choices=["auto", "vllm", "transformers"], help="auto: vLLM on a GPU")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser(
        "serve",
        help="serve a run's base model and adapters over an OpenAI-compatible API (127.0.0.1, with a key)",
        description="Serve a run's base model (as `base`) and its adapters (`adapter`, `checkpoint-N`) with "
        "vLLM on a GPU, or transformers + PEFT elsewhere; prints the serve id, the URL and the key file.",
    )
    p.add_argument("run", nargs="?", help="the run whose model and adapters to serve")
    p.add_argument(
        "--checkpoint",
        type=flags.CHECKPOINT,
        metavar="N",
        help="serve only checkpoint-N (default: all, + adapter)",
    )
    p.add_argument("--base-only", action="store_true", help="serve the base model alone")
    p.add_argument(
        "--model", metavar="NAME_OR_DIR", help="serve this model instead of a run's (preset, hub id, dir)"
    )
    p.add_argument(
        "--adapter",
        action="append",
        metavar="[NAME=]DIR",
        help="with --model: an adapter to serve (repeatable)",
    )
    p.add_argument("--port", type=flags.PORT, help="TCP port on 127.0.0.1 (default: a free one)")
    p.add_argument(
        "--backend", choices=["auto", "vllm", "transformers"], default="auto", help="auto: vLLM on a GPU"
    )
    p.add_argument(
        "--max-lora-rank",
        type=flags.LORA_RANK,
        metavar="R",
        help="vLLM's --max-lora-rank (default: the run's)",
    )
    p.add_argument(
        "--gpu-memory",
        type=flags.GPU_SHARE,
        default=0.85,
        metavar="F",
        help="vLLM's share of the GPU (0.85)",
    )
    p.add_argument("--detach", action="store_true", help="return once the server is ready (it keeps running)")
    p.add_argument("--force", action="store_true", help="start vLLM even while a training run holds the GPU")
    p.add_argument(
        "--timeout",
        type=flags.seconds("give seconds above 0, or leave --timeout out for the default"),
        metavar="S",
        help="seconds to wait for readiness / for --stop",
    )
    p.add_argument("--list", action="store_true", help="list serve jobs")
    p.add_argument("--json", action="store_true", help="with --list: machine-readable output")
    p.add_argument("--stop", metavar="ID", help="stop a serve job (frees its memory)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser(
        "export",
        help="export a run's model: merged safetensors, GGUF (+ Ollama Modelfile) or the adapter",
        description="Export a run's LoRA adapter: merged into the base (safetensors with tokenizer, chat "
        "template and generation config), as GGUF for llama.cpp/Ollama, or as the adapter alone. "
        "Written into a temporary directory, checked (logits against base + adapter and the base "
        "alone), then renamed into place; an existing export is replaced only with --force.",
    )
    p.add_argument("run")
    p.add_argument("--format", required=True, choices=["merged", "gguf", "adapter"], help="what to write")
    p.add_argument(
        "--checkpoint",
        type=flags.CHECKPOINT,
        metavar="N",
        help="export checkpoint-N (default: the final adapter)",
    )
    p.add_argument(
        "--out", metavar="DIR", help="output directory (default: RUN/exports/FORMAT[-checkpoint-N])"
    )
    p.add_argument("--force", action="store_true", help="replace an existing export at the end")
    p.add_argument("--quant", metavar="LIST", help="gguf: comma list of f16, q8_0 (default: both)")
    p.add_argument(
        "--push",
        metavar="REPO",
        help="upload to this Hugging Face Hub model repo (token from HF_TOKEN; write access checked first)",
    )
    p.add_argument(
        "--detach", action="store_true", help="export in the background (log: RUN/exports/export.log)"
    )
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _closed_pipe()


def _main(argv: list[str]) -> int:
    parser = build_parser()
    if argv[:1] == ["bench"]:
        # bench's own parser (jobs/bench.py) owns its options and --help
        if "-h" in argv or "--help" in argv:
            return subprocess_help()
        return cmd_bench(argparse.Namespace(), argv[1:])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, a bad command line: print, then leave through main
        sys.stdout.flush()
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    func = getattr(args, "func", cmd_tui)
    return int(func(args) or 0)


def _closed_pipe() -> int:
    """The reader of stdout went away (`grpo-workbench runs | head -1`): stop quietly, as Unix tools
    do, with the status of a process ended by SIGPIPE (128 + 13), and no traceback."""
    import signal

    # Whatever is still buffered would raise again when Python flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (under a test's capture)
        pass
    finally:
        os.close(devnull)
    return 128 + signal.SIGPIPE


def subprocess_help() -> int:
    import subprocess

    return subprocess.run([sys.executable, "-m", "jobs.bench", "--help"]).returncode


if __name__ == "__main__":
    sys.exit(main())
