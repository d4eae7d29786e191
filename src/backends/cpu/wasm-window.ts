// Sliding-window kernels (im2col, col2im, pooling forward) in WebAssembly, for NHWC views
// whose channels are contiguous; window.ts keeps the general JavaScript versions.
import type { View, WindowGeometry } from '../backend.js';
import { heap } from './heap.js';
import { type CpuStorage, byteAddress } from './storage.js';
import { F32, I32, forRange, instantiateKernel, op } from './wasm-encoder.js';

const get = op.localGet, set = op.localSet;

// Shared argument layout: pointers and geometry, then loop locals.
const A = { x: 0, out: 1, sn: 2, sh: 3, sw: 4, n: 5, h: 6, w: 7, c: 8, kh: 9, kw: 10, strH: 11, strW: 12, padT: 13, padL: 14, dilH: 15, dilW: 16, oh: 17, ow: 18, aux: 19 } as const;
const NARGS = 20;
const L = { n: NARGS, oy: NARGS + 1, ox: NARGS + 2, ky: NARGS + 3, kx: NARGS + 4, c: NARGS + 5, iy: NARGS + 6, ix: NARGS + 7, src: NARGS + 8, o: NARGS + 9, best: NARGS + 10, bestIdx: NARGS + 11, count: NARGS + 12, v: NARGS + 13 } as const;
const LOCALS = [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, I32, I32, F32];
const PARAMS = new Array<number>(NARGS).fill(I32);

/** iy = oy*strH - padT + ky*dilH (and ix likewise). */
const tapY = [...get(L.oy), ...get(A.strH), ...op.i32Mul, ...get(A.padT), ...op.i32Sub, ...get(L.ky), ...get(A.dilH), ...op.i32Mul, ...op.i32Add, ...set(L.iy)];
const tapX = [...get(L.ox), ...get(A.strW), ...op.i32Mul, ...get(A.padL), ...op.i32Sub, ...get(L.kx), ...get(A.dilW), ...op.i32Mul, ...op.i32Add, ...set(L.ix)];
/** iy or ix outside the input (unsigned compare catches negatives). */
const outside = [...get(L.iy), ...get(A.h), ...op.i32GeU, ...get(L.ix), ...get(A.w), ...op.i32GeU, ...op.i32Or];
/** src = x + 4 * (n*sn + iy*sh + ix*sw) */
const srcAddr = [...get(A.x), ...get(L.n), ...get(A.sn), ...op.i32Mul, ...get(L.iy), ...get(A.sh), ...op.i32Mul, ...op.i32Add, ...get(L.ix), ...get(A.sw), ...op.i32Mul, ...op.i32Add, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...set(L.src)];
const addr = (base: number, idx: number) => [...get(base), ...get(idx), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add];
const nextO = [...get(L.o), ...get(A.c), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...set(L.o)];

function windowLoops(inner: number[]): number[] {
  return [...get(A.out), ...set(L.o), ...forRange(L.n, A.n, forRange(L.oy, A.oh, forRange(L.ox, A.ow, inner)))];
}

const channelBytes = [...get(A.c), ...op.i32Const(2), ...op.i32Shl];

/**
 * cols[o..] = x window taps (0 outside): each tap's channels are one contiguous run, moved with
 * memory.copy (memory.fill for padding) when `vectorized`. `accumulate` instead adds cols back
 * into x (col2im), four channels at a time with SIMD when `vectorized`. Vectorized kernels need
 * channels in multiples of 4.
 */
function im2colBody(accumulate: boolean, vectorized = false): number[] {
  const step = vectorized ? 4 : 1;
  const addScalar = [...addr(L.src, L.c), ...addr(L.src, L.c), ...op.f32Load, ...addr(L.o, L.c), ...op.f32Load, ...op.f32Add, ...op.f32Store];
  const addVector = [...addr(L.src, L.c), ...addr(L.src, L.c), ...op.simd(0x00, 0, 0), ...addr(L.o, L.c), ...op.simd(0x00, 0, 0), ...op.simd(0xe4), ...op.simd(0x0b, 0, 0)];
  const copyScalar = [...addr(L.o, L.c), ...addr(L.src, L.c), ...op.f32Load, ...op.f32Store];
  const zeroScalar = [...addr(L.o, L.c), ...op.f32Const(0), ...op.f32Store];
  const tap = accumulate
    ? [...tapX, ...outside, ...op.i32Eqz, ...op.if, ...srcAddr, ...forStep(L.c, A.c, step, vectorized ? addVector : addScalar), ...op.end, ...nextO]
    : vectorized
      // long channel runs: bulk copies (short ones are faster element by element)
      ? [
        ...tapX, ...outside, ...op.if,
        ...get(L.o), ...op.i32Const(0), ...channelBytes, ...op.memoryFill,
        ...op.else, ...srcAddr, ...get(L.o), ...get(L.src), ...channelBytes, ...op.memoryCopy, ...op.end,
        ...nextO,
      ]
      : [...tapX, ...outside, ...op.if, ...forRange(L.c, A.c, zeroScalar), ...op.else, ...srcAddr, ...forRange(L.c, A.c, copyScalar), ...op.end, ...nextO];
  return windowLoops(forRange(L.ky, A.kh, [...tapY, ...forRange(L.kx, A.kw, tap)]));
}

