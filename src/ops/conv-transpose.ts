// Transposed 2-D convolution (Keras's Conv2DTranspose, a "deconvolution"): the input gradient of
// a convolution used as a forward pass, so each input pixel spreads over a kernel-sized window of
// the larger output. Computed as one GEMM into columns and col2im on every device; its own
// gradients are a plain convolution (for x) and an im2col GEMM (for the kernel).
import { fail, shapeStr } from '../core/errors.js';
import type { View } from '../backends/backend.js';
import { attachGrad, isGradEnabled } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { fillLike } from './apply.js';
import { conv2d } from './conv.js';
import { backendOf, empty, requireFloat } from './util.js';
import { contiguous } from './views.js';
import { type Padding, type Pair, pair, windowGeometry } from './window-geometry.js';

export interface Conv2dTransposeOptions {
  strides?: Pair;
  padding?: Padding;
  dilations?: Pair;
}

const mat = (t: Tensor, rows: number, cols: number, rowStride: number, colStride: number, offset = t.offset): View =>
  ({ storage: t.storageView.storage, shape: [1, rows, cols], strides: [0, rowStride, colStride], offset });

/** The output size along one axis: the input size of the convolution whose output is `n` long. */
function outSize(n: number, k: number, s: number, d: number, padding: Padding): number {
  return padding === 'same' ? n * s : (n - 1) * s + (k - 1) * d + 1;
}

/**
 * x [N, H, W, Cin] with kernel w [KH, KW, Cout, Cin] (Keras's layout for the transpose: the
 * convolution's kernel, read backwards) to [N, H*s, W*s, Cout] ('same') or
 * [N, (H-1)*s + KH, (W-1)*s + KW, Cout] ('valid').
 * @example tsr.conv2dTranspose(x, w, { strides: 2, padding: 'same' })
 */
export function conv2dTranspose(x: Tensor, w: Tensor, opts: Conv2dTransposeOptions = {}): Tensor {
  const op = 'conv2dTranspose';
  const backend = backendOf(op, [x, w]);
  requireFloat(op, x, w);
  if (x.rank !== 4) fail(op, `input must be [N, H, W, C], got ${shapeStr(x.shape)}`);
  if (w.rank !== 4) fail(op, `kernel must be [KH, KW, Cout, Cin], got ${shapeStr(w.shape)}`);
  const [n, h, wd, cin] = x.shape as [number, number, number, number];
  const [kh, kw, cout, kin] = w.shape as [number, number, number, number];
  if (kin !== cin) fail(op, `kernel ${shapeStr(w.shape)} expects ${kin} input channels, input ${shapeStr(x.shape)} has ${cin}`);
  const strides = opts.strides ?? 1, padding = opts.padding ?? 'valid', dilations = opts.dilations ?? 1;
  const [sh, sw] = pair(op, 'strides', strides), [dh, dw] = pair(op, 'dilations', dilations);
  const outShape = [n, outSize(h, kh, sh, dh, padding), outSize(wd, kw, sw, dw, padding), cout];
  // the convolution this one transposes: from the output back to x's size
  const g = { ...windowGeometry(op, outShape, kh, kw, strides, padding, dilations), outChannels: cin };
  if (g.outH !== h || g.outW !== wd) fail(op, `internal: the convolution of ${shapeStr(outShape)} gives ${g.outH}x${g.outW}, not the input's ${h}x${wd}`);
  const rows = n * h * wd, kdim = kh * kw * cout;
  const xc = contiguous(x), wc = contiguous(w);
  // columns = x @ W^T ([rows, Cin] @ [Cin, KH*KW*Cout]), then each column adds into its window
  const cols = empty(backend, [rows, kdim], 'float32');
  backend.matmul(mat(xc, rows, cin, cin, 1), mat(wc, cin, kdim, 1, cin), mat(cols, rows, kdim, kdim, 1, 0));
  const out = fillLike(x, outShape, 0);
  backend.col2im(cols.storageView, out.storageView, { ...g, channels: cout });
  cols.dispose();
  if (!(isGradEnabled() && (x.requiresGrad || w.requiresGrad))) return out;
  return attachGrad(out, op, [x, w], (dy, needs) => {
    // d/dx: the convolution itself; d/dw: im2col(dy)^T @ x, the convolution's filter gradient with dy as its input
    const dx = needs[0] ? conv2d(dy, w, { strides, padding, dilations }) : null;
    let dW: Tensor | null = null;
    if (needs[1]) {
      const dyCols = empty(backend, [rows, kdim], 'float32');
      backend.im2col(contiguous(dy).storageView, { storage: dyCols.storageView.storage, shape: [rows, kdim], strides: [kdim, 1], offset: 0 }, { ...g, channels: cout });
      dW = empty(backend, w.shape, 'float32');
      // dW [kdim, Cin] laid out as [KH, KW, Cout, Cin]
      backend.matmul(mat(dyCols, kdim, rows, 1, kdim, 0), mat(xc, rows, cin, cin, 1), mat(dW, kdim, cin, cin, 1, 0));
      dyCols.dispose();
    }
    return [dx, dW];
  });
}
