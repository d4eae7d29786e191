// One device model: data stays where it is and streams to the model's device batch by batch,
// models build their weights where their input is (or where they were put), and the next batch
// is uploaded while the current one trains. On the CPU pass a second CPU device ('twin') stands
// in for a GPU; the webgpu pass runs the same against lavapipe.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import type { Backend, Storage } from '../../src/backends/backend.js';
import { registerBackend } from '../../src/backends/registry.js';
import { settledMemory, testDevices } from '../helpers/check.js';

after(() => tsr.releaseDevices());

/** A CPU device under another name that logs uploads and reads and can hold at most `limit` bytes. */
function recordingDevice(name: string, limit = Infinity): { log: string[]; live: () => number } {
  const cpu = tsr.getBackend('cpu');
  const log: string[] = [];
  let live = 0;
  if (!tsr.availableDevices().includes(name)) {
    // configurable, as a class's methods are: compiled steps record the device's calls by wrapping them
    const method = (value: unknown) => ({ value, configurable: true, writable: true });
    registerBackend(Object.create(cpu, {
      name: { value: name },
      timer: { value: undefined },
      alloc: method(function (this: Backend, dtype: tsr.DType, size: number) {
        if (live + size * 4 > limit) throw new tsr.TesseraError(name, `out of memory: ${size * 4} bytes requested, ${live} of ${limit} in use`);
        live += size * 4;
        return cpu.alloc.call(this, dtype, size);
      }),
      free: method(function (this: Backend, s: Storage) { live -= s.size * 4; cpu.free.call(this, s); }),
      write: method(function (this: Backend, s: Storage, data: Float32Array | Int32Array | Uint8Array) { log.push(`write:${s.size}`); cpu.write.call(this, s, data); }),
      read: method(function (this: Backend, s: Storage) { log.push(`read:${s.size}`); return cpu.read.call(this, s); }),
    }));
  }
  return { log, live: () => live };
}

function mlp(inputShape?: number[]): tsr.Sequential {
  tsr.setSeed(3);
  return tsr.sequential([tsr.layers.dense({ units: 16, activation: 'relu', ...(inputShape ? { inputShape } : {}) }), tsr.layers.dense({ units: 3 })]);
}

for (const device of testDevices()) {
  const target = device === 'cpu' ? 'twin' : device;
  describe(`placement and streaming on ${target}`, () => {
    if (target === 'twin') recordingDevice('twin');

    it('a model built by calling it on data puts every weight on that data\'s device', () => {
      const m = mlp();
      const y = m.apply(tsr.ones([2, 5], { device: target }));
      assert.equal(y.device, target);
      assert.ok(m.parameters().length === 4 && m.parameters().every((p) => p.device === target), m.parameters().map((p) => p.device).join());
      assert.equal(m.device, target);
      // the input on another device is a clear error naming both and the fix
      assert.throws(() => m.apply(tsr.ones([2, 5])), (e: Error) => e instanceof tsr.TesseraError && /the input \(shape \[2, 5\]\) is on 'cpu' but the weights are on '.*'; move one: x\.to\('.*'\) or model\.to\('cpu'\)/.test(e.message));
    });

    it('to() and compile({ device }) place a model before it is built; the weights are made there', () => {
      const placed = mlp().to(target);
      placed.apply(tsr.ones([1, 4], { device: target }));
      assert.ok(placed.parameters().every((p) => p.device === target));
      const compiled = mlp([4]);
      assert.ok(compiled.parameters().every((p) => p.device === 'cpu'), 'built on the default device');
      compiled.compile({ optimizer: 'adam', loss: 'mse', device: target });
      assert.ok(compiled.parameters().every((p) => p.device === target), 'compile({ device }) moved them');
    });

    it('fit, evaluate and predict on host data train a model on the device: batches move, the dataset stays', async () => {
      const x = tsr.randn([600, 4], { seed: 1 });
      const y = tsr.cast(tsr.argmax(tsr.matmul(x, tsr.randn([4, 3], { seed: 2 })), 1), 'int32');
      const m = mlp([4]);
      m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.02 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'], device: target });
      const before = tsr.memory().devices[target]?.bytes ?? 0;
      let most = 0;
      const live: [number, number, number][] = [];
      const watch = {
        onBatchEnd: () => { most = Math.max(most, (tsr.memory().devices[target]?.bytes ?? 0) - before); },
        onEpochEnd: async () => { const mem = await settledMemory(); live.push([mem.numTensors, mem.devices[target]?.bytes ?? 0, mem.numCollected]); },
      };
      const h = await m.fit(x, y, { epochs: 4, batchSize: 60, validationSplit: 0.2, verbose: 0, callbacks: [watch] });
      assert.deepEqual(live[3], live[0], 'no tensor or device buffer leaks from epoch to epoch, nor is dropped for the GC');
      assert.ok(h.history['val_accuracy']!.at(-1)! > 0.7, `val accuracy ${h.history['val_accuracy']}`);
      assert.equal(x.device, 'cpu');
      assert.ok(most < x.size * 4, `the device held ${most} bytes for the data, the dataset is ${x.size * 4}`);
      const logs = await m.evaluate(x, y, { batchSize: 128 });
      assert.ok(logs['accuracy']! > 0.7);
      const p = m.predict(x.slice([[0, 10]]));
      assert.equal(p.device, target);
      assert.deepEqual(p.shape, [10, 3]);
    });
  });
}

