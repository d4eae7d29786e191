// Philox 4x32-10 in StableHLO, the mapping of src/core/philox.ts: one block per four elements,
// 32x32-bit high products from 16-bit halves in uint32 arithmetic (no 64-bit types needed).
import type { RandomKind, View } from '../backend.js';
import type { HloBuilder, Value } from './hlo-builder.js';
import type { StorageValues } from './hlo-views.js';

const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;

/** state: a ui32 value [seedLo, seedHi, counterLo, counterHi]. */
export function random(vals: StorageValues, kind: RandomKind, out: View, state: Value): void {
  const b = vals.b;
  const size = out.shape.reduce((a, n) => a * n, 1);
  if (size === 0) return;
  const blocks = Math.ceil(size / 4), shape = [blocks];
  const word = (k: number) => b.splat(b.slice(state, [k], [k + 1]), shape);
  const u = (v: number) => b.constant(v, shape, 'ui32');
  const [seedLo, seedHi, counterLo, counterHi] = [0, 1, 2, 3].map(word) as [Value, Value, Value, Value];
  let c0 = b.map('add', [counterLo, b.iota(shape, 0, 'ui32')]);
  const carry = b.convert(b.compare('LT', c0, counterLo), 'ui32');
  let c1 = b.map('add', [counterHi, carry]);
  let c2 = u(0), c3 = u(0), k0 = seedLo, k1 = seedHi;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(b, M0, c0), lo0 = b.map('multiply', [u(M0), c0]);
    const hi1 = mulhi(b, M1, c2), lo1 = b.map('multiply', [u(M1), c2]);
    const n0 = b.map('xor', [b.map('xor', [hi1, c1]), k0]);
    const n2 = b.map('xor', [b.map('xor', [hi0, c3]), k1]);
    [c0, c1, c2, c3] = [n0, lo1, n2, lo0];
    k0 = b.map('add', [k0, u(W0)]);
    k1 = b.map('add', [k1, u(W1)]);
  }
  const top24 = (v: Value) => b.map('multiply', [b.convert(b.map('shift_right_logical', [v, u(8)]), 'f32'), b.constant(2 ** -24, shape, 'f32')]);
  let lanes: Value[];
  if (kind === 'uniform') {
    lanes = [c0, c1, c2, c3].map(top24);
  } else {
    const f = (v: number) => b.constant(v, shape, 'f32');
    lanes = [];
    for (const [x, y] of [[c0, c1], [c2, c3]] as const) {
      const u1 = b.map('add', [top24(x), f(2 ** -24)]);
      const angle = b.map('multiply', [top24(y), f(2 * Math.PI)]);
      const radius = b.map('sqrt', [b.map('multiply', [f(-2), b.map('log', [u1])])]);
      lanes.push(b.map('multiply', [radius, b.map('cosine', [angle])]), b.map('multiply', [radius, b.map('sine', [angle])]));
    }
  }
  const joined = b.reshape(b.concatenate(lanes.map((l) => b.reshape(l, [blocks, 1])), 1), [blocks * 4]);
  vals.assign(out, b.reshape(b.slice(joined, [0], [size]), out.shape));
}

/** High 32 bits of m * v for a constant m, as philox.ts computes them. */
function mulhi(b: HloBuilder, m: number, v: Value): Value {
  const shape = v.shape;
  const u = (x: number) => b.constant(x, shape, 'ui32');
  const al = u(m & 0xffff), ah = u(m >>> 16);
  const bl = b.map('and', [v, u(0xffff)]), bh = b.map('shift_right_logical', [v, u(16)]);
  const lh = b.map('multiply', [al, bh]), hl = b.map('multiply', [ah, bl]);
  const low16 = (x: Value) => b.map('and', [x, u(0xffff)]);
  const high16 = (x: Value) => b.map('shift_right_logical', [x, u(16)]);
  const mid = b.map('add', [b.map('add', [high16(b.map('multiply', [al, bl])), low16(lh)]), low16(hl)]);
  return b.map('add', [b.map('add', [b.map('multiply', [ah, bh]), high16(lh)]), b.map('add', [high16(hl), high16(mid)])]);
}
