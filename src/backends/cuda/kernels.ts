// The CUDA backend's kernels as CUDA C source, generated from the same expression IR as the CPU
// and WebGPU backends. Every kernel takes its integers (sizes, offsets, strides, parameters as
// float bits) in one struct passed by value, then one pointer per view. Sources are pure
// functions of a key, so they are compiled once (NVRTC) and cached.
import type { DType } from '../../core/dtype.js';
import type { Expr } from '../../core/expr.js';
import { exprKey } from '../../core/expr.js';
import type { RandomKind, ReduceKind } from '../backend.js';
import { CUDA_HELPERS, CUDA_STORAGE, CUDA_TYPE, CudaEmitter, loadValue, storeValue } from './cuda-expr.js';

export const BLOCK = 256;

export interface KernelSource { name: string; source: string }

const header = (metaLength: number) => `struct Md { int v[${Math.max(1, metaLength)}]; };\n${CUDA_HELPERS}`;
/** a float parameter travels as its bit pattern in the int struct */
const paramAt = (at: number) => (p: number) => `__int_as_float(md.v[${at + p}])`;

/** C that turns linear index `idx` into per-view element offsets (unrolled over the dims). */
function offsets(idx: string, rank: number, dimsAt: number, views: { name: string; at: number }[], tag: string): string[] {
  const lines = [`int ${tag}r = ${idx};`];
  for (const v of views) lines.push(`int ${v.name} = md.v[${v.at}];`);
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`{ const int c = ${tag}r % md.v[${dimsAt + d}]; ${tag}r /= md.v[${dimsAt + d}];`);
    for (const v of views) lines.push(`  ${v.name} += c * md.v[${v.at + 1 + d}];`);
    lines.push('}');
  }
  return lines;
}

/** Layout of an elementwise kernel's integers: [n, dims..., per view (offset, strides...)..., params...]. */
function elementwiseLayout(rank: number, views: number, params: number) {
  const viewAt = Array.from({ length: views }, (_, k) => 1 + rank + k * (rank + 1));
  const paramsAt = 1 + rank + views * (rank + 1);
  return { dimsAt: 1, viewAt, paramsAt, length: paramsAt + params };
}

export function elementwiseKernel(exprs: readonly Expr[], inDtypes: readonly DType[], outDtypes: readonly DType[], rank: number, params: number): KernelSource {
  const views = inDtypes.length + outDtypes.length;
  const L = elementwiseLayout(rank, views, params);
  const em = new CudaEmitter((k) => `x${k}`, paramAt(L.paramsAt));
  const results = exprs.map((e) => em.emit(e));
  const args = [...inDtypes.map((d, k) => `const ${CUDA_STORAGE[d]}* in${k}`), ...outDtypes.map((d, j) => `${CUDA_STORAGE[d]}* out${j}`)];
  const name = 'ew';
  return {
    name,
    source: [
      header(L.length),
      `extern "C" __global__ void ${name}(const Md md, ${args.join(', ')}) {`,
      'const int i = blockIdx.x * blockDim.x + threadIdx.x;',
      'if (i >= md.v[0]) return;',
      ...offsets('i', rank, L.dimsAt, Array.from({ length: views }, (_, k) => ({ name: `o${k}`, at: L.viewAt[k]! })), 'e'),
      // every input is read before any output is written, so in-place updates see old values
      ...inDtypes.map((d, k) => `const ${CUDA_TYPE[d]} x${k} = ${loadValue(d, `in${k}[o${k}]`)};`),
      ...em.lines,
      ...outDtypes.map((d, j) => `out${j}[o${inDtypes.length + j}] = ${storeValue(d, results[j]!)};`),
      '}',
    ].join('\n'),
  };
}

/** Key of the cache of compiled elementwise kernels. */
export function elementwiseKey(exprs: readonly Expr[], inDtypes: readonly DType[], outDtypes: readonly DType[], rank: number, params: number): string {
  return `ew|${exprs.map(exprKey).join(';')}|${inDtypes}|${outDtypes}|${rank}|${params}`;
}

