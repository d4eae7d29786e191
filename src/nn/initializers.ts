// Weight initialisers (Keras's names), drawn from the seeded generator.
import { fail } from '../core/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { full } from '../ops/creation.js';
import { rand, randn } from '../ops/random.js';
import { noGrad } from '../tensor/autograd.js';
import { mul } from '../ops/arith.js';

export type InitializerName = 'glorotUniform' | 'glorotNormal' | 'heNormal' | 'heUniform' | 'lecunNormal' | 'zeros' | 'ones';
export type Initializer = InitializerName | ((shape: readonly number[], device: string) => Tensor);

/** fan-in and fan-out of a dense [in, out] or conv [kh, kw, in, out] kernel. */
function fans(shape: readonly number[]): [number, number] {
  if (shape.length < 2) return [shape[0] ?? 1, shape[0] ?? 1];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape[shape.length - 2]! * receptive, shape[shape.length - 1]! * receptive];
}

/** Truncated normal as Keras: redraws beyond 2 std approximated by clamping a scaled normal. */
function normal(shape: readonly number[], std: number, device: string): Tensor {
  return noGrad(() => {
    const z = randn(shape, { device });
    const out = mul(z.clip(-2, 2), std / 0.87962566);
    z.dispose();
    return out;
  });
}

export function initialize(init: Initializer, shape: readonly number[], device: string): Tensor {
  if (typeof init === 'function') return init(shape, device);
  const [fanIn, fanOut] = fans(shape);
  switch (init) {
    case 'zeros': return full(shape, 0, { device });
    case 'ones': return full(shape, 1, { device });
    case 'glorotUniform': { const l = Math.sqrt(6 / (fanIn + fanOut)); return rand(shape, { device, lo: -l, hi: l }); }
    case 'heUniform': { const l = Math.sqrt(6 / fanIn); return rand(shape, { device, lo: -l, hi: l }); }
    case 'glorotNormal': return normal(shape, Math.sqrt(2 / (fanIn + fanOut)), device);
    case 'heNormal': return normal(shape, Math.sqrt(2 / fanIn), device);
    case 'lecunNormal': return normal(shape, Math.sqrt(1 / fanIn), device);
    default: return fail('initializer', `unknown initializer '${String(init)}' (expected glorotUniform, glorotNormal, heNormal, heUniform, lecunNormal, zeros or ones)`);
  }
}
