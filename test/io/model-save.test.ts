// model.save / tsr.loadModel: architecture and training config round trip, exact resume,
// checkpoints, atomicity under a killed process, and hostile model folders.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tsr from '../../src/index.js';
import { Rng } from '../helpers/check.js';

const tmp = () => mkdtemp(join(tmpdir(), 'tessera-model-'));

function classifier(): tsr.Sequential {
  tsr.setSeed(7);
  return tsr.sequential([
    tsr.layers.dense({ units: 16, activation: 'relu', inputShape: [10] }),
    tsr.layers.batchNormalization(),
    tsr.layers.dropout({ rate: 0.25, seed: 11 }),
    tsr.layers.dense({ units: 4 }),
  ]);
}

function data(): [tsr.Tensor, tsr.Tensor] {
  return [tsr.randn([64, 10], { seed: 1 }), tsr.randint(0, 4, [64], { seed: 2 })];
}

const compileArgs = () => ({
  optimizer: tsr.optimizers.adam({ learningRate: tsr.optimizers.cosineDecay(0.01, 40, { warmupSteps: 3 }) }),
  loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }),
  metrics: ['accuracy', 'top2Accuracy'],
});

async function weightsOf(m: tsr.AnyModel): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, t] of m.namedTensors()) out[name] = [...(await t.data())];
  return out;
}

