// The host side of device index checks (WebGPU, CUDA): the error makers of the checks launched
// since the last read, and the flag words a check kernel writes (position, value, check number).
import type { IndexError } from './backend.js';

/** Flag word 0 while no check has failed. */
export const NO_FAILURE = 0xffffffff;

/** The flag words of no failure, to (re)initialise a device's flag buffer. */
export const CLEAR_FLAGS = Uint32Array.of(NO_FAILURE, 0, 0, 0);

export class PendingIndexChecks {
  private pending: IndexError[] = [];

  /** `clear` resets the device's flags after a failure was read. */
  constructor(private readonly clear: () => void) {}

  get outstanding(): boolean {
    return this.pending.length > 0;
  }

  /** Records a check about to be launched; its number goes to the kernel. */
  add(error: IndexError): number {
    return this.pending.push(error) - 1;
  }

  /** Raises the failure the flags read back report, if any, after clearing them; the checks are settled either way. */
  settle(words: Uint32Array): void {
    const pending = this.pending;
    this.pending = [];
    if (words[0] === NO_FAILURE) return;
    this.clear();
    const make = pending[words[2]!];
    if (make) throw make(words[1]! | 0, words[0]!);
  }
}
