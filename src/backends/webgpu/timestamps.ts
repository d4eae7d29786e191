// Per-kernel device times from WebGPU timestamp queries: while timing, each dispatch gets its
// own compute pass whose start and end the GPU stamps; the stamps are resolved at each submit
// and read back asynchronously.
import type { KernelTimer } from '../backend.js';

const QUERY_RESOLVE = 0x0200, COPY_SRC = 0x0004, COPY_DST = 0x0008, MAP_READ = 0x0001;
/** Dispatches timed per submission: two stamps each, within the 4096-query limit of a set. */
export const TIMED_PER_SUBMIT = 256;

export class TimestampTimer implements KernelTimer {
  readonly clock = 'WebGPU timestamp queries';
  private record: ((label: string, ms: number) => void) | null = null;
  private querySet: GPUQuerySet | null = null;
  private labels: string[] = [];
  private readonly pending: Promise<void>[] = [];

  constructor(private readonly device: GPUDevice, private readonly flushRuntime: () => void) {}

  get active(): boolean {
    return this.record !== null;
  }

  start(record: (label: string, ms: number) => void): void {
    this.flushRuntime();
    this.record = record;
  }

  async stop(): Promise<void> {
    this.flushRuntime();
    this.record = null;
    await Promise.all(this.pending.splice(0));
  }

  /** The pass descriptor for the next dispatch, stamped at its start and end. */
  passFor(label: string): GPUComputePassDescriptor {
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: 2 * TIMED_PER_SUBMIT });
    const i = this.labels.push(label) - 1;
    return { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  get full(): boolean {
    return this.labels.length >= TIMED_PER_SUBMIT;
  }

  /** Adds the copy-out of this submission's stamps to its encoder; call just before submit. */
  resolveInto(encoder: GPUCommandEncoder): (() => void) | null {
    const record = this.record, querySet = this.querySet, labels = this.labels;
    if (!record || !querySet || labels.length === 0) return null;
    this.querySet = null;
    this.labels = [];
    const bytes = labels.length * 16;
    const resolved = this.device.createBuffer({ size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
    const readable = this.device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
    encoder.resolveQuerySet(querySet, 0, labels.length * 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, readable, 0, bytes);
    // after submit: read the stamps back when the GPU is done
    return () => {
      this.pending.push(readable.mapAsync(MAP_READ).then(() => {
        const stamps = new BigUint64Array(readable.getMappedRange());
        labels.forEach((label, k) => {
          const ns = Number(stamps[2 * k + 1]! - stamps[2 * k]!);
          // some drivers reorder or reset stamps; a negative span is reported as zero
          record(label, Math.max(0, ns) / 1e6);
        });
        readable.unmap();
      }).finally(() => {
        readable.destroy();
        resolved.destroy();
        querySet.destroy();
      }));
    };
  }
}
