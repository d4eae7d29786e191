// Weight initialisers (Keras's names), drawn from the seeded generator.
import { fail } from '../core/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { full, tensor } from '../ops/creation.js';
import { rand, randn } from '../ops/random.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/scope.js';
import { mul } from '../ops/arith.js';

export type InitializerName = 'glorotUniform' | 'glorotNormal' | 'heNormal' | 'heUniform' | 'lecunNormal' | 'orthogonal' | 'zeros' | 'ones';
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
    case 'orthogonal': return orthogonal(shape, device);
    default: return fail('initializer', `unknown initializer '${String(init)}' (expected glorotUniform, glorotNormal, heNormal, heUniform, lecunNormal, orthogonal, zeros or ones)`);
  }
}

/**
 * A matrix [rows, cols] with orthonormal rows or columns (whichever are fewer), as Keras's
 * orthogonal initializer: Gram-Schmidt on a normal draw of the seeded generator, on the host.
 */
function orthogonal(shape: readonly number[], device: string): Tensor {
  if (shape.length < 2) fail('initializer', `orthogonal needs a matrix shape, got [${shape.join(', ')}]`);
  const cols = shape[shape.length - 1]!, rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  // orthonormalise the longer side's vectors: n vectors of length m
  const n = Math.min(rows, cols), m = Math.max(rows, cols);
  const draw = randn([n, m], { device: 'cpu' });
  const v = Float64Array.from(draw.dataSync());
  draw.dispose();
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let k = 0; k < m; k++) dot += v[i * m + k]! * v[j * m + k]!;
      for (let k = 0; k < m; k++) v[i * m + k]! -= dot * v[j * m + k]!;
    }
    let norm = 0;
    for (let k = 0; k < m; k++) norm += v[i * m + k]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let k = 0; k < m; k++) v[i * m + k]! /= norm;
  }
  // rows <= cols: the vectors are the rows; else they are the columns
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < n; i++) for (let k = 0; k < m; k++) out[rows <= cols ? i * cols + k : k * cols + i] = v[i * m + k]!;
  return tidy(() => tensor(out, { device }).reshape([...shape]));
}
