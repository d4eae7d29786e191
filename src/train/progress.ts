// Keras-style progress: a live bar on a terminal, one line per epoch otherwise.

export type Verbose = 0 | 1 | 2;

/** Where progress goes: a Node stream, or (in browsers) the console, a line at a time. */
export interface ProgressOutput { write(text: string): unknown; isTTY?: boolean }

function defaultOutput(): ProgressOutput {
  const stdout = (globalThis as { process?: { stdout?: ProgressOutput } }).process?.stdout;
  if (stdout) return stdout;
  let pending = '';
  return {
    write(text: string) {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) console.log(line);
    },
  };
}

function fmt(logs: Record<string, number>): string {
  return Object.entries(logs).map(([k, v]) => ` - ${k}: ${Math.abs(v) >= 1e4 ? v.toExponential(3) : v.toFixed(4)}`).join('');
}

function seconds(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(Math.floor(s) % 60).padStart(2, '0')}`;
  if (s >= 60) return `${Math.floor(s / 60)}:${String(Math.floor(s) % 60).padStart(2, '0')}`;
  return `${s.toFixed(s < 10 ? 1 : 0)}s`;
}

export class Progress {
  private start = 0;
  private lastDraw = 0;
  private readonly tty: boolean;

  /** Whether the bar redraws during an epoch (a terminal with verbose 1). */
  get live(): boolean { return this.tty; }

  constructor(private readonly verbose: Verbose, private readonly epochs: number, private readonly steps: number, private readonly out: ProgressOutput = defaultOutput()) {
    this.tty = verbose === 1 && !!out.isTTY;
  }

  epochBegin(epoch: number): void {
    this.start = performance.now();
    this.lastDraw = 0;
    if (this.verbose === 1) this.out.write(`Epoch ${epoch + 1}/${this.epochs}\n`);
  }

  /** Whether batchEnd would redraw now: values need reading only then. */
  due(step: number): boolean {
    return this.tty && (step >= this.steps || performance.now() - this.lastDraw >= 100);
  }

  /** Redraws the bar at most ~10 times a second. */
  batchEnd(step: number, samples: number, logs: Record<string, number>): void {
    if (!this.tty) return;
    const now = performance.now();
    if (step < this.steps && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const elapsed = (now - this.start) / 1000;
    const width = 30;
    const done = Math.floor((step / this.steps) * width);
    const bar = '='.repeat(Math.max(0, done - 1)) + (done >= width ? '=' : '>') + '.'.repeat(Math.max(0, width - done));
    const eta = step > 0 ? (elapsed / step) * (this.steps - step) : 0;
    const rate = samples / Math.max(elapsed, 1e-9);
    this.out.write(`\r${String(step).padStart(String(this.steps).length)}/${this.steps} [${bar}] - ETA: ${seconds(eta)}${fmt(logs)} - ${Math.round(rate)} samples/s\x1b[K`);
  }

  epochEnd(epoch: number, samples: number, logs: Record<string, number>): void {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = Math.round(samples / Math.max(elapsed, 1e-9));
    if (this.verbose === 1 && this.tty) {
      this.out.write(`\r${this.steps}/${this.steps} [${'='.repeat(30)}] - ${seconds(elapsed)} ${(elapsed * 1000 / this.steps).toFixed(0)}ms/step${fmt(logs)} - ${rate} samples/s\x1b[K\n`);
    } else if (this.verbose >= 1) {
      this.out.write(`${this.verbose === 2 ? `Epoch ${epoch + 1}/${this.epochs} - ` : ''}${this.steps}/${this.steps} - ${seconds(elapsed)}${fmt(logs)} - ${rate} samples/s\n`);
    }
  }
}
