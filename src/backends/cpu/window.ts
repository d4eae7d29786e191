// Sliding-window kernels over NHWC: im2col/col2im for convolution, and pooling.
import type { View, WindowGeometry } from '../backend.js';
import { dataOf } from './storage.js';

export function im2col(x: View, out: View, g: WindowGeometry): void {
  const X = dataOf(x), O = dataOf(out);
  const [sn, sh, sw, sc] = x.strides as [number, number, number, number];
  const C = g.channels;
  let o = out.offset;
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let kh = 0; kh < g.kernelH; kh++) {
          const ih = oh * g.strideH - g.padTop + kh * g.dilationH;
          for (let kw = 0; kw < g.kernelW; kw++) {
            const iw = ow * g.strideW - g.padLeft + kw * g.dilationW;
            if (ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW) {
              O.fill(0, o, o + C);
            } else {
              const base = x.offset + n * sn + ih * sh + iw * sw;
              if (sc === 1) O.set(X.subarray(base, base + C), o);
              else for (let c = 0; c < C; c++) O[o + c] = X[base + c * sc]!;
            }
            o += C;
          }
        }
      }
    }
  }
}

export function col2im(cols: View, out: View, g: WindowGeometry): void {
  const S = dataOf(cols), D = dataOf(out);
  const [sn, sh, sw, sc] = out.strides as [number, number, number, number];
  const C = g.channels;
  let o = cols.offset;
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let kh = 0; kh < g.kernelH; kh++) {
          const ih = oh * g.strideH - g.padTop + kh * g.dilationH;
          for (let kw = 0; kw < g.kernelW; kw++) {
            const iw = ow * g.strideW - g.padLeft + kw * g.dilationW;
            if (ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW) {
              const base = out.offset + n * sn + ih * sh + iw * sw;
              for (let c = 0; c < C; c++) D[base + c * sc] += S[o + c]!;
            }
            o += C;
          }
        }
      }
    }
  }
}

/** Calls visit(outIndex, inIndex) for every in-bounds window element, in window order. */
function forEachWindow(x: View, out: View, g: WindowGeometry, begin: (o: number) => void, visit: (o: number, i: number, flat: number) => void, end: (o: number, count: number) => void): void {
  const [sn, sh, sw, sc] = x.strides as [number, number, number, number];
  const [on, oh_, ow_, oc] = out.strides as [number, number, number, number];
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let c = 0; c < g.channels; c++) {
          const o = out.offset + n * on + oh * oh_ + ow * ow_ + c * oc;
          begin(o);
          let count = 0;
          for (let kh = 0; kh < g.kernelH; kh++) {
            const ih = oh * g.strideH - g.padTop + kh * g.dilationH;
            if (ih < 0 || ih >= g.inH) continue;
            for (let kw = 0; kw < g.kernelW; kw++) {
              const iw = ow * g.strideW - g.padLeft + kw * g.dilationW;
              if (iw < 0 || iw >= g.inW) continue;
              visit(o, x.offset + n * sn + ih * sh + iw * sw + c * sc, ((n * g.inH + ih) * g.inW + iw) * g.channels + c);
              count++;
            }
          }
          end(o, count);
        }
      }
    }
  }
}

export function pool2d(kind: 'max' | 'avg', x: View, out: View, g: WindowGeometry, argmax?: View): void {
  const X = dataOf(x), O = dataOf(out);
  const A = argmax ? dataOf(argmax) : null;
  let acc = 0, best = -1;
  forEachWindow(x, out, g,
    () => { acc = kind === 'max' ? -Infinity : 0; best = -1; },
    (_o, i, flat) => {
      const v = X[i]!;
      if (kind === 'avg') acc += v;
      else if (best < 0 || v > acc || v !== v && acc === acc) { acc = v; best = flat; }
    },
    (o, count) => {
      // positions are relative to the out view's start, matching a contiguous argmax view
      O[o] = kind === 'avg' ? (count > 0 ? acc / count : 0) : acc;
      if (A) A[argmax!.offset + (o - out.offset)] = best;
    });
}

/** Adds the pooled gradient back into gradIn (a zeroed, contiguous NHWC view). */
export function pool2dBackward(kind: 'max' | 'avg', gradOut: View, gradIn: View, g: WindowGeometry, argmax?: View): void {
  const G = dataOf(gradOut), D = dataOf(gradIn);
  if (kind === 'max') {
    const A = dataOf(argmax!);
    const total = g.batch * g.outH * g.outW * g.channels;
    for (let j = 0; j < total; j++) {
      const src = A[argmax!.offset + j]!;
      if (src >= 0) D[gradIn.offset + src] += G[gradOut.offset + j]!;
    }
    return;
  }
  const targets: number[] = [];
  forEachWindow(gradIn, gradOut, g,
    () => { targets.length = 0; },
    (_o, i) => { targets.push(i); },
    (o, count) => {
      if (count === 0) return;
      const share = G[o]! / count;
      for (const t of targets) D[t] += share;
    });
}