describe('streaming (twin device)', () => {
  it('a generated Dataset of 100,000 samples, far larger than the device can hold, trains', async () => {
    const small = recordingDevice('small', 4 << 20);
    const batches = 400, rows = 250, features = 64;
    const w = tsr.randn([features, 2], { seed: 9 });
    const ds = new tsr.data.Dataset(async function* () {
      for (let i = 0; i < batches; i++) {
        const xb = tsr.randn([rows, features], { seed: 100 + i });
        const yb = tsr.tidy(() => tsr.cast(tsr.argmax(tsr.matmul(xb, w), 1), 'int32'));
        yield [xb, yb] as [tsr.Tensor, tsr.Tensor];
      }
    }, batches);
    const m = tsr.sequential([tsr.layers.dense({ units: 2, inputShape: [features] })]);
    m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.01 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'], device: 'small' });
    const h = await m.fit(ds, undefined, { epochs: 1, verbose: 0 });
    assert.ok(batches * rows * features * 4 > 16 * (4 << 20) / 4, 'the data is many times the device');
    assert.ok(h.history['accuracy']![0]! > 0.8, `accuracy ${h.history['accuracy']}`);
    assert.ok(small.live() < 4 << 20);
  });

  it('no step waits for a read: every upload of an epoch comes before its one read of the step log', async () => {
    const rec = recordingDevice('recorder');
    const x = tsr.randn([70, 3], { seed: 4 }), y = tsr.randn([70, 2], { seed: 5 });
    const m = tsr.sequential([tsr.layers.dense({ units: 2, inputShape: [3] })]);
    m.compile({ optimizer: 'sgd', loss: 'mse', device: 'recorder' });
    rec.log.length = 0;
    await m.fit(x, y, { epochs: 1, batchSize: 10, verbose: 0, shuffle: false });
    const steps = 7;
    const uploads = rec.log.filter((e) => e === 'write:30').length;
    const reads = rec.log.filter((e) => e.startsWith('read:'));
    assert.equal(uploads, steps);
    // the per-step losses come back together, from the table the steps wrote on the device, then the weights' finite check
    assert.deepEqual(reads, ['read:512', 'read:1'], rec.log.join(' '));
    assert.ok(rec.log.lastIndexOf('write:30') < rec.log.indexOf('read:512'), rec.log.join(' '));
  });

  it('a Dataset whose elements change shape mid-epoch, or mismatch the model, is a clear error', async () => {
    const ds = new tsr.data.Dataset(async function* () {
      yield [tsr.ones([4, 3]), tsr.ones([4, 2])] as [tsr.Tensor, tsr.Tensor];
      yield [tsr.ones([4, 5]), tsr.ones([4, 2])] as [tsr.Tensor, tsr.Tensor];
    }, 2);
    const m = tsr.sequential([tsr.layers.dense({ units: 2 })]);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    await assert.rejects(m.fit(ds, undefined, { verbose: 0 }), /fit: dataset element 1 has x of shape \[4, 5\], but earlier elements had \[batch, 3\]; every element needs the same per-sample shape/);
    await assert.rejects(m.fit(ds, undefined, { verbose: 0, batchSize: 8 }), /fit: batchSize applies to tensors: a Dataset is batched already \(dataset\.batch\(n\)\)/);
    const declared = tsr.sequential([tsr.layers.dense({ units: 2, inputShape: [7] })]);
    declared.compile({ optimizer: 'sgd', loss: 'mse' });
    await assert.rejects(declared.fit(ds, undefined, { verbose: 0 }), /fit: the model expects inputs of shape \[batch, 7\], got \[4, 3\]/);
  });
});

describe('released devices', () => {
  it('a model whose device was released says so instead of failing inside an op', async (t) => {
    await tsr.initDevices();
    const gpu = tsr.availableDevices().find((d) => d === 'webgpu' || d === 'cuda');
    if (!gpu) return t.skip('no GPU device here (webgpu on lavapipe in the webgpu pass, cuda on a GPU machine)');
    const m = mlp([4]).to(gpu);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    await tsr.releaseDevices();
    await assert.rejects(m.fit(tsr.ones([8, 4]), tsr.ones([8, 3]), { verbose: 0 }), /fit: the model's weights are on '(webgpu|cuda)', which is no longer open \(tsr\.releaseDevices\(\) closed it/);
    await tsr.initDevices();
  });
});
