// Pooling forward with WebAssembly SIMD: four channels per step, for NHWC inputs whose channel
// count is a multiple of 4 (the common case in CNNs). Max pooling keeps, per lane, the first
// largest value (NaN wins, as in the scalar kernels) and its flat input index for the backward pass.
import type { View, WindowGeometry } from '../backend.js';
import { heap } from './heap.js';
import { type CpuStorage, byteAddress } from './storage.js';
import { I32, V128, forRange, instantiateKernel, op, v128Const } from './wasm-encoder.js';

const get = op.localGet, set = op.localSet;
const SIMD = { load: 0x00, store: 0x0b, i32Splat: 0x11, f32Splat: 0x13, f32Ne: 0x42, f32Gt: 0x44, i32LtS: 0x39, or: 0x50, bitselect: 0x52, i32Add: 0xae, f32Add: 0xe4, f32Div: 0xe7 } as const;
const simd = (code: number, ...imm: number[]) => op.simd(code, ...imm);

// parameters, then locals
const P = { x: 0, out: 1, aux: 2, sn: 3, sh: 4, sw: 5, n: 6, h: 7, w: 8, c: 9, kh: 10, kw: 11, strH: 12, strW: 13, padT: 14, padL: 15, oh: 16, ow: 17 } as const;
const NP = 18;
const L = { n: NP, oy: NP + 1, ox: NP + 2, ky: NP + 3, kx: NP + 4, c: NP + 5, iy: NP + 6, ix: NP + 7, o: NP + 8, a: NP + 9, count: NP + 10, cGroups: NP + 11, best: NP + 12, bestIdx: NP + 13, v: NP + 14, take: NP + 15 } as const;
const LOCALS = [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128];

/** lanes 0, 1, 2, 3 as i32x4 */
const LANES = (() => {
  const b = new Uint8Array(16);
  new Int32Array(b.buffer).set([0, 1, 2, 3]);
  return op.simd(0x0c, ...b);
})();

const mul = (a: number[], b: number[]) => [...a, ...b, ...op.i32Mul];
const add = (a: number[], b: number[]) => [...a, ...b, ...op.i32Add];
/** c4 = cGroup * 4: the first channel of this group */
const channel = mul(get(L.c), op.i32Const(4));

function body(max: boolean): number[] {
  // (n * H + iy) * W + ix) * C + channel: the flat NHWC index of the first lane
  const flatIndex = add(mul(add(mul(add(mul(get(L.n), get(P.h)), get(L.iy)), get(P.w)), get(L.ix)), get(P.c)), channel);
  // byte address of x[n, iy, ix, channel]
  const src = add(get(P.x), mul(add(add(add(mul(get(L.n), get(P.sn)), mul(get(L.iy), get(P.sh))), mul(get(L.ix), get(P.sw))), channel), op.i32Const(4)));
  const visit = max
    ? [
      ...src, ...simd(SIMD.load, 0, 0), ...set(L.v),
      // take = nothing taken yet | v > best | v is NaN
      ...get(L.bestIdx), ...op.i32Const(0), ...simd(SIMD.i32Splat), ...simd(SIMD.i32LtS),
      ...get(L.v), ...get(L.best), ...simd(SIMD.f32Gt), ...simd(SIMD.or),
      ...get(L.v), ...get(L.v), ...simd(SIMD.f32Ne), ...simd(SIMD.or), ...set(L.take),
      ...get(L.v), ...get(L.best), ...get(L.take), ...simd(SIMD.bitselect), ...set(L.best),
      ...flatIndex, ...simd(SIMD.i32Splat), ...LANES, ...simd(SIMD.i32Add), ...get(L.bestIdx), ...get(L.take), ...simd(SIMD.bitselect), ...set(L.bestIdx),
    ]
    : [...get(L.best), ...src, ...simd(SIMD.load, 0, 0), ...simd(SIMD.f32Add), ...set(L.best), ...get(L.count), ...op.i32Const(1), ...op.i32Add, ...set(L.count)];
  const inside = (coord: number, size: number) => [...get(coord), ...get(size), ...op.i32GeU, ...op.i32Eqz];
  const taps = forRange(L.ky, P.kh, [
    // iy = oy * strH - padT + ky
    ...add(mul(get(L.oy), get(P.strH)), [...get(L.ky), ...get(P.padT), ...op.i32Sub]), ...set(L.iy),
    ...inside(L.iy, P.h), ...op.if,
    ...forRange(L.kx, P.kw, [
      ...add(mul(get(L.ox), get(P.strW)), [...get(L.kx), ...get(P.padL), ...op.i32Sub]), ...set(L.ix),
      ...inside(L.ix, P.w), ...op.if, ...visit, ...op.end,
    ]),
    ...op.end,
  ]);
  const group = [
    ...(max ? [...v128Const(0xff800000), ...set(L.best), ...v128Const(-1), ...set(L.bestIdx)] : [...v128Const(0), ...set(L.best), ...op.i32Const(0), ...set(L.count)]),
    ...taps,
    // a window entirely in the padding has no taps: its mean stays 0, as in the scalar kernels
    ...(max ? [] : [...get(L.count), ...op.if, ...get(L.best), ...get(L.count), ...op.f32FromI32, ...simd(SIMD.f32Splat), ...simd(SIMD.f32Div), ...set(L.best), ...op.end]),
    // store the group's four results at o + 16 * cGroup
    ...add(get(L.o), mul(get(L.c), op.i32Const(16))), ...get(L.best), ...simd(SIMD.store, 0, 0),
    ...(max ? [...get(P.aux), ...op.i32Eqz, ...op.i32Eqz, ...op.if, ...add(get(L.a), mul(get(L.c), op.i32Const(16))), ...get(L.bestIdx), ...simd(SIMD.store, 0, 0), ...op.end] : []),
  ];
  const pixel = [
    // o = out + 4 * C * ((n * OH + oy) * OW + ox); a likewise in the argmax array
    ...mul(add(mul(add(mul(get(L.n), get(P.oh)), get(L.oy)), get(P.ow)), get(L.ox)), mul(get(P.c), op.i32Const(4))), ...set(L.a),
    ...add(get(P.out), get(L.a)), ...set(L.o),
    ...add(get(P.aux), get(L.a)), ...set(L.a),
    ...forRange(L.c, L.cGroups, group),
  ];
  return [
    ...get(P.c), ...op.i32Const(4), ...op.i32DivS, ...set(L.cGroups),
    ...forRange(L.n, P.n, forRange(L.oy, P.oh, forRange(L.ox, P.ow, pixel))),
  ];
}

type Kernel = (...args: number[]) => void;
const kernels = new Map<string, Kernel>();

const ptr = byteAddress;
const dense = (v: View, c: number) => v.strides[3] === 1 && v.strides[2] === c;

/** Runs the SIMD kernel when the layout allows (channels a multiple of 4, unit channel stride, no dilation). */
export function simdPool(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): boolean {
  if (g.channels % 4 !== 0 || x.strides[3] !== 1 || !dense(out, g.channels) || (argmax && !dense(argmax, g.channels)) || g.dilationH !== 1 || g.dilationW !== 1) return false;
  if ((x.storage as CpuStorage).dtype !== 'float32') return false;
  let k = kernels.get(kind);
  if (!k) kernels.set(kind, (k = instantiateKernel(new Array<number>(NP).fill(I32), LOCALS, body(kind === 'max'), heap.memory)));
  k(ptr(x), ptr(out), argmax ? ptr(argmax) : 0, x.strides[0]!, x.strides[1]!, x.strides[2]!, g.batch, g.inH, g.inW, g.channels, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW);
  return true;
}
