// The main job end to end: `tessera train` on the embedded sample, JSON output and the SVG plot.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
    assert.match(bad.stderr, /--model must be mlp or cnn, got 'rnn'/);
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
      return readFile(join(dir, d, json.weights));
    };
    assert.ok((await weights('resumed')).equals(await weights('straight')), 'resumed weights differ from the uninterrupted run');
    assert.equal(resumed.history.loss.length, 2);
    const bad = tessera(['train', '--resume', join(dir, 'nothing-here')]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /loadModel: .*nothing-here\/model\.json: cannot read/);
  });
});
