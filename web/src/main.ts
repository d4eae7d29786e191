// The page: controls, charts and panels. Everything tessera does runs in the worker; this
// thread only sends requests and draws what comes back.
import type { DeviceListing, VerifyResult } from '../../src/index.js';
import { barChart, imageGrid, lineChart, type Series } from './charts.js';
import type { AdapterReport, CompareRow, DeviceName, PageMessage, Progress, WorkerMessage } from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: PageMessage) => worker.postMessage(m);

const modelSelect = $<HTMLSelectElement>('model'), deviceSelect = $<HTMLSelectElement>('device');
const epochsInput = $<HTMLInputElement>('epochs'), batchInput = $<HTMLInputElement>('batch-size');
const trainButton = $<HTMLButtonElement>('train'), stopButton = $<HTMLButtonElement>('stop');
const verifyButton = $<HTMLButtonElement>('verify'), compareButton = $<HTMLButtonElement>('compare');

/** Batch sizes the GPU-vs-CPU comparison times. */
const COMPARE_BATCHES = [16, 64, 256, 1024];
const COLORS = { train: '#316dca', val: '#e16f24', gpu: '#316dca', cpu: '#8a94a6' };

let busy = false, webgpuReason: string | null = null;

function setBusy(on: boolean, training = false): void {
  busy = on;
  for (const b of [trainButton, verifyButton, compareButton]) b.disabled = on;
  compareButton.disabled = on || webgpuReason !== null;
  stopButton.disabled = !training;
}

function notice(text: string, kind: 'info' | 'error', actions: [string, () => void][] = []): void {
  const box = $('notice');
  box.hidden = false;
  box.className = kind;
  $('notice-text').textContent = text;
  const row = $('notice-actions');
  row.replaceChildren(...actions.map(([label, act]) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.onclick = () => { box.hidden = true; act(); };
    return b;
  }));
}

function setWebgpu(reason: string | null): void {
  webgpuReason = reason;
  const option = deviceSelect.querySelector<HTMLOptionElement>('option[value=webgpu]')!;
  option.disabled = reason !== null;
  option.textContent = reason === null ? 'WebGPU' : 'WebGPU (unavailable)';
  if (reason !== null) deviceSelect.value = 'cpu';
}

// ---- devices ----

function row(table: HTMLTableElement, cells: (string | [string, string])[], header = false): void {
  const tr = table.insertRow();
  cells.forEach((c, i) => {
    const cell = document.createElement(header || i === 0 ? 'th' : 'td');
    if (Array.isArray(c)) { cell.textContent = c[0]; cell.className = c[1]; } else cell.textContent = c;
    tr.append(cell);
  });
}

function showDevices(devices: DeviceListing[], adapter: AdapterReport | null): void {
  const table = $<HTMLTableElement>('adapter');
  table.replaceChildren();
  const webgpu = devices.find((d) => d.name === 'webgpu');
  if (!webgpu?.available) {
    row(table, ['WebGPU', ['unavailable: ' + (webgpu?.reason ?? 'not found'), 'bad']]);
  } else {
    row(table, ['Adapter', webgpu.description ?? '']);
    row(table, ['Kind', webgpu.software ? 'software (a CPU rasteriser: slower than real GPU hardware)' : 'hardware GPU']);
    if (adapter) {
      row(table, ['Vendor', adapter.vendor || 'unknown']);
      row(table, ['Architecture', adapter.architecture || 'unknown']);
      if (adapter.fallback !== null) row(table, ['Fallback adapter', adapter.fallback ? 'yes' : 'no']);
      for (const [k, v] of Object.entries(adapter.limits)) row(table, [k, v.toLocaleString('en')]);
      row(table, ['Features', adapter.features.join(', ') || 'none']);
    }
  }
  const cpu = devices.find((d) => d.name === 'cpu');
  if (cpu) row(table, ['CPU', cpu.description ?? '']);
}

function showVerify(device: DeviceName, results: VerifyResult[]): void {
  const table = $<HTMLTableElement>('verify-results');
  table.replaceChildren();
  row(table, [`check on ${device}`, 'result', 'max error', 'kernels', 'device time'], true);
  for (const r of results) {
    row(table, [
      r.check, r.ok ? ['pass', 'ok'] : ['FAIL' + (r.problem ? `: ${r.problem}` : ''), 'bad'],
      `${r.maxError.toExponential(1)} (bound ${r.bound.toExponential(1)})`, String(r.kernels), `${r.deviceMs.toFixed(2)} ms`,
    ]);
  }
  table.createCaption().textContent = `Kernels and device time from ${results[0]?.clock ?? 'no device timer'}; errors against float64 on the host.`;
  table.dataset['status'] = results.length && results.every((r) => r.ok) ? 'pass' : 'fail';
}

