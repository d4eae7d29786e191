// The CPU backend's own parts: BLAS discovery, the built-in GEMM, SIMD vs JavaScript kernels.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tsr from '../../src/index.js';
import { probeBlas } from '../../src/backends/cpu/blas.js';
import { probeOneDnn } from '../../src/backends/cpu/onednn.js';
import { gemmFallback } from '../../src/backends/cpu/gemm-fallback.js';
import { planElementwise } from '../../src/backends/cpu/elementwise.js';
import * as E from '../../src/core/expr.js';
import { Rng } from '../helpers/check.js';

const testDir = fileURLToPath(new URL('..', import.meta.url));

/** Runs some of the conformance suite in a child process with different environment settings. */
function runSuite(files: string[], env: Record<string, string>): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=dot', ...files.map((f) => `${testDir}/${f}`)], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('cpu backend', () => {
  it('finds a BLAS on this machine (CI installs libopenblas0-pthread)', () => {
    const probe = probeBlas();
    assert.ok(probe.library, `no BLAS found; tried ${probe.tried.join(', ')}`);
    assert.match(tsr.getBackend('cpu').info().details['blas'] as string, /OpenBLAS|MKL|BLIS|Accelerate|BLAS/);
  });

  it('the built-in GEMM agrees with a float64 product, strided and transposed operands included', () => {
    const rng = new Rng(81);
    for (const [m, n, k] of [[1, 1, 1], [5, 7, 3], [17, 33, 300], [64, 1030, 9]] as const) {
      const a = Float32Array.from({ length: m * k }, () => rng.uniform());
      const b = Float32Array.from({ length: k * n }, () => rng.uniform());
      const c = new Float32Array(m * n + 3);
      // a read as column-major (transposed view), b row-major, c at an offset
      const at = new Float32Array(m * k);
      for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) at[p * m + i] = a[i * k + p]!;
      gemmFallback(m, n, k, at, 0, 1, m, b, 0, n, 1, c, 3, n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
          assert.ok(Math.abs(c[3 + i * n + j]! - s) <= 1e-4 * (1 + Math.abs(s)), `(${m},${n},${k}) at ${i},${j}: ${c[3 + i * n + j]} vs ${s}`);
        }
      }
    }
  });

  it('without a BLAS, the tiled SIMD GEMM (4x8 tiles, JavaScript fringes) matches a float64 product: transposed, strided, batched', async () => {
    const { tiledGemm } = await import('../../src/backends/cpu/wasm-gemm-tiled.js');
    const view = (t: tsr.Tensor) => ({ ...t.storageView, shape: t.shape, strides: t.strides });
    const cases: [string, tsr.Tensor, tsr.Tensor][] = [
      ['row-major, fringe rows and columns', tsr.randn([2, 131, 300], { seed: 1 }), tsr.randn([2, 300, 21], { seed: 2 })],
      ['A transposed (a weight gradient)', tsr.swapAxes(tsr.randn([1, 37, 130], { seed: 3 }), -1, -2), tsr.randn([1, 37, 64], { seed: 4 })],
      ['B transposed, exact tiles', tsr.randn([3, 8, 40], { seed: 5 }), tsr.swapAxes(tsr.randn([3, 16, 40], { seed: 6 }), -1, -2)],
      ['A a strided slice', tsr.slice(tsr.randn([1, 20, 50], { seed: 7 }), [null, null, [0, 50, 2]]), tsr.randn([1, 25, 9], { seed: 8 })],
    ];
    for (const [name, a, b] of cases) {
      const [batch, m, k] = a.shape as [number, number, number], n = b.shape[2]!;
      // C inside a wider buffer: its rows are 5 elements longer than n, and the padding must stay untouched
      const wide = tsr.full([batch, m, n + 5], 7);
      const out = { ...wide.storageView, shape: [batch, m, n], strides: wide.strides };
      const va = view(a), vb = view(b);
      for (let t = 0; t < batch; t++) {
        const at = (v: { offset: number; strides: readonly number[] }, i: number) => v.offset + i * v.strides[0]!;
        assert.ok(tiledGemm(va, at(va, t), vb, at(vb, t), out, at(out, t), m, n, k), `${name} takes the tiled kernel`);
      }
      const A = (await a.array()) as number[][][], B = (await b.array()) as number[][][], got = (await wide.array()) as number[][][];
      for (let t = 0; t < batch; t++) for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const want = A[t]![i]!.reduce((sum, v, p) => sum + v * B[t]![p]![j]!, 0);
          assert.ok(Math.abs(got[t]![i]![j]! - want) < 2e-5 * Math.sqrt(k) * (1 + Math.abs(want)), `${name} [${t}, ${i}, ${j}]: ${got[t]![i]![j]} vs float64 ${want}`);
        }
        for (let j = n; j < n + 5; j++) assert.equal(got[t]![i]![j], 7, `${name}: padding at [${t}, ${i}, ${j}] overwritten`);
      }
    }
    // too small to be worth packing, or fewer than 4 rows or 8 columns: the JavaScript GEMM's
    const tiny = tsr.randn([1, 3, 4]), few = tsr.randn([1, 4, 7]);
    assert.equal(tiledGemm(view(tiny), 0, view(few), 0, view(tsr.zeros([1, 3, 7])), 0, 3, 7, 4), false);
  });

  it('the op suite passes without a BLAS (built-in GEMM), with a notice saying how to get one', () => {
    const r = runSuite(['ops/matmul.test.js', 'ops/conv-pool.test.js'], { TESSERA_BLAS: 'none' });
    assert.equal(r.status, 0, r.out);
    const notice = spawnSync(process.execPath, ['-e', `import('${fileURLToPath(new URL('../../src/index.js', import.meta.url))}').then((t) => t.matmul(t.ones([100, 100]), t.ones([100, 100])))`], { env: { ...process.env, TESSERA_BLAS: 'none' }, encoding: 'utf8' });
    assert.match(notice.stderr, /no BLAS found.*apt install libopenblas0-pthread/);
  });

  it('finds its BLAS even when the program loaded a library through koffi first (koffi then refuses new settings)', () => {
    const index = fileURLToPath(new URL('../../src/index.js', import.meta.url));
    const script = `require('koffi').load('libc.so.6'); import('${index}').then((t) => { t.matmul(t.ones([100, 100]), t.ones([100, 100])); console.log(t.getBackend('cpu').info().details.blas); })`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /no BLAS found/);
    assert.equal(r.stdout.trim(), tsr.getBackend('cpu').info().details['blas']);
  });

  it('finds oneDNN (CI installs libdnnl2) and runs convolutions through it', () => {
    const probe = probeOneDnn();
    assert.ok(probe.library, `oneDNN not found: ${probe.reason}`);
    assert.match(tsr.getBackend('cpu').info().details['convolution'] as string, /^oneDNN 2\./);
    const cpu = tsr.getBackend('cpu');
    const x = tsr.rand([2, 6, 6, 3]), w = tsr.rand([3, 3, 3, 4]), out = tsr.zeros([2, 6, 6, 4]);
    const g = { batch: 2, inH: 6, inW: 6, channels: 3, outChannels: 4, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, dilationH: 1, dilationW: 1, outH: 6, outW: 6 };
    assert.equal(cpu.conv2d!(x.storageView, w.storageView, out.storageView, g), true);
    // float16 storage rounds every product: oneDNN declines it and the op runs im2col + GEMM
    const h = tsr.rand([2, 6, 6, 3]).cast('float16');
    assert.equal(cpu.conv2d!(h.storageView, w.storageView, out.storageView, g), false);
  });

  it('the op suite passes with convolutions by im2col + GEMM (TESSERA_ONEDNN=none), and the device says why', () => {
    const r = runSuite(['ops/conv-pool.test.js', 'nn/training-step.test.js'], { TESSERA_ONEDNN: 'none' });
    assert.equal(r.status, 0, r.out);
    const info = spawnSync(process.execPath, ['-e', `import('${fileURLToPath(new URL('../../src/index.js', import.meta.url))}').then((t) => console.log(t.getBackend('cpu').info().details.convolution))`], { env: { ...process.env, TESSERA_ONEDNN: 'none' }, encoding: 'utf8' });
    assert.match(info.stdout, /im2col \+ GEMM \(oneDNN: disabled by TESSERA_ONEDNN=none\)/);
  });

  it('the op suite passes with JavaScript kernels only (no WebAssembly SIMD)', () => {
    const r = runSuite(['ops/elementwise.test.js', 'ops/nn.test.js', 'nn/training-step.test.js'], { TESSERA_CPU_SIMD: '0' });
    assert.equal(r.status, 0, r.out);
  });

  it('SIMD and JavaScript kernels agree on a fused expression over broadcast rows', async () => {
    const x = tsr.randn([37, 13], { seed: 4 }), b = tsr.randn([13], { seed: 5 });
    const simd = await tsr.relu(tsr.add(x, b)).mul(3).data();
    const rows = tsr.relu(tsr.add(x, b)).mul(3).slice([[0, 37, 2]]);
    const ref = (await x.data()).map((v, i) => Math.max(v + (b.dataSync()[i % 13]!), 0) * 3);
    simd.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 1e-5, `element ${i}: ${v} vs ${ref[i]}`));
    assert.equal(rows.shape[0], 19);
  });

  it('many small products run in one SIMD call (B rows contiguous, or A rows and B columns) and match a float64 product', async () => {
    const { planSmallGemms } = await import('../../src/backends/cpu/wasm-gemm.js');
    const cases: [string, tsr.Tensor, tsr.Tensor][] = [
      ['B rows contiguous', tsr.randn([9, 5, 8], { seed: 1 }), tsr.randn([9, 8, 12], { seed: 2 })],
      ['A transposed, B rows contiguous', tsr.swapAxes(tsr.randn([9, 8, 5], { seed: 3 }), -1, -2), tsr.randn([9, 8, 4], { seed: 4 })],
      ['B transposed (dot products)', tsr.randn([9, 5, 8], { seed: 5 }), tsr.swapAxes(tsr.randn([9, 7, 8], { seed: 6 }), -1, -2)],
    ];
    for (const [name, a, b] of cases) {
      const [batch, m, k] = a.shape as [number, number, number], n = b.shape[2]!;
      const out = tsr.zeros([batch, m, n]);
      assert.ok(planSmallGemms({ ...a.storageView, shape: [batch, m, k], strides: a.strides }, { ...b.storageView, shape: [batch, k, n], strides: b.strides }, out.storageView), `${name} takes the kernel`);
      const A = (await a.array()) as number[][][], B = (await b.array()) as number[][][], got = (await tsr.matmul(a, b).array()) as number[][][];
      for (let t = 0; t < batch; t++) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        const want = A[t]![i]!.reduce((sum, v, p) => sum + v * B[t]![p]![j]!, 0);
        assert.ok(Math.abs(got[t]![i]![j]! - want) < 1e-5, `${name} [${t}, ${i}, ${j}]: ${got[t]![i]![j]} vs float64 ${want}`);
      }
    }
  });

  it('SIMD reductions along rows and over leading axes match the JavaScript kernel: transcendental, boolean and broadcast operands, params, NaN', async () => {
    const { planReduce } = await import('../../src/backends/cpu/reduce.js');
    const { planWasmColumnReduce, planWasmRowReduce } = await import('../../src/backends/cpu/wasm-reduce.js');
    const E = await import('../../src/core/expr.js');
    const x = tsr.randn([6, 5, 8], { seed: 11 }), y = tsr.randn([6, 5, 8], { seed: 12 }), m = tsr.randn([6, 5, 1], { seed: 13 });
    x.backend.write(x.storageView.storage, Float32Array.from(x.dataSync(), (v, i) => (i === 17 ? NaN : v)));
    const view = (t: tsr.Tensor) => ({ ...t.storageView, shape: [6, 5, 8], strides: t.shape[2] === 1 ? [5, 1, 0] : [40, 8, 1] });
    const exprs: [string, ReturnType<typeof E.input>, tsr.Tensor[]][] = [
      ['exp(x - m) with m broadcast along the row', E.exp(E.sub(E.input(0), E.input(1))), [x, m]],
      ['x == y as booleans (gt masks compared)', E.cast(E.binary('eq', E.binary('gt', E.input(0), 0.5), E.binary('gt', E.input(1), 0.5)), 'float32'), [x, y]],
      ['sigmoid, tanh and erf with a param', E.add(E.add(E.unary('sigmoid', E.input(0)), E.unary('tanh', E.mul(E.input(1), E.param(0)))), E.unary('erf', E.input(0))), [x, y]],
    ];
    for (const kind of ['sum', 'max', 'min'] as const) {
      for (const [name, expr, ins] of exprs) {
        for (const axes of [[2], [1, 2], [0], [0, 1]]) {
          const kept = [6, 5, 8].map((d, i) => (axes.includes(i) ? 1 : d));
          const out = (t: tsr.Tensor) => ({ ...t.storageView, shape: [6, 5, 8], strides: [kept[1]! * kept[2]!, kept[2]!, 1].map((s, i) => (axes.includes(i) ? 0 : s)) });
          const a = tsr.zeros(kept), b = tsr.zeros(kept);
          const views = ins.map(view);
          const simd = (axes[0] === 0 ? planWasmColumnReduce : planWasmRowReduce)(kind, expr, views, axes, out(a));
          // m's broadcast axis and its other axes do not collapse into one reduced (or kept) run there
          const collapsible = ins.length === 2 && ins[1] === m ? axes.join() === '2' || axes.join() === '0,1' : true;
          assert.equal(simd !== null, collapsible, `${kind} of ${name} over axes ${axes}: SIMD kernel ${simd ? 'taken' : 'declined'}`);
          if (!simd) continue;
          simd([0.7]);
          planReduce(kind, expr, views, axes, out(b))([0.7]);
          const got = a.dataSync(), want = b.dataSync();
          want.forEach((v, i) => assert.ok(Number.isNaN(v) ? Number.isNaN(got[i]!) : Math.abs(got[i]! - v) < 1e-5 * Math.max(1, Math.abs(v)), `${kind} of ${name} over axes ${axes} [${i}]: ${got[i]} vs ${v}`));
        }
      }
    }
  });

  it('SIMD pooling (channels in fours) and the WebAssembly max-pool backward match the JavaScript kernels, NaN, ties, padding and strided input included', async () => {
    const cpu = tsr.getBackend('cpu');
    const { pool2d, pool2dBackward } = await import('../../src/backends/cpu/window.js');
    const { simdPool, tilesExactly, wasmMaxPoolBackward, wasmTiledMaxPoolBackward } = await import('../../src/backends/cpu/wasm-pool.js');
    const { windowGeometry } = await import('../../src/ops/window-geometry.js');
    const rng = new Rng(9);
    for (const [h, w, c, k, s, pad] of [[7, 6, 8, 3, 2, 'same'], [4, 4, 4, 2, 2, 'valid'], [6, 9, 8, 3, 3, 'valid'], [5, 5, 12, 3, 1, 'same']] as const) {
      const data = Float32Array.from({ length: 2 * h * w * c }, () => Math.round(rng.next() * 6) / 2);
      data[5] = NaN;
      // a view with the two spatial axes swapped: strided, channels still contiguous
      const st = cpu.alloc('float32', data.length);
      cpu.write(st, data);
      const x = { storage: st, shape: [2, w, h, c], strides: [h * w * c, c, w * c, 1], offset: 0 };
      const g = windowGeometry('pool', x.shape, k, k, s, pad);
      const n = 2 * g.outH * g.outW * c;
      for (const [kind, withIndices] of [['max', true], ['max', false], ['avg', false]] as const) {
        const run = (simd: boolean) => {
          const out = cpu.alloc('float32', n), arg = cpu.alloc('int32', n);
          const o = { storage: out, shape: [2, g.outH, g.outW, c], strides: [g.outH * g.outW * c, g.outW * c, c, 1], offset: 0 };
          const a = { ...o, storage: arg };
          if (simd) assert.ok(simdPool(kind, x, o, g, withIndices ? a : undefined), 'the SIMD kernel takes this layout');
          else pool2d(kind, x, o, g, withIndices ? a : undefined);
          return { out: [...cpu.readSync!(out)], indices: withIndices ? [...cpu.readSync!(arg)] : [], a };
        };
        const simd = run(true), scalar = run(false);
        assert.deepEqual(simd.out, scalar.out, `${kind} ${h}x${w}x${c} k${k} s${s} ${pad}`);
        assert.deepEqual(simd.indices, scalar.indices, `${kind} indices ${h}x${w}x${c} k${k} s${s} ${pad}`);
        if (!withIndices) continue;
        // the backward pass scatters through the indices: WebAssembly and JavaScript agree
        const dy = Float32Array.from({ length: n }, () => rng.next() - 0.5);
        const grads = (kernel: 'wasm' | 'js' | 'tiled') => {
          const gy = cpu.alloc('float32', n), gx = cpu.alloc('float32', data.length);
          cpu.write(gy, dy);
          // the scatters add into zeros; the tiled kernel must write every element, so it starts from NaN
          cpu.write(gx, new Float32Array(data.length).fill(kernel === 'tiled' ? NaN : 0));
          const gyView = { storage: gy, shape: [2, g.outH, g.outW, c], strides: [g.outH * g.outW * c, g.outW * c, c, 1], offset: 0 };
          const gxView = { storage: gx, shape: [2, w, h, c], strides: [w * h * c, h * c, c, 1], offset: 0 };
          if (kernel === 'wasm') assert.ok(wasmMaxPoolBackward(gyView, gxView, simd.a));
          else if (kernel === 'tiled') assert.ok(wasmTiledMaxPoolBackward(gyView, gxView, simd.a, g));
          else pool2dBackward('max', gyView, gxView, g, simd.a);
          return [...cpu.readSync!(gx)];
        };
        if (tilesExactly(g)) assert.deepEqual(grads('tiled'), grads('js'), `tiled max backward ${h}x${w}x${c} k${k}`);
        assert.deepEqual(grads('wasm'), grads('js'), `max backward ${h}x${w}x${c} k${k} s${s} ${pad}`);
      }
    }
  });

  it('a dense copy (a compiled step\'s arguments and results) keeps every bit at any offset, still works after heap growth, in any dtype', () => {
    const cpu = tsr.getBackend('cpu');
    const values = Float32Array.from({ length: 37 }, (_, i) => (i % 5 === 0 ? NaN : 1 / (i + 3)));
    const from = cpu.alloc('float32', 40), to = cpu.alloc('float32', 45);
    cpu.write(from, Float32Array.from({ length: 40 }, (_, i) => values[i - 3] ?? -1));
    cpu.write(to, new Float32Array(45).fill(9));
    const copy = planElementwise([E.input(0, 'float32')], [{ storage: from, shape: [37], strides: [1], offset: 3 }], [{ storage: to, shape: [37], strides: [1], offset: 5 }]);
    const grow = cpu.alloc('float32', 64 * 1024 * 1024 / 4 * 3); // the heap grows: its storages get new arrays
    copy([]);
    const got = cpu.readSync!(to) as Float32Array;
    assert.deepEqual(new Uint32Array(got.buffer, got.byteOffset + 20, 37), new Uint32Array(values.buffer), 'the 37 values, bit for bit');
    assert.deepEqual([...got.subarray(0, 5), ...got.subarray(42)], [9, 9, 9, 9, 9, 9, 9, 9], 'nothing written outside the view');
    const ints = cpu.alloc('int32', 4), intsCopy = cpu.alloc('int32', 4);
    cpu.write(ints, Int32Array.from([-2147483648, -1, 0, 2147483647]));
    cpu.elementwise([E.input(0, 'int32')], [{ storage: ints, shape: [2, 2], strides: [2, 1], offset: 0 }], [{ storage: intsCopy, shape: [2, 2], strides: [2, 1], offset: 0 }]);
    assert.deepEqual([...cpu.readSync!(intsCopy)], [-2147483648, -1, 0, 2147483647]);
    [from, to, ints, intsCopy, grow].forEach((st) => cpu.free(st));
  });

  it('zeros() of reused memory is zero, and tensors survive heap growth', async () => {
    const small = tsr.full([10], 7);
    small.dispose();
    assert.deepEqual([...(await tsr.zeros([10]).data())], new Array(10).fill(0));
    const keepMe = tsr.arange(0, 1000, 1, { dtype: 'float32' });
    const big = tsr.zeros([64 * 1024 * 1024 / 4 * 3]); // forces the heap to grow
    assert.equal((await keepMe.data())[999], 999);
    big.dispose();
  });
});