describe('model.save and tsr.loadModel', () => {
  it('round-trips the architecture, weights, training config and optimizer state', async () => {
    const dir = await tmp();
    const [x, y] = data();
    const m = classifier();
    m.compile(compileArgs());
    await m.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
    await m.save(dir, { includeOptimizer: true });
    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, ['model.json', 'optimizer-1.safetensors', 'weights-1.safetensors']);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    assert.deepEqual(json.architecture.layers.map((l: { class: string }) => l.class), ['Dense', 'BatchNormalization', 'Dropout', 'Dense']);
    assert.equal(json.training.optimizer.type, 'adam');
    assert.deepEqual(json.training.optimizer.options.learningRate.schedule, { type: 'cosineDecay', args: [0.01, 40, { warmupSteps: 3 }] });
    assert.deepEqual(json.training.outputs[0].metrics, ['accuracy', 'top2Accuracy']);

    const loaded = await tsr.loadModel(dir);
    assert.deepEqual(loaded.architecture(), m.architecture());
    assert.deepEqual(await weightsOf(loaded), await weightsOf(m));
    assert.deepEqual([...(await (loaded.predict(x) as tsr.Tensor).data())], [...(await m.predict(x).data())]);
    assert.equal(loaded.optimizer!.iterations, m.optimizer!.iterations);
    assert.equal(loaded.optimizer!.learningRate, m.optimizer!.learningRate, 'the schedule continues at the same step');
    for (const [name, p] of m.namedTensors({ trainableOnly: true })) {
      const q = loaded.namedTensors({ trainableOnly: true }).find(([n]) => n === name)![1];
      const mine = m.optimizer!.stateOf(p)!, theirs = loaded.optimizer!.stateOf(q)!;
      for (let i = 0; i < mine.length; i++) assert.deepEqual([...(await theirs[i]!.data())], [...(await mine[i]!.data())], `${name} slot ${i}`);
    }
    const ev = await loaded.evaluate(x, y);
    assert.ok('top2Accuracy' in ev && 'accuracy' in ev);
  });

  it('resuming from a checkpoint gives the same weights as one uninterrupted run (dropout included)', async () => {
    const [x, y] = data();
    const straight = classifier();
    straight.compile(compileArgs());
    tsr.setSeed(99);
    await straight.fit(x, y, { epochs: 4, batchSize: 16, verbose: 0, seed: 5 });

    const dir = await tmp();
    const first = classifier();
    first.compile(compileArgs());
    tsr.setSeed(99);
    await first.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0, seed: 5 });
    await first.save(dir, { includeOptimizer: true });
    tsr.setSeed(12345); // anything in between must not matter
    tsr.rand([100]).dispose();
    const resumed = await tsr.loadModel(dir, { restoreRandomState: true });
    assert.equal(resumed.epochsTrained, 2);
    await resumed.fit(x, y, { epochs: 4, initialEpoch: 2, batchSize: 16, verbose: 0, seed: 5 });
    // the same architecture in the same order; the layer names differ between the two models
    assert.deepEqual(Object.values(await weightsOf(resumed)), Object.values(await weightsOf(straight)));
  });

  it('each save is a new generation; the one it replaced stays until the next commit, older ones go', async () => {
    const dir = await tmp();
    const m = classifier();
    await m.save(dir);
    await m.save(dir);
    // a reader that read the previous model.json still finds its files
    assert.deepEqual((await readdir(dir)).sort(), ['model.json', 'weights-1.safetensors', 'weights-2.safetensors']);
    await m.save(dir);
    assert.deepEqual((await readdir(dir)).sort(), ['model.json', 'weights-2.safetensors', 'weights-3.safetensors']);
    assert.equal(JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')).training, null);
    const loaded = await tsr.loadModel(dir);
    assert.equal(loaded.optimizer, undefined);
  });

  it('a process killed while saving never leaves an unloadable or mixed checkpoint', async () => {
    const dir = await tmp();
    const script = fileURLToPath(new URL('../helpers/save-loop.js', import.meta.url));
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      // wait until at least one save completed, then kill at a varying moment
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 5 + round * 17));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const loaded = await tsr.loadModel(dir);
      const values = Object.values(await weightsOf(loaded)).flat();
      // every save writes one constant into every weight: a mixed checkpoint would show two
      assert.equal(new Set(values).size, 1, `round ${round}: weights from different saves`);
      loaded.dispose();
    }
  });

  it('loadModel in a loop beside a process that keeps saving always finds a complete checkpoint', async () => {
    const dir = await tmp();
    const script = fileURLToPath(new URL('../helpers/save-loop.js', import.meta.url));
    const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      const seen = new Set<number>();
      const until = Date.now() + 3000;
      let loads = 0;
      while (Date.now() < until) {
        const m = await tsr.loadModel(dir);
        const values = new Set(Object.values(await weightsOf(m)).flat());
        assert.equal(values.size, 1, 'weights from one save');
        seen.add([...values][0]!);
        m.dispose();
        loads++;
      }
      assert.ok(seen.size > 1, `the saver moved on while we read (${loads} loads saw generations ${[...seen].join(', ')})`);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('temporary files left by a killed save are removed by the next save; a live writer\'s are kept', async () => {
    const dir = await tmp();
    // the pid of a process that has exited
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const stale = `.weights-7.safetensors.${dead}.abc123.tmp`, live = `.model.json.${process.pid}.xyz.tmp`;
    await writeFile(join(dir, stale), 'half a file');
    await writeFile(join(dir, live), 'being written');
    await writeFile(join(dir, 'weights-7.safetensors'), 'never committed');
    await classifier().save(dir);
    const files = (await readdir(dir)).sort();
    assert.ok(!files.includes(stale), 'the dead writer\'s file is gone');
    assert.ok(files.includes(live), 'a live writer\'s file is left alone');
    assert.ok(!files.includes('weights-7.safetensors'), 'uncommitted generations go too');
    assert.ok(files.includes('weights-8.safetensors'));
  });

  it('custom models and function options are clear errors; loadWeights names mismatches', async () => {
    class Custom extends tsr.Model {
      dense = tsr.layers.dense({ units: 2 });
      override computeOutputShape(s: readonly number[]) { return [...s.slice(0, -1), 2]; }
      override forward(x: tsr.Tensor) { return this.dense.apply(x); }
    }
    const c = new Custom();
    c.apply(tsr.ones([1, 3]));
    await assert.rejects(c.save(await tmp()), /custom Model subclass.*saveWeights/);
    const f = tsr.sequential([tsr.layers.dense({ units: 2, inputShape: [3], kernelInitializer: (s, device) => tsr.zeros(s, { device }) })]);
    await assert.rejects(f.save(await tmp()), /option 'kernelInitializer' is a function/);
    await assert.rejects(tsr.loadModel(await tmp()), /model\.json: cannot read .*written by model\.save\(\)/);
  });
});

