#!/usr/bin/env bash
# One GPU sitting on a registry-less machine, in the order the calls are made (device tool, repository root):
#
#   bash tools/gpu-sitting.sh install     # after the .gpu1 ... .gpuN folders were copied into /tmp/stage
#   bash tools/gpu-sitting.sh tests [K]   # the single-GPU tests of tests/test_gpu.py (-k K), prints kept
#   bash tools/gpu-sitting.sh run         # a default-shape random-1b run: s/step, rollouts and health files
#   bash tools/gpu-sitting.sh learn       # a 3-step run whose adapter moves, exported in every format
#   bash tools/gpu-sitting.sh bench V     # jobs.bench --variants V
#   bash tools/gpu-sitting.sh bench-start V   # the same in its own session (setsid), outliving the call;
#                                             # BENCH_ARGS adds bench flags (--mixed-lengths), and the GPU's
#                                             # clocks, power and load are sampled every 250 ms beside it
#   bash tools/gpu-sitting.sh bench-wait      # wait (WAIT s, default 560) for it; brings back what it wrote
#
# Everything it measures is written under $OUT (logs and JSON), so the figures come back with the call.
# The random-init model is built once per machine under $GRPO_WORKBENCH_HOME/cache/models.
set -uo pipefail
export GRPO_WORKBENCH_HOME="${GRPO_WORKBENCH_HOME:-/tmp/gwb-home}" HF_HUB_OFFLINE=1 NCCL_NVLS_ENABLE=0
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT" "$GRPO_WORKBENCH_HOME"
py=python3
what="${1:?install | tests | run | learn | bench | bench-start | bench-wait}"
if [ -f /tmp/test-models/random-1b-v1/config.json ] && [ ! -e "$GRPO_WORKBENCH_HOME/cache/models/random-1b-v1" ]; then
    mkdir -p "$GRPO_WORKBENCH_HOME/cache/models"
    ln -s /tmp/test-models/random-1b-v1 "$GRPO_WORKBENCH_HOME/cache/models/random-1b-v1"
fi

case "$what" in
install)
    started=$(date +%s)
    bash .whl/install.sh /tmp/stage /tmp/site > "$OUT/install.log" 2>&1
    tail -3 "$OUT/install.log"
    $py -c "import torch, vllm, trl, unsloth; print('torch', torch.__version__, 'vllm', vllm.__version__, 'trl', trl.__version__)" 2>&1 | tail -1
    $py -m grpo_workbench env 2>&1 | tail -5
    echo "install: $(( $(date +%s) - started )) s"
    ;;
tests)
    mkdir -p /tmp/test-models
    [ -f /tmp/test-models/random-1b-v1/config.json ] || $py -c "
from pathlib import Path
from workbench import modelbuild
modelbuild.build_model('1b', Path('/tmp/test-models/random-1b-v1'))" > "$OUT/build.log" 2>&1
    GRPO_WORKBENCH_TEST_MODELS=/tmp/test-models timeout "${TESTS_TIMEOUT:-540}" $py -m pytest -q -s -p no:cacheprovider \
        tests/test_gpu.py ${2:+-k "$2"} > "$OUT/tests.log" 2>&1
    echo "pytest exit $?"
    grep -E "export of random-1b|passed|failed|skipped|Error|error" "$OUT/tests.log" | tail -25
    ;;
run|learn)
    # run: the default shape as a user launches it. learn: 3 steps that move the adapter (a reward that
    # tells completions apart, tests/fixtures/varied_reward.py, and lr 1e-3), so that it can be exported.
    steps="${STEPS:-6}"
    extra=()
    if [ "$what" = learn ]; then
        steps=3
        extra=(--set 'custom_rewards=[{file="tests/fixtures/varied_reward.py", function="varied"}]'
               --set rewards.varied=1.0 --set grpo.learning_rate=0.001)
    fi
    started=$(date +%s)
    $py -m grpo_workbench train --set model.name=random-1b --set data.source=bundled --set grpo.max_steps="$steps" \
        --set grpo.save_steps=1000 --set name="gpu-$what" "${extra[@]}" > "$OUT/run.out" 2> "$OUT/run.err"
    echo "train exit $? in $(( $(date +%s) - started )) s"
    run_id=$(head -1 "$OUT/run.out")
    run=$($py -c "import sys; from workbench.runs import find_run; print(find_run(sys.argv[1]).path)" "$run_id")
    ls -la "$run" > "$OUT/run-files.txt"
    $py - "$run" "$steps" <<'PY' | tee "$OUT/run-summary.txt"
