// Pooling with WebAssembly SIMD, for NHWC inputs whose channel count is a multiple of 4 (the
// common case in CNNs). Channels are the innermost loop, so every tap of a window streams one
// contiguous pixel through the output pixel kept in cache: max pooling keeps, per lane, the
// first largest value (NaN wins, as in the scalar kernels) and its flat input index for the
// backward pass, which scatters the gradient back through those indices.
import { isContiguous, sizeOf } from '../../core/shape.js';
import type { View, WindowGeometry } from '../backend.js';
import { heap } from './heap.js';
import { type CpuStorage, byteAddress } from './storage.js';
import { I32, V128, forRange, instantiateKernel, op, v128Const } from './wasm-encoder.js';

const get = op.localGet, set = op.localSet;
const SIMD = { load: 0x00, store: 0x0b, i32Splat: 0x11, f32Splat: 0x13, f32Ne: 0x42, f32Gt: 0x44, or: 0x50, bitselect: 0x52, i32Add: 0xae, f32Add: 0xe4, f32Div: 0xe7 } as const;
const simd = (code: number, ...imm: number[]) => op.simd(code, ...imm);
const load = (addr: number[]) => [...addr, ...simd(SIMD.load, 0, 0)];
const store = (addr: number[], value: number[]) => [...addr, ...value, ...simd(SIMD.store, 0, 0)];

// parameters, then locals
const P = { x: 0, out: 1, aux: 2, sn: 3, sh: 4, sw: 5, n: 6, h: 7, w: 8, c: 9, kh: 10, kw: 11, strH: 12, strW: 13, padT: 14, padL: 15, oh: 16, ow: 17 } as const;
const NP = 18;
const L = { n: NP, oy: NP + 1, ox: NP + 2, ky: NP + 3, kx: NP + 4, c: NP + 5, iy: NP + 6, ix: NP + 7, o: NP + 8, a: NP + 9, taps: NP + 10, cGroups: NP + 11, sp: NP + 12, op: NP + 13, ap: NP + 14, v: NP + 15, take: NP + 16, fv: NP + 17 } as const;
const LOCALS = [...new Array<number>(12).fill(I32), ...new Array<number>(3).fill(I32), V128, V128, V128];

/** lanes 0, 1, 2, 3 as i32x4 */
const LANES = (() => {
  const b = new Uint8Array(16);
  new Int32Array(b.buffer).set([0, 1, 2, 3]);
  return op.simd(0x0c, ...b);
})();

const mul = (a: number[], b: number[]) => [...a, ...b, ...op.i32Mul];
const add = (a: number[], b: number[]) => [...a, ...b, ...op.i32Add];
const bump = (local: number, by: number) => [...get(local), ...op.i32Const(by), ...op.i32Add, ...set(local)];

type Variant = 'max' | 'maxArg' | 'avg';

/** Over the channel groups of one pixel: sp, op (and ap) advance 16 bytes, fv (the lanes' flat indices) by 4. */
function overChannels(variant: Variant, body: number[]): number[] {
  const arg = variant === 'maxArg';
  return forRange(L.c, L.cGroups, [
    ...body,
    ...bump(L.sp, 16), ...bump(L.op, 16),
    ...(arg ? [...bump(L.ap, 16), ...get(L.fv), ...v128Const(4), ...simd(SIMD.i32Add), ...set(L.fv)] : []),
  ]);
}