const COMBINE: Record<Exclude<ReduceKind, 'argmax' | 'argmin'>, (a: string, b: string) => string> = {
  sum: (a, b) => `${a} + ${b}`,
  prod: (a, b) => `${a} * ${b}`,
  max: (a, b) => `max_(${a}, ${b})`,
  min: (a, b) => `min_(${a}, ${b})`,
};

function identity(kind: ReduceKind, type: string): string {
  if (kind === 'sum') return type === 'int' ? '0' : '0.0f';
  if (kind === 'prod') return type === 'int' ? '1' : '1.0f';
  const low = kind === 'max' || kind === 'argmax';
  return type === 'int' ? (low ? '(-2147483647)' : '2147483647') : `__int_as_float(${low ? '0xff800000' : '0x7f800000'})`;
}

/**
 * Layout of a reduction's integers: [nOut, nRed, parts, chunk, keptDims..., redDims...,
 * per input (offset, kept strides...), per input (0, reduced strides...), out (offset, kept strides...), params...].
 */
function reduceLayout(keptRank: number, redRank: number, inputs: number, params: number) {
  const keptDimsAt = 4, redDimsAt = 4 + keptRank;
  let at = redDimsAt + redRank;
  const inKeptAt = Array.from({ length: inputs }, () => { const a = at; at += 1 + keptRank; return a; });
  const inRedAt = Array.from({ length: inputs }, () => { const a = at; at += 1 + redRank; return a; });
  const outAt = at; at += 1 + keptRank;
  return { keptDimsAt, redDimsAt, inKeptAt, inRedAt, outAt, paramsAt: at, length: at + params };
}

/**
 * One block per (output, chunk): a strided loop folds blocks of terms, then a shared-memory
 * tree. argmax/argmin keep the first index of the extreme; NaN wins, as on the CPU.
 */
