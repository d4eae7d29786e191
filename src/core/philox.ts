// Philox 4x32-10 counter-based generator: the same (seed, counter) gives the same numbers on
// every device, so each backend reimplements exactly this mapping.
//
// Element i of a draw with counter offset c uses block c + floor(i / 4), lane i % 4.
// uniform: (lane >>> 8) * 2^-24, in [0, 1).
// normal:  Box-Muller on lanes (0,1) or (2,3) of the block; even i takes cos, odd i sin.

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

function mulhi(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const lh = al * bh, hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** Writes the four 32-bit outputs of block `counter` (a non-negative integer < 2^53) into out. */
export function philoxBlock(seedLo: number, seedHi: number, counter: number, out: Uint32Array): void {
  let c0 = counter >>> 0, c1 = Math.floor(counter / 4294967296) >>> 0, c2 = 0, c3 = 0;
  let k0 = seedLo >>> 0, k1 = seedHi >>> 0;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

export function splitSeed(seed: number): [number, number] {
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

const TWO_POW_M24 = 1 / 16777216;

export function philoxFill(kind: 'uniform' | 'normal', seed: number, counterOffset: number, out: Float32Array, start: number, size: number): void {
  const [lo, hi] = splitSeed(seed);
  const block = new Uint32Array(4);
  for (let i = 0; i < size; i += 4) {
    philoxBlock(lo, hi, counterOffset + i / 4, block);
    const n = Math.min(4, size - i);
    if (kind === 'uniform') {
      for (let l = 0; l < n; l++) out[start + i + l] = (block[l]! >>> 8) * TWO_POW_M24;
    } else {
      for (let l = 0; l < n; l++) {
        const pair = l & 2;
        const u1 = ((block[pair]! >>> 8) + 1) * TWO_POW_M24;
        const u2 = (block[pair + 1]! >>> 8) * TWO_POW_M24;
        const r = Math.sqrt(-2 * Math.log(u1));
        out[start + i + l] = (l & 1) === 0 ? r * Math.cos(2 * Math.PI * u2) : r * Math.sin(2 * Math.PI * u2);
      }
    }
  }
}
