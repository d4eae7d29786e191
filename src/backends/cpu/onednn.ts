// oneDNN (libdnnl: Intel's deep-learning kernels, behind PyTorch's CPU convolutions), loaded at
// run time through koffi like BLAS. It gives the CPU direct convolution kernels, JIT-compiled for
// the machine's vector units, for conv2d and both of its gradients over our NHWC/HWIO views;
// without it, or for what it declines, the conv op runs im2col + GEMM. This binds the oneDNN 2.x
// C API (Debian's libdnnl2), whose operation descriptors live in caller memory.
import { env, nodeBuiltin } from '../../core/platform.js';
import type { ConvGeometry, View } from '../backend.js';
import { dataOf } from './storage.js';
import { type Koffi, keepLoaded, loadKoffi } from '../../core/ffi.js';

type Fn = (...args: unknown[]) => unknown;

export type ConvPass = 'forward' | 'backwardInput' | 'backwardFilter';

export interface OneDnn {
  readonly path: string;
  readonly version: string;
  /**
   * forward: out = conv(a = x, b = w); backwardInput: out = dx from (a = dy, b = w);
   * backwardFilter: out = dw from (a = x, b = dy). Views are float32. False: oneDNN has no
   * kernel for this geometry (the caller uses im2col + GEMM).
   */
  run(pass: ConvPass, a: View, b: View, out: View, g: ConvGeometry): boolean;
  /** The same pass resolved once for these views (a compiled step's replay), or null. */
  plan(pass: ConvPass, a: View, b: View, out: View, g: ConvGeometry): (() => void) | null;
}

export interface OneDnnProbe {
  readonly library: OneDnn | null;
  readonly tried: readonly string[];
  readonly reason?: string;
}

const API = {
  dnnl_version: 'const void *dnnl_version()',
  dnnl_engine_create: 'int dnnl_engine_create(_Out_ void **engine, int kind, size_t index)',
  dnnl_stream_create: 'int dnnl_stream_create(_Out_ void **stream, void *engine, unsigned int flags)',
  dnnl_stream_wait: 'int dnnl_stream_wait(void *stream)',
  dnnl_memory_desc_init_by_strides: 'int dnnl_memory_desc_init_by_strides(void *md, int ndims, const void *dims, int dtype, const void *strides)',
  dnnl_memory_desc_init_by_tag: 'int dnnl_memory_desc_init_by_tag(void *md, int ndims, const void *dims, int dtype, int tag)',
  dnnl_dilated_convolution_forward_desc_init: 'int dnnl_dilated_convolution_forward_desc_init(void *cd, int prop, int alg, const void *src, const void *weights, const void *bias, const void *dst, const void *strides, const void *dilates, const void *padL, const void *padR)',
  dnnl_dilated_convolution_backward_data_desc_init: 'int dnnl_dilated_convolution_backward_data_desc_init(void *cd, int alg, const void *diffSrc, const void *weights, const void *diffDst, const void *strides, const void *dilates, const void *padL, const void *padR)',
  dnnl_dilated_convolution_backward_weights_desc_init: 'int dnnl_dilated_convolution_backward_weights_desc_init(void *cd, int alg, const void *src, const void *diffWeights, const void *diffBias, const void *diffDst, const void *strides, const void *dilates, const void *padL, const void *padR)',
  dnnl_primitive_desc_create: 'int dnnl_primitive_desc_create(_Out_ void **pd, const void *desc, const void *attr, void *engine, const void *hint)',
  dnnl_reorder_primitive_desc_create: 'int dnnl_reorder_primitive_desc_create(_Out_ void **pd, const void *src, void *srcEngine, const void *dst, void *dstEngine, const void *attr)',
  dnnl_primitive_desc_query_md: 'const void *dnnl_primitive_desc_query_md(const void *pd, int what, int index)',
  dnnl_primitive_desc_destroy: 'int dnnl_primitive_desc_destroy(void *pd)',
  dnnl_primitive_create: 'int dnnl_primitive_create(_Out_ void **p, const void *pd)',
  dnnl_primitive_destroy: 'int dnnl_primitive_destroy(void *p)',
  dnnl_primitive_execute: 'int dnnl_primitive_execute(const void *p, void *stream, int nargs, const void *args)',
  dnnl_memory_desc_get_size: 'size_t dnnl_memory_desc_get_size(const void *md)',
  dnnl_memory_desc_equal: 'int dnnl_memory_desc_equal(const void *lhs, const void *rhs)',
  dnnl_memory_create: 'int dnnl_memory_create(_Out_ void **memory, const void *md, void *engine, void *handle)',
  dnnl_memory_set_data_handle: 'int dnnl_memory_set_data_handle(void *memory, void *handle)',
  dnnl_memory_destroy: 'int dnnl_memory_destroy(void *memory)',
} as const;

