// The PJRT device without a TPU: tessera's real C API glue drives the fake plugin
// (test/fixtures/fake-pjrt.c), whose programs run in the StableHLO interpreter of
// helpers/stablehlo-interpreter.ts. The op suite runs on it in a child process; here, the glue's
// checks and error paths, discovery, and whole training steps compiled to one module each.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tsr from '../../src/index.js';
import { philoxFill } from '../../src/core/philox.js';
import { PjrtClient, withSourceLine } from '../../src/backends/pjrt/client.js';
import { pjrtDeviceName } from '../../src/backends/pjrt/create.js';
import { findPjrtPlugin } from '../../src/backends/pjrt/discover.js';
import type { PjrtBackend } from '../../src/backends/pjrt/pjrt-backend.js';
import { buildFakePjrt, fakePjrtBuildable, installFakePjrt } from '../helpers/fake-pjrt.js';

const skip = fakePjrtBuildable ? false : 'cc is needed to build the fake PJRT plugin';

describe('the PJRT glue against the fake plugin', { skip }, () => {
  let path = '';
  before(() => { path = buildFakePjrt(); installFakePjrt(path); });

  it('reads the API version, initializes first, and describes the client and its devices', () => {
    const c = new PjrtClient(path);
    assert.equal(c.info.apiVersion, '0.94');
    assert.equal(c.info.platform, 'tpu');
    assert.match(c.info.platformVersion, /fake-pjrt/);
    assert.deepEqual(c.info.devices.map((d) => d.memoryBytes), [2 ** 30, 2 ** 30]);
    assert.match(c.info.devices[0]!.kind, /fake TPU/);
    c.release();
    assert.throws(() => new PjrtClient(path, 2), /has 2 addressable devices; device 2 was asked for/);
  });

  it('the fake refuses a struct of the wrong struct_size, so the glue passing means its sizes are the header\'s', () => {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const api = koffi.load(path).func('void *GetPjrtApi()')() as bigint;
    const fns = new BigUint64Array(koffi.view(api, 40 + 8 * 13).slice(40));
    const args = Buffer.alloc(40);
    args.writeBigUInt64LE(32n, 0); // PJRT_Client_PlatformName_Args is 40 bytes
    const error = koffi.call(fns[12]!, koffi.proto('void *F(void *)'), args) as bigint;
    assert.notEqual(error, 0n);
    const msg = Buffer.alloc(40);
    msg.writeBigUInt64LE(40n, 0);
    msg.writeBigUInt64LE(error, 16);
    koffi.call(fns[1]!, koffi.proto('void G(void *)'), msg);
    const text = Buffer.from(koffi.view(msg.readBigUInt64LE(24), Number(msg.readBigUInt64LE(32)))).toString();
    assert.match(text, /PJRT_Client_PlatformName: struct_size 32, expected 40/);
  });

  it('a plugin of another major version is refused, naming both versions', () => {
    process.env['FAKE_PJRT_MAJOR'] = '1';
    try {
      assert.throws(() => new PjrtClient(path), /implements PJRT C API 1\.94; tessera speaks 0\.x \(built against 0\.94\): major versions must match/);
    } finally {
      delete process.env['FAKE_PJRT_MAJOR'];
    }
  });

  it("a compile error carries the plugin's message and the StableHLO line it points at", () => {
    const c = new PjrtClient(path);
    const text = [
      'module @tessera {',
      '  func.func public @main(%arg0: tensor<4xf32>) -> (tensor<4xf32>) {',
      '    %v0 = "stablehlo.cholesky"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>',
      '    "func.return"(%v0) : (tensor<4xf32>) -> ()',
      '  }',
      '}',
    ].join('\n');
    assert.throws(() => c.compile(text), (e: Error) => {
      assert.match(e.message, /PJRT_Client_Compile failed \(code 3\): module\.mlir:3:1: error: 'stablehlo\.cholesky' is outside the interpreted subset/);
      assert.match(e.message, /at StableHLO line 3: %v0 = "stablehlo\.cholesky"/);
      return true;
    });
    c.release();
  });

  it("XLA's loc(...) diagnostics point at the line too", () => {
    const text = 'module @m {\n  func.func public @main() -> () {\n    %v0 = "stablehlo.bogus"() : () -> tensor<f32>\n  }\n}';
    assert.match(withSourceLine('error: unregistered operation at loc("-":3:11)', text), /at StableHLO line 3: %v0 = "stablehlo\.bogus"/);
    assert.equal(withSourceLine('out of memory', text), 'out of memory');
  });

  it('a file that is not a plugin, or is missing, is refused by name', () => {
    const libc = '/lib/x86_64-linux-gnu/libc.so.6';
    assert.throws(() => new PjrtClient(libc), /libc\.so\.6 is not a PJRT plugin: it exports no GetPjrtApi/);
    assert.throws(() => new PjrtClient('/nonexistent/libtpu.so'), /cannot load the PJRT plugin \/nonexistent\/libtpu\.so/);
  });
});

