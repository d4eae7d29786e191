// Every CUDA kernel template compiles: the sources the CUDA backend hands to NVRTC are checked
// here with `nvcc -ptx` (nvcc is on the development and CI machines; no GPU is needed).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DType } from '../../src/core/dtype.js';
import * as E from '../../src/core/expr.js';
import type { UnaryOp, BinaryOp } from '../../src/core/expr.js';
import * as K from '../../src/backends/cuda/kernels.js';
import { checkIndicesKernel } from '../../src/backends/cuda/index-check.js';

const nvcc = ['nvcc', '/usr/local/cuda/bin/nvcc'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
const skip = nvcc ? false : 'nvcc not found (install the CUDA toolkit to check the generated CUDA C)';

const UNARY: UnaryOp[] = ['neg', 'abs', 'sign', 'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'recip', 'sin', 'cos', 'tanh', 'sigmoid', 'erf', 'floor', 'isnan'];
const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'lt', 'le', 'gt', 'ge', 'eq', 'ne'];

function sources(): K.KernelSource[] {
  const x = E.input(0, 'float32'), y = E.input(1, 'float32'), n = E.input(2, 'int32'), b = E.input(3, 'bool');
  const out: K.KernelSource[] = [];
  const ins: DType[] = ['float32', 'float32', 'int32', 'bool'];
  // every op, on floats and ints, with constants that need bit patterns (NaN, infinities, subnormals)
  const exprs: E.Expr[] = [
    ...UNARY.map((op) => E.unary(op, x)),
    ...(['neg', 'abs', 'sign', 'floor'] as UnaryOp[]).map((op) => E.unary(op, n)),
    ...BINARY.map((op) => E.binary(op, x, y)),
    ...BINARY.filter((op) => op !== 'pow').map((op) => E.binary(op, n, E.input(2, 'int32'))),
    E.binary('and', b, E.binary('gt', x, 0)), E.binary('or', b, E.unary('not', b)),
    E.where(b, x, E.add(y, NaN)), E.add(x, Infinity), E.mul(x, -Infinity), E.add(x, 1e-40), E.cast(x, 'int32'), E.cast(n, 'float32'), E.cast(x, 'bool'), E.cast(b, 'float32'),
    E.mul(E.param(0), E.add(x, E.param(1))),
  ];
  for (let k = 0; k < exprs.length; k += 6) {
    const group = exprs.slice(k, k + 6);
    out.push(K.elementwiseKernel(group, ins, group.map((e) => e.dtype), k % 5, 2));
  }
  out.push(K.elementwiseKernel([x], ['float32'], ['float32'], 0, 0));
  // half formats: rounding casts, 16-bit loads and stores, copies
  for (const h of ['float16', 'bfloat16'] as const) {
    out.push(K.elementwiseKernel([E.cast(x, h), E.cast(n, h), E.cast(E.add(x, 1e-40), h)], ins, [h, h, h], 2, 0));
    out.push(K.elementwiseKernel([E.cast(E.input(0, h), 'float32'), E.input(0, h), E.cast(E.input(0, h), 'int32'), E.cast(E.input(0, h), 'bool')], [h], ['float32', h, 'int32', 'bool'], 1, 0));
    out.push(K.gatherKernel(h));
  }
  for (const kind of ['sum', 'prod', 'max', 'min', 'argmax', 'argmin'] as const) {
    out.push(K.reduceKernel(kind, E.mul(x, y), ['float32', 'float32'], kind.startsWith('arg') ? 'int32' : 'float32', 2, 1, 0));
    out.push(K.reduceKernel(kind, n, ['float32', 'float32', 'int32'], 'int32', 0, 3, 1));
  }
  out.push(K.reduceKernel('sum', E.cast(b, 'int32'), ['float32', 'float32', 'int32', 'bool'], 'int32', 1, 1, 0));
  out.push(K.im2colKernel(), K.col2imKernel(), K.poolKernel('max', true), K.poolKernel('avg', false), K.poolBackwardKernel('max'), K.poolBackwardKernel('avg'));
  for (const d of ['float32', 'int32', 'bool'] as const) out.push(K.gatherKernel(d));
  out.push(K.scatterAddKernel(), K.randomKernel('uniform'), K.randomKernel('normal'), checkIndicesKernel());
  return out;
}

it('every generated CUDA kernel compiles with nvcc -ptx', { skip, timeout: 300_000 }, async () => {
  const all = sources();
  // one translation unit: each kernel in its own namespace, under a unique name
  const unit = all.map((k, i) => `namespace k${i} {\n${k.source.replace(`void ${k.name}(`, `void ${k.name}_${i}(`)}\n}`).join('\n');
  const dir = await mkdtemp(join(tmpdir(), 'tessera-cuda-'));
  await writeFile(join(dir, 'kernels.cu'), unit);
  const r = spawnSync(nvcc!, ['-ptx', '-arch=sm_80', '-std=c++17', 'kernels.cu', '-o', 'kernels.ptx'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `nvcc failed on ${join(dir, 'kernels.cu')}:\n${r.stderr.slice(0, 4000)}`);
  assert.ok(all.length > 30);
});
