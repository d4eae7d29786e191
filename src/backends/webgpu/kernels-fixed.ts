// Fixed kernels in WGSL: tiled matmul, im2col/col2im, pooling, gather/scatter-add, Philox.
// Scatter-like kernels gather instead (each output sums its sources), so no float atomics.
import type { RandomKind, View, WindowGeometry } from '../backend.js';
import { splitSeed } from '../../core/philox.js';
import { GpuRuntime } from './runtime.js';
import { Slots, dtypeOf } from './storage.js';
import { STORAGE_TYPE } from './wgsl-expr.js';

// 64x64 output tiles, 16-deep K steps; each of the 16x16 invocations keeps a 4x4 block of
// accumulators in registers, so every shared-memory value loaded is used four times.
const BM = 64, BN = 64, BK = 16;
/** WebGPU's default maxComputeWorkgroupsPerDimension */
const MAX_GRID = 65535;

/** out[b] = a[b] @ b[b]; views [B, M, K] x [B, K, N] -> [B, M, N] with any strides. */
export function matmul(rt: GpuRuntime, a: View, b: View, out: View): void {
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2]!;
  if (m === 0 || n === 0 || batch === 0) return;
  const slots = new Slots();
  const sa = slots.slot(a), sb = slots.slot(b), sc = slots.slot(out);
  // the last three: the first row tile, matrix and column tile of a dispatch (see below)
  const meta = Int32Array.from([m, n, k, a.offset, ...a.strides, b.offset, ...b.strides, out.offset, ...out.strides, 0, 0, 0]);
  const kernel = rt.kernel(`matmul|${sa}${sb}${sc}|${slots.key()}`, () => `
${slots.declarations((d) => STORAGE_TYPE[d])}
var<workgroup> ta: array<f32, ${BK * BM}>;
var<workgroup> tb: array<f32, ${BK * BN}>;
@compute @workgroup_size(16, 16) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let M = md[0]; let N = md[1]; let K = md[2];
  let bz = i32(wid.z) + md[16];
  let m0 = (i32(wid.y) + md[15]) * ${BM}; let n0 = (i32(wid.x) + md[17]) * ${BN};
  let tx = i32(lid.x); let ty = i32(lid.y);
  let t = ty * 16 + tx;
  let aBase = md[3] + bz * md[4];
  let bBase = md[7] + bz * md[8];
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0; k0 < K; k0 += ${BK}) {
    for (var q = 0; q < 4; q++) {
      let idx = t + q * 256;
      let ar = idx / ${BK}; let ak = idx % ${BK};
      var av = 0.0f;
      if (m0 + ar < M && k0 + ak < K) { av = b${sa}[aBase + (m0 + ar) * md[5] + (k0 + ak) * md[6]]; }
      ta[ak * ${BM} + ar] = av;
      let bk = idx / ${BN}; let bc = idx % ${BN};
      var bv = 0.0f;
      if (k0 + bk < K && n0 + bc < N) { bv = b${sb}[bBase + (k0 + bk) * md[9] + (n0 + bc) * md[10]]; }
      tb[bk * ${BN} + bc] = bv;
    }
    workgroupBarrier();
    for (var kk = 0; kk < ${BK}; kk++) {
      var ra: array<f32, 4>;
      var rb: array<f32, 4>;
      for (var i = 0; i < 4; i++) { ra[i] = ta[kk * ${BM} + ty * 4 + i]; rb[i] = tb[kk * ${BN} + tx * 4 + i]; }
      for (var i = 0; i < 4; i++) { for (var j = 0; j < 4; j++) { acc[i][j] += ra[i] * rb[j]; } }
    }
    workgroupBarrier();
  }
  for (var i = 0; i < 4; i++) {
    let row = m0 + ty * 4 + i;
    if (row >= M) { continue; }
    for (var j = 0; j < 4; j++) {
      let col = n0 + tx * 4 + j;
      if (col < N) { b${sc}[md[11] + bz * md[12] + row * md[13] + col * md[14]] = acc[i][j]; }
    }
  }
}`, 'matmul');
  // a grid dimension holds at most 65535 groups: taller or wider products (an im2col of a large
  // batch) and longer batches go as several dispatches, each from its own tile and matrix
  const rowTiles = Math.ceil(m / BM), colTiles = Math.ceil(n / BN);
  for (let b0 = 0; b0 < batch; b0 += MAX_GRID) {
    for (let r0 = 0; r0 < rowTiles; r0 += MAX_GRID) {
      for (let c0 = 0; c0 < colTiles; c0 += MAX_GRID) {
        const groups: [number, number, number] = [Math.min(MAX_GRID, colTiles - c0), Math.min(MAX_GRID, rowTiles - r0), Math.min(MAX_GRID, batch - b0)];
        // dispatch copies meta into the device's buffer at once, so it is reused
        meta.set([r0, b0, c0], 15);
        rt.dispatch(kernel, meta, slots.buffers, groups);
      }
    }
  }
}