export function reduceKernel(kind: ReduceKind, expr: Expr, inDtypes: readonly DType[], outDtype: DType, keptRank: number, redRank: number, params: number): KernelSource {
  const L = reduceLayout(keptRank, redRank, inDtypes.length, params);
  const arg = kind === 'argmax' || kind === 'argmin';
  const accType = arg ? 'float' : CUDA_TYPE[expr.dtype === 'bool' ? 'int32' : expr.dtype];
  const em = new CudaEmitter((k) => `x${k}`, paramAt(L.paramsAt));
  const value = em.emit(expr);
  const better = (v: string, vi: string, a: string, ai: string) => `(!isnan(${a}) && (${v} ${kind === 'argmax' ? '>' : '<'} ${a} || isnan(${v}) || (${v} == ${a} && ${vi} < ${ai})))`;
  const args = [...inDtypes.map((d, k) => `const ${CUDA_STORAGE[d]}* in${k}`), `${CUDA_STORAGE[outDtype]}* out`];
  const name = 'reduce';
  const B = BLOCK;
  return {
    name,
    source: [
      header(L.length),
      `extern "C" __global__ void ${name}(const Md md, ${args.join(', ')}) {`,
      `__shared__ ${accType} sval[${B}];`,
      `__shared__ int sbest[${B}];`,
      'const int w = blockIdx.x;',
      'const int o = w / md.v[2], chunkOf = w % md.v[2];',
      'const int lo = chunkOf * md.v[3], hi = min(md.v[1], lo + md.v[3]);',
      'const int l = threadIdx.x;',
      ...offsets('o', keptRank, L.keptDimsAt, [...inDtypes.map((_, k) => ({ name: `k${k}`, at: L.inKeptAt[k]! })), { name: 'ko', at: L.outAt }], 'p'),
      `${accType} acc = ${identity(kind, accType)};`,
      'int best = -1;',
      // blocked: fold ${B} terms into a partial before adding it to the running total (accuracy)
      `for (int blk = lo + l; blk < hi; blk += ${B * B}) {`,
      `${accType} part = ${arg ? '0.0f' : identity(kind, accType)};`,
      `for (int r = blk; r < min(hi, blk + ${B * B}); r += ${B}) {`,
      ...offsets('r', redRank, L.redDimsAt, inDtypes.map((_, k) => ({ name: `q${k}`, at: L.inRedAt[k]! })), 'z'),
      ...inDtypes.map((d, k) => `const ${CUDA_TYPE[d]} x${k} = ${loadValue(d, `in${k}[k${k} + q${k}]`)};`),
      ...em.lines,
      ...(arg
        ? [`const float vv = (float)(${value});`, `if (best < 0 || ${better('vv', 'r', 'acc', 'best')}) { acc = vv; best = r; }`]
        : [`part = ${COMBINE[kind as keyof typeof COMBINE]('part', `(${accType})(${value})`)};`]),
      '}',
      ...(arg ? [] : [`acc = ${COMBINE[kind as keyof typeof COMBINE]('acc', 'part')};`]),
      '}',
      'sval[l] = acc; sbest[l] = best;',
      '__syncthreads();',
      `for (int s = ${B / 2}; s > 0; s >>= 1) {`,
      'if (l < s) {',
      ...(arg
        ? [`if (sbest[l + s] >= 0 && (sbest[l] < 0 || ${better('sval[l + s]', 'sbest[l + s]', 'sval[l]', 'sbest[l]')})) { sval[l] = sval[l + s]; sbest[l] = sbest[l + s]; }`]
        : [`sval[l] = ${COMBINE[kind as keyof typeof COMBINE]('sval[l]', 'sval[l + s]')};`]),
      '}',
      '__syncthreads();',
      '}',
      `if (l == 0 && o < md.v[0]) out[ko + chunkOf] = ${storeValue(outDtype, arg ? 'max(sbest[0], 0)' : 'sval[0]')};`,
      '}',
    ].join('\n'),
  };
}

export function reduceKey(kind: ReduceKind, expr: Expr, inDtypes: readonly DType[], outDtype: DType, keptRank: number, redRank: number, params: number): string {
  return `red|${kind}|${exprKey(expr)}|${inDtypes}|${outDtype}|${keptRank}|${redRank}|${params}`;
}

/** Window geometry names G.N ... G.OW from md.v[1 + i] (md.v[0] is the thread count). */
const GEOMETRY = ['N', 'H', 'W', 'C', 'KH', 'KW', 'SH', 'SW', 'PT', 'PL', 'DH', 'DW', 'OH', 'OW'];
const geometryLets = GEOMETRY.map((n, i) => `const int ${n} = md.v[${1 + i}];`).join(' ');

function fixed(name: string, metaLength: number, args: string[], body: string, extra = ''): KernelSource {
  return {
    name,
    source: `${header(metaLength)}${extra}
extern "C" __global__ void ${name}(const Md md, ${args.join(', ')}) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= md.v[0]) return;
  ${body}
}`,
  };
}

/** meta: [threads, geometry(14), x offset, x strides(4), cols offset] */
export const im2colKernel = (): KernelSource => fixed('im2col', 21, ['const float* x', 'float* cols'], `${geometryLets}
  const int xo = md.v[15], sn = md.v[16], sh = md.v[17], sw = md.v[18], sc = md.v[19], co = md.v[20];
  int r = i;
  const int c = r % C; r /= C; const int kw = r % KW; r /= KW; const int kh = r % KH; r /= KH;
  const int ow = r % OW; r /= OW; const int oh = r % OH; const int n = r / OH;
  const int ih = oh * SH - PT + kh * DH, iw = ow * SW - PL + kw * DW;
  cols[co + i] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[xo + n * sn + ih * sh + iw * sw + c * sc] : 0.0f;`);