// values from dnnl_types.h (stable across 2.x)
const CPU_ENGINE = 1, IN_ORDER = 1, F32 = 3, TAG_ANY = 1;
const FORWARD_TRAINING = 64, CONV_DIRECT = 1;
const QUERY_WEIGHTS = 131, QUERY_DIFF_WEIGHTS = 132;
const ARG = { src: 1, dst: 17, weights: 33, diffSrc: 129, diffDst: 145, diffWeights: 161, from: 1, to: 17 } as const;
const STATUS = ['success', 'out of memory', 'invalid arguments', 'unimplemented', 'iterator ends', 'runtime error', 'not required'];
// oneDNN 2.x's memory descriptor is 696 bytes and a convolution descriptor 5976: room to spare
const MD_BYTES = 2048, OP_DESC_BYTES = 16384;
/** Kernels kept, one per pass and geometry; past this the least recently used one no replay holds is released. */
const CACHE_LIMIT = 64;

class DnnlError extends Error {}

/** One pass's primitive with the memories its arguments bind to, made once per geometry. */
interface Kernel {
  readonly conv: unknown;
  readonly convArgs: Buffer;
  /** the plain-layout weights (in or out) and the blocked copy oneDNN's kernel wants, when they differ */
  readonly reorder: { readonly prim: unknown; readonly args: Buffer; readonly blocked: Float32Array } | null;
  /** memories whose data handles are set at each run: a, b, out (plain views) */
  readonly bind: readonly unknown[];
  readonly release: () => void;
  /** held by a compiled step's replay */
  pinned: boolean;
}

class OneDnnLibrary implements OneDnn {
  private readonly engine: unknown;
  private readonly stream: unknown;
  private readonly kernels = new Map<string, Kernel | null>();

  constructor(private readonly koffi: Koffi, private readonly api: Record<keyof typeof API, Fn>, readonly path: string, readonly version: string) {
    const engine: unknown[] = [null], stream: unknown[] = [null];
    this.check('dnnl_engine_create', engine, CPU_ENGINE, 0);
    this.engine = engine[0];
    this.check('dnnl_stream_create', stream, this.engine, IN_ORDER);
    this.stream = stream[0];
  }

  private check(name: keyof typeof API, ...args: unknown[]): void {
    const status = this.api[name](...args) as number;
    if (status !== 0) throw new DnnlError(`${name}: ${STATUS[status] ?? `status ${status}`}`);
  }

  run(pass: ConvPass, a: View, b: View, out: View, g: ConvGeometry): boolean {
    const kernel = this.kernel(pass, a, b, out, g);
    if (kernel) this.execute(kernel, pass, a, b, out);
    return kernel !== null;
  }

  plan(pass: ConvPass, a: View, b: View, out: View, g: ConvGeometry): (() => void) | null {
    const kernel = this.kernel(pass, a, b, out, g);
    if (!kernel) return null;
    // a replay holds the primitive for as long as it lives: never evicted from the cache
    kernel.pinned = true;
    return () => this.execute(kernel, pass, a, b, out);
  }

