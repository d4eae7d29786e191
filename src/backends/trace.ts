// Which op is running on which device: feeds the device-placement log and the profiler.
// Ops announce themselves (noteOp); backends read the current label when they launch a kernel.

/** Receives every op call while a profile is running (kernel times come from KernelTimers). */
export interface TraceCollector {
  opCalled(label: string, device: string): void;
}

let placementLog: ((line: string) => void) | null = null;
let collector: TraceCollector | null = null;
let current = 'unlabelled';
let currentIsGrad = false;
let backwardDepth = 0;

/**
 * Prints each op with the device it runs on, like TensorFlow's placement log; pass a function
 * to receive the lines instead of printing them to stderr.
 * @example tsr.setLogDevicePlacement(true); tsr.matmul(a, b); // "[placement] matmul: cpu"
 */
export function setLogDevicePlacement(on: boolean | ((line: string) => void)): void {
  placementLog = on === false ? null : on === true ? printToStderr : on;
}

function printToStderr(line: string): void {
  if (typeof process !== 'undefined' && process.stderr) process.stderr.write(line + '\n');
  else console.log(line);
}

/** Called at the start of every op. Inside a gradient function the op stays labelled `<op>.grad`. */
export function noteOp(op: string, device: string): void {
  if (backwardDepth > 0) return;
  current = op;
  currentIsGrad = false;
  placementLog?.(`[placement] ${op}: ${device}`);
  collector?.opCalled(op, device);
}

/** Runs one node's gradient function; every kernel it launches is attributed to `<op>.grad`. */
export function inBackward<T>(op: string, device: string, fn: () => T): T {
  if (backwardDepth === 0) {
    // the label string is only built for the log, the profiler and timed kernels: this runs per node per step
    current = op;
    currentIsGrad = true;
    placementLog?.(`[placement] ${op}.grad: ${device}`);
    collector?.opCalled(`${op}.grad`, device);
  }
  backwardDepth++;
  try {
    return fn();
  } finally {
    backwardDepth--;
  }
}

/** Labels the kernels that follow with an op recorded earlier (a replayed step being profiled). */
export function setKernelLabel(label: string): void {
  current = label;
  currentIsGrad = false;
}

/** The op the next kernel belongs to. */
export function currentOpLabel(): string {
  return currentIsGrad ? `${current}.grad` : current;
}

export function activeCollector(): TraceCollector | null {
  return collector;
}

export function setCollector(c: TraceCollector | null): void {
  collector = c;
}