/** counter = 0, step, 2*step, ... while below limit */
function forStep(counter: number, limit: number, step: number, body: number[]): number[] {
  if (step === 1) return forRange(counter, limit, body);
  return [
    ...op.i32Const(0), ...set(counter),
    ...op.block, ...op.loop,
    ...get(counter), ...get(limit), ...op.i32GeS, ...op.brIf(1),
    ...body,
    ...get(counter), ...op.i32Const(step), ...op.i32Add, ...set(counter),
    ...op.br(0), ...op.end, ...op.end,
  ];
}

/** out[o + c] = max (aux = 1: also argmax as flat NHWC index, written at aux pointer) or mean of the window. */
function poolBody(max: boolean): number[] {
  const visit = max
    ? [
      ...addr(L.src, L.c), ...op.f32Load, ...set(L.v),
      // take v if nothing taken yet, if it is larger, or if it is NaN (NaN wins, as in PyTorch)
      ...get(L.bestIdx), ...op.i32Const(0), ...op.i32LtS, ...get(L.v), ...get(L.best), ...op.f32Gt, ...op.i32Or, ...get(L.v), ...get(L.v), ...op.f32Ne, ...op.i32Or,
      ...op.if, ...get(L.v), ...set(L.best),
      ...get(L.n), ...get(A.h), ...op.i32Mul, ...get(L.iy), ...op.i32Add, ...get(A.w), ...op.i32Mul, ...get(L.ix), ...op.i32Add, ...get(A.c), ...op.i32Mul, ...get(L.c), ...op.i32Add, ...set(L.bestIdx),
      ...op.end,
    ]
    : [...get(L.best), ...addr(L.src, L.c), ...op.f32Load, ...op.f32Add, ...set(L.best), ...get(L.count), ...op.i32Const(1), ...op.i32Add, ...set(L.count)];
  const tap = [...tapX, ...outside, ...op.i32Eqz, ...op.if, ...srcAddr, ...visit, ...op.end];
  const perChannel = [
    ...op.f32Const(max ? -Infinity : 0), ...set(L.best), ...op.i32Const(-1), ...set(L.bestIdx), ...op.i32Const(0), ...set(L.count),
    ...forRange(L.ky, A.kh, [...tapY, ...forRange(L.kx, A.kw, tap)]),
    ...addr(L.o, L.c),
    ...(max ? get(L.best) : [...get(L.best), ...get(L.count), ...op.f32FromI32, ...op.f32Div]),
    ...op.f32Store,
    ...(max ? [...get(A.aux), ...op.i32Eqz, ...op.i32Eqz, ...op.if, ...get(A.aux), ...get(L.o), ...get(A.out), ...op.i32Sub, ...op.i32Add, ...get(L.c), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...get(L.bestIdx), ...op.i32Store, ...op.end] : []),
  ];
  return windowLoops([...forRange(L.c, A.c, perChannel), ...nextO]);
}

type Kernel = (...args: number[]) => void;
const kernels = new Map<string, Kernel>();
function kernel(name: string, body: () => number[]): Kernel {
  let k = kernels.get(name);
  if (!k) kernels.set(name, (k = instantiateKernel(PARAMS, LOCALS, body(), heap.memory)));
  return k;
}

const ptr = byteAddress;

function args(x: View, out: View, g: WindowGeometry, aux = 0): number[] {
  return [ptr(x), ptr(out), x.strides[0]!, x.strides[1]!, x.strides[2]!, g.batch, g.inH, g.inW, g.channels, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft, g.dilationH, g.dilationW, g.outH, g.outW, aux];
}

/** NHWC float32 view with unit channel stride, and a contiguous second operand. */
function fits(nhwc: View, dense: View): boolean {
  const ok = (v: View) => (v.storage as CpuStorage).dtype === 'float32' || (v.storage as CpuStorage).dtype === 'int32';
  return typeof WebAssembly === 'object' && nhwc.strides[3] === 1 && ok(nhwc) && ok(dense);
}

export function wasmIm2col(x: View, cols: View, g: WindowGeometry): boolean {
  if (!fits(x, cols)) return false;
  const vectorized = g.channels >= 8 && g.channels % 4 === 0;
  kernel(vectorized ? 'im2col4' : 'im2col', () => im2colBody(false, vectorized))(...args(x, cols, g));
  return true;
}

export function wasmCol2im(cols: View, dx: View, g: WindowGeometry): boolean {
  if (!fits(dx, cols)) return false;
  // the kernel walks cols as "out" and adds into x = dx
  const vectorized = g.channels % 4 === 0;
  kernel(vectorized ? 'col2im4' : 'col2im', () => im2colBody(true, vectorized))(...args(dx, cols, g));
  return true;
}

export function wasmPool(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): boolean {
  if (!fits(x, out) || out.strides[3] !== 1 || out.strides[2] !== g.channels || (g.dilationH !== 1 || g.dilationW !== 1)) return false;
  kernel(`pool-${kind}`, () => poolBody(kind === 'max'))(...args(x, out, g, argmax ? ptr(argmax) : 0));
  return true;
}
