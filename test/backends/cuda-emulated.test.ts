// The CUDA backend's generated kernels and launch code, run on the CPU through the emulator in
// helpers/cuda-emulator.ts and compared with the CPU backend: indexing, broadcasting, strides,
// NaN rules, two-pass reductions, windows, gather/scatter and the random generator, all checked
// without a GPU. (The driver calls and cuBLAS need the GPU machine: npm run test:cuda.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type DType, allocArray, bytesPerElement, isHalf } from '../../src/core/dtype.js';
import { halfBits, halfValues, roundHalfArray } from '../../src/core/half.js';
import * as E from '../../src/core/expr.js';
import { contiguousStrides } from '../../src/core/shape.js';
import type { Backend, ReduceKind, View } from '../../src/backends/backend.js';
import * as L from '../../src/backends/cuda/launch.js';
import type { CudaRuntime } from '../../src/backends/cuda/runtime.js';
import { windowGeometry } from '../../src/ops/window-geometry.js';
import * as tsr from '../../src/index.js';
import { EmulatedRuntime, emulatorAvailable } from '../helpers/cuda-emulator.js';

const skip = emulatorAvailable ? false : 'g++ is needed to run the CUDA kernels on the CPU';
const cpu: Backend = tsr.getBackend('cpu');


/** The same data on the emulated GPU and on the CPU backend, viewed alike. */
class Pair {
  constructor(readonly gpu: View, readonly host: View) {}
}

function make(rt: EmulatedRuntime, dtype: DType, data: ArrayLike<number>, shape: number[], strides = contiguousStrides(shape), offset = 0): Pair {
  const size = data.length, bytes = size * bytesPerElement(dtype);
  const g = new L.CudaStorage(dtype, size, rt.alloc(bytes), bytes);
  const arr = allocArray(dtype, size);
  arr.set(data);
  if (isHalf(dtype)) roundHalfArray(dtype, arr as Float32Array);
  const raw = isHalf(dtype) ? halfBits(dtype, arr) : arr;
  rt.bytes(g.ptr).set(new Uint8Array(raw.buffer, 0, bytes));
  const h = cpu.alloc(dtype, size);
  cpu.write(h, arr);
  return new Pair({ storage: g, shape, strides, offset }, { storage: h, shape, strides, offset });
}

function read(rt: EmulatedRuntime, v: View): number[] {
  const s = v.storage as L.CudaStorage;
  const b = rt.bytes(s.ptr).slice(0, s.size * bytesPerElement(s.dtype));
  if (isHalf(s.dtype)) return [...halfValues(s.dtype, new Uint16Array(b.buffer, 0, s.size))];
  const arr = allocArray(s.dtype, s.size);
  new Uint8Array(arr.buffer).set(b);
  return [...arr];
}

function same(rt: EmulatedRuntime, p: Pair, what: string, tol = 1e-6): void {
  const got = read(rt, p.gpu), want = [...cpu.readSync!(p.host.storage)];
  assert.equal(got.length, want.length, what);
  got.forEach((g, i) => {
    const w = want[i]!;
    const ok = (Number.isNaN(g) && Number.isNaN(w)) || g === w || Math.abs(g - w) <= tol * Math.max(1, Math.abs(w));
    assert.ok(ok, `${what}: element ${i}: ${g} vs ${w}`);
  });
}

const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 4);