describe('PJRT plugin discovery and device names', () => {
  const host = (env: Record<string, string>, files: string[]) => ({
    env,
    listDir: (dir: string) => [...new Set(files.filter((f) => f.startsWith(dir + '/')).map((f) => f.slice(dir.length + 1).split('/')[0]!))],
    ldconfigCache: () => [],
  });

  it('takes TESSERA_PJRT_PLUGIN, then TPU_LIBRARY_PATH, then the libtpu wheel, then JAX\'s CUDA plugin', () => {
    const sp = '/usr/lib/python3.11/site-packages';
    const files = [`${sp}/libtpu/libtpu.so`, `${sp}/jax_plugins/xla_cuda13/xla_cuda_plugin.so`, '/opt/tpu/libtpu.so', '/opt/mine.so'];
    assert.equal(findPjrtPlugin(host({ TESSERA_PJRT_PLUGIN: '/opt/mine.so', TPU_LIBRARY_PATH: '/opt/tpu/libtpu.so' }, files)).path, '/opt/mine.so');
    assert.equal(findPjrtPlugin(host({ TPU_LIBRARY_PATH: '/opt/tpu/libtpu.so' }, files)).path, '/opt/tpu/libtpu.so');
    assert.equal(findPjrtPlugin(host({}, files)).path, `${sp}/libtpu/libtpu.so`);
    assert.equal(findPjrtPlugin(host({}, files.slice(1))).path, `${sp}/jax_plugins/xla_cuda13/xla_cuda_plugin.so`);
    const none = findPjrtPlugin(host({ TPU_LIBRARY_PATH: '/gone/libtpu.so' }, [`${sp}/numpy/x.py`]));
    assert.equal(none.path, null);
    assert.deepEqual(none.looked, ['TESSERA_PJRT_PLUGIN (unset)', 'TPU_LIBRARY_PATH=/gone/libtpu.so', `${sp}/{libtpu/libtpu.so,jax_plugins/xla_cuda*/xla_cuda_plugin.so}`]);
  });

  it('names devices by platform', () => {
    assert.equal(pjrtDeviceName('tpu', 0), 'tpu');
    assert.equal(pjrtDeviceName('tpu', 3), 'tpu:3');
    assert.equal(pjrtDeviceName('cuda', 0), 'xla-cuda');
    assert.equal(pjrtDeviceName('cpu', 0), 'xla-cpu');
  });
});

