// Plain float64 implementations that `tessera verify` compares every device against.

/** Deterministic values in [-1, 1), rounded to float32 so both sides start from the same numbers. */
export function hostValues(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32: enough spread for test inputs, identical on every machine
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = Math.fround((s / 2 ** 32) * 2 - 1);
  }
  return out;
}

/** [m, k] @ [k, n], row-major. */
export function matmul64(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      for (let j = 0; j < n; j++) out[i * n + j] += av * b[p * n + j]!;
    }
  }
  return out;
}

export interface Conv64 { batch: number; h: number; w: number; cin: number; kh: number; kw: number; cout: number; stride: number; pad: number }

/** NHWC input, HWIO kernel, symmetric zero padding; returns NHWC output and its height and width. */
export function conv2d64(x: Float64Array, k: Float64Array, c: Conv64): { out: Float64Array; oh: number; ow: number } {
  const oh = Math.floor((c.h + 2 * c.pad - c.kh) / c.stride) + 1;
  const ow = Math.floor((c.w + 2 * c.pad - c.kw) / c.stride) + 1;
  const out = new Float64Array(c.batch * oh * ow * c.cout);
  for (let b = 0; b < c.batch; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const o = ((b * oh + oy) * ow + ox) * c.cout;
        for (let ky = 0; ky < c.kh; ky++) {
          const iy = oy * c.stride - c.pad + ky;
          if (iy < 0 || iy >= c.h) continue;
          for (let kx = 0; kx < c.kw; kx++) {
            const ix = ox * c.stride - c.pad + kx;
            if (ix < 0 || ix >= c.w) continue;
            for (let ci = 0; ci < c.cin; ci++) {
              const xv = x[((b * c.h + iy) * c.w + ix) * c.cin + ci]!;
              const kb = ((ky * c.kw + kx) * c.cin + ci) * c.cout;
              for (let co = 0; co < c.cout; co++) out[o + co] += xv * k[kb + co]!;
            }
          }
        }
      }
    }
  }
  return { out, oh, ow };
}

export interface Mlp64 { w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array }

/**
 * One SGD step of x -> tanh(x W1 + b1) W2 + b2 with mean softmax cross-entropy.
 * Returns the loss before the step and the updated parameters.
 */
export function mlpStep64(x: Float64Array, labels: Int32Array, p: Mlp64, n: number, din: number, hidden: number, classes: number, lr: number): { loss: number; next: Mlp64 } {
  const z = matmul64(x, p.w1, n, din, hidden);
  const h = z.map((v, i) => Math.tanh(v + p.b1[i % hidden]!));
  const logits = matmul64(h, p.w2, n, hidden, classes).map((v, i) => v + p.b2[i % classes]!);
  const dLogits = new Float64Array(n * classes);
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const max = Math.max(...row);
    const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
    loss += (Math.log(sum) + max - row[labels[r]!]!) / n;
    for (let c = 0; c < classes; c++) dLogits[r * classes + c] = (Math.exp(row[c]! - max) / sum - (c === labels[r] ? 1 : 0)) / n;
  }
  const transpose = (a: Float64Array, rows: number, cols: number) => {
    const t = new Float64Array(a.length);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
    return t;
  };
  const columnSums = (a: Float64Array, cols: number) => {
    const s = new Float64Array(cols);
    a.forEach((v, i) => { s[i % cols] += v; });
    return s;
  };
  const gw2 = matmul64(transpose(h, n, hidden), dLogits, hidden, n, classes);
  const dh = matmul64(dLogits, transpose(p.w2, hidden, classes), n, classes, hidden);
  const dz = dh.map((v, i) => v * (1 - h[i]! ** 2));
  const gw1 = matmul64(transpose(x, n, din), dz, din, n, hidden);
  const step = (w: Float64Array, g: Float64Array) => w.map((v, i) => v - lr * g[i]!);
  return { loss, next: { w1: step(p.w1, gw1), b1: step(p.b1, columnSums(dz, hidden)), w2: step(p.w2, gw2), b2: step(p.b2, columnSums(dLogits, classes)) } };
}
