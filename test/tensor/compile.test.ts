// Compiled steps (tsr.compile and fit's default): captured once, replayed after; results equal
// eager (bit for bit on the CPU, within the op suite's tolerances elsewhere), state follows
// (optimizer steps, schedules, dropout's stream), memory stays flat, and misuse is named.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import type { Backend, Storage } from '../../src/backends/backend.js';
import { registerBackend } from '../../src/backends/registry.js';
import { dataOf } from '../../src/backends/cpu/storage.js';
import { atReplay } from '../../src/tensor/compile.js';
import { settledMemory, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

/** The fake CUDA of the op suite's cuda pass (each launch a g++-built kernel on the CPU). */
const FAKE_CUDA = !!process.env['TESSERA_FAKE_CUDA_SHIM'];

/** Float32 values agree: exactly on the CPU, else within the suite's tolerance. */
function assertSame(device: string, a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    if (device === 'cpu') assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
    else assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-5 + 1e-4 * Math.abs(b[i]!), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

function quietly<T>(fn: () => T): { value: T; warnings: string[] } {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (m: unknown) => { warnings.push(String(m)); };
  try {
    return { value: fn(), warnings };
  } finally {
    console.warn = original;
  }
}

function mlp(device: string): tsr.Sequential {
  tsr.setSeed(11);
  const m = tsr.sequential([tsr.layers.dense({ units: 24, activation: 'relu', inputShape: [12] }), tsr.layers.dropout({ rate: 0.2, seed: 5 }), tsr.layers.dense({ units: 4 })]);
  m.to(device);
  return m;
}

function cnn(device: string): tsr.Sequential {
  tsr.setSeed(12);
  const m = tsr.sequential([
    tsr.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 1] }),
    tsr.layers.batchNormalization(),
    tsr.layers.maxPooling2d({ poolSize: 2 }),
    tsr.layers.dropout({ rate: 0.25, seed: 6 }),
    tsr.layers.flatten(),
    tsr.layers.dense({ units: 3 }),
  ]);
  m.to(device);
  return m;
}

async function weights(m: tsr.Model): Promise<Float32Array[]> {
  return Promise.all(m.namedTensors().map(async ([, t]) => (await t.data()) as Float32Array));
}

