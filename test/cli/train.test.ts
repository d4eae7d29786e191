// The main job end to end: `tessera train` on the embedded sample, JSON output and the SVG plot.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tsr from '../../src/index.js';

const bin = fileURLToPath(new URL('../../../bin/tessera.js', import.meta.url));
const sample = fileURLToPath(new URL('../../../data/fashion-mnist-sample', import.meta.url));

function tessera(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TESSERA_DATA: '' } });
}

describe('tessera train', () => {
  it('trains the MLP, prints progress and ends with one JSON object', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-cli-'));
    const plot = join(dir, 'curves.svg');
    const r = tessera(['train', '--data', sample, '--epochs', '2', '--json', '--plot', plot]);
    assert.equal(r.status, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(last.model, 'mlp');
    assert.equal(last.device, 'cpu');
    assert.ok(last.testAccuracy > 0.7, `test accuracy ${last.testAccuracy}`);
    assert.ok(last.samplesPerSec > 0);
    assert.equal(last.history.loss.length, 2);
    const svg = await readFile(plot, 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*>[\s\S]*<\/svg>$/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 4, 'train and validation curves for loss and accuracy');
    assert.doesNotMatch(svg, /NaN|undefined/);
  });

  it('the CNN runs too, and the same seed gives the same loss curve', () => {
    const run = () => JSON.parse(tessera(['train', '--model', 'cnn', '--data', sample, '--epochs', '1', '--json', '--validation-split', '0.9']).stdout.trim().split('\n').at(-1)!);
    const a = run(), b = run();
    assert.deepEqual(a.history.loss, b.history.loss);
    assert.equal(a.model, 'cnn');
  });

  it('help documents every option; bad options are clear errors', () => {
    const help = tessera(['--help']);
    assert.equal(help.status, 0);
    for (const opt of ['--model', '--device', '--epochs', '--batch-size', '--lr', '--data', '--seed', '--plot', '--json']) assert.match(help.stdout, new RegExp(opt));
    const bad = tessera(['train', '--model', 'rnn']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--model must be mlp, cnn, lstm, transformer, got 'rnn'/);
    const unknown = tessera(['frobnicate']);
    assert.equal(unknown.status, 2);
  });

  it('--save then --resume in a new process gives the weights of one uninterrupted run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-resume-'));
    const common = ['train', '--data', sample, '--verbose', '0', '--validation-split', '0.8', '--device', 'cpu', '--json'];
    const run = (args: string[]) => {
      const r = tessera([...common, ...args]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    };
    run(['--epochs', '2', '--save', join(dir, 'half')]);
    const resumed = run(['--epochs', '2', '--resume', join(dir, 'half'), '--save', join(dir, 'resumed')]);
    run(['--epochs', '4', '--save', join(dir, 'straight')]);
    const weights = async (d: string) => {
      const json = JSON.parse(await readFile(join(dir, d, 'model.json'), 'utf8'));
      assert.equal(json.epochsTrained, 4);
      // the tensors, not the bytes: the header names the generation, which counts the saves
      const { tensors } = await tsr.loadSafetensors(join(dir, d, json.weights));
      return Object.entries(tensors).map(([name, t]) => [name, [...t.data]]);
    };
    assert.deepEqual(await weights('resumed'), await weights('straight'), 'resumed weights differ from the uninterrupted run');
    assert.equal(resumed.history.loss.length, 2);
    assert.equal(resumed.model, 'mlp');
    assert.equal(resumed.resumedFrom, join(dir, 'half'));
    const bad = tessera(['train', '--resume', join(dir, 'nothing-here')]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /loadModel: .*nothing-here\/model\.json: cannot read/);
  });

  it('checks every output before training: bad --save and --plot paths fail at once, a run is never lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-out-'));
    await writeFile(join(dir, 'file'), 'x');
    const quick = ['train', '--data', sample, '--verbose', '0', '--epochs', '1', '--device', 'cpu'];
    const cases: [string[], RegExp][] = [
      [['--save', join(dir, 'file', 'sub')], /--save .*file\/sub: cannot create the folder \((ENOTDIR|EEXIST)\)/],
      [['--save', join(dir, 'file')], /--save .*file exists and is not a folder/],
      [['--save', '/proc/tessera-test'], /--save \/proc\/tessera-test: cannot (create the folder|write in)/],
      [['--save', ''], /--save needs a folder name/],
      [['--plot', join(dir, 'missing', 'c.svg')], /--plot .*missing\/c\.svg: the folder .* does not exist/],
      [['--plot', dir], /--plot .* is a folder; give a file name/],
      [['--epochs', ''], /--epochs expects an integer >= 1, got ''/],
      [['--epochs', '0x2'], /--epochs expects an integer >= 1, got '0x2'/],
      [['--epochs', '2.5'], /--epochs expects an integer >= 1, got '2\.5'/],
      [['--verbose', '7'], /--verbose expects an integer >= 0 <= 2, got '7'/],
      [['--lr', 'abc'], /--lr expects a number > 0, got 'abc'/],
      [['--validation-split', '1'], /--validation-split expects a number >= 0 < 1, got '1'/],
    ];
    for (const [args, pattern] of cases) {
      const started = Date.now();
      const r = tessera([...quick, ...args]);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.doesNotMatch(r.stdout, /Epoch|test accuracy/, `${args.join(' ')} started training`);
      assert.ok(Date.now() - started < 20_000, `${args.join(' ')} took ${Date.now() - started} ms`);
    }
    const help = tessera(['train', '-h']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--overwrite/);
    assert.match(help.stdout, /cpu, webgpu,\s+cuda, or tpu \/ xla-cuda through a PJRT plugin/);
  });

  it('--save checkpoints every epoch, refuses a foreign model.json without --overwrite, and --resume rejects conflicting flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-ckpt-'));
    const common = ['train', '--data', sample, '--verbose', '0', '--validation-split', '0.8', '--device', 'cpu', '--json'];
    const m = tsr.sequential([tsr.layers.dense({ units: 2, inputShape: [3] })]);
    await m.save(join(dir, 'theirs'));
    const refused = tessera([...common, '--epochs', '1', '--save', join(dir, 'theirs')]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /--save .*theirs already holds a saved model \(model\.json\); pass --overwrite/);
    const replaced = tessera([...common, '--epochs', '1', '--save', join(dir, 'theirs'), '--overwrite']);
    assert.equal(replaced.status, 0, replaced.stderr);

    // a run stopped mid-way leaves the checkpoint of its last finished epoch
    const partial = join(dir, 'partial');
    await mkdir(partial);
    const r = tessera([...common, '--model', 'cnn', '--epochs', '2', '--save', partial]);
    assert.equal(r.status, 0, r.stderr);
    const saved = JSON.parse(await readFile(join(partial, 'model.json'), 'utf8'));
    assert.equal(saved.epochsTrained, 2);
    assert.ok((await readdir(partial)).includes('weights-2.safetensors'), 'one generation per epoch');

    const resumed = tessera([...common, '--epochs', '1', '--resume', partial]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming: .*partial: cnn after 2 epochs, Adam learning rate 0\.001, batch size 32, seed 0/);
    assert.equal(JSON.parse(resumed.stdout.trim().split('\n').at(-1)!).model, 'cnn');
    const wrongModel = tessera([...common, '--epochs', '1', '--resume', partial, '--model', 'mlp']);
    assert.equal(wrongModel.status, 1);
    assert.match(wrongModel.stderr, /--model mlp conflicts with --resume .*partial, which holds a cnn; drop --model/);
    const wrongLr = tessera([...common, '--epochs', '1', '--resume', partial, '--lr', '0.1']);
    assert.equal(wrongLr.status, 1);
    assert.match(wrongLr.stderr, /--lr 0\.1 conflicts with --resume .*learning rate 0\.001; drop --lr/);
  });

  const fullSet = '/usr/share/datasets/fashion-mnist';
  const haveFull = existsSync(join(fullSet, 'train-images-idx3-ubyte.gz')) || existsSync(join(fullSet, 'train-images-idx3-ubyte'));
  it('--device webgpu trains an epoch of the full set, which is larger than a storage buffer (the data stays on the host)', {
    skip: haveFull ? false : `the full Fashion-MNIST set is not installed (${fullSet}; CI installs dataset-fashion-mnist)`, timeout: 300_000,
  }, async (t) => {
    await tsr.initDevices();
    const webgpu = tsr.availableDevices().includes('webgpu');
    const why = tsr.unavailableDevices()['webgpu'];
    await tsr.releaseDevices();
    if (!webgpu) return t.skip(`no webgpu device: ${why}`);
    const r = spawnSync(process.execPath, [bin, 'train', '--device', 'webgpu', '--epochs', '1', '--batch-size', '128', '--verbose', '0', '--json'], { encoding: 'utf8', env: { ...process.env, TESSERA_DATA: '' } });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(result.device, 'webgpu');
    assert.equal(result.fullDataset, true);
    assert.ok(result.testAccuracy > 0.8, `test accuracy ${result.testAccuracy}`);
  });
});
