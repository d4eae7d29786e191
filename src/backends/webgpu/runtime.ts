// The WebGPU runtime under the backend: pooled buffers, one compute pass that collects
// dispatches until a read (the only sync point), cached pipelines, and errors that surface on
// the next operation instead of hanging.
import { TesseraError } from '../../core/errors.js';
import { isNode } from '../../core/platform.js';
import { currentOpLabel } from '../trace.js';
import { TimestampTimer } from './timestamps.js';

export interface Kernel { pipeline: GPUComputePipeline; source: string; label: string }

/** A dispatch made once and encoded again at every replay of a compiled step. */
export interface RecordedDispatch { readonly pipeline: GPUComputePipeline; readonly bindGroup: GPUBindGroup; readonly groups: [number, number, number]; readonly meta: GPUBuffer }
/** What a primitive dispatched while recorded, and the buffers it released (its temporaries, kept for the replays). */
export interface Recording { readonly dispatches: RecordedDispatch[]; readonly buffers: GPUBuffer[] }

/** Thrown inside a recording by what needs the host now (an upload, a read): that call replays as usual. */
class NeedsHost extends Error {}

const STORAGE = 0x0080 | 0x0004 | 0x0008; // STORAGE | COPY_SRC | COPY_DST
const MAP_READ = 0x0001, COPY_DST = 0x0008;
/** Submit after this many dispatches so the device starts while the host keeps encoding. */
const DISPATCHES_PER_SUBMIT = 256;
const MAX_GROUPS = 65535;

export class GpuRuntime {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private readonly pool = new Map<number, GPUBuffer[]>();
  private readonly pipelines = new Map<string, Kernel>();
  private readonly transient: GPUBuffer[] = [];
  private deferred: Error | null = null;
  bytesReserved = 0;
  /** present when the device has 'timestamp-query' */
  readonly timer: TimestampTimer | undefined;