  /** The cached primitive for these views (made on first use), or null when oneDNN declines them. */
  private kernel(pass: ConvPass, a: View, b: View, out: View, g: ConvGeometry): Kernel | null {
    const key = `${pass}|${geometryKey(g)}|${a.strides}|${b.strides}|${out.strides}`;
    let k = this.kernels.get(key);
    if (k === undefined) {
      k = this.make(pass, a, b, out, g);
      this.kernels.set(key, k);
      if (this.kernels.size > CACHE_LIMIT) {
        for (const [oldKey, old] of this.kernels) {
          if (old?.pinned) continue;
          old?.release();
          this.kernels.delete(oldKey);
          break;
        }
      }
    } else {
      // most recently used last
      this.kernels.delete(key);
      this.kernels.set(key, k);
    }
    return k;
  }

  private execute(k: Kernel, pass: ConvPass, a: View, b: View, out: View): void {
    const [ma, mb, mo] = k.bind;
    // the heap's typed arrays are made again after it grows: addresses are taken at each run
    this.check('dnnl_memory_set_data_handle', ma, pointer(a));
    this.check('dnnl_memory_set_data_handle', mb, pointer(b));
    this.check('dnnl_memory_set_data_handle', mo, pointer(out));
    // forward and input gradients read the weights in oneDNN's layout; the filter gradient writes it
    if (k.reorder && pass !== 'backwardFilter') this.check('dnnl_primitive_execute', k.reorder.prim, this.stream, 2, k.reorder.args);
    this.check('dnnl_primitive_execute', k.conv, this.stream, 3, k.convArgs);
    if (k.reorder && pass === 'backwardFilter') this.check('dnnl_primitive_execute', k.reorder.prim, this.stream, 2, k.reorder.args);
    this.check('dnnl_stream_wait', this.stream);
  }

