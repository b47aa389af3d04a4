#!/usr/bin/env bash
# Every GPU figure in one run on a lent device (issues 14, 20, 21). Tables go to $OUT (at most 8 files come back):
#   env.txt, cuda_tests.txt, e2e.md (end to end + half-precision difference), train.md (throughput, then torchrun with
#   two processes on the GPU), bag.txt (bench_bag per-stage table on the device), device_post.txt (ONNX I/O binding,
#   device vs host post-processing, temporal filter cost), compile.md (torch.compile rows), log.txt (stderr).
#   TENSORRT=1 adds ONNX Runtime TensorRT rows (minutes of engine builds). Section limits add up to 580 s; each is cut
#   to what BUDGET_S (570 s from the start, wheel install included) leaves, so the last files are still written.
#   The device image's onnxruntime was the CPU build (KINDS.md, 2026-11): env.txt lists its providers; without
#   CUDAExecutionProvider there are no ONNX Runtime GPU rows and bench_onnx_binding measures the CPU provider.
# Prepare here first: `bash bench/gpu_prepare.sh` (KITTI frames -> .gpu_data, wheels -> .whl), try it on the CPU:
#   `DEVICE=cpu QUICK=--quick OUT=/tmp/gpu_try PYTHON=.venv/bin/python bash bench/gpu.sh`
# then run it through the device tool with carry [".gpu_data", ".whl"] and timeout_s 590: `bash bench/gpu.sh`.
# Each section has its own time limit, most important first, so a slow one costs only itself.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-}
log="$OUT/log.txt"
if [ -d .whl ] && [ -z "$QUICK" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >>"$log" 2>&1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
[ -d .gpu_data ] && export MONO_DEPTH_DATA=${MONO_DEPTH_DATA:-$PWD/.gpu_data}
BUDGET_S=${BUDGET_S:-570}  # the whole script ends within this (the device run's timeout_s is 590), wheels included
section() {  # section SECONDS FILE COMMAND...: run with a limit (cut to what the budget leaves), stdout to FILE
  local limit=$1 file=$2
  shift 2
  local left=$((BUDGET_S - SECONDS - 5))
  if [ "$left" -lt 15 ]; then
    echo "=== skipped, ${left} s of the budget left: $* ===" >>"$log"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $* (limit ${limit} s) ===" >>"$log"
  local started=$SECONDS
  timeout "$limit" "$@" >"$OUT/$file" 2>>"$log"
  echo "=== exit $? after $((SECONDS - started)) s ===" >>"$log"
}
{
  date -u; nvidia-smi 2>&1 | head -20
  $PY -c "import torch, numpy, sys; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available()); print('numpy', numpy.__version__)"
  $PY -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" 2>&1
} >"$OUT/env.txt" 2>&1
if [ -z "$QUICK" ]; then
  section 80 cuda_tests.txt $PY -m pytest -q -p no:cacheprovider test/models/test_cuda_graphs.py test/models/test_inference.py \
    test/models/test_precision_policy.py test/models/test_onnx_binding.py test/core/test_cloud_torch.py \
    test/core/test_postprocess_torch.py test/core/test_edges_torch.py test/test_pipeline_device.py -k "cuda or CUDA"
fi
frames=${FRAMES:-200}
section 210 e2e.md $PY -m bench.bench_gpu --device "$DEVICE" --frames "$frames" --sections e2e,precision \
  ${TENSORRT:+--tensorrt} $QUICK
# training throughput, then two torchrun processes training on the one device (they share it over gloo)
section 90 train.md bash -c "$PY -m bench.bench_gpu --device $DEVICE --sections train --models none $QUICK &&
  MONO_DEPTH_TORCHRUN_DEVICE=$DEVICE $PY -m pytest -q -p no:cacheprovider test/training/test_torchrun.py -k train_tiny_unet"
bag_frames=48; [ -n "$QUICK" ] && bag_frames=6
section 40 bag.txt $PY -m bench.bench_bag --device "$DEVICE" --frames $bag_frames --no-trace
onnx_device=$DEVICE; [ -n "$QUICK" ] && onnx_device=cpu
# the small device benchmarks share one file (at most 8 files come back)
section 70 device_post.txt bash -c "$PY -m bench.bench_onnx_binding --device $onnx_device --calls 100 --rounds 3;
  $PY -m bench.bench_device_post --device $DEVICE --runs 50; $PY -m bench.bench_temporal --cost-only --device $DEVICE"
section 90 compile.md $PY -m bench.bench_gpu --device "$DEVICE" --frames "$frames" --sections e2e --compile \
  --models "DA-V2-S 518,DA-V2-S 70" $QUICK
ls -la "$OUT" >>"$log"
