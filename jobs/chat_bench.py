"""Chat latency on a GPU: time to first token and tokens/s of one stream, as the chat pane sees them.

    python3 -m jobs.chat_bench --model DIR_OR_PRESET [--adapter DIR | --random-adapter 64] --out FILE.json

It starts the same serve job the chat pane starts (vLLM's OpenAI server with the adapter as a LoRA
module, `jobs.serve`), waits for it, and sends one stream at a time through the same client
(`workbench.chat.stream_chat`): for `base` and for each adapter, a warm-up request (compilation, LoRA
load), then `--repeats` measured ones. For every request it also reads vLLM's own figures from its
Prometheus `/metrics` before and after (the deltas of `vllm:time_to_first_token_seconds`,
`vllm:generation_tokens`, `vllm:e2e_request_latency_seconds`, `vllm:request_decode_time_seconds`), so the
client's numbers (which include HTTP, SSE and the SDK) can be set against the engine's.

It refuses without an NVIDIA GPU and vLLM (`--backend transformers` runs the plumbing on the CPU fallback,
which has no /metrics). Every request has a timeout, the server is stopped whatever happens (Ctrl-C and
SIGTERM included), and the JSON is rewritten after every request, so a failure keeps what was measured
(`status` says `ok`, `partial`, `failed` or `refused`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import signal
import statistics
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from workbench import flags
from workbench.atomic import write_json_atomic

PROMPT = (
    "Một cửa hàng bán 120 quả táo trong ngày thứ nhất, ngày thứ hai bán được nhiều hơn ngày thứ nhất 35 "
    "quả. Hỏi cả hai ngày cửa hàng bán được bao nhiêu quả táo?"
)
"""A Vietnamese word problem of the training data's kind (answer: 275)."""
METRICS = {
    "ttft": "vllm:time_to_first_token_seconds",
    "e2e": "vllm:e2e_request_latency_seconds",
    "decode": "vllm:request_decode_time_seconds",
    "prefill": "vllm:request_prefill_time_seconds",
    "queue": "vllm:request_queue_time_seconds",
}
"""vLLM histograms read as _sum/_count deltas around each request."""
COUNTERS = {"generation_tokens": "vllm:generation_tokens", "prompt_tokens": "vllm:prompt_tokens"}
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)")