function body(variant: Variant): number[] {
  const max = variant !== 'avg', arg = variant === 'maxArg';
  const first = overChannels(variant, [
    // the first tap initialises the output pixel (0 + v keeps the scalar kernels' signed zeros)
    ...store(get(L.op), max ? load(get(L.sp)) : [...v128Const(0), ...load(get(L.sp)), ...simd(SIMD.f32Add)]),
    ...(arg ? store(get(L.ap), get(L.fv)) : []),
  ]);
  const later = overChannels(variant, max
    ? [
      ...load(get(L.sp)), ...set(L.v),
      // take = v > best | v is NaN
      ...get(L.v), ...load(get(L.op)), ...simd(SIMD.f32Gt), ...get(L.v), ...get(L.v), ...simd(SIMD.f32Ne), ...simd(SIMD.or), ...set(L.take),
      ...store(get(L.op), [...get(L.v), ...load(get(L.op)), ...get(L.take), ...simd(SIMD.bitselect)]),
      ...(arg ? store(get(L.ap), [...get(L.fv), ...load(get(L.ap)), ...get(L.take), ...simd(SIMD.bitselect)]) : []),
    ]
    : store(get(L.op), [...load(get(L.op)), ...load(get(L.sp)), ...simd(SIMD.f32Add)]));
  const inside = (coord: number, size: number) => [...get(coord), ...get(size), ...op.i32GeU, ...op.i32Eqz];
  const tap = [
    // sp = x + 4 * (n * sn + iy * sh + ix * sw); op, ap = the output pixel
    ...add(get(P.x), mul(add(add(mul(get(L.n), get(P.sn)), mul(get(L.iy), get(P.sh))), mul(get(L.ix), get(P.sw))), op.i32Const(4))), ...set(L.sp),
    ...get(L.o), ...set(L.op),
    ...(arg ? [
      ...get(L.a), ...set(L.ap),
      // lane flat indices: ((n * H + iy) * W + ix) * C + (0, 1, 2, 3)
      ...mul(add(mul(add(mul(get(L.n), get(P.h)), get(L.iy)), get(P.w)), get(L.ix)), get(P.c)), ...simd(SIMD.i32Splat), ...LANES, ...simd(SIMD.i32Add), ...set(L.fv),
    ] : []),
    ...get(L.taps), ...op.i32Eqz, ...op.if, ...first, ...op.else, ...later, ...op.end,
    ...bump(L.taps, 1),
  ];
  const taps = forRange(L.ky, P.kh, [
    // iy = oy * strH - padT + ky
    ...add(mul(get(L.oy), get(P.strH)), [...get(L.ky), ...get(P.padT), ...op.i32Sub]), ...set(L.iy),
    ...inside(L.iy, P.h), ...op.if,
    ...forRange(L.kx, P.kw, [
      ...add(mul(get(L.ox), get(P.strW)), [...get(L.kx), ...get(P.padL), ...op.i32Sub]), ...set(L.ix),
      ...inside(L.ix, P.w), ...op.if, ...tap, ...op.end,
    ]),
    ...op.end,
  ]);
  const eachGroup = (code: number[]) => [...get(L.o), ...set(L.op), ...get(L.a), ...set(L.ap), ...forRange(L.c, L.cGroups, [...code, ...bump(L.op, 16), ...bump(L.ap, 16)])];
  const finish = [
    // a window entirely in the padding: -inf and index -1 for max, 0 for the mean (as the scalar kernels)
    ...get(L.taps), ...op.i32Eqz, ...op.if,
    ...eachGroup([...store(get(L.op), v128Const(max ? 0xff800000 : 0)), ...(arg ? store(get(L.ap), v128Const(-1)) : [])]),
    ...(max ? [] : [
      ...op.else,
      ...eachGroup(store(get(L.op), [...load(get(L.op)), ...get(L.taps), ...op.f32FromI32, ...simd(SIMD.f32Splat), ...simd(SIMD.f32Div)])),
    ]),
    ...op.end,
  ];
  const pixel = [
    // o = out + 4 * C * ((n * OH + oy) * OW + ox); a likewise in the argmax array
    ...mul(add(mul(add(mul(get(L.n), get(P.oh)), get(L.oy)), get(P.ow)), get(L.ox)), mul(get(P.c), op.i32Const(4))), ...set(L.a),
    ...add(get(P.out), get(L.a)), ...set(L.o),
    ...add(get(P.aux), get(L.a)), ...set(L.a),
    ...op.i32Const(0), ...set(L.taps),
    ...taps,
    ...finish,
  ];
  return [
    ...get(P.c), ...op.i32Const(4), ...op.i32DivS, ...set(L.cGroups),
    ...forRange(L.n, P.n, forRange(L.oy, P.oh, forRange(L.ox, P.ow, pixel))),
  ];
}

/** gradIn[argmax[j]] += gradOut[j] for j < total (indices below 0: windows with no input). */
function scatterBody(): number[] {
  const [g, d, a, total, j, idx, addr] = [0, 1, 2, 3, 4, 5, 6];
  const at = (base: number) => add(get(base), mul(get(j), op.i32Const(4)));
  return forRange(j, total, [
    ...at(a), ...op.i32Load, ...set(idx),
    ...get(idx), ...op.i32Const(0), ...op.i32GeS, ...op.if,
    ...add(get(d), mul(get(idx), op.i32Const(4))), ...set(addr),
    ...get(addr), ...get(addr), ...op.f32Load, ...at(g), ...op.f32Load, ...op.f32Add, ...op.f32Store,
    ...op.end,
  ]);
}

/**
 * Max pooling's backward pass for windows that tile the input exactly: each input element lies
 * in one window and is written once, the window's gradient where it was the argmax, else 0
 * (so gradIn needs no zeroing first). Four channels at a time: the lanes' flat indices are
 * compared with the recorded argmax.
 */
