#!/usr/bin/env bash
# The PJRT device on a GPU machine, run after bench/gpu-run.sh (it has its own 10-minute call):
# JAX's CUDA plugin found and described, the op suite and verify on xla-cuda, and training
# samples/s on xla-cuda beside tessera's own cuda device and beside jax.jit of the same step,
# in one run (step limits add up to 5m50s). Logs go to $OUT.
#   source .device/setup.sh && bash .device/collect.sh bash bench/gpu-run-pjrt.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-run-pjrt}
mkdir -p "$OUT"
step() { local name=$1 limit=$2; shift 2; echo "== $name"; timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1; echo "   exit $? ($(tail -1 "$OUT/$name.txt" | cut -c1-120))"; }
export XLA_PYTHON_CLIENT_PREALLOCATE=false
step pjrt-devices 30 node bin/tessera.js devices
step pjrt-test 120 env TESSERA_TEST_DEVICES=xla-cuda TESSERA_DISABLE_WEBGPU=1 node --expose-gc --test --test-reporter=spec \
  dist/test/ops/ dist/test/tensor/ dist/test/nn/ dist/test/devices/ dist/test/errors.test.js
step pjrt-verify 40 node bin/tessera.js verify --device xla-cuda
# strict float32 on both (torch and jax baselines also train without TF32)
step pjrt-bench 120 env TESSERA_CUDA_PRECISION=highest TESSERA_DISABLE_WEBGPU=1 node bin/tessera.js bench --devices cpu,cuda,xla-cuda \
  --models mlp,cnn --batch-sizes 32,256 --steps 10 --repeats 3 --matmul-sizes 1024,4096 --out "$OUT/bench"
step jax 40 python3 .device/jax_baseline.py --steps 100
cp "$OUT/jax.txt" "$OUT/jax.jsonl"
step compare-jax 10 node dist/bench/compare-torch.js "$OUT/jax.jsonl" "$OUT/bench/bench.json"
cat "$OUT/compare-jax.txt"
echo "done: $OUT"
