// safetensors files cross between tessera and PyTorch's `safetensors` reader and writer.
// Runs where a python3 with torch and safetensors exists (.ci/run makes .venv-interop);
// the byte-level layout test in safetensors.test.ts runs everywhere.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tsr from '../../src/index.js';
import { roundHalf } from '../../src/core/half.js';

const venv = fileURLToPath(new URL('../../../.venv-interop/bin/python', import.meta.url));
const python = [process.env['TESSERA_INTEROP_PYTHON'], venv, '/usr/bin/python3', 'python3']
  .filter((p): p is string => !!p)
  .find((p) => spawnSync(p, ['-c', 'import torch, safetensors.torch'], { stdio: 'ignore' }).status === 0);
const skip = python ? false : 'no python3 with torch and safetensors (.ci/run creates .venv-interop); the byte-level format test covers the layout';

const PY = `
import json, sys, torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open
src, dst = sys.argv[1], sys.argv[2]
t = load_file(src)
with safe_open(src, framework="pt") as f:
    meta = f.metadata()
print(json.dumps({k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.flatten().tolist()} for k, v in t.items()} | {"__metadata__": meta}))
w = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7
save_file({"linear.weight": w, "steps": torch.tensor([3, -1, 7], dtype=torch.int32), "mask": torch.tensor([True, False]),
           "w_bf16": (w[0] * 3).to(torch.bfloat16), "w_f16": (w[0] * 3).to(torch.float16)}, dst, metadata={"from": "torch"})
`;

it('a file tessera writes loads in PyTorch, and a file PyTorch writes loads in tessera', { skip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-interop-'));
  const ours = join(dir, 'tessera.safetensors'), theirs = join(dir, 'torch.safetensors');
  const kernel = Float32Array.from({ length: 6 }, (_, i) => i / 3 - 1);
  await tsr.saveSafetensors(ours, {
    'dense_1.kernel': { dtype: 'float32', shape: [2, 3], data: kernel },
    'counts': { dtype: 'int32', shape: [2], data: Int32Array.of(-5, 2 ** 30) },
    'flags': { dtype: 'bool', shape: [3], data: Uint8Array.of(1, 0, 1) },
    'half': { dtype: 'float16', shape: [3], data: Float32Array.of(0.1, -65504, 2 ** -24) },
    'brain': { dtype: 'bfloat16', shape: [2], data: Float32Array.of(0.1, 3e38) },
  }, { note: 'from tessera' });
  const r = spawnSync(python!, ['-c', PY, ours, theirs], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout);
  assert.deepEqual(seen['dense_1.kernel'], { dtype: 'torch.float32', shape: [2, 3], values: [...kernel] });
  assert.deepEqual(seen['counts'], { dtype: 'torch.int32', shape: [2], values: [-5, 2 ** 30] });
  assert.deepEqual(seen['flags'], { dtype: 'torch.bool', shape: [3], values: [true, false, true] });
  assert.deepEqual(seen['__metadata__'], { note: 'from tessera' });
  assert.deepEqual(seen['half'], { dtype: 'torch.float16', shape: [3], values: [0.0999755859375, -65504, 2 ** -24] });
  assert.deepEqual(seen['brain'], { dtype: 'torch.bfloat16', shape: [2], values: [0.10009765625, roundHalf('bfloat16', 3e38)] });

  const { tensors, metadata } = await tsr.loadSafetensors(theirs);
  assert.deepEqual(metadata, { from: 'torch' });
  assert.deepEqual(tensors['linear.weight']!.shape, [3, 4]);
  assert.deepEqual([...tensors['linear.weight']!.data], Array.from({ length: 12 }, (_, i) => Math.fround(i / 7)));
  assert.deepEqual([...tensors['steps']!.data], [3, -1, 7]);
  assert.equal(tensors['mask']!.dtype, 'bool');
  assert.deepEqual([...tensors['mask']!.data], [1, 0]);
  // PyTorch's own rounding (.to(torch.bfloat16) / .to(torch.float16)) agrees with tessera's
  const w0 = [0, 1, 2, 3].map((i) => Math.fround(Math.fround(i / 7) * 3));
  assert.equal(tensors['w_bf16']!.dtype, 'bfloat16');
  assert.deepEqual([...tensors['w_bf16']!.data], w0.map((v) => roundHalf('bfloat16', v)));
  assert.equal(tensors['w_f16']!.dtype, 'float16');
  assert.deepEqual([...tensors['w_f16']!.data], w0.map((v) => roundHalf('float16', v)));
});
