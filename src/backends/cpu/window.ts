// Sliding-window kernels over NHWC: im2col/col2im for convolution, and pooling. Channels are
// the innermost loop everywhere, so reads and writes run along contiguous memory.
import type { View, WindowGeometry } from '../backend.js';
import { dataOf } from './storage.js';

/** Calls row(n, oh, ow, kh, kw, ih, iw) for each window tap in im2col's column order. */
function taps(g: WindowGeometry, tap: (ih: number, iw: number, inside: boolean, n: number) => void): void {
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let kh = 0; kh < g.kernelH; kh++) {
          const ih = oh * g.strideH - g.padTop + kh * g.dilationH;
          for (let kw = 0; kw < g.kernelW; kw++) {
            const iw = ow * g.strideW - g.padLeft + kw * g.dilationW;
            tap(ih, iw, ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW, n);
          }
        }
      }
    }
  }
}

export function im2col(x: View, out: View, g: WindowGeometry): void {
  const X = dataOf(x), O = dataOf(out);
  const [sn, sh, sw, sc] = x.strides as [number, number, number, number];
  const C = g.channels;
  let o = out.offset;
  taps(g, (ih, iw, inside, n) => {
    if (!inside) {
      for (let c = 0; c < C; c++) O[o + c] = 0;
    } else {
      const base = x.offset + n * sn + ih * sh + iw * sw;
      for (let c = 0; c < C; c++) O[o + c] = X[base + c * sc]!;
    }
    o += C;
  });
}

export function col2im(cols: View, out: View, g: WindowGeometry): void {
  const S = dataOf(cols), D = dataOf(out);
  const [sn, sh, sw, sc] = out.strides as [number, number, number, number];
  const C = g.channels;
  let o = cols.offset;
  taps(g, (ih, iw, inside, n) => {
    if (inside) {
      const base = out.offset + n * sn + ih * sh + iw * sw;
      for (let c = 0; c < C; c++) D[base + c * sc] += S[o + c]!;
    }
    o += C;
  });
}

/** Pooling forward; max pooling records per output the flat NHWC input index it took. */
export function pool2d(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void {
  const X = dataOf(x), O = dataOf(out);
  const A = argmax ? dataOf(argmax) : null;
  const [sn, sh, sw, sc] = x.strides as [number, number, number, number];
  const C = g.channels;
  const acc = new Float64Array(C), best = new Int32Array(C);
  let o = out.offset, a = argmax?.offset ?? 0;
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        acc.fill(kind === 'max' ? -Infinity : 0);
        best.fill(-1);
        let count = 0;
        for (let kh = 0; kh < g.kernelH; kh++) {
          const ih = oh * g.strideH - g.padTop + kh;
          if (ih < 0 || ih >= g.inH) continue;
          for (let kw = 0; kw < g.kernelW; kw++) {
            const iw = ow * g.strideW - g.padLeft + kw;
            if (iw < 0 || iw >= g.inW) continue;
            count++;
            const base = x.offset + n * sn + ih * sh + iw * sw;
            if (kind === 'avg') {
              for (let c = 0; c < C; c++) acc[c] += X[base + c * sc]!;
            } else {
              const flat = ((n * g.inH + ih) * g.inW + iw) * C;
              for (let c = 0; c < C; c++) {
                const v = X[base + c * sc]!;
                // NaN wins, as in PyTorch
                if (best[c]! < 0 || v > acc[c]! || (v !== v && acc[c] === acc[c])) { acc[c] = v; best[c] = flat + c; }
              }
            }
          }
        }
        for (let c = 0; c < C; c++) O[o + c] = kind === 'avg' ? (count ? acc[c]! / count : 0) : acc[c]!;
        if (A) for (let c = 0; c < C; c++) A[a + c] = best[c]!;
        o += C;
        a += C;
      }
    }
  }
}

/** Adds the pooled gradient back into gradIn (a zeroed, contiguous NHWC view); gradOut contiguous. */
export function pool2dBackward(kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void {
  const G = dataOf(gradOut), D = dataOf(gradIn);
  const total = g.batch * g.outH * g.outW * g.channels;
  if (kind === 'max') {
    const A = dataOf(argmax!);
    for (let j = 0; j < total; j++) {
      const src = A[argmax!.offset + j]!;
      if (src >= 0) D[gradIn.offset + src] += G[gradOut.offset + j]!;
    }
    return;
  }
  const C = g.channels;
  let o = gradOut.offset;
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      const h0 = Math.max(0, oh * g.strideH - g.padTop), h1 = Math.min(g.inH, oh * g.strideH - g.padTop + g.kernelH);
      for (let ow = 0; ow < g.outW; ow++) {
        const w0 = Math.max(0, ow * g.strideW - g.padLeft), w1 = Math.min(g.inW, ow * g.strideW - g.padLeft + g.kernelW);
        const count = (h1 - h0) * (w1 - w0);
        if (count > 0) {
          for (let ih = h0; ih < h1; ih++) {
            for (let iw = w0; iw < w1; iw++) {
              const base = gradIn.offset + ((n * g.inH + ih) * g.inW + iw) * C;
              for (let c = 0; c < C; c++) D[base + c] += G[o + c]! / count;
            }
          }
        }
        o += C;
      }
    }
  }
}