/** meta: [threads, geometry(14), dx offset, dx strides(4), cols offset]; adds into dx */
export const col2imKernel = (): KernelSource => fixed('col2im', 21, ['const float* cols', 'float* dx'], `${geometryLets}
  const int xo = md.v[15], sn = md.v[16], sh = md.v[17], sw = md.v[18], sc = md.v[19], co = md.v[20];
  int r = i;
  const int c = r % C; r /= C; const int iw = r % W; r /= W; const int ih = r % H; const int n = r / H;
  float acc = 0.0f;
  for (int kh = 0; kh < KH; kh++) {
    const int th = ih + PT - kh * DH;
    if (th < 0 || th % SH != 0 || th / SH >= OH) continue;
    for (int kw = 0; kw < KW; kw++) {
      const int tw = iw + PL - kw * DW;
      if (tw < 0 || tw % SW != 0 || tw / SW >= OW) continue;
      const int row = (n * OH + th / SH) * OW + tw / SW;
      acc += cols[co + (row * KH * KW + kh * KW + kw) * C + c];
    }
  }
  dx[xo + n * sn + ih * sh + iw * sw + c * sc] += acc;`);

/** meta: [threads, geometry(14), x offset, x strides(4), out offset, argmax offset] */
export const poolKernel = (kind: 'max' | 'avg', withArgmax: boolean): KernelSource => fixed(`pool_${kind}`, 22, ['const float* x', 'float* out', 'int* argmax'], `${geometryLets}
  const int xo = md.v[15], sn = md.v[16], sh = md.v[17], sw = md.v[18], sc = md.v[19], oo = md.v[20], ao = md.v[21];
  int r = i;
  const int c = r % C; r /= C; const int ow = r % OW; r /= OW; const int oh = r % OH; const int n = r / OH;
  float acc = 0.0f; int best = -1, count = 0;
  for (int kh = 0; kh < KH; kh++) {
    const int ih = oh * SH - PT + kh;
    if (ih < 0 || ih >= H) continue;
    for (int kw = 0; kw < KW; kw++) {
      const int iw = ow * SW - PL + kw;
      if (iw < 0 || iw >= W) continue;
      const float v = x[xo + n * sn + ih * sh + iw * sw + c * sc];
      count++;
      ${kind === 'max' ? 'if (best < 0 || (!isnan(acc) && (v > acc || isnan(v)))) { acc = v; best = ((n * H + ih) * W + iw) * C + c; }' : 'acc += v;'}
    }
  }
  out[oo + i] = ${kind === 'max' ? 'acc' : '(count > 0 ? acc / (float)count : 0.0f)'};
  ${withArgmax ? 'argmax[ao + i] = best;' : ''}`);

/** meta: [threads, geometry(14), gradOut offset, gradIn offset, argmax offset]; adds into gradIn */
export const poolBackwardKernel = (kind: 'max' | 'avg'): KernelSource => fixed(`poolback_${kind}`, 18, ['const float* gout', 'float* gin', 'const int* argmax'], `${geometryLets}
  const int go = md.v[15], gi = md.v[16], ao = md.v[17];
  int r = i;
  const int c = r % C; r /= C; const int iw = r % W; r /= W; const int ih = r % H; const int n = r / H;
  float acc = 0.0f;
  // only the windows that can hold (ih, iw): oh * SH - PT <= ih < oh * SH - PT + KH
  const int hLo = ih + PT - KH + 1, wLo = iw + PL - KW + 1;
  const int oh0 = hLo <= 0 ? 0 : (hLo + SH - 1) / SH, oh1 = min(OH - 1, (ih + PT) / SH);
  const int ow0 = wLo <= 0 ? 0 : (wLo + SW - 1) / SW, ow1 = min(OW - 1, (iw + PL) / SW);
  for (int oh = oh0; oh <= oh1; oh++) {
    const int h0 = oh * SH - PT;
    for (int ow = ow0; ow <= ow1; ow++) {
      const int w0 = ow * SW - PL;
      const int o = ((n * OH + oh) * OW + ow) * C + c;
      ${kind === 'max'
        ? 'if (argmax[ao + o] == i) acc += gout[go + o];'
        : 'const int cnt = (min(h0 + KH, H) - max(h0, 0)) * (min(w0 + KW, W) - max(w0, 0));\n      acc += gout[go + o] / (float)cnt;'}
    }
  }
  gin[gi + i] = acc;`);