function geometry(g: WindowGeometry): number[] {
  return [g.batch, g.inH, g.inW, g.channels, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft, g.dilationH, g.dilationW, g.outH, g.outW];
}
/** WGSL names for geometry(): G_N ... G_OW read from md[base + i]. */
function geometryLets(base: number): string {
  return ['N', 'H', 'W', 'C', 'KH', 'KW', 'SH', 'SW', 'PT', 'PL', 'DH', 'DW', 'OH', 'OW'].map((n, i) => `let ${n} = md[${base + i}];`).join(' ');
}

function run(rt: GpuRuntime, name: string, body: (slots: number[]) => string, views: View[], meta: number[], threads: number): void {
  if (threads === 0) return;
  const slots = new Slots();
  const ids = views.map((v) => slots.slot(v));
  const kernel = rt.kernel(`${name}|${ids}|${slots.key()}`, () => `
${slots.declarations((d) => STORAGE_TYPE[d])}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = i32(gid.x + gid.y * 4194240u);
  if (i >= md[0]) { return; }
  ${body(ids)}
}`, name);
  rt.dispatch(kernel, Int32Array.from([threads, ...meta]), slots.buffers, GpuRuntime.grid(threads, 64));
}

/** NHWC x (any strides) to contiguous columns [B*OH*OW, KH*KW*C]; one invocation per column entry. */
export function im2col(rt: GpuRuntime, x: View, cols: View, g: WindowGeometry): void {
  const threads = g.batch * g.outH * g.outW * g.kernelH * g.kernelW * g.channels;
  run(rt, 'im2col', ([sx, sc]) => `${geometryLets(1)}
  let xo = md[15]; let sn = md[16]; let sh = md[17]; let sw = md[18]; let scs = md[19]; let co = md[20];
  var r = i;
  let c = r % C; r = r / C; let kw = r % KW; r = r / KW; let kh = r % KH; r = r / KH;
  let ow = r % OW; r = r / OW; let oh = r % OH; let n = r / OH;
  let ih = oh * SH - PT + kh * DH; let iw = ow * SW - PL + kw * DW;
  var v = 0.0f;
  if (ih >= 0 && ih < H && iw >= 0 && iw < W) { v = b${sx}[xo + n * sn + ih * sh + iw * sw + c * scs]; }
  b${sc}[co + i] = v;`, [x, cols], [...geometry(g), x.offset, ...x.strides, cols.offset], threads);
}

/** Adds columns back into dx (NHWC view, any strides): each dx element sums the taps that read it. */
export function col2im(rt: GpuRuntime, cols: View, dx: View, g: WindowGeometry): void {
  const threads = g.batch * g.inH * g.inW * g.channels;
  run(rt, 'col2im', ([sc, sx]) => `${geometryLets(1)}
  let xo = md[15]; let sn = md[16]; let sh = md[17]; let sw = md[18]; let scs = md[19]; let co = md[20];
  var r = i;
  let c = r % C; r = r / C; let iw = r % W; r = r / W; let ih = r % H; let n = r / H;
  var acc = 0.0f;
  for (var kh = 0; kh < KH; kh++) {
    let th = ih + PT - kh * DH;
    if (th < 0 || th % SH != 0 || th / SH >= OH) { continue; }
    for (var kw = 0; kw < KW; kw++) {
      let tw = iw + PL - kw * DW;
      if (tw < 0 || tw % SW != 0 || tw / SW >= OW) { continue; }
      let row = (n * OH + th / SH) * OW + tw / SW;
      acc += b${sc}[co + (row * KH * KW + kh * KW + kw) * C + c];
    }
  }
  let at = xo + n * sn + ih * sh + iw * sw + c * scs;
  b${sx}[at] = b${sx}[at] + acc;`, [cols, dx], [...geometry(g), dx.offset, ...dx.strides, cols.offset], threads);
}