describe('CUDA kernels on the CPU emulator agree with the CPU backend', { skip }, () => {
  const rt = new EmulatedRuntime();
  const R = rt as unknown as CudaRuntime;

  it('elementwise: broadcasting, transposed inputs, params, int and bool outputs, NaN through max', () => {
    const a = make(rt, 'float32', values(15, 1), [3, 1, 5]);
    const bt = make(rt, 'float32', values(20, 2), [4, 5], [1, 4]); // a transposed view
    const withNaN = make(rt, 'float32', [NaN, 1, 2, NaN, 5], [5]);
    const outF = make(rt, 'float32', new Array(60).fill(0), [3, 4, 5]);
    const outB = make(rt, 'bool', new Array(60).fill(0), [3, 4, 5]);
    const outI = make(rt, 'int32', new Array(60).fill(0), [3, 4, 5]);
    const x = E.input(0), y = E.input(1), z = E.input(2);
    const exprs = [E.add(E.mul(E.param(0), x), E.binary('max', z, y)), E.binary('gt', x, y), E.cast(E.mul(x, 3), 'int32')];
    const views = (pick: (p: Pair) => View) => [pick(a), pick(bt), pick(withNaN)].map((v) => ({ ...v, shape: [3, 4, 5], strides: bcast(v.shape, v.strides, [3, 4, 5]) }));
    L.elementwise(R, exprs, views((p) => p.gpu), [outF.gpu, outB.gpu, outI.gpu], [0.5]);
    cpu.elementwise(exprs, views((p) => p.host), [outF.host, outB.host, outI.host], [0.5]);
    same(rt, outF, 'float output');
    same(rt, outB, 'bool output');
    same(rt, outI, 'int output');
    const un = make(rt, 'float32', new Array(20).fill(0), [4, 5]);
    const e = [E.add(E.add(E.unary('erf', x), E.unary('tanh', x)), E.add(E.unary('sigmoid', x), E.binary('pow', E.unary('abs', x), 1.5)))];
    L.elementwise(R, e, [bt.gpu], [un.gpu]);
    cpu.elementwise(e, [bt.host], [un.host]);
    same(rt, un, 'transcendental ops', 1e-5);
  });

  it('float16 and bfloat16: rounding from float32 and int32, 16-bit loads and stores, strided copies', () => {
    // ties, subnormals, overflow to infinity, signed zero and NaN in both formats
    const tricky = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65520, 1e6, -1e6, 2 ** -24, 1.5 * 2 ** -25, 3 * 2 ** -25, 2 ** -130, -0, NaN, -Infinity, 0.1];
    const n = tricky.length;
    const src = make(rt, 'float32', tricky, [n]);
    const ints = make(rt, 'int32', Array.from({ length: n }, (_, i) => (i - 8) * 1001), [n]);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const rounded = make(rt, dtype, new Array(n).fill(0), [n]);
      const fromInt = make(rt, dtype, new Array(n).fill(0), [n]);
      const back = make(rt, 'float32', new Array(n).fill(0), [n]);
      const x = E.input(0);
      for (const [exprs, ins, outs] of [
        [[E.cast(x, dtype)], [src], [rounded]],
        [[E.cast(E.input(0, 'int32'), dtype)], [ints], [fromInt]],
        [[E.cast(E.input(0, dtype), 'float32')], [rounded], [back]],
      ] as [E.Expr[], Pair[], Pair[]][]) {
        L.elementwise(R, exprs, ins.map((p) => p.gpu), outs.map((p) => p.gpu));
        cpu.elementwise(exprs, ins.map((p) => p.host), outs.map((p) => p.host));
      }
      same(rt, rounded, `float32 -> ${dtype}`, 0);
      same(rt, fromInt, `int32 -> ${dtype}`, 0);
      same(rt, back, `${dtype} -> float32`, 0);
      // a transposed copy moves 16-bit elements through strided indexing
      const m = make(rt, dtype, values(12, 9), [3, 4]);
      const t = make(rt, dtype, new Array(12).fill(0), [4, 3]);
      const view = (p: View): View => ({ ...p, shape: [4, 3], strides: [1, 4] });
      L.elementwise(R, [E.input(0, dtype)], [view(m.gpu)], [t.gpu]);
      cpu.elementwise([E.input(0, dtype)], [view(m.host)], [t.host]);
      same(rt, t, `${dtype} transposed copy`, 0);
    }
  });

  for (const kind of ['sum', 'max', 'min', 'prod', 'argmax', 'argmin'] as ReduceKind[]) {
    it(`reduce ${kind} over each axis of a strided [37, 29] input`, () => {
      const data = values(37 * 29, 3).map((v, i) => (i % 17 === 0 ? 2 : kind === 'prod' ? 1 + v / 40 : v));
      if (kind === 'max' || kind === 'argmax') data[40] = NaN;
      const x = make(rt, 'float32', data, [29, 37]);
      const xt = (p: View): View => ({ ...p, shape: [37, 29], strides: [1, 37] });
      for (const axis of [0, 1]) {
        const shape = axis === 0 ? [1, 29] : [37, 1];
        const dtype = kind.startsWith('arg') ? 'int32' : 'float32';
        const out = make(rt, dtype, new Array(shape[0]! * shape[1]!).fill(0), shape);
        L.reduce(R, kind, E.input(0), [xt(x.gpu)], [axis], out.gpu);
        cpu.reduce(kind, E.input(0), [xt(x.host)], [axis], out.host);
        same(rt, out, `${kind} axis ${axis}`, 1e-5);
      }
    });
  }

  it('a large sum splits into partial blocks and a second pass, and stays accurate', () => {
    const n = 300_000;
    const x = make(rt, 'float32', Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000), [n]);
    const out = make(rt, 'float32', [0], [1]);
    const before = rt.launches;
    L.reduce(R, 'sum', E.mul(E.input(0), E.input(0)), [x.gpu], [0], out.gpu);
    assert.equal(rt.launches - before, 2, 'two passes');
    cpu.reduce('sum', E.mul(E.input(0), E.input(0)), [x.host], [0], out.host);
    same(rt, out, 'sum of squares', 1e-5);
  });

  it('im2col, col2im, pooling forward and backward with padding, stride and dilation', () => {
    const g = windowGeometry('conv', [2, 7, 6, 3], 3, 2, [2, 1], 'same', [1, 2]);
    const x = make(rt, 'float32', values(2 * 7 * 6 * 3, 4), [2, 7, 6, 3]);
    const rows = g.batch * g.outH * g.outW, cols = g.kernelH * g.kernelW * g.channels;
    const c = make(rt, 'float32', new Array(rows * cols).fill(0), [rows, cols]);
    L.im2col(R, x.gpu, c.gpu, g);
    cpu.im2col(x.host, c.host, g);
    same(rt, c, 'im2col');
    const dx = make(rt, 'float32', new Array(2 * 7 * 6 * 3).fill(0.5), [2, 7, 6, 3]);
    L.col2im(R, c.gpu, dx.gpu, g);
    cpu.col2im(c.host, dx.host, g);
    same(rt, dx, 'col2im', 1e-5);
    const pg = windowGeometry('pool', [2, 7, 6, 3], 3, 3, 2, 'same');
    const n = pg.batch * pg.outH * pg.outW * pg.channels;
    for (const kind of ['max', 'avg'] as const) {
      const out = make(rt, 'float32', new Array(n).fill(0), [pg.batch, pg.outH, pg.outW, pg.channels]);
      const arg = make(rt, 'int32', new Array(n).fill(0), [n]);
      L.pool2d(R, kind, x.gpu, out.gpu, pg, kind === 'max' ? arg.gpu : undefined);
      cpu.pool2d(kind, x.host, out.host, pg, kind === 'max' ? arg.host : undefined);
      same(rt, out, `${kind} pool`);
      if (kind === 'max') same(rt, arg, 'argmax');
      const grad = make(rt, 'float32', values(n, 5), [pg.batch, pg.outH, pg.outW, pg.channels]);
      const gin = make(rt, 'float32', new Array(2 * 7 * 6 * 3).fill(0), [2, 7, 6, 3]);
      L.pool2dBackward(R, kind, grad.gpu, gin.gpu, pg, kind === 'max' ? arg.gpu : undefined);
      cpu.pool2dBackward(kind, grad.host, gin.host, pg, kind === 'max' ? arg.host : undefined);
      same(rt, gin, `${kind} pool backward`, 1e-5);
    }
  });

  it('gather and scatterAdd, with repeated indices', () => {
    const x = make(rt, 'float32', values(2 * 5 * 3, 6), [2, 5, 3]);
    const idx = make(rt, 'int32', [4, 0, 4, 1, 2], [5]);
    const out = make(rt, 'float32', new Array(2 * 5 * 3).fill(0), [2, 5, 3]);
    L.gather(R, x.gpu, idx.gpu, out.gpu);
    cpu.gather(x.host, idx.host, out.host);
    same(rt, out, 'gather');
    const acc = make(rt, 'float32', new Array(2 * 5 * 3).fill(1), [2, 5, 3]);
    L.scatterAdd(R, x.gpu, idx.gpu, acc.gpu);
    cpu.scatterAdd(x.host, idx.host, acc.host);
    same(rt, acc, 'scatterAdd', 1e-6);
  });

  it('the random generator gives the CPU numbers for the same seed and counter', () => {
    for (const kind of ['uniform', 'normal'] as const) {
      const out = make(rt, 'float32', new Array(1001).fill(0), [1001]);
      L.random(R, kind, 2 ** 40 + 12345, 2 ** 32 - 3, out.gpu);
      cpu.random(kind, out.host, [2 ** 40 + 12345, 2 ** 32 - 3]);
      same(rt, out, kind, kind === 'normal' ? 1e-5 : 0);
    }
  });
});

function bcast(shape: readonly number[], strides: readonly number[], to: readonly number[]): number[] {
  const lead = to.length - shape.length;
  return to.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : strides[i - lead]!));
}
