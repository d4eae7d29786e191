// The device behind a PJRT plugin (TPUs through libtpu, NVIDIA GPUs through JAX's CUDA plugin):
// it compiles programs instead of launching kernels. Each primitive call lowers to a StableHLO
// module, compiled once per shape and cached; a captured training step lowers to one module.
// Storages are PJRT buffers, replaced by each program's results (PJRT buffers are immutable).
import { type DType, type TypedArray, allocArray, bytesPerElement, isHalf, widened } from '../../core/dtype.js';
import { roundHalfArray } from '../../core/half.js';
import type { Expr } from '../../core/expr.js';
import { TesseraError } from '../../core/errors.js';
import type { Backend, CapturedCall, ConvGeometry, DeviceInfo, IndexError, KernelTimer, RandomKind, RandomState, ReduceKind, Replayer, Storage, View, WindowGeometry } from '../backend.js';
import type { PjrtClient, PjrtExecutable } from './client.js';
import { currentOpLabel } from '../trace.js';
import { elemType } from './hlo-views.js';
import { type LowerableCall, type LoweredModule, type LoweringHooks, lower } from './lower.js';

type Buffer = bigint;

export class PjrtStorage implements Storage {
  /** null until first written (reads of it upload zeros) */
  buffer: Buffer | null = null;
  constructor(readonly dtype: DType, readonly size: number) {}
}

/** An index check's [first bad position, its value] on the device; position `count` means none. */
interface Check { readonly flag: PjrtStorage; readonly error: IndexError; readonly count: number }

/** The PJRT client calls the backend makes (a fake plugin in the tests answers the same). */
export type PjrtDevice = Pick<PjrtClient, 'info' | 'compile' | 'destroyExecutable' | 'upload' | 'download' | 'execute' | 'waitReady' | 'reservedBytes' | 'free' | 'release'>;

export class PjrtBackend implements Backend {
  private readonly executables = new Map<string, PjrtExecutable>();
  private pending = new Set<Check>();
  /** flags of eager checks, freed once read */
  private readonly temporary = new Set<PjrtStorage>();
  /** programs compiled and run, for tests and --profile */
  readonly counts = { compiled: 0, executed: 0 };

  /** the profiler's clock: the host's, around each program, waiting for its results (the PJRT C API has no device timers) */
  readonly timer: KernelTimer;
  private record: ((label: string, ms: number) => void) | null = null;
  /** bytes of the buffers this backend holds, for plugins that report no memory statistics */
  private held = 0;

  constructor(readonly name: string, readonly device: PjrtDevice) {
    this.timer = {
      clock: 'host clock around each program, awaiting its results',
      start: (record) => { this.record = record; },
      stop: async () => { this.record = null; },
    };
  }

  reservedBytes(): number {
    return this.device.reservedBytes() ?? this.held;
  }

  info(): DeviceInfo {
    const d = this.device.info;
    const first = d.devices[0]!;
    return {
      name: this.name,
      kind: d.platform === 'cpu' ? 'cpu' : d.platform === 'tpu' ? 'tpu' : 'gpu',
      description: `${first.kind} (PJRT ${d.platform})`,
      // a plugin that interprets programs (the tests' fake) is slower than the CPU backend
      software: d.platform === 'cpu' || /interpreter/i.test(first.kind),
      matmulPrecision: 'float32',
      details: {
        plugin: d.plugin, pjrtApi: d.apiVersion, platform: d.platform, platformVersion: d.platformVersion,
        devices: d.devices.length, kind: first.kind, ...(first.memoryBytes !== null ? { memoryBytes: first.memoryBytes } : {}),
      },
    };
  }

  alloc(dtype: DType, size: number): Storage {
    return new PjrtStorage(dtype, size);
  }

  free(storage: Storage): void {
    const s = storage as PjrtStorage;
    if (s.buffer !== null) { this.device.free(s.buffer); this.held -= bytesOf(s); }
    s.buffer = null;
  }

  write(storage: Storage, data: TypedArray): void {
    const s = storage as PjrtStorage;
    // widened half storage holds only values the format can represent
    const values = isHalf(s.dtype) ? roundHalfArray(s.dtype, Float32Array.from(data as Float32Array)) : data;
    this.replace(s, this.device.upload(values, elemType(s.dtype), s.size));
  }

  async read(storage: Storage): Promise<TypedArray> {
    await this.raisePendingChecks();
    const s = storage as PjrtStorage;
    const out = allocArray(s.dtype, s.size);
    if (s.buffer !== null && s.size > 0) await this.device.download(s.buffer, out);
    return out;
  }