/** Pooling forward, one invocation per output; max also stores the flat NHWC input index. */
export function pool2d(rt: GpuRuntime, kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void {
  const threads = g.batch * g.outH * g.outW * g.channels;
  const views = argmax ? [x, out, argmax] : [x, out];
  run(rt, `pool-${kind}-${argmax ? 'arg' : 'plain'}`, ([sx, so, sa]) => `${geometryLets(1)}
  let xo = md[15]; let sn = md[16]; let sh = md[17]; let sw = md[18]; let scs = md[19]; let oo = md[20]; let ao = md[21];
  var r = i;
  let c = r % C; r = r / C; let ow = r % OW; r = r / OW; let oh = r % OH; let n = r / OH;
  var acc = 0.0f;
  var best = -1; var count = 0;
  for (var kh = 0; kh < KH; kh++) {
    let ih = oh * SH - PT + kh;
    if (ih < 0 || ih >= H) { continue; }
    for (var kw = 0; kw < KW; kw++) {
      let iw = ow * SW - PL + kw;
      if (iw < 0 || iw >= W) { continue; }
      let v = b${sx}[xo + n * sn + ih * sh + iw * sw + c * scs];
      count++;
      ${kind === 'max' ? 'let nan = (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; let accNan = (bitcast<u32>(acc) & 0x7fffffffu) > 0x7f800000u;\n      if (best < 0 || (!accNan && (v > acc || nan))) { acc = v; best = ((n * H + ih) * W + iw) * C + c; }' : 'acc += v;'}
    }
  }
  b${so}[oo + i] = ${kind === 'max' ? 'acc' : 'select(0.0f, acc / f32(count), count > 0)'};
  ${argmax ? `b${sa}[ao + i] = best;` : ''}`, views, [...geometry(g), x.offset, ...x.strides, out.offset, argmax?.offset ?? 0], threads);
}

/** Pooling backward, written into a contiguous gradIn: each input element gathers from the windows that hold it. */
export function pool2dBackward(rt: GpuRuntime, kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void {
  const threads = g.batch * g.inH * g.inW * g.channels;
  const views = argmax ? [gradOut, gradIn, argmax] : [gradOut, gradIn];
  run(rt, `poolback-${kind}`, ([sg, sd, sa]) => `${geometryLets(1)}
  let go = md[15]; let dio = md[16]; let ao = md[17];
  var r = i;
  let c = r % C; r = r / C; let iw = r % W; r = r / W; let ih = r % H; let n = r / H;
  var acc = 0.0f;
  // only the windows that can hold (ih, iw): oh * SH - PT <= ih < oh * SH - PT + KH
  let hLo = ih + PT - KH + 1; let wLo = iw + PL - KW + 1;
  let oh0 = select((hLo + SH - 1) / SH, 0, hLo <= 0); let oh1 = min(OH - 1, (ih + PT) / SH);
  let ow0 = select((wLo + SW - 1) / SW, 0, wLo <= 0); let ow1 = min(OW - 1, (iw + PL) / SW);
  for (var oh = oh0; oh <= oh1; oh++) {
    let h0 = oh * SH - PT;
    for (var ow = ow0; ow <= ow1; ow++) {
      let w0 = ow * SW - PL;
      let o = ((n * OH + oh) * OW + ow) * C + c;
      ${kind === 'max'
        ? `if (b${sa}[ao + o] == i) { acc += b${sg}[go + o]; }`
        : 'let cnt = (min(h0 + KH, H) - max(h0, 0)) * (min(w0 + KW, W) - max(w0, 0));\n      acc += b' + sg + '[go + o] / f32(cnt);'}
    }
  }
  b${sd}[dio + i] = acc;`, views, [...geometry(g), gradOut.offset, gradIn.offset, argmax?.offset ?? 0], threads);
}

/** x [outer, len, inner], indices [n] -> out [outer, n, inner]; out-of-range indices give 0. */
export function gather(rt: GpuRuntime, x: View, indices: View, out: View): void {
  const [outer, len, inner] = x.shape as [number, number, number];
  const n = out.shape[1]!;
  const t = STORAGE_TYPE[dtypeOf(x)];
  run(rt, `gather-${t}`, ([sx, si, so]) => `
  let len = md[1]; let n = md[2]; let inner = md[3];
  let b = i % inner; let j = (i / inner) % n; let a = i / (inner * n);
  let idx = b${si}[md[5] + j * md[6]];
  var v: ${t};
  if (idx >= 0 && idx < len) { v = b${sx}[md[4] + a * md[7] + idx * md[8] + b * md[9]]; }
  b${so}[md[10] + a * md[11] + j * md[12] + b * md[13]] = v;`,
  [x, indices, out], [len, n, inner, x.offset, indices.offset, indices.strides[0] ?? 1, ...x.strides, out.offset, ...out.strides], outer * n * inner);
}

/** src [outer, n, inner] added into out [outer, len, inner] at indices; each target sums its sources. */
export function scatterAdd(rt: GpuRuntime, src: View, indices: View, out: View): void {
  const [outer, len, inner] = out.shape as [number, number, number];
  const n = src.shape[1]!;
  run(rt, 'scatterAdd', ([ss, si, so]) => `
  let len = md[1]; let n = md[2]; let inner = md[3];
  let b = i % inner; let t = (i / inner) % len; let a = i / (inner * len);
  var acc = 0.0f;
  for (var j = 0; j < n; j++) {
    if (b${si}[md[5] + j * md[6]] == t) { acc += b${ss}[md[4] + a * md[7] + j * md[8] + b * md[9]]; }
  }
  let at = md[10] + a * md[11] + t * md[12] + b * md[13];
  b${so}[at] = b${so}[at] + acc;`,
  [src, indices, out], [len, n, inner, src.offset, indices.offset, indices.strides[0] ?? 1, ...src.strides, out.offset, ...out.strides], outer * len * inner);
}

/** Philox 4x32-10, the same mapping as src/core/philox.ts; one invocation per output element. */
export function random(rt: GpuRuntime, kind: RandomKind, seed: number, counterOffset: number, out: View): void {
  const size = out.shape.reduce((a, b) => a * b, 1);
  const [lo, hi] = splitSeed(seed);
  run(rt, `philox-${kind}`, ([so]) => `
  let ctr = u32(md[4]) + u32(i / 4);
  let carry = select(0u, 1u, ctr < u32(md[4]));
  var c = vec4u(ctr, u32(md[5]) + carry, 0u, 0u);
  var k = vec2u(u32(md[1]), u32(md[2]));
  for (var r = 0; r < 10; r++) {
    let p0 = mulhilo(0xd2511f53u, c.x);
    let p1 = mulhilo(0xcd9e8d57u, c.z);
    c = vec4u(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    k = k + vec2u(0x9e3779b9u, 0xbb67ae85u);
  }
  let lane = i % 4;
  ${kind === 'uniform'
    ? 'let v = f32(c[lane] >> 8u) * 5.9604644775390625e-8;'
    : `let pair = lane & 2;
  let u1 = f32((c[pair] >> 8u) + 1u) * 5.9604644775390625e-8;
  let u2 = f32(c[pair + 1] >> 8u) * 5.9604644775390625e-8;
  let rad = sqrt(-2.0 * log(u1));
  let v = select(rad * sin(6.283185307179586 * u2), rad * cos(6.283185307179586 * u2), (lane & 1) == 0);`}
  b${so}[md[3] + i] = v;
}
fn mulhilo(a: u32, b: u32) -> vec2u {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let lh = al * bh; let hl = ah * bl;
  let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return vec2u(ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u), a * b);`,
  [out], [lo, hi, out.offset, counterOffset % 4294967296, Math.floor(counterOffset / 4294967296)], size);
}