  /** The pass's primitive for these views, or null when oneDNN declines them. */
  private make(pass: ConvPass, a: View, b: View, out: View, g: ConvGeometry): Kernel | null {
    const owned: { kind: 'pd' | 'prim' | 'mem'; handle: unknown }[] = [];
    const release = () => {
      for (const o of owned.reverse()) {
        const destroy = o.kind === 'pd' ? 'dnnl_primitive_desc_destroy' : o.kind === 'prim' ? 'dnnl_primitive_destroy' : 'dnnl_memory_destroy';
        this.api[destroy](o.handle);
      }
    };
    try {
      const x = Buffer.alloc(MD_BYTES), w = Buffer.alloc(MD_BYTES), y = Buffer.alloc(MD_BYTES), wAny = Buffer.alloc(MD_BYTES);
      const [xView, wView, yView] = pass === 'forward' ? [a, b, out] : pass === 'backwardInput' ? [out, b, a] : [a, out, b];
      // logical NCHW / OIHW dimensions over our NHWC / HWIO strides
      this.check('dnnl_memory_desc_init_by_strides', x, 4, dims(g.batch, g.channels, g.inH, g.inW), F32, dims(...nhwcStrides(xView)));
      this.check('dnnl_memory_desc_init_by_strides', y, 4, dims(g.batch, g.outChannels, g.outH, g.outW), F32, dims(...nhwcStrides(yView)));
      const [sh, sw, si, so] = wView.strides as [number, number, number, number];
      const wDims = dims(g.outChannels, g.channels, g.kernelH, g.kernelW);
      this.check('dnnl_memory_desc_init_by_strides', w, 4, wDims, F32, dims(so, si, sh, sw));
      this.check('dnnl_memory_desc_init_by_tag', wAny, 4, wDims, F32, TAG_ANY);
      const strides = dims(g.strideH, g.strideW), dilates = dims(g.dilationH - 1, g.dilationW - 1);
      const padL = dims(g.padTop, g.padLeft), padR = dims(...rightPadding(g));
      const desc = Buffer.alloc(OP_DESC_BYTES);
      if (pass === 'forward') this.check('dnnl_dilated_convolution_forward_desc_init', desc, FORWARD_TRAINING, CONV_DIRECT, x, wAny, null, y, strides, dilates, padL, padR);
      else if (pass === 'backwardInput') this.check('dnnl_dilated_convolution_backward_data_desc_init', desc, CONV_DIRECT, x, wAny, y, strides, dilates, padL, padR);
      else this.check('dnnl_dilated_convolution_backward_weights_desc_init', desc, CONV_DIRECT, x, wAny, null, y, strides, dilates, padL, padR);
      // the backward passes want the forward primitive as a hint
      let hint: unknown = null;
      if (pass !== 'forward') {
        const fdesc = Buffer.alloc(OP_DESC_BYTES);
        this.check('dnnl_dilated_convolution_forward_desc_init', fdesc, FORWARD_TRAINING, CONV_DIRECT, x, wAny, null, y, strides, dilates, padL, padR);
        hint = this.create('dnnl_primitive_desc_create', owned, 'pd', fdesc, null, this.engine, null);
      }
      const pd = this.create('dnnl_primitive_desc_create', owned, 'pd', desc, null, this.engine, hint);
      const conv = this.create('dnnl_primitive_create', owned, 'prim', pd);
      const chosenW = this.api.dnnl_primitive_desc_query_md(pd, pass === 'backwardFilter' ? QUERY_DIFF_WEIGHTS : QUERY_WEIGHTS, 0);
      const mx = this.create('dnnl_memory_create', owned, 'mem', x, this.engine, null);
      const my = this.create('dnnl_memory_create', owned, 'mem', y, this.engine, null);
      const mw = this.create('dnnl_memory_create', owned, 'mem', w, this.engine, null);
      let reorder: Kernel['reorder'] = null;
      let convW = mw;
      if (!this.api.dnnl_memory_desc_equal(chosenW, w)) {
        const blocked = new Float32Array(Math.ceil(Number(this.api.dnnl_memory_desc_get_size(chosenW)) / 4));
        convW = this.create('dnnl_memory_create', owned, 'mem', chosenW, this.engine, blocked);
        const [from, to] = pass === 'backwardFilter' ? [chosenW, w] : [w, chosenW];
        const rpd = this.create('dnnl_reorder_primitive_desc_create', owned, 'pd', from, this.engine, to, this.engine, null);
        const prim = this.create('dnnl_primitive_create', owned, 'prim', rpd);
        const [mFrom, mTo] = pass === 'backwardFilter' ? [convW, mw] : [mw, convW];
        reorder = { prim, blocked, args: this.args([[ARG.from, mFrom], [ARG.to, mTo]]) };
      }
      const convArgs = pass === 'forward'
        ? this.args([[ARG.src, mx], [ARG.weights, convW], [ARG.dst, my]])
        : pass === 'backwardInput'
          ? this.args([[ARG.diffDst, my], [ARG.weights, convW], [ARG.diffSrc, mx]])
          : this.args([[ARG.src, mx], [ARG.diffDst, my], [ARG.diffWeights, convW]]);
      const bind = pass === 'forward' ? [mx, mw, my] : pass === 'backwardInput' ? [my, mw, mx] : [mx, my, mw];
      return { conv, convArgs, reorder, bind, release, pinned: false };
    } catch (e) {
      release();
      if (e instanceof DnnlError) return null;
      throw e;
    }
  }

  private create(name: keyof typeof API, owned: { kind: 'pd' | 'prim' | 'mem'; handle: unknown }[], kind: 'pd' | 'prim' | 'mem', ...args: unknown[]): unknown {
    const out: unknown[] = [null];
    this.check(name, out, ...args);
    owned.push({ kind, handle: out[0] });
    return out[0];
  }

  /** A dnnl_exec_arg_t array: { int arg; dnnl_memory_t memory } each, 16 bytes. */
  private args(list: readonly [number, unknown][]): Buffer {
    const buf = Buffer.alloc(16 * list.length);
    list.forEach(([arg, mem], i) => {
      buf.writeInt32LE(arg, 16 * i);
      buf.writeBigUInt64LE(BigInt(this.koffi.address(mem)), 16 * i + 8);
    });
    return buf;
  }
}

function dims(...values: number[]): Buffer {
  const buf = Buffer.alloc(12 * 8);
  values.forEach((v, i) => buf.writeBigInt64LE(BigInt(v), 8 * i));
  return buf;
}

/** NHWC view strides in NCHW order. */
function nhwcStrides(v: View): [number, number, number, number] {
  const [sn, sh, sw, sc] = v.strides as [number, number, number, number];
  return [sn, sc, sh, sw];
}