function tiledBackwardBody(): number[] {
  const T = { g: 0, d: 1, a: 2, n: 3, oh: 4, ow: 5, kh: 6, kw: 7, c: 8 } as const;
  const V = { n: 9, oy: 10, ox: 11, ky: 12, kx: 13, cg: 14, groups: 15, win: 16, tap: 17, flat: 18 } as const;
  const H = [...get(T.oh), ...get(T.kh), ...op.i32Mul], W = [...get(T.ow), ...get(T.kw), ...op.i32Mul];
  // lane flat indices of the tap's first channel group: ((n * H + oy * kh + ky) * W + ox * kw + kx) * C + (0..3)
  const tapFlat = mul(add(mul(add(mul(get(V.n), H), add(mul(get(V.oy), get(T.kh)), get(V.ky))), W), add(mul(get(V.ox), get(T.kw)), get(V.kx))), get(T.c));
  const channels = forRange(V.cg, V.groups, [
    ...store(add(get(T.d), mul(get(V.tap), op.i32Const(4))), [
      ...load(add(get(T.g), get(V.win))),
      ...load(add(get(T.a), get(V.win))), ...get(V.flat), ...simd(0x37), // i32x4.eq
      ...simd(0x4e), // v128.and
    ]),
    ...bump(V.win, 16), ...bump(V.tap, 4),
    ...get(V.flat), ...v128Const(4), ...simd(SIMD.i32Add), ...set(V.flat),
  ]);
  const taps = forRange(V.ky, T.kh, forRange(V.kx, T.kw, [
    // the window's byte offset: ((n * OH + oy) * OW + ox) * C * 4
    ...mul(add(mul(add(mul(get(V.n), get(T.oh)), get(V.oy)), get(T.ow)), get(V.ox)), mul(get(T.c), op.i32Const(4))), ...set(V.win),
    ...tapFlat, ...set(V.tap),
    ...get(V.tap), ...simd(SIMD.i32Splat), ...LANES, ...simd(SIMD.i32Add), ...set(V.flat),
    ...channels,
  ]));
  return [
    ...get(T.c), ...op.i32Const(4), ...op.i32DivS, ...set(V.groups),
    ...forRange(V.n, T.n, forRange(V.oy, T.oh, forRange(V.ox, T.ow, taps))),
  ];
}

type Kernel = (...args: number[]) => void;
const kernels = new Map<string, Kernel>();

function kernel(name: string, make: () => Kernel): Kernel {
  let k = kernels.get(name);
  if (!k) kernels.set(name, (k = make()));
  return k;
}

const ptr = byteAddress;
const dense = (v: View, c: number) => v.strides[3] === 1 && v.strides[2] === c;
const contiguous = (v: View) => isContiguous(v.shape, v.strides);

/** Runs the SIMD kernel when the layout allows (channels a multiple of 4, unit channel stride, no dilation). */
export function simdPool(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): boolean {
  if (g.channels % 4 !== 0 || x.strides[3] !== 1 || !dense(out, g.channels) || (argmax && !dense(argmax, g.channels)) || g.dilationH !== 1 || g.dilationW !== 1) return false;
  if ((x.storage as CpuStorage).dtype !== 'float32') return false;
  const variant: Variant = kind === 'avg' ? 'avg' : argmax ? 'maxArg' : 'max';
  const k = kernel(variant, () => instantiateKernel(new Array<number>(NP).fill(I32), LOCALS, body(variant), heap.memory));
  k(ptr(x), ptr(out), argmax ? ptr(argmax) : 0, x.strides[0]!, x.strides[1]!, x.strides[2]!, g.batch, g.inH, g.inW, g.channels, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW);
  return true;
}

/** Whether pooling windows cover every input element exactly once. */
export function tilesExactly(g: WindowGeometry): boolean {
  return g.padTop === 0 && g.padLeft === 0 && g.strideH === g.kernelH && g.strideW === g.kernelW && g.outH * g.kernelH === g.inH && g.outW * g.kernelW === g.inW && g.dilationH === 1 && g.dilationW === 1;
}

/** Writes max pooling's whole input gradient in one pass when the windows tile the input (contiguous views, channels in fours). */
export function wasmTiledMaxPoolBackward(gradOut: View, gradIn: View, argmax: View, g: WindowGeometry): boolean {
  if (!tilesExactly(g) || g.channels % 4 !== 0 || !contiguous(gradOut) || !contiguous(argmax) || !contiguous(gradIn)) return false;
  const k = kernel('tiled-back', () => instantiateKernel(new Array<number>(9).fill(I32), [...new Array<number>(9).fill(I32), V128], tiledBackwardBody(), heap.memory));
  k(ptr(gradOut), ptr(gradIn), ptr(argmax), g.batch, g.outH, g.outW, g.kernelH, g.kernelW, g.channels);
  return true;
}

/** Max pooling's backward pass through the recorded indices (added into a zeroed gradIn), when gradients and indices are contiguous. */
export function wasmMaxPoolBackward(gradOut: View, gradIn: View, argmax: View): boolean {
  if (!contiguous(gradOut) || !contiguous(argmax) || !contiguous(gradIn)) return false;
  const total = sizeOf(gradOut.shape);
  const k = kernel('scatter', () => instantiateKernel([I32, I32, I32, I32], [I32, I32, I32], scatterBody(), heap.memory));
  k(ptr(gradOut), ptr(gradIn), ptr(argmax), total);
  return true;
}
