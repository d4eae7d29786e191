#!/usr/bin/env bash
# Issue 14's checks on a GPU machine, after bench/gpu-run.sh (its own 10-minute call): NCCL
# found, the data-parallel step (compiled and eager) with its gradient buckets summed by the real
# NCCL on a stream of its own (a communicator of one: NCCL refuses two ranks on one GPU) ending where plain fit does,
# and its cost per step against plain compiled steps (step limits add up to 5m30s; the first fit compiles its kernels with NVRTC). Logs go to $OUT.
#   source .device/setup.sh && bash .device/collect.sh bash bench/gpu-run-distributed.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-run-distributed}
mkdir -p "$OUT"
export TESSERA_DISABLE_PJRT=1 TESSERA_CUDA_PRECISION=highest
step() { local name=$1 limit=$2; shift 2; echo "== $name"; timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1; echo "   exit $? ($(tail -1 "$OUT/$name.txt" | cut -c1-120))"; }
step dist-devices 20 node bin/tessera.js devices
# the same 20 SGD steps plain and with NCCL buckets of 200 bytes (4 a step): the weights must agree
mkdir -p "$OUT/plain" "$OUT/nccl" "$OUT/nccl-eager"
step dist-fit-plain 60 env TESSERA_TEST_DEVICE=cuda TESSERA_TEST_SGD=1 TESSERA_TEST_OUT="$OUT/plain" node --expose-gc dist/test/distributed/fit-main.js
step dist-fit-nccl 60 env TESSERA_TEST_DEVICE=cuda TESSERA_TEST_SGD=1 TESSERA_TEST_OUT="$OUT/nccl" TESSERA_TEST_BUCKET_MB=0.00019073486328125 node --expose-gc dist/test/distributed/fit-main.js
step dist-fit-nccl-eager 60 env TESSERA_TEST_DEVICE=cuda TESSERA_TEST_SGD=1 TESSERA_TEST_JIT=0 TESSERA_TEST_OUT="$OUT/nccl-eager" TESSERA_TEST_BUCKET_MB=0.00019073486328125 node --expose-gc dist/test/distributed/fit-main.js
step dist-fit-compare 10 node -e '
  const read = (d) => JSON.parse(require("fs").readFileSync(`${d}/rank-0.json`, "utf8"));
  const [a, ...others] = process.argv.slice(1).map(read);
  let ok = true;
  for (const [name, b] of [["compiled", others[0]], ["eager", others[1]]]) {
    const diff = Math.max(...a.weights.flatMap((w, i) => w.map((v, j) => Math.abs(v - b.weights[i][j]))));
    console.log(`${name}: max |nccl - plain| = ${diff}, leaked ${b.leaked}, collected ${b.collected}`);
    ok &&= diff < 1e-5 && b.leaked === 0 && b.collected === 0;
  }
  process.exit(ok ? 0 : 1);' "$OUT/plain" "$OUT/nccl" "$OUT/nccl-eager"
step dist-cost 120 node dist/bench/distributed-gpu.js
cat "$OUT/dist-cost.txt"
echo "done: $OUT"