// ---- training ----

let curves: { loss: Series[]; accuracy: Series[] } | null = null;
let epochsPlanned = 1;

function newCurves(): void {
  const series = () => [
    { label: 'train', color: COLORS.train, points: [] as [number, number][] },
    { label: 'validation', color: COLORS.val, points: [] as [number, number][], dots: true },
  ];
  curves = { loss: series(), accuracy: series() };
}

function drawCurves(): void {
  if (!curves) return;
  lineChart($<HTMLCanvasElement>('loss-chart'), 'loss, by epoch', epochsPlanned, curves.loss);
  lineChart($<HTMLCanvasElement>('accuracy-chart'), 'accuracy, by epoch', epochsPlanned, curves.accuracy, [0, 1]);
}

const seconds = (s: number) => (!Number.isFinite(s) ? '–' : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

function showProgress(p: Progress): void {
  const x = p.epoch + p.samples / p.samplesPerEpoch;
  curves!.loss[0]!.points.push([x, p.loss]);
  curves!.accuracy[0]!.points.push([x, p.accuracy]);
  drawCurves();
  $('fig-epoch').textContent = `${p.epoch + 1} / ${p.epochs}`;
  $('fig-speed').textContent = Math.round(p.samplesPerSec).toLocaleString('en');
  $('fig-eta').textContent = seconds(p.etaSec);
  $('meter-fill').style.width = `${(100 * x) / p.epochs}%`;
}

function startTraining(): void {
  if (busy) return;
  const device = deviceSelect.value as DeviceName, batchSize = Number(batchInput.value), epochs = Number(epochsInput.value);
  if (!Number.isInteger(batchSize) || batchSize < 1 || !Number.isInteger(epochs) || epochs < 1) {
    notice('Epochs and batch size must be whole numbers of at least 1.', 'error');
    return;
  }
  $('notice').hidden = true;
  epochsPlanned = epochs;
  newCurves();
  drawCurves();
  $('test-accuracy').textContent = '–';
  delete $('test-accuracy').dataset['value'];
  $('meter-fill').style.width = '0';
  $('status').textContent = `Training the ${modelSelect.value.toUpperCase()} on ${device === 'webgpu' ? 'WebGPU' : 'the CPU'}, batch ${batchSize}…`;
  setBusy(true, true);
  send({ type: 'train', request: { model: modelSelect.value, device, epochs, batchSize } });
}

// ---- GPU vs CPU ----

function showComparison(model: string, rows: CompareRow[]): void {
  const bars = rows.map((r) => ({ label: `batch ${r.batch}`, value: r.cpuMs / r.webgpuMs, color: r.cpuMs > r.webgpuMs ? COLORS.gpu : COLORS.cpu, note: r.cpuMs > r.webgpuMs ? `WebGPU ${(r.cpuMs / r.webgpuMs).toFixed(1)}x faster` : `CPU ${(r.webgpuMs / r.cpuMs).toFixed(1)}x faster` }));
  barChart($<HTMLCanvasElement>('compare-chart'), `${model.toUpperCase()} training step: WebGPU speed-up over the CPU`, bars);
  const gpuWins = rows.filter((r) => r.webgpuMs < r.cpuMs).map((r) => r.batch), cpuWins = rows.filter((r) => r.webgpuMs >= r.cpuMs).map((r) => r.batch);
  $('compare-summary').textContent = [
    gpuWins.length ? `WebGPU is faster at batch ${gpuWins.join(', ')}` : 'WebGPU is faster at none of these batch sizes',
    cpuWins.length ? `the CPU at batch ${cpuWins.join(', ')}` : 'the CPU at none',
  ].join('; ') + '.';
}

// ---- messages from the worker ----

function failedMessage(m: Extract<WorkerMessage, { type: 'failed' }>): void {
  setBusy(false);
  if (m.during === 'verify') $<HTMLTableElement>('verify-results').dataset['status'] = 'fail';
  const cpu: [string, () => void] = ['Train on the CPU', () => { deviceSelect.value = 'cpu'; startTraining(); }];
  if (m.failure === 'device-lost') {
    setWebgpu('the GPU device was lost');
    $('status').textContent = 'The GPU device was lost.';
    notice(`The GPU device was lost during ${m.during === 'train' ? 'training' : m.during} (${m.message}). Its results are gone; train on the CPU, or try to reopen WebGPU.`, 'error',
      [cpu, ['Reopen WebGPU', () => { setBusy(true); send({ type: 'reopen-webgpu' }); }]]);
  } else if (m.failure === 'too-large' && m.during === 'train') {
    const smaller = Math.max(1, Math.floor(Number(batchInput.value) / 8));
    $('status').textContent = 'The batch did not fit on the device.';
    notice(`Batch size ${batchInput.value} is too large for ${m.device === 'webgpu' ? 'this GPU' : 'this device'}: ${m.message}. Use a smaller batch, or train on the CPU.`, 'error',
      [[`Use batch ${smaller}`, () => { batchInput.value = String(smaller); startTraining(); }], ...(m.device === 'webgpu' ? [cpu] : [])]);
  } else {
    $('status').textContent = `${m.during} failed.`;
    notice(`${m.during} failed: ${m.message}`, 'error', m.device === 'webgpu' && m.during !== 'init' ? [cpu] : []);
  }
}

worker.onmessage = ({ data: m }: MessageEvent<WorkerMessage>) => {
  switch (m.type) {
    case 'ready': {
      const webgpu = m.devices.find((d) => d.name === 'webgpu');
      setWebgpu(webgpu?.available ? null : webgpu?.reason ?? 'not found');
      showDevices(m.devices, m.adapter);
      if (!modelSelect.options.length) for (const kind of m.models) modelSelect.add(new Option(kind.toUpperCase(), kind));
      setBusy(false);
      $('status').textContent = `Ready: ${m.data.train.toLocaleString('en')} training and ${m.data.test.toLocaleString('en')} test images (the sample shipped with tessera). ` +
        (webgpuReason === null ? `WebGPU: ${webgpu!.description}${webgpu!.software ? ' (software)' : ''}.` : 'Training on the CPU.');
      if (webgpuReason !== null) notice(`WebGPU is not available in this tab (${webgpuReason}), so training runs on the CPU backend (WebAssembly).`, 'info');
      break;
    }
    case 'progress': showProgress(m.progress); break;
    case 'epoch': {
      const e = m.epoch + 1;
      curves!.loss[1]!.points.push([e, m.logs['val_loss']!]);
      curves!.accuracy[1]!.points.push([e, m.logs['val_accuracy']!]);
      drawCurves();
      break;
    }
    case 'trained': {
      setBusy(false);
      $('test-accuracy').textContent = m.testAccuracy.toFixed(4);
      $('test-accuracy').dataset['value'] = String(m.testAccuracy);
      $('fig-eta').textContent = m.stopped ? 'stopped' : 'done';
      $('fig-speed').textContent = Math.round(m.samplesPerSec).toLocaleString('en');
      $('status').textContent = `${m.stopped ? 'Stopped' : 'Trained'} on ${m.device === 'webgpu' ? 'WebGPU' : 'the CPU'} in ${m.seconds.toFixed(1)} s: test accuracy ${m.testAccuracy.toFixed(4)}, test loss ${m.testLoss.toFixed(4)}.`;
      $('grid-caption').textContent = `(${m.grid.labels.length} of the test set: prediction above, the true label under a wrong one)`;
      imageGrid($<HTMLCanvasElement>('grid'), m.grid.pixels, m.grid.labels, m.grid.predictions, m.grid.classNames);
      break;
    }
    case 'verified': setBusy(false); showVerify(m.device, m.results); break;
    case 'compare-progress': $('compare-log').textContent += m.line + '\n'; break;
    case 'compared': setBusy(false); showComparison(m.model, m.rows); break;
    case 'failed': failedMessage(m); break;
  }
};
worker.onerror = (e) => { setBusy(false); notice(`The training worker failed: ${e.message}`, 'error'); };

$<HTMLFormElement>('train-form').onsubmit = (e) => { e.preventDefault(); startTraining(); };
stopButton.onclick = () => send({ type: 'stop' });
verifyButton.onclick = () => {
  setBusy(true);
  $<HTMLTableElement>('verify-results').dataset['status'] = 'running';
  send({ type: 'verify', device: deviceSelect.value as DeviceName });
};
compareButton.onclick = () => {
  setBusy(true);
  $('compare-log').textContent = '';
  send({ type: 'compare', model: modelSelect.value, batchSizes: COMPARE_BATCHES, steps: 5 });
};
setBusy(true);
send({ type: 'init', dataUrl: new URL('data/fashion-mnist-sample/', location.href).href });
