// The examples in examples/ run as users would run them (on the small sample, briefly).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../examples/', import.meta.url));
const sample = fileURLToPath(new URL('../../data/fashion-mnist-sample', import.meta.url));

function run(file: string, arg: string) {
  return spawnSync(process.execPath, [`${dist}${file}`, arg], { encoding: 'utf8', env: { ...process.env, TESSERA_DATA: sample } });
}

describe('examples', () => {
  it('fashion-mnist-mlp', () => {
    const r = run('fashion-mnist-mlp.js', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /test accuracy 0\.[6-9]/);
    assert.match(r.stdout, /first test image: /);
  });
  it('fashion-mnist-cnn', () => {
    const r = run('fashion-mnist-cnn.js', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /accuracy: 0\.[5-9]/);
  });
  it('fashion-mnist-lstm', () => {
    const r = run('fashion-mnist-lstm.js', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /test accuracy 0\.[4-9]/);
  });
  it('fashion-mnist-transformer', () => {
    const r = run('fashion-mnist-transformer.js', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /test accuracy 0\.[4-9]/);
  });
  it('custom-training-loop', () => {
    const r = run('custom-training-loop.js', '150');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /test accuracy 0\.[5-9]\d*; live tensors \d+/);
  });
});