for (const device of testDevices()) {
  describe(`compiled steps on ${device}`, () => {
    const data = (n: number, shape: number[], classes: number, seed: number) => ({
      x: tsr.rand([n, ...shape], { seed, device: 'cpu' }),
      y: tsr.randint(0, classes, [n], { seed: seed + 1, device: 'cpu' }),
    });

    for (const [name, make, shape, classes] of [['the MLP with dropout', mlp, [12], 4], ['the CNN with batch norm and dropout', cnn, [8, 8, 1], 3]] as const) {
      it(`fit: ${name} trains to the same losses and weights compiled and eager, the last partial batch and a mid-epoch schedule included`, async () => {
        // 3 batches an epoch (16, 16, 6); 2 (16, 6) on the fake CUDA, whose launches are slow
        const n = FAKE_CUDA ? 22 : 38, perEpoch = Math.ceil(n / 16);
        const { x, y } = data(n, [...shape], classes, 5);
        const run = async (jit: boolean) => {
          const m = make(device);
          // the learning rate changes every 3 steps, inside epochs
          m.compile({ optimizer: tsr.optimizers.adam({ learningRate: (step) => 0.01 / (1 + Math.floor(step / 3)) }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], jit });
          const h = await m.fit(x, y, { epochs: 3, batchSize: 16, verbose: 0, seed: 3 });
          const stats = m.lastStepStats;
          const w = await weights(m);
          const evaluated = await m.evaluate(x, y, { batchSize: 16 });
          const predicted = (await m.predict(x, { batchSize: 16 }).data()) as Float32Array;
          m.dispose();
          return { h, w, stats, evaluated, predicted };
        };
        const eager = await run(false), compiled = await run(true);
        assert.equal(eager.stats, null);
        // each signature (a full batch, the last one) runs eagerly once, is captured, then replays
        assert.equal(compiled.stats!.captures, 2, JSON.stringify(compiled.stats));
        assert.equal(compiled.stats!.eager, 2);
        assert.equal(compiled.stats!.replays, 3 * perEpoch - 4);
        assert.deepEqual(compiled.stats!.fallbacks, []);
        assertSame(device, compiled.h.history['loss']!, eager.h.history['loss']!, 'loss');
        assertSame(device, compiled.h.history['accuracy']!, eager.h.history['accuracy']!, 'accuracy');
        compiled.w.forEach((w, i) => assertSame(device, w, eager.w[i]!, `weight ${i}`));
        assertSame(device, [compiled.evaluated['loss']!], [eager.evaluated['loss']!], 'evaluate loss');
        assertSame(device, compiled.predicted, eager.predicted, 'predict');
        x.dispose(); y.dispose();
      });
    }

    it('fit: freezing a layer in a callback captures the step again, and the weights follow eager', async () => {
      const { x, y } = data(32, [12], 4, 21);
      const run = async (jit: boolean) => {
        const m = mlp(device);
        m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', jit });
        const first = m.layers[0]!;
        await m.fit(x, y, { epochs: 4, batchSize: 8, verbose: 0, shuffle: false, callbacks: [{ onEpochEnd: (epoch) => { if (epoch === 1) first.trainable = false; } }] });
        const stats = m.lastStepStats;
        const w = await weights(m);
        m.dispose();
        return { w, stats };
      };
      const eager = await run(false), compiled = await run(true);
      // one signature before the freeze and one after, each run eagerly once and captured once
      assert.equal(compiled.stats!.captures, 2, JSON.stringify(compiled.stats));
      compiled.w.forEach((w, i) => assertSame(device, w, eager.w[i]!, `weight ${i}`));
      x.dispose(); y.dispose();
    });

    it('tsr.compile of a custom loop with valueAndGrad and an optimizer equals the eager loop, for two input shapes', async () => {
      const run = async (jit: boolean) => {
        const w = tsr.keep(tsr.randn([6, 3], { seed: 1, device }).requireGrad());
        const opt = tsr.optimizers.sgd({ learningRate: 0.1, momentum: 0.9 });
        const body = (xb: tsr.Tensor) => {
          const [loss, [g]] = tsr.valueAndGrad((wt: tsr.Tensor) => xb.matmul(wt).tanh().square().mean())(w);
          w.grad = g!;
          opt.step([w]);
          w.zeroGrad();
          return loss;
        };
        const step = jit ? tsr.compile(body) : body;
        const losses: number[] = [];
        for (let i = 0; i < 8; i++) {
          // two signatures, interleaved: both get plans
          const xb = tsr.rand([i % 2 ? 5 : 4, 6], { seed: 100 + i, device });
          const loss = step(xb);
          losses.push((await loss.data())[0]!);
          loss.dispose();
          xb.dispose();
        }
        const stats = jit ? (step as tsr.CompiledFunction<[tsr.Tensor], tsr.Tensor>).stats : null;
        if (jit) (step as tsr.CompiledFunction<[tsr.Tensor], tsr.Tensor>).dispose();
        const final = (await w.data()) as Float32Array;
        w.dispose();
        opt.dispose();
        return { losses, final, stats };
      };
      const eager = await run(false), compiled = await run(true);
      assert.equal(compiled.stats!.captures, 2);
      assert.equal(compiled.stats!.replays, 4);
      assertSame(device, compiled.losses, eager.losses, 'losses');
      assertSame(device, compiled.final, eager.final, 'weights after 8 steps');
    });

    // the fake CUDA runs each launch as a g++-built kernel (about 50 ms): fewer steps there, the same checks
    const steps = FAKE_CUDA ? 30 : 200;
    it(`${steps} compiled steps hold the same live tensors, bytes and plan bytes after step 10 as after step ${steps}`, async () => {
      const m = mlp(device);
      m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
      const opt = m.optimizer!;
      const { x, y } = data(32, [12], 4, 9);
      const xd = x.to(device === 'webgpu' ? 'cpu' : device), yd = y.to(device === 'webgpu' ? 'cpu' : device);
      const xs = await xd.toAsync(device), ys = await yd.toAsync(device);
      const step = tsr.compile((xb: tsr.Tensor, yb: tsr.Tensor) => {
        const loss = tsr.crossEntropy(m.apply(xb), yb);
        loss.backward();
        opt.step(m.parameters());
        m.zeroGrad();
        return loss.detach();
      });
      let at10: tsr.MemoryInfo | null = null;
      for (let i = 1; i <= steps; i++) {
        step(xs, ys).dispose();
        if (i === 10) at10 = await settledMemory();
      }
      const at200 = await settledMemory();
      assert.equal(step.stats.replays, steps - 2);
      assert.equal(at200.numTensors, at10!.numTensors);
      assert.equal(at200.numBytes, at10!.numBytes);
      assert.equal(at200.numCollected, at10!.numCollected, 'no replay drops a tensor for the GC');
      assert.ok(at200.devices[device]!.planBytes > 0);
      assert.equal(at200.devices[device]!.planBytes, at10!.devices[device]!.planBytes);
      const planBytes = at200.devices[device]!.planBytes;
      step.dispose();
      assert.equal(tsr.memory().devices[device]!.planBytes, at200.devices[device]!.planBytes - planBytes);
      for (const t of [x, y, xd, yd, xs, ys]) t.dispose();
      m.dispose();
    });

    it('reading a value on the host inside is an error naming the op; a disposed closed-over tensor is named', () => {
      const a = tsr.keep(tsr.ones([3], { device }));
      const reads = tsr.compile((x: tsr.Tensor) => { const s = x.mul(a).sum(); void s.dataSync(); return s; });
      const x = tsr.ones([3], { device });
      if (device === 'cpu') {
        reads(x).dispose();
        assert.throws(() => reads(x), /compile: the compiled function reads a tensor's value on the host .*after op 'sum'/);
      }
      const closes = tsr.compile((xb: tsr.Tensor) => xb.mul(a));
      closes(x).dispose();
      closes(x).dispose();
      closes(x).dispose();
      a.dispose();
      assert.throws(() => closes(x), new RegExp(`compile\\(function\\): the compiled function uses tensor #${a.id} \\(shape \\[3\\], float32\\), made outside it, which was disposed`));
      closes.dispose();
      x.dispose();
    });

    it('a step that leaves state behind runs eagerly with its reason; inputs that change shape every call warn once', async () => {
      const w = tsr.keep(tsr.ones([2], { device }).requireGrad());
      // gradients accumulate across calls: not replayable, and results stay right
      const leaky = tsr.compile((x: tsr.Tensor) => { x.mul(w).sum().backward(); return w.grad!.mul(1); });
      const { value: grads, warnings } = quietly(() => [1, 2, 3, 4].map(() => leaky(tsr.ones([2], { device }))));
      assert.equal(leaky.stats.captures, 0);
      assert.equal(leaky.stats.fallbacks.length, 1);
      assert.match(warnings.join('\n'), /compile\(function\): runs eagerly: the step (frees a tensor made before it that op '[\w.]+' reads|leaves tensors alive .*the first from op '[\w.]+')/);
      assert.deepEqual(await Promise.all(grads.map(async (g) => Array.from(await g.data()))), [[1, 1], [2, 2], [3, 3], [4, 4]]);
      const shapes = tsr.compile((x: tsr.Tensor) => x.mul(2), { maxPlans: 2 });
      const { warnings: w2 } = quietly(() => { for (let n = 1; n <= 6; n++) shapes(tsr.ones([n], { device })).dispose(); });
      assert.equal(w2.length, 1, w2.join('\n'));
      assert.match(w2[0]!, /recapturing: the inputs' shapes changed 2 times \(now float32\[3\]/);
      w.dispose();
    });
  });
}

describe('host steps', () => {
  /** Adds `by` to a CPU tensor's values where they lie (no device call: allowed inside a capture). */
  const bump = (t: tsr.Tensor, by: number) => {
    const v = t.storageView, values = dataOf(v) as Float32Array;
    for (let i = v.offset; i < v.offset + t.size; i++) values[i]! += by;
  };

  it('run at their point of every call (eager, captured, replayed) on the values there; launch copies the results out when asked', async () => {
    const x = tsr.tensor([1, 2, 3]);
    let handed: tsr.Tensor | null = null;
    const step = tsr.compile((input: tsr.Tensor) => {
      const doubled = input.mul(2);
      // in place, between the device work before and after it
      atReplay([doubled], ([t]) => { handed = t!; bump(t!, 100); });
      return [doubled, doubled.add(1)];
    });
    const before = tsr.memory().numTensors;
    for (let call = 1; call <= 4; call++) {
      const take = step.launch(x);
      // work the host step started on a returned tensor, over before the results are taken
      bump(handed!, 1000);
      const [doubled, after] = take();
      assert.deepEqual([...await doubled!.data()], [1102, 1104, 1106], `call ${call}: the returned tensor, taken after the host step's work`);
      assert.deepEqual([...await after!.data()], [103, 105, 107], `call ${call}: device work after the host step sees what it did`);
      doubled!.dispose();
      after!.dispose();
    }
    assert.equal(tsr.memory().numTensors, before, 'the tensors lent to host steps are given back');
    assert.equal(step.stats.replays, 2);
    assert.match(step.stats.how, /in 2 parts around 1 host step$/);
    step.dispose();
    x.dispose();
  });
});

describe('the memory plan', () => {
  /** The CPU under another name, counting the bytes it holds and the most it held. */
  function trackedCpu(): { live: () => number; peak: () => number; resetPeak: () => void } {
    const cpu = tsr.getBackend('cpu');
    let live = 0, peak = 0;
    if (!tsr.availableDevices().includes('tracked')) {
      registerBackend(Object.create(cpu, {
        name: { value: 'tracked' },
        timer: { value: undefined },
        alloc: { configurable: true, writable: true, value(this: Backend, dtype: tsr.DType, size: number) { live += size * 4; peak = Math.max(peak, live); return cpu.alloc.call(this, dtype, size); } },
        free: { configurable: true, writable: true, value(this: Backend, st: Storage) { live -= st.size * 4; cpu.free.call(this, st); } },
      }));
    }
    return { live: () => live, peak: () => peak, resetPeak: () => { peak = live; } };
  }

  it("holds no more for a step's temporaries than the eager step has live at its peak", () => {
    const mem = trackedCpu();
    const m = mlp('tracked');
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const opt = m.optimizer!;
    const x = tsr.rand([32, 12], { seed: 1, device: 'tracked' }), y = tsr.randint(0, 4, [32], { seed: 2, device: 'tracked' });
    const body = (xb: tsr.Tensor, yb: tsr.Tensor) => {
      const loss = tsr.crossEntropy(m.apply(xb), yb);
      loss.backward();
      opt.step(m.parameters());
      m.zeroGrad();
      return loss.detach();
    };
    tsr.tidy(() => body(x, y)).dispose();
    const before = mem.live();
    mem.resetPeak();
    tsr.tidy(() => body(x, y)).dispose();
    const eagerPeak = mem.peak() - before;
    const step = tsr.compile(body);
    for (let i = 0; i < 3; i++) step(x, y).dispose();
    assert.equal(step.stats.replays, 1);
    // the plan also holds copies of the two inputs, which the eager step reads in place
    const inputs = (x.size + y.size) * 4;
    assert.ok(step.stats.planBytes - inputs <= eagerPeak, `plan ${step.stats.planBytes - inputs} bytes of temporaries, eager peak ${eagerPeak}`);
    assert.equal(tsr.memory().devices['tracked']!.planBytes, step.stats.planBytes);
    step.dispose();
    m.dispose(); x.dispose(); y.dispose();
  });
});