describe('modelCheckpoint', () => {
  it('saves every epoch, or only when the monitored value improves', async () => {
    const [x, y] = data();
    const every = await tmp(), best = await tmp();
    const m = classifier();
    m.compile(compileArgs());
    const all = tsr.callbacks.modelCheckpoint({ dir: join(every, 'epoch-{epoch}') });
    const improving = tsr.callbacks.modelCheckpoint({ dir: best, monitor: 'loss', includeOptimizer: true });
    const h = await m.fit(x, y, { epochs: 4, batchSize: 16, verbose: 0, callbacks: [all, improving] });
    assert.deepEqual(all.savedEpochs, [1, 2, 3, 4]);
    assert.deepEqual((await readdir(every)).sort(), ['epoch-1', 'epoch-2', 'epoch-3', 'epoch-4']);
    const losses = h.history['loss']!;
    const expected = losses.map((l, i) => (losses.slice(0, i).every((p) => l < p) ? i + 1 : 0)).filter(Boolean);
    assert.deepEqual(improving.savedEpochs, expected);
    const saved = await tsr.loadModel(best);
    assert.equal(saved.epochsTrained, expected.at(-1));
    await assert.rejects(tsr.callbacks.modelCheckpoint({ dir: best, monitor: 'val_nope' }).onEpochEnd(0, { loss: 1 }), /monitor 'val_nope' is not in the epoch logs \(loss\)/);
  });
});

describe('hostile model folders', () => {
  it('fuzz: every mutated model.json or weights file loads or fails with a clear loadModel/loadSafetensors error', async () => {
    const good = await tmp();
    const m = classifier();
    m.compile(compileArgs());
    await m.fit(...data(), { epochs: 1, batchSize: 32, verbose: 0 });
    await m.save(good, { includeOptimizer: true });
    const json = await readFile(join(good, 'model.json'), 'utf8');
    const weights = await readFile(join(good, 'weights-1.safetensors'));
    const rng = new Rng(3);
    const outcomes = { loaded: 0, rejected: 0 };
    const mutateJson = (): string => {
      const doc = JSON.parse(json);
      const paths: [Record<string, unknown>, string][] = [];
      const walk = (o: unknown) => {
        if (typeof o !== 'object' || o === null) return;
        for (const k of Object.keys(o)) { paths.push([o as Record<string, unknown>, k]); walk((o as Record<string, unknown>)[k]); }
      };
      walk(doc);
      const [obj, key] = paths[Math.floor(rng.next() * paths.length)]!;
      const choices = [undefined, null, -1, 1e12, 'x', [], {}, '../../etc/passwd', 2 ** 53, true];
      obj[key] = choices[Math.floor(rng.next() * choices.length)];
      return JSON.stringify(doc);
    };
    for (let i = 0; i < 120; i++) {
      const dir = await tmp();
      await cp(good, dir, { recursive: true });
      if (i % 3 === 2) {
        const bytes = Buffer.from(weights);
        for (let k = 0; k < 1 + (i % 4); k++) bytes[Math.floor(rng.next() * bytes.length)] = Math.floor(rng.next() * 256);
        await writeFile(join(dir, 'weights-1.safetensors'), i % 2 ? bytes : bytes.subarray(0, Math.floor(rng.next() * bytes.length)));
      } else {
        await writeFile(join(dir, 'model.json'), i % 7 === 0 ? json.slice(0, Math.floor(rng.next() * json.length)) : mutateJson());
      }
      try {
        const loaded = await tsr.loadModel(dir);
        outcomes.loaded++;
        loaded.dispose();
      } catch (e) {
        assert.ok(e instanceof tsr.TesseraError, `mutation ${i}: ${(e as Error).stack}`);
        assert.match((e as Error).message, /^(loadModel|loadSafetensors|loadWeights): .*(model\.json|\.safetensors)/, `mutation ${i}: ${(e as Error).message}`);
        outcomes.rejected++;
      }
    }
    assert.ok(outcomes.rejected > 30 && outcomes.loaded > 5, JSON.stringify(outcomes));
  });
});