/** meta: [threads, len, n, inner, x offset, idx offset, idx stride, x strides(3), out offset, out strides(3)] */
export const gatherKernel = (dtype: DType): KernelSource => fixed(`gather_${dtype}`, 14, [`const ${CUDA_STORAGE[dtype]}* x`, 'const int* idx', `${CUDA_STORAGE[dtype]}* out`], `
  const int len = md.v[1], n = md.v[2], inner = md.v[3];
  const int b = i % inner, j = (i / inner) % n, a = i / (inner * n);
  const int k = idx[md.v[5] + j * md.v[6]];
  out[md.v[10] + a * md.v[11] + j * md.v[12] + b * md.v[13]] = (k >= 0 && k < len) ? x[md.v[4] + a * md.v[7] + k * md.v[8] + b * md.v[9]] : (${CUDA_STORAGE[dtype]})0;`);

/** meta as gather, with src for x; each target element sums its sources (deterministic, no atomics) */
export const scatterAddKernel = (): KernelSource => fixed('scatter_add', 14, ['const float* src', 'const int* idx', 'float* out'], `
  const int len = md.v[1], n = md.v[2], inner = md.v[3];
  const int b = i % inner, t = (i / inner) % len, a = i / (inner * len);
  float acc = 0.0f;
  for (int j = 0; j < n; j++) if (idx[md.v[5] + j * md.v[6]] == t) acc += src[md.v[4] + a * md.v[7] + j * md.v[8] + b * md.v[9]];
  out[md.v[10] + a * md.v[11] + t * md.v[12] + b * md.v[13]] += acc;`);

/** Philox 4x32-10 as in src/core/philox.ts. meta: [threads, key lo, key hi, out offset, counter lo, counter hi] */
export const randomKernel = (kind: RandomKind): KernelSource => fixed(`philox_${kind}`, 6, ['float* out'], `
  const unsigned base = (unsigned)md.v[4];
  const unsigned ctr = base + (unsigned)(i / 4);
  unsigned c0 = ctr, c1 = (unsigned)md.v[5] + (ctr < base ? 1u : 0u), c2 = 0u, c3 = 0u;
  unsigned k0 = (unsigned)md.v[1], k1 = (unsigned)md.v[2];
  for (int r = 0; r < 10; r++) {
    const unsigned hi0 = __umulhi(0xd2511f53u, c0), lo0 = 0xd2511f53u * c0;
    const unsigned hi1 = __umulhi(0xcd9e8d57u, c2), lo1 = 0xcd9e8d57u * c2;
    const unsigned n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 += 0x9e3779b9u; k1 += 0xbb67ae85u;
  }
  const unsigned lanes[4] = { c0, c1, c2, c3 };
  const int lane = i % 4;
  ${kind === 'uniform'
    ? 'const float v = (float)(lanes[lane] >> 8) * 5.9604644775390625e-8f;'
    : `const int pair = lane & 2;
  const float u1 = (float)((lanes[pair] >> 8) + 1u) * 5.9604644775390625e-8f;
  const float u2 = (float)(lanes[pair + 1] >> 8) * 5.9604644775390625e-8f;
  const float rad = sqrtf(-2.0f * logf(u1));
  const float v = (lane & 1) == 0 ? rad * cosf(6.283185307179586f * u2) : rad * sinf(6.283185307179586f * u2);`}
  out[md.v[3] + i] = v;`);
