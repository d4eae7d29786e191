// Float64 reference implementations, written naively and independently of tessera's kernels.

export class Arr {
  constructor(readonly shape: number[], readonly data: Float64Array) {}
  get size(): number { return this.data.length; }
  static of(shape: number[], fn: (i: number) => number): Arr {
    const n = shape.reduce((a, b) => a * b, 1);
    return new Arr(shape, Float64Array.from({ length: n }, (_, i) => fn(i)));
  }
  clone(): Arr { return new Arr([...this.shape], this.data.slice()); }
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]!; }
  return s;
}

export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) { idx[d] = i % shape[d]!; i = Math.floor(i / shape[d]!); }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d]! + idx[d]!;
  return i;
}

export function broadcast(...shapes: (readonly number[])[]): number[] {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, d) => {
    const sizes = shapes.map((s) => s[d - (r - s.length)] ?? 1).filter((n) => n !== 1);
    return sizes.length ? sizes[0]! : 1;
  });
}

function at(a: Arr, idx: readonly number[]): number {
  const lead = idx.length - a.shape.length;
  let i = 0;
  for (let d = 0; d < a.shape.length; d++) i = i * a.shape[d]! + (a.shape[d] === 1 ? 0 : idx[lead + d]!);
  return a.data[i]!;
}

/** Elementwise f over broadcast inputs. */
export function map(f: (...v: number[]) => number, ...xs: Arr[]): Arr {
  const shape = broadcast(...xs.map((x) => x.shape));
  return Arr.of(shape, (i) => { const idx = unravel(i, shape); return f(...xs.map((x) => at(x, idx))); });
}

export function reduce(x: Arr, axes: number[] | undefined, keepDims: boolean, f: (vals: number[]) => number): Arr {
  const ax = (axes ?? x.shape.map((_, i) => i)).map((a) => (a < 0 ? a + x.shape.length : a));
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const groups = new Map<number, number[]>();
  for (let i = 0; i < x.size; i++) {
    const idx = unravel(i, x.shape).map((v, d) => (ax.includes(d) ? 0 : v));
    const k = ravel(idx, kept);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(x.data[i]!);
  }
  const out = Arr.of(kept, (k) => f(groups.get(k) ?? []));
  return keepDims ? out : new Arr(kept.filter((_, i) => !ax.includes(i)), out.data);
}

export const sumOf = (v: number[]) => v.reduce((a, b) => a + b, 0);

export function permute(x: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => x.shape[p]!);
  return Arr.of(shape, (i) => { const idx = unravel(i, shape); const src = new Array<number>(perm.length); perm.forEach((p, d) => { src[p] = idx[d]!; }); return x.data[ravel(src, x.shape)]!; });
}

export function matmul(a: Arr, b: Arr): Arr {
  const m = a.shape.at(-2)!, k = a.shape.at(-1)!, n = b.shape.at(-1)!;
  const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  return Arr.of(shape, (i) => {
    const idx = unravel(i, shape);
    const bi = idx.slice(0, -2), r = idx.at(-2)!, c = idx.at(-1)!;
    let s = 0;
    for (let p = 0; p < k; p++) s += at(a, [...bi, r, p]) * at(b, [...bi, p, c]);
    return s;
  });
}

export interface WindowRef { kh: number; kw: number; sh: number; sw: number; pt: number; pl: number; oh: number; ow: number; dh: number; dw: number }

export function windowRef(h: number, w: number, kh: number, kw: number, s: [number, number], padding: 'same' | 'valid', d: [number, number] = [1, 1]): WindowRef {
  const eh = (kh - 1) * d[0] + 1, ew = (kw - 1) * d[1] + 1;
  if (padding === 'valid') return { kh, kw, sh: s[0], sw: s[1], pt: 0, pl: 0, oh: Math.floor((h - eh) / s[0]) + 1, ow: Math.floor((w - ew) / s[1]) + 1, dh: d[0], dw: d[1] };
  const oh = Math.ceil(h / s[0]), ow = Math.ceil(w / s[1]);
  return { kh, kw, sh: s[0], sw: s[1], oh, ow, dh: d[0], dw: d[1], pt: Math.floor(Math.max((oh - 1) * s[0] + eh - h, 0) / 2), pl: Math.floor(Math.max((ow - 1) * s[1] + ew - w, 0) / 2) };
}

/** NHWC x, HWIO w. */
export function conv2d(x: Arr, w: Arr, g: WindowRef, groups = 1): Arr {
  const [n, h, wd, cin] = x.shape as [number, number, number, number];
  const cout = w.shape[3]!, cg = cin / groups, og = cout / groups;
  const shape = [n, g.oh, g.ow, cout];
  return Arr.of(shape, (i) => {
    const [b, oy, ox, co] = unravel(i, shape) as [number, number, number, number];
    const grp = Math.floor(co / og);
    let s = 0;
    for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
      if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
      for (let c = 0; c < cg; c++) s += x.data[ravel([b, iy, ix, grp * cg + c], x.shape)]! * w.data[ravel([ky, kx, c, co], w.shape)]!;
    }
    return s;
  });
}

export function pool(kind: 'max' | 'avg', x: Arr, g: WindowRef): Arr {
  const [n, h, wd, c] = x.shape as [number, number, number, number];
  const shape = [n, g.oh, g.ow, c];
  return Arr.of(shape, (i) => {
    const [b, oy, ox, ch] = unravel(i, shape) as [number, number, number, number];
    const vals: number[] = [];
    for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.sh - g.pt + ky, ix = ox * g.sw - g.pl + kx;
      if (iy >= 0 && iy < h && ix >= 0 && ix < wd) vals.push(x.data[ravel([b, iy, ix, ch], x.shape)]!);
    }
    return kind === 'max' ? Math.max(...vals) : sumOf(vals) / vals.length;
  });
}

/** erf by its Maclaurin series (|x| small) or continued fraction, to float64 precision. */
export function erf(x: number): number {
  if (Math.abs(x) > 3) return Math.sign(x) * (1 - erfcLarge(Math.abs(x)));
  let sum = 0, term = x, n = 0;
  while (Math.abs(term) > 1e-17 * Math.abs(sum) || n < 3) {
    sum += term / (2 * n + 1);
    n++;
    term *= (-x * x) / n;
    if (n > 200) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

function erfcLarge(x: number): number {
  let f = 0;
  for (let k = 60; k >= 1; k--) f = (k / 2) / (x + f);
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / (x + f);
}