/** Padding past the last window so oneDNN's size rule gives our output size (never negative: the rule floors). */
function rightPadding(g: ConvGeometry): [number, number] {
  const h = (g.outH - 1) * g.strideH + (g.kernelH - 1) * g.dilationH + 1 - g.inH - g.padTop;
  const w = (g.outW - 1) * g.strideW + (g.kernelW - 1) * g.dilationW + 1 - g.inW - g.padLeft;
  return [Math.max(0, h), Math.max(0, w)];
}

function geometryKey(g: ConvGeometry): string {
  return [g.batch, g.inH, g.inW, g.channels, g.outChannels, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft, g.dilationH, g.dilationW, g.outH, g.outW].join(',');
}

/** The view's first element, for a data handle (koffi passes typed arrays by address). */
function pointer(v: View): Float32Array {
  return (dataOf(v) as Float32Array).subarray(v.offset);
}

function candidates(): string[] {
  const fromEnv = env('TESSERA_ONEDNN');
  if (fromEnv) return [fromEnv];
  if (process.platform === 'win32') return ['dnnl.dll'];
  if (process.platform === 'darwin') return ['libdnnl.2.dylib', '/opt/homebrew/lib/libdnnl.2.dylib', '/usr/local/lib/libdnnl.2.dylib'];
  return ['libdnnl.so.2'];
}

/**
 * oneDNN's OpenMP threads spin after each kernel (GNU OpenMP: 300000 rounds by default), which
 * takes a core from OpenBLAS when a product follows a convolution: the dense layer after the
 * Fashion-MNIST CNN's convolutions took 2.2 ms instead of 0.5. A third of that spin keeps the
 * convolutions' own wake-ups cheap. libgomp reads its settings once, as it loads, so the
 * variable is set only around the load, and only when the user set neither.
 */
function withShortOpenMpSpin<T>(load: () => T): T {
  if (process.env['GOMP_SPINCOUNT'] !== undefined || process.env['OMP_WAIT_POLICY'] !== undefined) return load();
  process.env['GOMP_SPINCOUNT'] = '100000';
  try {
    return load();
  } finally {
    delete process.env['GOMP_SPINCOUNT'];
  }
}

let probed: OneDnnProbe | undefined;

/** Loads oneDNN 2.x if the system has it; TESSERA_ONEDNN=none turns it off (convolutions by im2col + GEMM). */
export function probeOneDnn(): OneDnnProbe {
  if (probed) return probed;
  if (env('TESSERA_ONEDNN') === 'none') return (probed = { library: null, tried: [], reason: 'disabled by TESSERA_ONEDNN=none' });
  const nodeModule = nodeBuiltin('module');
  if (!nodeModule) return (probed = { library: null, tried: [], reason: 'no FFI outside Node.js' });
  let koffi: Koffi;
  try {
    koffi = loadKoffi();
  } catch (e) {
    return (probed = { library: null, tried: [], reason: `the koffi FFI package could not be loaded (${(e as Error).message})` });
  }
  const tried: string[] = [];
  let reason = 'no libdnnl.so.2 found (Debian/Ubuntu: apt install libdnnl2)';
  for (const path of candidates()) {
    tried.push(path);
    let lib: ReturnType<Koffi['load']>;
    try {
      lib = withShortOpenMpSpin(() => koffi.load(path));
    } catch {
      continue;
    }
    try {
      const api = Object.fromEntries(Object.entries(API).map(([name, proto]) => [name, lib.func(proto) as Fn])) as Record<keyof typeof API, Fn>;
      const [major, minor, patch] = koffi.decode(api.dnnl_version() as never, 'int', 3) as number[];
      if (major !== 2) {
        reason = `${path} is oneDNN ${major}.${minor}; tessera binds the 2.x API`;
        continue;
      }
      keepLoaded(koffi, path);
      return (probed = { library: new OneDnnLibrary(koffi, api, path, `${major}.${minor}.${patch}`), tried });
    } catch (e) {
      reason = `${path} could not be used: ${(e as Error).message}`;
    }
  }
  return (probed = { library: null, tried, reason });
}
