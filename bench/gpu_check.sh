#!/usr/bin/env bash
# Every figure issue #25 asks of a GPU, in one call of at most about 9 minutes (the device tool's limit is 10):
#   bash bench/gpu_check.sh            (on a CUDA machine, from the repository root)
# 1. bench/throughput.py: 4 paper models (random weights) × 50,000 ImageNet-like JPEGs, the paper-style
#    reference on 5,000 of them (scaled), then 50,000 ImageNet-C-like 224-px JPEGs; its table is printed
#    even when the budget cuts it short;
# 2. the `-m gpu` tests (nvJPEG decode, device decode + overlapped + compiled loop, CUDA bf16 path; TESTS=0 skips);
# 3. `python -m core study --plan`'s prediction on this GPU, to set beside the measured rates.
# Environment: PY (default: python3 with torch, torchvision, timm, open_clip: the project's requirements),
# HF_HOME (default /tmp/hf: written with random weights when it holds none), BUDGET_S (default 400: throughput.py's own limit).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
export HF_HOME=${HF_HOME:-/tmp/hf} HF_HUB_OFFLINE=1
export BAE_CACHE_DIR=${BAE_CACHE_DIR:-$(mktemp -d /tmp/bae-gpu-check-XXXX)}
BUDGET_S=${BUDGET_S:-400}
began=$(date +%s)

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
nproc; uptime
"$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())" \
  || { echo "no Python with torch here: set PY"; exit 2; }

if [ ! -d "$HF_HOME/hub" ]; then
  tool=""
  for candidate in "${BAE_SHARED_DIR:-../shared}/tools/random_paper_weights.py" shared/tools/random_paper_weights.py; do
    [ -f "$candidate" ] && tool=$candidate && break
  done
  [ -n "$tool" ] || { echo "no random_paper_weights.py (BAE_SHARED_DIR/tools) and no weights in HF_HOME=$HF_HOME"; exit 2; }
  echo "== random weights of the paper's four architectures into $HF_HOME"
  "$PY" "$tool" "$HF_HOME"
fi

echo "== throughput (budget ${BUDGET_S} s, image generation included)"
timeout -s TERM $(( BUDGET_S + 20 )) "$PY" bench/throughput.py --device cuda --images 50000 --imagenet-c 50000 \
  --ref-images 5000 --compile --budget-s "$BUDGET_S" 2>&1 | tail -70

if [ "${TESTS:-1}" = 1 ]; then
  echo "== gpu tests"
  timeout 100 "$PY" -m pytest tests/unit/run/test_gpu.py -m gpu -q -p no:cacheprovider 2>&1 | tail -15
fi

echo "== study --plan on this GPU"
timeout 15 "$PY" -m core study --plan 2>&1 | tail -12
echo "== whole check: $(( $(date +%s) - began )) s"
