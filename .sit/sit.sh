#!/usr/bin/env bash
# One GPU sitting for issue 20 (run from .wt20 on the device): sit.sh PHASE [bench args...]
set -u
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 NCCL_NVLS_ENABLE=0 \
  TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 GRPO_WORKBENCH_HOME=/tmp/wbhome PYTHONUNBUFFERED=1 \
  VLLM_ALLOW_RUNTIME_LORA_UPDATING=true
phase=$1; shift
case $phase in
install)
  t0=$(date +%s)
  bash ../.whl/install.sh /tmp/stage /tmp/site 2>&1 | tail -3
  echo "install took $(( $(date +%s) - t0 )) s"
  python3 -c "import torch, trl, vllm, transformers; print(torch.__version__, trl.__version__, vllm.__version__, transformers.__version__, torch.cuda.device_count())"
  t0=$(date +%s)
  python3 -c "from workbench import presets; print(presets.ensure_model('random-1b'))" 2>&1 | tail -2
  echo "build took $(( $(date +%s) - t0 )) s"
  nvidia-smi --query-gpu=index,name,memory.used,memory.total --format=csv
  ;;
bench)
  tag=$1; shift
  timeout ${BENCH_LIMIT:-530} python3 -m jobs.bench --keep-runs /tmp/runs-$tag --out $OUT/bench-$tag.json "$@" 2>&1 | tee $OUT/bench-$tag.log | grep -v "^\[trainer\|Tokeniz\|Building\|Truncat\|Dropping" | tail -60
  cd /tmp && tar czf $OUT/runs-$tag.tgz runs-$tag/*/metrics.jsonl runs-$tag/*/train.log runs-$tag/*/plan.json runs-$tag/*/gpu.jsonl runs-$tag/*/config.toml 2>/dev/null
  ls -la $OUT
  ;;
esac
