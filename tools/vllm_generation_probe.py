"""Generation alone, in a vLLM engine built the way TRL 1.15 builds its colocated one: what do the
sampling options the trainer asks for cost? (GPU only.)

Times `LLM.generate` for 128 completions of 256 tokens (16 prompts of 150 random token ids, each 8
times, as TRL sends a GRPO group) under: TRL's request (logprobs=0, detokenize), without detokenizing
(what `jobs.colocate` asks for), without log-probabilities either (TRL 1.15 cannot take that), and as
n=8 samples per prompt. Median of 3 after a warm-up. On an H200 with the random-init 1B model:
2.48, 1.29, 1.12 and 1.16 s.

    python3 tools/vllm_generation_probe.py MODEL_DIR OUT.json
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def main(model: str, out: Path) -> int:
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", "29533")
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process, as with TRL's external launcher
    from vllm import LLM, SamplingParams

    llm = LLM(
        model=model,
        gpu_memory_utilization=0.2,
        max_num_seqs=128,
        distributed_executor_backend="external_launcher",
        seed=0,
        max_num_batched_tokens=4096,
        logprobs_mode="processed_logprobs",
    )
    rng = random.Random(0)
    prompts = [[128000] + [rng.randrange(1000, 120000) for _ in range(150)] for _ in range(16)]
    repeated: list[Any] = [{"prompt_token_ids": p} for p in prompts for _ in range(8)]
    once: list[Any] = [{"prompt_token_ids": p} for p in prompts]
    base = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 256, "ignore_eos": True}
    cases = {
        "TRL's request (logprobs 0, detokenize)": (repeated, SamplingParams(n=1, logprobs=0, **base)),
        "logprobs 0, no detokenize": (repeated, SamplingParams(n=1, logprobs=0, detokenize=False, **base)),
        "no logprobs, no detokenize": (repeated, SamplingParams(n=1, detokenize=False, **base)),
        "n=8 x 16 prompts, logprobs 0, no detokenize": (
            once,
            SamplingParams(n=8, logprobs=0, detokenize=False, **base),
        ),
    }
    results = {}
    for name, (batch, params) in cases.items():
        llm.generate(batch, sampling_params=params, use_tqdm=False)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            outputs = llm.generate(batch, sampling_params=params, use_tqdm=False)
            times.append(time.perf_counter() - start)
        tokens = sum(len(o.token_ids) for r in outputs for o in r.outputs)
        results[name] = {"median_s": statistics.median(times), "times": times, "tokens": tokens}
        print(f"[gen] {name}: {statistics.median(times):.3f} s ({tokens} tokens)", flush=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
