// The host side of device index checks (WebGPU, CUDA): the error makers of the checks launched
// since the last read, and the flag words a check kernel writes (position, value, check number).
import type { IndexError } from './backend.js';

/** Flag word 0 while no check has failed. */
export const NO_FAILURE = 0xffffffff;

export class PendingIndexChecks {
  private pending: IndexError[] = [];

  get outstanding(): boolean {
    return this.pending.length > 0;
  }

  /** Records a check about to be launched; its number goes to the kernel. */
  add(error: IndexError): number {
    return this.pending.push(error) - 1;
  }

  /** The error the flags read back report (null if none); the checks are settled either way. */
  settle(words: Uint32Array): Error | null {
    const pending = this.pending;
    this.pending = [];
    if (words[0] === NO_FAILURE) return null;
    return pending[words[2]!]?.(words[1]! | 0, words[0]!) ?? null;
  }
}
