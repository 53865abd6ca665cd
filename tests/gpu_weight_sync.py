"""GPU check of `jobs.colocate`'s streamed weight sync, run by tests/test_gpu.py in its own process
(vLLM's in-process engine initialises torch.distributed once per process).

Trains a TRL + vLLM-colocate trainer on the random-init 1B model for two steps at a high learning rate (so
the adapter moves the weights), then pushes the weights into vLLM twice, once with the workbench's one-pass
sync and once with TRL's own per-tensor sync, and compares what vLLM holds against each other and against
the PEFT-merged policy. Writes its findings as JSON to the path given.

    python -m tests.gpu_weight_sync OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LAYERS = (0, 7, 15)


def engine_weights(generation: Any) -> dict[str, Any]:
    from jobs.colocate import _engine_model

    params = dict(_engine_model(generation).named_parameters())
    names = [f"model.layers.{i}.{p}" for i in LAYERS for p in ("self_attn.qkv_proj", "mlp.gate_up_proj")]
    names += [f"model.layers.{i}.mlp.down_proj" for i in LAYERS]
    return {n: params[n + ".weight"].detach().clone() for n in names}


def merged_policy(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """vLLM-shaped (fused qkv, gate_up) weights of the policy with its adapter merged, and without."""
    import torch

    def fused(merged: bool) -> dict[str, Any]:
        if merged:
            model.merge_adapter()
        try:
            layers = model.base_model.model.model.layers
            out = {}
            for i in LAYERS:
                attn, mlp = layers[i].self_attn, layers[i].mlp

                def w(module: Any) -> Any:
                    return getattr(module, "base_layer", module).weight.detach().clone()

                out[f"model.layers.{i}.self_attn.qkv_proj"] = torch.cat(
                    [w(attn.q_proj), w(attn.k_proj), w(attn.v_proj)]
                )
                out[f"model.layers.{i}.mlp.gate_up_proj"] = torch.cat([w(mlp.gate_proj), w(mlp.up_proj)])
                out[f"model.layers.{i}.mlp.down_proj"] = w(mlp.down_proj)
            return out
        finally:
            if merged:
                model.unmerge_adapter()

    return fused(True), fused(False)


def varied_reward(completion_ids: list[list[int]], **_: Any) -> list[float]:
    """A reward that differs within a group (the random model scores 0 on the recipe's rewards, which
    gives zero advantages, zero gradients and an adapter that never moves)."""
    return [float(ids[0] % 7) for ids in completion_ids]


def main(out: Path) -> int:
    import tempfile

    import torch

    from jobs.backends import load_model
    from jobs.trainer import grpo_args, make_trainer, to_dataset, training_rows
    from workbench import presets
    from workbench.config import apply_overrides, validate
    from workbench.plan import plan

    config = validate(
        apply_overrides(
            {},
            [
                "model.name=random-1b",
                "backend=trl",
                "grpo.use_vllm=on",
                "data.source=bundled",
                "data.held_out=0",
                "grpo.completions_per_step=16",
                "grpo.max_completion_length=32",
                "grpo.max_steps=2",
                "grpo.learning_rate=0.01",
                "grpo.warmup_ratio=0",
                "grpo.lr_scheduler_type=constant",
                "grpo.save_steps=1000",
                "model.gpu_memory_utilization=0.3",
            ],
        )
    )
    total = torch.cuda.get_device_properties(0).total_memory / 2**30
    run_plan = plan(config, total, "trl")
    model_path = presets.ensure_model(config.model.name)  # random-1b: built already
    loaded = load_model(config, "trl", model_path, run_plan.vllm_share)
    rows = training_rows(config, loaded.tokenizer)
    names = config.active_rewards
    with tempfile.TemporaryDirectory() as tmp:
        args = grpo_args(config, run_plan, Path(tmp), True, True, [config.rewards[n] for n in names], "trl")
        trainer = make_trainer(loaded, args, [varied_reward] * len(names), to_dataset(rows.train), [])
        generation = trainer.vllm_generation
        streamed = "sync_weights" in vars(generation)
        detokenize = generation.generation_kwargs.get("detokenize", True)
        logprobs_asked = generation.generation_kwargs.get("logprobs", 0)
        trainer.train()
        model = trainer.model
        merged, unmerged = merged_policy(model)
        generation.sync_weights()  # the workbench's one pass
        ours = engine_weights(generation)
        still_merged = any(getattr(m, "merged", False) for m in model.modules())
        type(generation).sync_weights(generation)  # TRL's own, one tensor per call
        trls = engine_weights(generation)

    def max_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
        return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)

    result = {
        "streamed_sync_installed": streamed,
        "detokenize": detokenize,
        "sampled_logprobs_asked": logprobs_asked,
        "steps": trainer.state.global_step,
        "ours_vs_trl": max_diff(ours, trls),
        "ours_vs_merged_policy": max_diff(ours, merged),
        "adapter_moves_weights": max_diff(merged, unmerged),
        "adapter_unmerged_after_sync": not still_merged,
    }
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
