// Canvas charts: training curves (train as a line, validation as dots) and the GPU-vs-CPU bars.
// Each chart records how many points it drew in data-points, so a test can tell it really drew.

export interface Series { label: string; color: string; points: [number, number][]; dots?: boolean }

const AXIS = '#8a94a6', GRID = '#e6e9ef', TEXT = '#3b4252';
const FONT = '12px system-ui, sans-serif';

/** A canvas sized for the screen's pixel ratio, cleared, with its CSS size. */
function prepare(canvas: HTMLCanvasElement): { g: CanvasRenderingContext2D; w: number; h: number } {
  const ratio = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  const g = canvas.getContext('2d')!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = FONT;
  return { g, w, h };
}

/** Two or three ticks' worth of round numbers over [lo, hi]. */
function ticks(lo: number, hi: number, count = 4): number[] {
  const step = 10 ** Math.floor(Math.log10((hi - lo) / count || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= count) ?? 10 * step;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(Number(v.toPrecision(6)));
  return out;
}

export function lineChart(canvas: HTMLCanvasElement, title: string, xMax: number, series: Series[], yRange?: [number, number]): void {
  const { g, w, h } = prepare(canvas);
  const pad = { left: 44, right: 12, top: 22, bottom: 26 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  let [lo, hi] = yRange ?? [Math.min(...all.map(([, y]) => y), 0), Math.max(...all.map(([, y]) => y), 1e-6)];
  if (!all.length && !yRange) [lo, hi] = [0, 1];
  if (hi - lo < 1e-6) hi = lo + 1;
  const x = (v: number) => pad.left + (v / Math.max(xMax, 1e-9)) * (w - pad.left - pad.right);
  const y = (v: number) => h - pad.bottom - ((v - lo) / (hi - lo)) * (h - pad.top - pad.bottom);
  g.fillStyle = TEXT;
  g.fillText(title, pad.left, 14);
  g.strokeStyle = GRID;
  g.fillStyle = AXIS;
  g.textAlign = 'right';
  for (const t of ticks(lo, hi)) {
    g.beginPath(); g.moveTo(pad.left, y(t)); g.lineTo(w - pad.right, y(t)); g.stroke();
    g.fillText(String(t), pad.left - 6, y(t) + 4);
  }
  g.textAlign = 'center';
  for (const t of ticks(0, xMax, Math.min(8, Math.max(1, xMax)))) g.fillText(String(t), x(t), h - 8);
  let drawn = 0;
  for (const s of series) {
    const pts = s.points.filter(([, v]) => Number.isFinite(v));
    g.strokeStyle = g.fillStyle = s.color;
    g.lineWidth = 2;
    if (s.dots) {
      for (const [px, py] of pts) { g.beginPath(); g.arc(x(px), y(py), 3.5, 0, 2 * Math.PI); g.fill(); }
    } else {
      g.beginPath();
      pts.forEach(([px, py], i) => (i ? g.lineTo(x(px), y(py)) : g.moveTo(x(px), y(py))));
      g.stroke();
    }
    drawn += pts.length;
  }
  // legend, top right
  g.textAlign = 'right';
  let lx = w - pad.right;
  for (const s of [...series].reverse()) {
    g.fillStyle = s.color;
    g.fillText(s.label, lx, 14);
    lx -= g.measureText(s.label).width + 16;
  }
  canvas.dataset['points'] = String(drawn);
}

export interface Bar { label: string; value: number; color: string; note?: string }

/** Horizontal bars of speed-ups, with a line at 1x (where the devices tie). */
export function barChart(canvas: HTMLCanvasElement, title: string, bars: Bar[]): void {
  const { g, w, h } = prepare(canvas);
  const pad = { left: 96, right: 150, top: 28, bottom: 10 };
  const max = Math.max(1.5, ...bars.map((b) => b.value)) * 1.05;
  const x = (v: number) => pad.left + (v / max) * (w - pad.left - pad.right);
  const rowH = (h - pad.top - pad.bottom) / Math.max(1, bars.length);
  g.fillStyle = TEXT;
  g.fillText(title, 8, 16);
  // the 1x line first, so bars and labels stay readable over it
  g.strokeStyle = AXIS;
  g.setLineDash([4, 3]);
  g.beginPath(); g.moveTo(x(1), pad.top - 4); g.lineTo(x(1), h - pad.bottom); g.stroke();
  g.setLineDash([]);
  g.fillStyle = AXIS;
  g.textAlign = 'center';
  g.fillText('1x', x(1), pad.top - 8);
  bars.forEach((b, i) => {
    const top = pad.top + i * rowH + rowH * 0.15, bh = rowH * 0.7;
    g.fillStyle = b.color;
    g.fillRect(pad.left, top, Math.max(1, x(b.value) - pad.left), bh);
    g.fillStyle = TEXT;
    g.textAlign = 'right';
    g.fillText(b.label, pad.left - 8, top + bh / 2 + 4);
    g.textAlign = 'left';
    g.fillText(b.note ?? `${b.value.toFixed(2)}x`, x(b.value) + 6, top + bh / 2 + 4);
  });
  canvas.dataset['points'] = String(bars.length);
}

/** Test images in a grid, each with its prediction (green when right, red when wrong) and true label. */
export function imageGrid(canvas: HTMLCanvasElement, pixels: Float32Array, labels: number[], predictions: number[], classNames: string[]): void {
  const columns = 8, cell = canvas.clientWidth / columns, scale = Math.max(1, Math.floor((cell - 8) / 28));
  // as tall as its rows need
  canvas.style.height = `${Math.ceil(labels.length / columns) * (28 * scale + 36)}px`;
  const { g } = prepare(canvas);
  const image = g.createImageData(28, 28);
  labels.forEach((label, i) => {
    const cx = (i % columns) * cell, cy = Math.floor(i / columns) * (28 * scale + 36);
    for (let p = 0; p < 784; p++) {
      const v = 255 - Math.round(pixels[i * 784 + p]! * 255);
      image.data.set([v, v, v, 255], p * 4);
    }
    // draw at 1x off-screen, then scale up without smoothing
    const tile = new OffscreenCanvas(28, 28);
    tile.getContext('2d')!.putImageData(image, 0, 0);
    g.imageSmoothingEnabled = false;
    g.drawImage(tile, cx + (cell - 28 * scale) / 2, cy, 28 * scale, 28 * scale);
    const right = predictions[i] === label;
    g.textAlign = 'center';
    g.fillStyle = right ? '#1a7f37' : '#cf222e';
    g.fillText(classNames[predictions[i]!] ?? '?', cx + cell / 2, cy + 28 * scale + 14);
    g.fillStyle = AXIS;
    g.fillText(right ? '' : `true: ${classNames[label]}`, cx + cell / 2, cy + 28 * scale + 28);
  });
  canvas.dataset['points'] = String(labels.length);
}
