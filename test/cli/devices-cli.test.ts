// `tessera devices`, `verify`, `bench`, and --profile / --log-device-placement, end to end.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertWellFormedXml } from '../helpers/xml.js';

const bin = fileURLToPath(new URL('../../../bin/tessera.js', import.meta.url));
const sample = fileURLToPath(new URL('../../../data/fashion-mnist-sample', import.meta.url));
const tessera = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TESSERA_DATA: '' } });

describe('tessera devices', () => {
  it('--json lists cpu and the reasons for unavailable backends', () => {
    const r = tessera(['devices', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const { devices, auto } = JSON.parse(r.stdout);
    const names = devices.map((d: { name: string }) => d.name);
    assert.ok(names.includes('cpu') && names.includes('webgpu') && names.includes('cuda'));
    for (const d of devices) assert.ok(d.available ? d.description : d.reason, JSON.stringify(d));
    assert.ok(names.includes(auto.device));
  });

  it('prints a readable list', () => {
    const r = tessera(['devices']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^cpu +available +.*\(\d+ cores\)/m);
    assert.match(r.stdout, /^cuda +(unavailable|available) +/m);
    assert.match(r.stdout, /auto picks: \w+ \(/);
  });
});

describe('tessera verify', () => {
  it('checks every available device and exits 0 when all pass', () => {
    const r = tessera(['verify', '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const results = JSON.parse(r.stdout);
    assert.ok(results.length >= 3);
    assert.ok(results.every((x: { ok: boolean; kernels: number }) => x.ok && x.kernels > 0));
  });

  it('an unavailable device is an error with the reason', () => {
    const r = spawnSync(process.execPath, [bin, 'verify', '--device', 'cuda'], { encoding: 'utf8', env: { ...process.env, TESSERA_DISABLE_CUDA: '1' } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /device 'cuda' is unavailable: disabled by TESSERA_DISABLE_CUDA/);
  });
});

describe('tessera bench', () => {
  it('--json has one row per model, batch and device, with speed-ups over the cpu', () => {
    const r = tessera(['bench', '--devices', 'cpu', '--models', 'mlp,cnn', '--batch-sizes', '4,8', '--steps', '2', '--warmup', '1', '--repeats', '1', '--matmul-sizes', '16,32', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(report.steps.length, 4);
    for (const s of report.steps) {
      assert.ok(s.msPerStep > 0 && s.samplesPerSec > 0);
      assert.equal(s.speedupVsCpu, 1);
    }
    assert.deepEqual(report.matmul.map((m: { n: number }) => m.n), [16, 32]);
    assert.ok(report.matmul.every((m: { tflops: number }) => m.tflops > 0));
    assert.equal(report.devices[0].name, 'cpu');
  });

  it('--out writes a Markdown report, JSON and a well-formed SVG chart; --profile adds per-op tables', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-'));
    const r = tessera(['bench', '--devices', 'cpu', '--models', 'mlp', '--batch-sizes', '8', '--steps', '2', '--warmup', '1', '--repeats', '1', '--matmul-sizes', '32', '--out', dir, '--profile']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /model +batch +device +ms\/step +samples\/s +vs cpu/);
    assert.match(r.stdout, /profile: mlp batch 8 on cpu/);
    assert.match(r.stdout, /^matmul(\.grad)? +cpu +\d+ +\d+ +[\d.]+/m);
    const svg = await readFile(join(dir, 'speedup.svg'), 'utf8');
    assertWellFormedXml(svg);
    assert.match(svg, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /mlp \/ batch 8/);
    assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
    const md = await readFile(join(dir, 'bench.md'), 'utf8');
    assert.match(md, /!\[training speed-up over the CPU backend\]\(speedup\.svg\)/);
    assert.match(md, /\| mlp \| 8 \| cpu \|/);
    assert.equal(JSON.parse(await readFile(join(dir, 'bench.json'), 'utf8')).steps.length, 1);
  });

  it('--models none --matmul-dtypes times half-precision products only, without a float32 peak', () => {
    const r = tessera(['bench', '--devices', 'cpu', '--models', 'none', '--repeats', '1', '--matmul-sizes', '16,32', '--matmul-dtypes', 'float32,bfloat16', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(report.steps.length, 0);
    assert.deepEqual(report.matmul.map((m: { dtype: string; n: number }) => `${m.dtype} ${m.n}`), ['float32 16', 'float32 32', 'bfloat16 16', 'bfloat16 32']);
    assert.ok(report.matmul.every((m: { tflops: number }) => m.tflops > 0));
    assert.ok(report.matmul.filter((m: { dtype: string }) => m.dtype === 'bfloat16').every((m: { peakTflops: unknown }) => m.peakTflops === null));
  });

  it('bad options are clear errors', () => {
    const r = tessera(['bench', '--models', 'rnn']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--models takes mlp, cnn, lstm, transformer \(or none\), got 'rnn'/);
    const d = tessera(['bench', '--matmul-dtypes', 'float64']);
    assert.match(d.stderr, /--matmul-dtypes takes float32, bfloat16 and float16, got 'float64'/);
    const s = tessera(['bench', '--steps', '0']);
    assert.match(s.stderr, /--steps expects positive integers, got '0'/);
  });
});

describe('train --profile and --log-device-placement', () => {
  it('prints where the time went and where each op ran', () => {
    const r = tessera(['train', '--data', sample, '--epochs', '1', '--device', 'cpu', '--verbose', '0', '--validation-split', '0.9', '--profile', '--log-device-placement']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /profile of fit \(1 epochs\)/);
    assert.match(r.stdout, /^matmul +cpu +\d+/m);
    assert.match(r.stdout, /device time [\d.]+ ms of [\d.]+ ms wall; clocks: cpu: host clock/);
    assert.match(r.stderr, /^\[placement\] matmul: cpu$/m);
    assert.match(r.stderr, /^\[placement\] adam: cpu$/m);
  });
});

it('the assertion helper rejects malformed XML', () => {
  assert.throws(() => assertWellFormedXml('<svg><g></svg>'), /closes/);
  assert.throws(() => assertWellFormedXml('<svg><text>a & b</text></svg>'), /bare '&'/);
  assert.throws(() => assertWellFormedXml('<svg width=3></svg>'), /malformed/);
  assertWellFormedXml('<svg a="1"><text>a &amp; b</text><rect/></svg>');
});