import json, statistics, sys
from pathlib import Path
run, steps = Path(sys.argv[1]), int(sys.argv[2])
plan = json.loads((run / "plan.json").read_text())
print("plan:", json.dumps(plan)[:800])
metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
times = [m.get("step_time") or m.get("time/step") for m in metrics]
print("steps logged:", len(metrics), "step seconds:", [round(t, 3) for t in times if t])
rolled = run / "rollouts.jsonl"
if rolled.is_file():
    lines = rolled.read_text().splitlines()
    print(f"rollouts.jsonl: {rolled.stat().st_size} bytes, {len(lines)} steps, {rolled.stat().st_size / max(1, len(lines)) / 1024:.1f} KB/step")
    first = json.loads(lines[-1])
    print("last rollout step:", first["step"], "groups", len(first["groups"]), "of", first["groups_in_batch"], "zero_std", first["zero_std_groups"], "truncated", first["truncated"])
else:
    print("NO rollouts.jsonl")
health = run / "health.json"
print("health.json:", health.read_text()[:600] if health.is_file() else "MISSING")
gpu = [json.loads(l) for l in (run / "gpu.jsonl").read_text().splitlines() if l.strip()] if (run / "gpu.jsonl").is_file() else []
print("gpu samples:", len(gpu))
PY
    $py -m grpo_workbench runs --json > "$OUT/runs.json" 2>&1
    tar czf "$OUT/run.tgz" -C "$(dirname "$run")" --exclude checkpoints --exclude adapter "$run_id" 2>/dev/null
    for fmt in adapter merged gguf; do
        s=$(date +%s)
        $py -m grpo_workbench export "$run_id" --format "$fmt" > "$OUT/export-$fmt.log" 2>&1
        code=$?
        size=$(du -sb "$run/exports/$fmt" 2>/dev/null | cut -f1)
        echo "export $fmt: exit $code, $(( $(date +%s) - s )) s, $size bytes" | tee -a "$OUT/run-summary.txt"
        tail -2 "$OUT/export-$fmt.log"
        [ -f "$run/exports/$fmt/export.json" ] && cp "$run/exports/$fmt/export.json" "$OUT/export-$fmt.json"
    done
    ;;
bench)
    $py -m jobs.bench --model random-1b --variants "${2:?variants}" --steps "${STEPS:-5}" --out "$OUT/bench.json" \
        > "$OUT/bench.log" 2>&1
    echo "bench exit $?"
    tail -30 "$OUT/bench.log"
    ;;
bench-start)
    # A bench of several variants outlasts one call (10 minutes): it runs in a session of its own, which
    # the device keeps running while the machine is held, and bench-wait calls follow it back to back.
    mkdir -p /tmp/test-models /tmp/bench
    [ -f /tmp/test-models/random-1b-v1/config.json ] || $py -c "
from pathlib import Path
from workbench import modelbuild
modelbuild.build_model('1b', Path('/tmp/test-models/random-1b-v1'))" > "$OUT/build.log" 2>&1
    if [ ! -e "$GRPO_WORKBENCH_HOME/cache/models/random-1b-v1" ]; then
        mkdir -p "$GRPO_WORKBENCH_HOME/cache/models"
        ln -s /tmp/test-models/random-1b-v1 "$GRPO_WORKBENCH_HOME/cache/models/random-1b-v1"
    fi
    rm -rf /tmp/bench/exit /tmp/bench/runs /tmp/bench/smi.csv /tmp/bench/cpu.txt
    setsid bash -c "nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,utilization.gpu,temperature.gpu,clocks_event_reasons.active \
        --format=csv,noheader,nounits -lms 250 > /tmp/bench/smi.csv 2>&1 & smi=\$!; \
        (while sleep 1; do echo \"\$(date +%s.%N) \$(cat /proc/loadavg)\"; done) > /tmp/bench/cpu.txt & cpu=\$!; \
        $py -m jobs.bench --model random-1b --variants '${2:?variants}' --steps '${STEPS:-5}' ${BENCH_ARGS:-} \
        --keep-runs /tmp/bench/runs --out /tmp/bench/bench.json > /tmp/bench/bench.log 2>&1; echo \$? > /tmp/bench/exit; \
        kill \$smi \$cpu" \
        < /dev/null > /dev/null 2>&1 &
    sleep 5
    echo "bench started: $(tail -2 /tmp/bench/bench.log)"
    ;;
bench-wait)
    waited=0
    while [ ! -f /tmp/bench/exit ] && [ "$waited" -lt "${WAIT:-560}" ]; do sleep 10; waited=$((waited + 10)); done
    for f in bench.log bench.json smi.csv cpu.txt; do cp "/tmp/bench/$f" "$OUT/" 2>/dev/null; done
    nvidia-smi --query-gpu=index,memory.used --format=csv,noheader > "$OUT/nvidia-smi.txt" 2>&1
    if [ -f /tmp/bench/exit ]; then
        echo "bench exit $(cat /tmp/bench/exit)"
        for d in /tmp/bench/runs/*/; do
            tar czf "$OUT/run-$(basename "$d").tgz" -C "$(dirname "$d")" --exclude checkpoints --exclude adapter \
                "$(basename "$d")" 2>/dev/null
        done
    else
        echo "bench still running after ${waited} s"
    fi
    tail -25 /tmp/bench/bench.log
    ;;
esac
