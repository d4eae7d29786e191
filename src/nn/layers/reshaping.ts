// Layers that move values without weights (Keras's reshaping layers): zero padding, cropping,
// nearest-neighbour upsampling, axis permutation and vector repetition, over channels-last data.
import { fail } from '../../core/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { pad } from '../../ops/join.js';
import { contiguous, expand, permute, reshape, slice } from '../../ops/views.js';
import { Layer, type LayerArgs } from '../layer.js';

type Pair2 = [[number, number], [number, number]];

/** Keras's forms: n (all sides), [h, w] (symmetric), or [[top, bottom], [left, right]]. */
function sides(op: string, v: unknown): Pair2 {
  const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0;
  const two = (a: unknown): a is unknown[] => Array.isArray(a) && a.length === 2;
  if (ok(v)) return [[v, v], [v, v]];
  if (two(v) && ok(v[0]) && ok(v[1])) return [[v[0], v[0]], [v[1], v[1]]];
  if (two(v) && two(v[0]) && two(v[1]) && [...v[0], ...v[1]].every(ok)) return [[v[0][0] as number, v[0][1] as number], [v[1][0] as number, v[1][1] as number]];
  return fail(op, `expected a non-negative integer, [height, width] or [[top, bottom], [left, right]], got ${JSON.stringify(v)}`);
}

function image(op: string, inputShape: readonly number[]): [number, number, number] {
  if (inputShape.length !== 3) fail(op, `expects per-sample input [height, width, channels], got [${inputShape.join(', ')}]`);
  return inputShape as [number, number, number];
}

/** Zeros around each image: [B, H, W, C] -> [B, H + top + bottom, W + left + right, C]. */
export class ZeroPadding2D extends Layer {
  static override readonly options = ['padding'];
  readonly padding: Pair2;
  constructor(args: LayerArgs & { padding?: number | [number, number] | [[number, number], [number, number]] } = {}) {
    super('zero_padding2d', args);
    this.padding = sides(this.name, args.padding ?? 1);
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    const [h, w, c] = image(this.name, inputShape);
    const [[t, b], [l, r]] = this.padding;
    return [h + t + b, w + l + r, c];
  }
  forward(x: Tensor): Tensor {
    const [[t, b], [l, r]] = this.padding;
    return pad(x, [[0, 0], [t, b], [l, r], [0, 0]]);
  }
}

/** Cuts rows and columns off each image's edges. */
export class Cropping2D extends Layer {
  static override readonly options = ['cropping'];
  readonly cropping: Pair2;
  constructor(args: LayerArgs & { cropping?: number | [number, number] | [[number, number], [number, number]] } = {}) {
    super('cropping2d', args);
    this.cropping = sides(this.name, args.cropping ?? 0);
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    const [h, w, c] = image(this.name, inputShape);
    const [[t, b], [l, r]] = this.cropping;
    if (t + b >= h || l + r >= w) fail(this.name, `cropping ${JSON.stringify(this.cropping)} leaves nothing of a ${h}x${w} image`);
    return [h - t - b, w - l - r, c];
  }
  forward(x: Tensor): Tensor {
    const [, h, w] = x.shape as [number, number, number, number];
    const [[t, b], [l, r]] = this.cropping;
    this.computeOutputShape(x.shape.slice(1));
    return slice(x, [null, [t, h - b], [l, w - r]]);
  }
}

/** Nearest-neighbour upsampling: each pixel repeated size[0] x size[1] times. */
export class UpSampling2D extends Layer {
  static override readonly options = ['size'];
  readonly size: [number, number];
  constructor(args: LayerArgs & { size?: number | [number, number] } = {}) {
    super('up_sampling2d', args);
    const s = args.size ?? 2;
    this.size = typeof s === 'number' ? [s, s] : [s[0], s[1]];
    if (!this.size.every((v) => Number.isInteger(v) && v >= 1)) fail(this.name, `size must be positive integers, got ${JSON.stringify(args.size)}`);
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    const [h, w, c] = image(this.name, inputShape);
    return [h * this.size[0], w * this.size[1], c];
  }
  forward(x: Tensor): Tensor {
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const [sh, sw] = this.size;
    // [B, H, 1, W, 1, C] broadcast to [B, H, sh, W, sw, C], then merged
    const wide = expand(reshape(x, [n, h, 1, w, 1, c]), [n, h, sh, w, sw, c]);
    return reshape(contiguous(wide), [n, h * sh, w * sw, c]);
  }
}

/** Reorders the per-sample axes; dims count from 1, as Keras (the batch axis stays first). */
export class Permute extends Layer {
  static override readonly options = ['dims'];
  readonly dims: number[];
  constructor(args: LayerArgs & { dims: number[] }) {
    super('permute', args);
    const d = args.dims;
    if (!Array.isArray(d) || [...d].sort((a, b) => a - b).some((v, i) => v !== i + 1)) fail(this.name, `dims must order 1..n, got ${JSON.stringify(d)}`);
    this.dims = [...d];
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    if (inputShape.length !== this.dims.length) fail(this.name, `dims ${JSON.stringify(this.dims)} need per-sample rank ${this.dims.length}, got [${inputShape.join(', ')}]`);
    return this.dims.map((d) => inputShape[d - 1]!);
  }
  forward(x: Tensor): Tensor {
    this.computeOutputShape(x.shape.slice(1));
    return permute(x, [0, ...this.dims]);
  }
}

/** [B, F] -> [B, n, F]: the vector repeated n times. */
export class RepeatVector extends Layer {
  static override readonly options = ['n'];
  readonly n: number;
  constructor(args: LayerArgs & { n: number }) {
    super('repeat_vector', args);
    if (!Number.isInteger(args.n) || args.n < 1) fail(this.name, `n must be a positive integer, got ${args.n}`);
    this.n = args.n;
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    if (inputShape.length !== 1) fail(this.name, `expects per-sample vectors, got [${inputShape.join(', ')}]`);
    return [this.n, inputShape[0]!];
  }
  forward(x: Tensor): Tensor {
    const [b, f] = x.shape as [number, number];
    return expand(reshape(x, [b, 1, f]), [b, this.n, f]);
  }
}