  elementwise(exprs: readonly Expr[], inputs: readonly View[], outs: readonly View[], params?: readonly number[]): void {
    this.run([{ prim: 'elementwise', args: [exprs, inputs, outs, params] }]);
  }
  reduce(kind: ReduceKind, expr: Expr, inputs: readonly View[], axes: readonly number[], out: View, params?: readonly number[]): void {
    this.run([{ prim: 'reduce', args: [kind, expr, inputs, axes, out, params] }]);
  }
  matmul(a: View, b: View, out: View): void { this.run([{ prim: 'matmul', args: [a, b, out] }]); }
  /** XLA's own convolutions, for float32 (halves go through im2col and a product, as on the CPU). */
  conv2d(x: View, w: View, out: View, g: ConvGeometry): boolean {
    if (x.storage.dtype !== 'float32' || w.storage.dtype !== 'float32') return false;
    this.run([{ prim: 'conv2d', args: [x, w, out, g] }]);
    return true;
  }
  conv2dBackwardInput(dy: View, w: View, dx: View, g: ConvGeometry): void { this.run([{ prim: 'conv2dBackwardInput', args: [dy, w, dx, g] }]); }
  conv2dBackwardFilter(x: View, dy: View, dw: View, g: ConvGeometry): void { this.run([{ prim: 'conv2dBackwardFilter', args: [x, dy, dw, g] }]); }
  im2col(x: View, out: View, g: WindowGeometry): void { this.run([{ prim: 'im2col', args: [x, out, g] }]); }
  col2im(cols: View, out: View, g: WindowGeometry): void { this.run([{ prim: 'col2im', args: [cols, out, g] }]); }
  pool2d(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void { this.run([{ prim: 'pool2d', args: [kind, x, out, g, argmax] }]); }
  pool2dBackward(kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void { this.run([{ prim: 'pool2dBackward', args: [kind, gradOut, gradIn, g, argmax] }]); }
  gather(x: View, indices: View, out: View): void { this.run([{ prim: 'gather', args: [x, indices, out] }]); }
  scatterAdd(src: View, indices: View, out: View): void { this.run([{ prim: 'scatterAdd', args: [src, indices, out] }]); }
  checkIndices(indices: View, limit: number, error: IndexError): void { this.run([{ prim: 'checkIndices', args: [indices, limit, error] }]); }
  random(kind: RandomKind, out: View, state: RandomState): void { this.run([{ prim: 'random', args: [kind, out, state] }]); }

  /** A captured step becomes one module; its host uploads (constants made inside it) are uploaded once, as arguments. */
  replayer(calls: readonly CapturedCall[], scratch: ReadonlySet<Storage>): Replayer {
    const constants: PjrtStorage[] = [];
    const program = this.lowered(calls as readonly LowerableCall[], (c) => {
      const [target, data] = c.args;
      const s = new PjrtStorage(target.dtype, data.length);
      this.write(s, data);
      constants.push(s);
      return s;
    }, scratch);
    return {
      how: `1 StableHLO module on ${this.device.info.platform}`,
      run: () => this.execute(program),
      // executables stay cached: a later plan of the same shapes reuses them
      dispose: () => { for (const s of [...constants, ...program.checks.map((c) => c.flag)]) this.free(s); },
    };
  }

  private run(calls: LowerableCall[]): void {
    const program = this.lowered(calls);
    for (const c of program.checks) this.temporary.add(c.flag);
    this.execute(program);
  }

  private lowered(calls: readonly LowerableCall[], uploaded: LoweringHooks['uploaded'] = () => { throw new Error('a host upload outside a captured step'); }, scratch?: ReadonlySet<Storage>): { module: LoweredModule; exe: PjrtExecutable | null; checks: Check[] } {
    const checks: Check[] = [];
    const module = lower(calls, {
      uploaded,
      checkFlag: (c) => {
        const flag = new PjrtStorage('int32', 2), count = c.args[0].shape[0]!;
        this.write(flag, new Int32Array([count, 0]));
        checks.push({ flag, error: c.args[2], count });
        return flag;
      },
    }, scratch);
    if (module.outputs.length === 0) return { module, exe: null, checks };
    let exe = this.executables.get(module.text);
    if (!exe) {
      exe = this.device.compile(module.text);
      if (exe.numOutputs !== module.outputs.length) throw new TesseraError('pjrt', `the plugin compiled ${exe.numOutputs} outputs for a module of ${module.outputs.length}`);
      this.executables.set(module.text, exe);
      this.counts.compiled++;
    }
    return { module, exe, checks };
  }

  private execute({ module, exe, checks }: ReturnType<PjrtBackend['lowered']>): void {
    if (!exe) return;
    const { floats, words } = module.scalars();
    const scratch: Buffer[] = [];
    if (floats) scratch.push(this.device.upload(floats, 'f32', floats.length));
    if (words) scratch.push(this.device.upload(words, 'ui32', words.length));
    const inputs = module.inputs.map((s) => this.bufferOf(s as PjrtStorage));
    const t0 = this.record ? performance.now() : 0;
    const results = this.device.execute(exe, [...scratch, ...inputs]);
    if (this.record) {
      this.device.waitReady(results);
      this.record(currentOpLabel(), performance.now() - t0);
    }
    for (const b of scratch) this.device.free(b);
    module.outputs.forEach((s, k) => this.replace(s as PjrtStorage, results[k]!));
    this.counts.executed++;
    for (const c of checks) this.pending.add(c);
  }

  /** The storage's buffer, made (zeros) if it was never written. */
  private bufferOf(s: PjrtStorage): Buffer {
    if (s.buffer === null) this.replace(s, this.device.upload(allocArray(s.dtype, s.size), elemType(s.dtype), s.size));
    return s.buffer!;
  }

  private replace(s: PjrtStorage, buffer: Buffer): void {
    if (s.buffer !== null) this.device.free(s.buffer);
    else this.held += bytesOf(s);
    s.buffer = buffer;
  }

  /** Index checks run on the device; the first failure among them raises here, at the next read. */
  private async raisePendingChecks(): Promise<void> {
    const pending = [...this.pending];
    if (!pending.length) return;
    this.pending.clear();
    let failure: Error | null = null;
    for (const { flag, error, count } of pending) {
      if (!failure && flag.buffer !== null) {
        const pair = new Int32Array(2);
        await this.device.download(flag.buffer, pair);
        if (pair[0]! < count) {
          failure = error(pair[1]!, pair[0]!);
          this.write(flag, new Int32Array([count, 0]));
        }
      }
      if (this.temporary.delete(flag)) this.free(flag);
    }
    if (failure) throw failure;
  }

  release(): void {
    for (const e of this.executables.values()) this.device.destroyExecutable(e);
    this.executables.clear();
    this.device.release();
  }
}

/** Device bytes of a storage (half tensors are kept widened to float32). */
const bytesOf = (s: PjrtStorage) => s.size * bytesPerElement(widened(s.dtype));
