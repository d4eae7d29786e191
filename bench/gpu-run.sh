#!/usr/bin/env bash
# The one script for a GPU machine (see ../shared/device): devices, verify, the op suite on
# cuda and webgpu, tessera bench on cpu and every hardware GPU, and PyTorch's figures for the same workloads,
# all in one run so ratios are taken on one machine at one time (step limits add up to 9m55s; the device allows 10 minutes a command). Logs go to $OUT.
#   source .device/setup.sh && bash bench/gpu-run.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-run}
mkdir -p "$OUT"
# JAX's CUDA plugin is on this machine: the PJRT device has its own script (bench/gpu-run-pjrt.sh),
# so these steps keep their time limits
export TESSERA_DISABLE_PJRT=1
step() { local name=$1 limit=$2; shift 2; echo "== $name"; timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1; echo "   exit $? ($(tail -1 "$OUT/$name.txt" | cut -c1-120))"; }
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
step devices 20 node bin/tessera.js devices
step verify 40 node bin/tessera.js verify
step test-cuda 110 env TESSERA_TEST_DEVICES=cuda TESSERA_CUDA_PRECISION=highest node --expose-gc --test --test-reporter=spec \
  dist/test/ops/ dist/test/tensor/ dist/test/nn/ dist/test/devices/ dist/test/errors.test.js dist/test/backends/cuda.test.js
step test-webgpu 45 env TESSERA_TEST_DEVICES=webgpu TESSERA_WEBGPU_ADAPTER=${TESSERA_WEBGPU_ADAPTER:-NVIDIA} node --expose-gc --test --test-reporter=spec \
  dist/test/ops/ dist/test/tensor/compile.test.js dist/test/backends/webgpu.test.js
# training in strict float32 on cuda, as torch_baseline.py trains (allow_tf32 = False)
# compiled steps (as fit runs them); then the same at batch 32 eager, for the compiled/eager ratio on each GPU
step bench 110 env TESSERA_CUDA_PRECISION=highest node bin/tessera.js bench --steps 10 --repeats 3 --matmul-sizes 1024,4096 --out "$OUT/bench"
step bench-eager 25 env TESSERA_CUDA_PRECISION=highest node bin/tessera.js bench --no-jit --models mlp,cnn --batch-sizes 32 --steps 10 --repeats 3 --matmul-sizes 64
# where the time goes at batch 32: device time per op against wall time (launch overhead, syncs)
step profile 20 env TESSERA_CUDA_PRECISION=highest node bin/tessera.js bench --devices cuda --models mlp,cnn --batch-sizes 32 --steps 20 --repeats 1 --matmul-sizes 64 --profile
# GEMMs on cuda as torch_baseline.py runs them: TF32 and half formats by default, then strict float32
step gemm-tf32 60 node bin/tessera.js bench --devices cuda --models none --matmul-sizes 4096,8192 --matmul-dtypes float32,bfloat16,float16 --json
step gemm-highest 30 env TESSERA_CUDA_PRECISION=highest node bin/tessera.js bench --devices cuda --models none --matmul-sizes 1024,2048,4096 --json
# the same GEMMs through cuBLAS alone (what torch.matmul calls), beside the cuBLASLt plans
step gemm-cublas 35 env TESSERA_CUDA_GEMM=cublas node bin/tessera.js bench --devices cuda --models none --matmul-sizes 4096,8192 --matmul-dtypes float32,bfloat16 --json
step torch 85 python3 .device/torch_baseline.py
cp "$OUT/torch.txt" "$OUT/torch.jsonl"
step compare 10 node dist/bench/compare-torch.js "$OUT/torch.jsonl" "$OUT/bench/bench.json" "$OUT/gemm-tf32.txt" "$OUT/gemm-highest.txt"
step compare-cublas 5 node dist/bench/compare-torch.js "$OUT/torch.jsonl" "$OUT/gemm-cublas.txt"
cat "$OUT/compare.txt" "$OUT/compare-cublas.txt"
echo "done: $OUT"