  constructor(readonly device: GPUDevice, readonly label: string) {
    this.timer = device.features.has('timestamp-query') ? new TimestampTimer(device, () => this.flush()) : undefined;
    // In Node, device.lost is not awaited: in Dawn's Node build a pending lost-promise keeps the
    // process alive and crashes it at exit; there a lost device shows up as failed reads. Browsers
    // say at once, so the next op fails with the reason instead of computing into nothing.
    if (!isNode) {
      void device.lost.then((info) => {
        this.lost ??= new TesseraError('webgpu', `the GPU device was lost (${info.reason === 'destroyed' ? 'destroyed' : 'the browser or driver reset it'}${info.message ? `: ${info.message}` : ''}); its tensors are gone: call tsr.releaseDevices() and tsr.initDevices() to open it again, or use the cpu device`);
      });
    }
    device.addEventListener?.('uncapturederror', (e) => {
      this.deferred ??= new TesseraError('webgpu', `device error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
  }

  /** Set once the device is gone: every later op fails with it. */
  private lost: TesseraError | null = null;

  /** Throws an error that happened asynchronously, at the first op after it. */
  check(): void {
    if (this.lost) throw this.lost;
    if (this.deferred) {
      const e = this.deferred;
      this.deferred = null;
      throw e;
    }
  }

  createBuffer(bytes: number): GPUBuffer {
    this.check();
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const reuse = this.pool.get(size)?.pop();
    if (reuse) return reuse;
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if (size > limit) throw new TesseraError('webgpu', `out of memory: a tensor of ${bytes} bytes exceeds the device's largest storage buffer (${limit} bytes)`);
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage: STORAGE });
    void this.device.popErrorScope().then((err) => {
      if (err) this.deferred ??= new TesseraError('webgpu', `out of memory: could not allocate ${bytes} bytes (${this.bytesReserved} bytes reserved by tessera): ${err.message}`);
    });
    this.bytesReserved += size;
    return buffer;
  }

  releaseBuffer(buffer: GPUBuffer): void {
    if (this.recording) return void this.recording.buffers.push(buffer);
    let list = this.pool.get(buffer.size);
    if (!list) this.pool.set(buffer.size, (list = []));
    list.push(buffer);
  }

  kernel(key: string, source: () => string, label: string): Kernel {
    let k = this.pipelines.get(key);
    if (k) return k;
    const code = source();
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label });
    const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
    void this.device.popErrorScope().then((err) => {
      if (err) {
        const numbered = code.split('\n').map((l, i) => `${String(i + 1).padStart(4)}: ${l}`).join('\n');
        this.deferred ??= new TesseraError('webgpu', `kernel '${label}' failed to compile: ${err.message}\n${numbered}`);
      }
    });
    this.pipelines.set(key, (k = { pipeline, source: code, label }));
    return k;
  }

  /** Encodes one dispatch of `threads` invocations (x-major, 2-D grid beyond 65535 groups). */
  dispatch(kernel: Kernel, meta: Int32Array, buffers: readonly GPUBuffer[], groups: [number, number, number]): void {
    this.check();
    const metaBuffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(meta.byteLength / 16) * 16), usage: 0x0080, mappedAtCreation: true });
    new Int32Array(metaBuffer.getMappedRange()).set(meta);
    metaBuffer.unmap();
    const bindGroup = this.device.createBindGroup({
      layout: kernel.pipeline.getBindGroupLayout(0),
      entries: [metaBuffer, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    if (this.recording) return void this.recording.dispatches.push({ pipeline: kernel.pipeline, bindGroup, groups, meta: metaBuffer });
    this.transient.push(metaBuffer);
    this.encoder ??= this.device.createCommandEncoder();
    const timed = this.timer?.active === true;
    if (timed) {
      // a pass of its own, so the GPU stamps this dispatch alone
      this.pass?.end();
      this.pass = this.encoder.beginComputePass(this.timer!.passFor(currentOpLabel()));
    }
    this.pass ??= this.encoder.beginComputePass();
    this.pass.setPipeline(kernel.pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(...groups);
    if (timed) {
      this.pass.end();
      this.pass = null;
    }
    if (++this.dispatches >= DISPATCHES_PER_SUBMIT || (timed && this.timer!.full)) this.flush();
  }

  /** Groups for `n` one-dimensional work items of `perGroup` each. */
  static grid(n: number, perGroup: number): [number, number, number] {
    const groups = Math.max(1, Math.ceil(n / perGroup));
    return groups <= MAX_GROUPS ? [groups, 1, 1] : [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS), 1];
  }

  private recording: Recording | null = null;

  /**
   * Runs `encode` (a primitive) with its dispatches made and kept rather than encoded, for a
   * compiled step to encode again at every replay; null when it needs the host (an upload).
   */
  record(encode: () => void): Recording | null {
    const recording: Recording = { dispatches: [], buffers: [] };
    this.recording = recording;
    try {
      encode();
      return recording;
    } catch (e) {
      if (!(e instanceof NeedsHost)) throw e;
      this.recording = null;
      this.dropRecording(recording);
      return null;
    } finally {
      this.recording = null;
    }
  }

  /** Encodes a recorded dispatch into the current pass (submitted by the next flush). */
  encodeRecorded(d: RecordedDispatch): void {
    this.check();
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    this.pass.setPipeline(d.pipeline);
    this.pass.setBindGroup(0, d.bindGroup);
    this.pass.dispatchWorkgroups(...d.groups);
  }

  dropRecording(r: Recording): void {
    for (const d of r.dispatches) this.transient.push(d.meta);
    for (const b of r.buffers.splice(0)) this.releaseBuffer(b);
    r.dispatches.length = 0;
  }

  /** Submits everything encoded so far. */
  flush(): void {
    if (this.recording) throw new NeedsHost();
    if (!this.encoder) return;
    this.pass?.end();
    const readStamps = this.timer?.resolveInto(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    readStamps?.();
    this.pass = null;
    this.encoder = null;
    this.dispatches = 0;
    // destroyed buffers stay alive until the submitted work that uses them is done
    for (const b of this.transient.splice(0)) b.destroy();
  }

  write(buffer: GPUBuffer, data: ArrayBufferView): void {
    if (this.recording) throw new NeedsHost();
    this.check();
    // earlier dispatches must read the old contents first
    this.flush();
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, Math.ceil(data.byteLength / 4) * 4);
  }

  async read(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    return (await this.readWith(buffer, bytes, null)).data;
  }

  /** Reads `bytes` of `buffer` and, in the same copy and mapping, the 16 bytes of `extra`. */
  async readWith(buffer: GPUBuffer, bytes: number, extra: GPUBuffer | null): Promise<{ data: ArrayBuffer; extra: Uint32Array | null }> {
    if (this.recording) throw new NeedsHost();
    this.check();
    this.flush();
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const staging = this.device.createBuffer({ size: size + (extra ? 16 : 0), usage: MAP_READ | COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, 0, staging, 0, Math.min(size, buffer.size));
    if (extra) enc.copyBufferToBuffer(extra, 0, staging, size, 16);
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(0x0001);
    } catch (e) {
      this.check();
      // in a browser the device's lost promise, with its reason, settles just after the failed mapping
      if (!isNode) {
        await Promise.race([this.device.lost, new Promise((resolve) => setTimeout(resolve, 1000))]);
        this.check();
      }
      // a mapping is refused only when the device is gone (lost or destroyed)
      this.lost = new TesseraError('webgpu', `the GPU device was lost or destroyed (reading a tensor failed${(e as Error).message ? `: ${(e as Error).message}` : ''}); its tensors are gone: call tsr.releaseDevices() and tsr.initDevices() to open it again`);
      throw this.lost;
    }
    const data = staging.getMappedRange(0, Math.ceil(bytes / 4) * 4).slice(0);
    const flags = extra ? new Uint32Array(staging.getMappedRange(size, 16).slice(0)) : null;
    staging.unmap();
    staging.destroy();
    this.check();
    return { data, extra: flags };
  }
}
