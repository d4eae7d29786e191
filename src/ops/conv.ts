// 2-D convolution over NHWC input with HWIO kernels (Keras's layout): the device's own kernels
// where it has them (oneDNN on the CPU), else im2col + one GEMM per group.
import { fail, shapeStr } from '../core/errors.js';
import type { Backend, ConvGeometry, View } from '../backends/backend.js';
import { attachGrad, isGradEnabled } from '../tensor/autograd.js';
import type { Tensor } from '../tensor/tensor.js';
import { fillLike } from './apply.js';
import { backendOf, empty, requireFloat } from './util.js';
import { contiguous } from './views.js';
import { type Padding, type Pair, windowGeometry } from './window-geometry.js';

export interface Conv2dOptions {
  strides?: Pair;
  padding?: Padding;
  dilations?: Pair;
  groups?: number;
}

/** A [1, rows, cols] matrix view of a strided 2-D window onto a tensor's storage. */
function mat(t: Tensor, rows: number, cols: number, rowStride: number, colStride: number, offset: number): View {
  return { storage: t.storageView.storage, shape: [1, rows, cols], strides: [0, rowStride, colStride], offset };
}

/** The convolution through the device's own kernels, or null when it has none for these views. */
function directConv(backend: Backend, x: Tensor, w: Tensor, g: ConvGeometry): Tensor | null {
  const out = empty(backend, [g.batch, g.outH, g.outW, g.outChannels], 'float32');
  if (!backend.conv2d!(x.storageView, w.storageView, out.storageView, g)) {
    out.dispose();
    return null;
  }
  if (!(isGradEnabled() && (x.requiresGrad || w.requiresGrad))) return out;
  return attachGrad(out, 'conv2d', [x, w], (dy, needs) => {
    const dyc = contiguous(dy);
    let dx: Tensor | null = null, dw: Tensor | null = null;
    if (needs[0]) {
      dx = empty(backend, x.shape, 'float32');
      backend.conv2dBackwardInput!(dyc.storageView, w.storageView, dx.storageView, g);
    }
    if (needs[1]) {
      dw = empty(backend, w.shape, 'float32');
      backend.conv2dBackwardFilter!(x.storageView, dyc.storageView, dw.storageView, g);
    }
    return [dx, dw];
  });
}

/**
 * Convolves x [N, H, W, Cin] with kernel w [KH, KW, Cin/groups, Cout]; returns [N, OH, OW, Cout].
 * @example tsr.conv2d(x, w, { strides: 1, padding: 'same' })
 */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  const backend = backendOf(op, [x, w]);
  requireFloat(op, x, w);
  const groups = opts.groups ?? 1;
  if (w.rank !== 4) fail(op, `kernel must have rank 4 [KH, KW, Cin/groups, Cout], got ${shapeStr(w.shape)}`);
  const [kh, kw, cg, cout] = w.shape as [number, number, number, number];
  const g = windowGeometry(op, x.shape, kh, kw, opts.strides ?? 1, opts.padding ?? 'valid', opts.dilations ?? 1);
  const cin = g.channels;
  if (!Number.isInteger(groups) || groups < 1 || cin % groups !== 0 || cout % groups !== 0) {
    fail(op, `groups=${groups} must divide input channels ${cin} and output channels ${cout}`);
  }
  if (cg * groups !== cin) fail(op, `kernel ${shapeStr(w.shape)} expects ${cg * groups} input channels, input ${shapeStr(x.shape)} has ${cin}`);
  const og = cout / groups;
  if (groups === 1 && backend.conv2d) {
    const direct = directConv(backend, x, w, { ...g, outChannels: cout });
    if (direct) return direct;
  }
  const rows = g.batch * g.outH * g.outW, kdim = kh * kw * cg;
  const pointwise = kh === 1 && kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padTop === 0 && g.padLeft === 0 && groups === 1 && x.isDense;
  // columns: [rows, kdim] per group, stored side by side as [groups, rows, kdim]
  const cols = pointwise ? x : empty(backend, [groups, rows, kdim], 'float32');
  const colOffset = (gi: number) => (pointwise ? x.offset : gi * rows * kdim);
  if (!pointwise) {
    for (let gi = 0; gi < groups; gi++) {
      const xg = { ...x.storageView, shape: [g.batch, g.inH, g.inW, cg], offset: x.offset + gi * cg * x.strides[3]! };
      backend.im2col(xg, { storage: cols.storageView.storage, shape: [rows, kdim], strides: [kdim, 1], offset: colOffset(gi) }, { ...g, channels: cg });
    }
  }
  const out = empty(backend, [g.batch, g.outH, g.outW, cout], 'float32');
  const wc = contiguous(w);
  for (let gi = 0; gi < groups; gi++) {
    backend.matmul(
      mat(cols, rows, kdim, kdim, 1, colOffset(gi)),
      mat(wc, kdim, og, cout, 1, wc.offset + gi * og),
      mat(out, rows, og, cout, 1, gi * og),
    );
  }
  const needsGrad = isGradEnabled() && (x.requiresGrad || w.requiresGrad);
  if (!needsGrad) {
    if (cols !== x) cols.dispose();
    return out;
  }
  return attachGrad(out, op, [x, w], (dy, needs) => {
    const dyc = contiguous(dy);
    let dw: Tensor | null = null, dx: Tensor | null = null;
    if (needs[1]) {
      dw = empty(backend, w.shape, 'float32');
      for (let gi = 0; gi < groups; gi++) {
        // dW_g = cols_g^T @ dY_g
        backend.matmul(
          mat(cols, kdim, rows, 1, kdim, colOffset(gi)),
          mat(dyc, rows, og, cout, 1, dyc.offset + gi * og),
          mat(dw, kdim, og, cout, 1, gi * og),
        );
      }
    }
    if (needs[0]) {
      dx = fillLike(x, x.shape, 0);
      const dcols = empty(backend, [rows, kdim], 'float32');
      for (let gi = 0; gi < groups; gi++) {
        // dCols_g = dY_g @ W_g^T, then scattered back to the input positions
        backend.matmul(
          mat(dyc, rows, og, cout, 1, dyc.offset + gi * og),
          mat(wc, og, kdim, 1, cout, wc.offset + gi * og),
          mat(dcols, rows, kdim, kdim, 1, 0),
        );
        if (pointwise) {
          backend.elementwise([{ kind: 'input', index: 0, dtype: 'float32' }], [dcols.storageView], [{ ...dx.storageView, shape: [rows, kdim], strides: [kdim, 1] }]);
        } else {
          const dxg = { ...dx.storageView, shape: [g.batch, g.inH, g.inW, cg], offset: gi * cg };
          backend.col2im(dcols.storageView, dxg, { ...g, channels: cg });
        }
      }
      dcols.dispose();
    }
    return [dx, dw];
  });
}