describe('training on the PJRT device (fake plugin)', { skip }, () => {
  let fake: ReturnType<typeof installFakePjrt>;
  const saved = process.env['TESSERA_PJRT_PLUGIN'];
  before(async () => {
    const path = buildFakePjrt();
    fake = installFakePjrt(path);
    process.env['TESSERA_PJRT_PLUGIN'] = path;
    await tsr.releaseDevices();
    await tsr.initDevices();
  });
  after(async () => {
    await tsr.releaseDevices();
    if (saved === undefined) delete process.env['TESSERA_PJRT_PLUGIN'];
    else process.env['TESSERA_PJRT_PLUGIN'] = saved;
  });

  const models = {
    mlp: () => tsr.sequential([tsr.layers.dense({ units: 16, activation: 'relu', inputShape: [10] }), tsr.layers.dropout({ rate: 0.2, seed: 5 }), tsr.layers.dense({ units: 3 })]),
    cnn: () => tsr.sequential([
      tsr.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 1] }),
      tsr.layers.batchNormalization(),
      tsr.layers.maxPooling2d({ poolSize: 2 }),
      tsr.layers.flatten(),
      tsr.layers.dense({ units: 3 }),
    ]),
  };
  const shapes = { mlp: [10], cnn: [6, 6, 1] };

  for (const name of ['mlp', 'cnn'] as const) {
    it(`a compiled ${name.toUpperCase()} step is one StableHLO module; its losses match the CPU's step by step; no buffer leaks`, async () => {
      const x = tsr.rand([32, ...shapes[name]], { seed: 1 }), y = tsr.randint(0, 3, [32], { seed: 2 });
      const train = async (device: string) => {
        tsr.setSeed(9);
        const m = models[name]().to(device);
        // the models end in logits; Adam with a larger epsilon: at 1e-7 it turns the float32 noise of
        // gradients that are ~0 (as a conv bias's is ahead of batch norm) into full-size steps, and
        // the CNN's losses on the two backends drifted 1e-4 apart on an AVX2 CPU (other summation
        // orders) but not on an AVX-512 one; with 1e-3 (or SGD) they agree to 1e-7 on the AVX2 one
        m.compile({ optimizer: tsr.optimizers.adam({ learningRate: 0.01, epsilon: 1e-3 }), loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }) });
        const losses: number[] = [];
        await m.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0, shuffle: false, callbacks: [{ onBatchEnd: (_b, logs) => { losses.push(logs!['loss']!); } }] });
        const buffers = fake.stat('buffers');
        await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0, shuffle: false });
        const steady = fake.stat('buffers') - buffers;
        const how = m.lastStepStats?.how;
        m.dispose();
        return { losses, steady, how };
      };
      const backend = tsr.getBackend('tpu') as PjrtBackend;
      const executedBefore = backend.counts.executed;
      const tpu = await train('tpu');
      assert.ok(backend.counts.executed > executedBefore);
      const cpu = await train('cpu');
      assert.equal(tpu.how, '1 StableHLO module on tpu');
      assert.equal(tpu.steady, 0, 'a third epoch holds as many device buffers as the second left');
      assert.equal(tpu.losses.length, 8);
      // the suite's cross-device tolerance (Adam's normalised steps carry float32 noise from step to step)
      tpu.losses.forEach((l, k) => assert.ok(Math.abs(l - cpu.losses[k]!) <= 1e-5 + 1e-4 * Math.abs(cpu.losses[k]!), `step ${k}: tpu ${l}, cpu ${cpu.losses[k]}`));
      x.dispose(); y.dispose();
    });
  }

  it('Philox draws give the host generator\'s numbers, across a carry into the counter\'s high word', async () => {
    const b = tsr.getBackend('tpu');
    for (const kind of ['uniform', 'normal'] as const) {
      const n = 37, out = b.alloc('float32', n);
      const seed = 2 ** 40 + 12345, counter = 2 ** 32 - 3;
      b.random(kind, { storage: out, shape: [n], strides: [1], offset: 0 }, [seed, counter]);
      const got = (await b.read(out)) as Float32Array;
      const want = new Float32Array(n);
      philoxFill(kind, seed, counter, want, 0, n);
      b.free(out);
      for (let i = 0; i < n; i++) assert.ok(kind === 'uniform' ? got[i] === want[i] : Math.abs(got[i]! - want[i]!) <= 1e-5 * Math.max(1, Math.abs(want[i]!)), `${kind}[${i}]: ${got[i]} vs ${want[i]}`);
    }
  });

  it('an out-of-range index raises at the next read, naming the op', async () => {
    const table = tsr.rand([5, 2], { device: 'tpu' });
    const picked = tsr.gather(table, tsr.tensor([1, 7], { dtype: 'int32', device: 'tpu' }), 0);
    await assert.rejects(picked.data(), /gather.*7/);
    assert.equal((await table.data()).length, 10, 'the failure is reported once');
  });
});

describe('tessera train --device tpu (fake plugin)', { skip }, () => {
  it('trains the MLP on the embedded sample and reports the device', () => {
    const script = fileURLToPath(new URL('./pjrt-train-main.js', import.meta.url));
    const sample = fileURLToPath(new URL('../../../data/fashion-mnist-sample', import.meta.url));
    const r = spawnSync(process.execPath, [script, 'train', '--device', 'tpu', '--data', sample, '--epochs', '1', '--validation-split', '0.9', '--json'], {
      encoding: 'utf8', env: { ...process.env, TESSERA_PJRT_PLUGIN: buildFakePjrt(), TESSERA_DISABLE_WEBGPU: '1', TESSERA_DATA: '' },
    });
    assert.equal(r.status, 0, r.stderr + r.stdout.slice(-2000));
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(last.device, 'tpu');
    assert.ok(last.testAccuracy > 0.6, `test accuracy ${last.testAccuracy}`);
  });
});

describe('the op suite on the PJRT device (fake plugin, programs interpreted)', { skip }, () => {
  it('passes unchanged on device tpu', { timeout: 600_000 }, () => {
    const dist = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--expose-gc', '--test', dist('test/ops/'), dist('test/tensor/'), dist('test/nn/'), dist('test/devices/'), dist('test/errors.test.js')], {
      encoding: 'utf8',
      env: { ...env, TESSERA_PJRT_PLUGIN: buildFakePjrt(), TESSERA_FAKE_PJRT: '1', TESSERA_TEST_DEVICES: 'tpu', TESSERA_DISABLE_WEBGPU: '1', TESSERA_DISABLE_CUDA: '1' },
    });
    const summary = /# pass (\d+)\n# fail (\d+)/.exec(r.stdout);
    assert.equal(r.status, 0, r.stdout.split('\n').filter((l) => /not ok|error:|Error/.test(l)).slice(0, 30).join('\n'));
    assert.ok(summary && Number(summary[1]) > 200 && summary[2] === '0', summary?.[0]);
  });
});