def log(message: str) -> None:
    print(f"[chat_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text exposition as {sample name: value summed over label sets}.

    vLLM labels its series by model name and engine; one server, one engine: summing gives the totals.
    Counters appear with their `_total` suffix, histograms as `_sum`, `_count` and `_bucket` samples.
    """
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        name = match.group(1)
        totals[name] = totals.get(name, 0.0) + value
    return totals


def metric_deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """vLLM's own figures for what happened between two scrapes (one request, when requests are serial)."""
    out: dict[str, Any] = {}
    for key, name in METRICS.items():
        count = after.get(f"{name}_count", 0.0) - before.get(f"{name}_count", 0.0)
        total = after.get(f"{name}_sum", 0.0) - before.get(f"{name}_sum", 0.0)
        out[f"{key}_s"] = total / count if count > 0 else None
        out[f"{key}_count"] = count
    for key, name in COUNTERS.items():
        value = after.get(f"{name}_total", after.get(name))
        start = before.get(f"{name}_total", before.get(name))
        out[key] = value - start if value is not None and start is not None else None
    decode = out.get("decode_s")
    tokens = out.get("generation_tokens")
    # The decode phase produces every token after the first.
    out["decode_tokens_per_s"] = (tokens - 1) / decode if decode and tokens and tokens > 1 else None
    return out


def scrape(root: str, key: str, timeout: float = 5.0) -> dict[str, float] | None:
    """vLLM's /metrics parsed, or None when the server has none (the fallback) or it fails."""
    request = urllib.request.Request(f"{root}/metrics", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return parse_prometheus(response.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return None


def scrape_after(root: str, key: str, before: dict[str, float], wait: float = 3.0) -> dict[str, float] | None:
    """Scrape until vLLM has recorded the finished request (its stats trail the response slightly)."""
    deadline = time.monotonic() + wait
    name = f"{METRICS['e2e']}_count"
    while True:
        after = scrape(root, key)
        if after is None or after.get(name, 0.0) > before.get(name, 0.0) or time.monotonic() > deadline:
            return after
        time.sleep(0.1)


def summarize(values: list[float | None]) -> dict[str, float | None]:
    found = [v for v in values if v is not None]
    if not found:
        return {"mean": None, "median": None, "min": None, "max": None}
    return {
        "mean": statistics.fmean(found),
        "median": statistics.median(found),
        "min": min(found),
        "max": max(found),
    }


def versions() -> dict[str, str | None]:
    from workbench.environment import version

    return {p: version(p) for p in ("vllm", "torch", "transformers", "peft", "openai", "fastapi")}


def make_random_adapter(base: str, rank: int, out: Path) -> Path:
    """A PEFT LoRA adapter of `rank` on all seven projections of `base` (PEFT's initialisation: B = 0,
    so it changes nothing, but vLLM runs its matmuls all the same, which is what is measured)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    log(f"building a random rank-{rank} LoRA adapter for {base} in {out}")
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    get_peft_model(model, config).save_pretrained(str(out))
    return out


def ensure_base(model: str) -> str:
    """A locally built preset (random-1b, ...) is built when this machine lacks it; others pass through."""
    from jobs.serve import ServeError, base_model_for
    from workbench import presets

    try:
        return str(Path(model).resolve()) if Path(model).is_dir() else base_model_for(model)
    except ServeError:
        preset = presets.PRESETS.get(model)
        if preset is None or preset.hub_id:
            raise
        from workbench import modelbuild

        target = Path(presets.local_build_dir(preset))
        log(f"building {model} into {target} (first use only)")
        modelbuild.build_model(preset.architecture, target, progress=log)
        return str(target)


async def measure_target(
    endpoint: Any,
    model: str,
    args: argparse.Namespace,
    record: dict[str, Any],
    save: Any,
) -> None:
    """One warm-up and `args.repeats` measured streams of `model`, each with vLLM's deltas."""
    from workbench.chat import Sampling, StreamStats, make_client, messages_for

    client = make_client(endpoint, read_timeout=args.request_timeout)
    sampling = Sampling(args.temperature, args.top_p, args.max_tokens)
    messages = messages_for(args.prompt)
    root = endpoint.url.removesuffix("/v1")
    extra = {"ignore_eos": True} if args.ignore_eos else {}
    record.setdefault("runs", [])
    for index in range(args.repeats + 1):
        warmup = index == 0
        before = await asyncio.to_thread(scrape, root, endpoint.key) if not warmup else None
        stats = StreamStats()
        entry: dict[str, Any] = {"warmup": warmup}
        try:
            text = await asyncio.wait_for(
                _collect(client, model, messages, sampling, stats, extra),
                timeout=args.request_timeout,
            )
            entry["chars"] = len(text)
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            log(f"{model} request {index}: {entry['error']}")
        entry["client"] = stats.to_dict()
        elapsed = stats.elapsed_s
        tokens = stats.completion_tokens
        entry["client"]["end_to_end_tokens_per_s"] = tokens / elapsed if tokens and elapsed else None
        if before is not None:
            after = await asyncio.to_thread(scrape_after, root, endpoint.key, before)
            entry["server"] = metric_deltas(before, after) if after is not None else None
        if not warmup:
            record["runs"].append(entry)
        else:
            record["warmup"] = entry
        ttft = entry["client"].get("first_token_s")
        rate = entry["client"].get("tokens_per_s")
        log(
            f"{model} {'warm-up' if warmup else f'run {index}'}: first token "
            f"{ttft if ttft is None else f'{ttft * 1000:.1f} ms'}, {tokens} tokens, "
            f"{rate if rate is None else f'{rate:.1f} tok/s'}"
        )
        record["summary"] = summary_of(record["runs"])
        save()
    await client.close()


async def _collect(
    client: Any, model: str, messages: list[dict[str, str]], sampling: Any, stats: Any, extra: dict[str, Any]
) -> str:
    from workbench.chat import stream_chat

    pieces = [
        p async for p in stream_chat(client, model, messages, sampling, stats, extra_body=extra or None)
    ]
    return "".join(pieces)


def summary_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means and medians over the measured runs, client side and vLLM side."""
    ok = [r for r in runs if "error" not in r]
    server = [r.get("server") or {} for r in ok]
    return {
        "runs": len(runs),
        "failed": len(runs) - len(ok),
        "client_first_token_s": summarize([r["client"].get("first_token_s") for r in ok]),
        "client_decode_tokens_per_s": summarize([r["client"].get("tokens_per_s") for r in ok]),
        "client_end_to_end_tokens_per_s": summarize([r["client"].get("end_to_end_tokens_per_s") for r in ok]),
        "completion_tokens": summarize([r["client"].get("completion_tokens") for r in ok]),
        "server_first_token_s": summarize([s.get("ttft_s") for s in server]),
        "server_decode_tokens_per_s": summarize([s.get("decode_tokens_per_s") for s in server]),
        "server_e2e_s": summarize([s.get("e2e_s") for s in server]),
        "server_queue_s": summarize([s.get("queue_s") for s in server]),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m jobs.chat_bench",
        description="Time to first token and tokens/s of one chat stream through the workbench's client, "
        "against vLLM's own /metrics figures.",
    )
    parser.add_argument(
        "--model", required=True, help="a preset (random-1b, llama-3.2-1b), hub id or directory"
    )
    parser.add_argument("--adapter", action="append", default=[], metavar="[NAME=]DIR", help="a LoRA adapter")
    parser.add_argument(
        "--random-adapter",
        type=flags.LORA_RANK,
        metavar="RANK",
        help="build a LoRA adapter of this rank for the model",
    )
    parser.add_argument("--out", required=True, type=Path, help="the JSON result file")
    parser.add_argument(
        "--repeats",
        type=flags.Whole(1, "give 1 or more measured requests per model"),
        default=5,
        help="measured requests per model (5)",
    )
    parser.add_argument(
        "--max-tokens",
        type=flags.Whole(1, "give 1 or more tokens per answer"),
        default=512,
        help="tokens per answer (512)",
    )
    parser.add_argument("--temperature", type=flags.TEMPERATURE, default=0.8)
    parser.add_argument("--top-p", type=flags.TOP_P, default=0.95)
    parser.add_argument(
        "--ignore-eos",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="every answer runs to --max-tokens (vLLM only; on by default)",
    )
    parser.add_argument("--prompt", default=PROMPT, help="the question asked")
    parser.add_argument("--backend", choices=["vllm", "transformers"], default="vllm")
    parser.add_argument(
        "--gpu-memory", type=flags.GPU_SHARE, default=0.85, help="vLLM's share of the GPU (0.85)"
    )
    parser.add_argument(
        "--max-model-len", type=flags.Whole(1, "give a context length of 1 or more tokens"), default=4096
    )
    parser.add_argument("--port", type=flags.PORT, default=0)
    parser.add_argument(
        "--ready-timeout",
        type=flags.seconds("give the seconds the server may take to start, above 0"),
        default=900.0,
        help="seconds for the server to start",
    )
    parser.add_argument(
        "--request-timeout",
        type=flags.seconds("give the seconds a request may take, above 0"),
        default=300.0,
        help="seconds per request",
    )
    return parser


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    result: dict[str, Any] = {
        "status": "starting",
        "started_at": time.time(),
        "host": platform.node(),
        "argv": sys.argv if argv is None else argv,
        "model": args.model,
        "backend": args.backend,
        "settings": {
            "repeats": args.repeats,
            "max_tokens": args.max_tokens,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "ignore_eos": args.ignore_eos and args.backend == "vllm",
            "prompt": args.prompt,
            "gpu_memory": args.gpu_memory,
            "max_model_len": args.max_model_len,
        },
        "targets": {},
    }
    args.ignore_eos = args.ignore_eos and args.backend == "vllm"
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        result["updated_at"] = time.time()
        write_json_atomic(args.out, result)

    from workbench import gpu
    from workbench.environment import has_module

    result["versions"] = versions()
    result["gpus"] = [s.to_dict() for s in gpu.sample()]
    if args.backend == "vllm" and not (gpu.device_count() and has_module("vllm")):
        result["status"] = "refused"
        result["error"] = (
            "chat_bench measures vLLM on a GPU: this machine has "
            f"{'no NVIDIA GPU' if not gpu.device_count() else 'no vllm package'}; run it on the GPU server "
            "(pip install -e '.[gpu]'), or pass --backend transformers to try it on the CPU fallback"
        )
        save()
        print(f"error: {result['error']}", file=sys.stderr)
        return 1
    from jobs import serve as jserve
    from workbench.chat import Endpoint

    serve = None
    scratch = tempfile.TemporaryDirectory(prefix="chat-bench-")
    try:
        base = ensure_base(args.model)
        adapters = list(args.adapter)
        if args.random_adapter:
            adapters.append(
                f"random-r{args.random_adapter}="
                + str(make_random_adapter(base, args.random_adapter, Path(scratch.name) / "adapter"))
            )
        spec = jserve.plan_model(
            base,
            adapters,
            backend=args.backend,
            gpus=gpu.device_count(),
            has_vllm=has_module("vllm"),
            port=args.port,
            max_model_len=args.max_model_len,
            gpu_memory_utilization=args.gpu_memory,
        )
        result["base_model"] = spec.base_model
        result["adapters"] = spec.adapters
        started = time.monotonic()
        serve, _ = jserve.start(spec)
        result["server"] = {"serve_id": serve.serve_id, "log": str(serve.log), "argv": None}
        result["status"] = "starting server"
        save()
        log(f"starting the {spec.backend} server: {serve.serve_id} (log {serve.log})")
        status = jserve.wait_ready(serve, timeout=args.ready_timeout)
        result["server"].update(
            url=status.url,
            ready_s=time.monotonic() - started,
            models=list(status.models),
            argv=list(serve.read_manifest().server_argv) or None,
        )
        log(f"ready in {result['server']['ready_s']:.1f}s: {list(status.models)}")
        result["status"] = "measuring"
        save()
        endpoint = Endpoint(str(status.url), serve.read_key())
        for model in status.models or spec.models:
            record: dict[str, Any] = {}
            result["targets"][model] = record
            asyncio.run(measure_target(endpoint, model, args, record, save))
        failed = sum(r.get("summary", {}).get("failed", 0) for r in result["targets"].values())
        result["status"] = "ok" if not failed else "partial"
        return 0 if not failed else 1
    except KeyboardInterrupt as exc:
        result["status"] = "partial" if result["targets"] else "failed"
        result["error"] = f"interrupted ({exc})"
        return 130
    except Exception as exc:
        result["status"] = "partial" if result["targets"] else "failed"
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()[-4000:]
        log(result["error"])
        return 1
    finally:
        if serve is not None:
            log("stopping the server")
            try:
                result.setdefault("server", {})["final_state"] = jserve.stop(serve, wait=120)
            except Exception as exc:  # the JSON must still be written
                result.setdefault("server", {})["stop_error"] = f"{type(exc).__name__}: {exc}"
            result["server"]["log_tail"] = serve.log_tail(20)
        scratch.cleanup()
        result["finished_at"] = time.time()
        save()
        log(f"wrote {args.out} ({result['status']})")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
