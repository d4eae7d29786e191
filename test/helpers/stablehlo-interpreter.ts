// An interpreter of the StableHLO subset tessera emits, written for the tests and independent of
// the emitter: it parses MLIR's generic op syntax and evaluates each op by its specification
// (float32 rounding after every op, wrapping integers, NaN-propagating max/min), so a lowering
// bug shows up as a wrong number rather than being repeated by a shared helper.
import { roundBfloat16, roundFloat16 } from '../../src/core/half.js';

type Data = Float32Array | Int32Array | Uint32Array | Uint8Array;
export interface Tensor { readonly shape: number[]; readonly type: string; readonly data: Data }

interface Op {
  result: string | null;
  name: string;
  operands: string[];
  attrs: string;
  /** the single combiner op of a reduce/scatter region, or 'replace' when it returns its update */
  combiner: string | null;
  resultType: { shape: number[]; type: string };
}

export interface Program {
  readonly params: { name: string; shape: number[]; type: string }[];
  readonly body: Op[];
  readonly results: string[];
  readonly resultTypes: { shape: number[]; type: string }[];
}

function parseType(t: string): { shape: number[]; type: string } {
  const m = /^tensor<(.*)>$/.exec(t.trim());
  if (!m) throw new Error(`not a tensor type: ${t}`);
  const parts = m[1]!.split('x');
  const type = parts.pop()!;
  return { shape: parts.map(Number), type };
}

/** Splits on commas outside brackets. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0, cur = '';
  for (const ch of s) {
    if ('<([{'.includes(ch)) depth++;
    if ('>)]}'.includes(ch)) depth--;
    if (ch === ',' && depth === 0) { out.push(cur.trim()); cur = ''; } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** Ops this interpreter evaluates; any other is refused when parsing, with its line. */
const SUPPORTED = new Set([
  'constant', 'add', 'subtract', 'multiply', 'divide', 'power', 'maximum', 'minimum', 'and', 'or', 'xor', 'not', 'shift_right_logical',
  'negate', 'abs', 'sign', 'exponential', 'log', 'log_plus_one', 'sqrt', 'rsqrt', 'sine', 'cosine', 'tanh', 'logistic', 'floor',
  'compare', 'select', 'convert', 'reshape', 'broadcast_in_dim', 'transpose', 'slice', 'iota', 'concatenate', 'reduce', 'gather',
  'scatter', 'dynamic_update_slice', 'dot_general', 'reverse', 'convolution',
]);

/** Parses a module; errors name the (1-based) line, as MLIR diagnostics do. */
export function parse(text: string): Program {
  const numbered = text.split('\n').map((l, k) => ({ l: l.trim(), at: k + 1 })).filter((x) => x.l);
  const lines = numbered.map((x) => x.l);
  try {
    return parseLines(lines);
  } catch (e) {
    const at = (e as { lineIndex?: number }).lineIndex;
    throw new Error(`module.mlir:${at === undefined ? 1 : numbered[at]!.at}:1: error: ${(e as Error).message}`);
  }
}

function parseLines(lines: string[]): Program {
  const header = lines.find((l) => l.startsWith('func.func'));
  const hm = header && /@main\((.*)\) -> \((.*)\) \{$/.exec(header);
  if (!hm) throw new Error('no func.func @main(...) -> (...) found');
  const params = splitTop(hm[1]!).map((p) => {
    const m = /^(%\w+): (tensor<[^>]*>)$/.exec(p);
    if (!m) throw new Error(`cannot parse the argument ${p}`);
    return { name: m[1]!, ...parseType(m[2]!) };
  });
  const body: Op[] = [];
  let results: string[] = [], resultTypes: { shape: number[]; type: string }[] = [];
  for (let i = lines.indexOf(header!) + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('"func.return"')) {
      const m = /^"func\.return"\((.*)\) : \((.*)\) -> \(\)$/.exec(line)!;
      results = splitTop(m[1]!);
      resultTypes = splitTop(m[2]!).map(parseType);
      break;
    }
    const m = /^(%\w+) = "stablehlo\.(\w+)"\(([^)]*)\)(.*)$/.exec(line);
    if (!m) throw Object.assign(new Error(`cannot parse: ${line}`), { lineIndex: i });
    if (!SUPPORTED.has(m[2]!)) throw Object.assign(new Error(`'stablehlo.${m[2]}' is outside the interpreted subset`), { lineIndex: i });
    let rest = m[4]!;
    let combiner: string | null = null;
    if (rest.trim() === '({') {
      // a region: ^bb0(...), at most one op, then a return, then '})' with the rest of the op
      const ops: string[] = [];
      let ret = '';
      for (i++; !lines[i]!.startsWith('})'); i++) {
        const l = lines[i]!;
        if (l.startsWith('^bb0')) continue;
        if (l.startsWith('"stablehlo.return"')) ret = l;
        else ops.push(l);
      }
      if (ops.length > 1) throw new Error('regions with more than one op are outside this subset');
      combiner = ops.length ? /"stablehlo\.(\w+)"/.exec(ops[0]!)![1]! : 'replace';
      if (!ret) throw new Error('a region without stablehlo.return');
      rest = lines[i]!.slice(2);
    }
    const tm = / : \((.*)\) -> (tensor<[^>]*>)$/.exec(rest);
    if (!tm) throw new Error(`no type signature: ${line}`);
    const attrs = rest.slice(0, tm.index).trim().replace(/^\{/, '').replace(/\}$/, '');
    body.push({ result: m[1]!, name: m[2]!, operands: m[3]!.split(',').map((s) => s.trim()).filter(Boolean), attrs, combiner, resultType: parseType(tm[2]!) });
  }
  return { params, body, results, resultTypes };
}

const size = (shape: readonly number[]) => shape.reduce((a, n) => a * n, 1);
const stridesOf = (shape: readonly number[]) => { const s = new Array<number>(shape.length); let m = 1; for (let k = shape.length - 1; k >= 0; k--) { s[k] = m; m *= shape[k]!; } return s; };

function alloc(type: string, n: number): Data {
  switch (type) {
    case 'f32': case 'f16': case 'bf16': return new Float32Array(n);
    case 'i32': return new Int32Array(n);
    case 'ui32': return new Uint32Array(n);
    case 'i1': return new Uint8Array(n);
    default: throw new Error(`element type ${type} is outside this subset`);
  }
}

function ints(attrs: string, key: string): number[] {
  const m = new RegExp(`${key} = (?:array<i64(?:: ([^>]*))?>|\\[([^\\]]*)\\])`).exec(attrs);
  if (!m) throw new Error(`attribute ${key} missing in {${attrs}}`);
  const body = m[1] ?? m[2] ?? '';
  return body.trim() ? body.split(',').map((s) => Number(s.trim())) : [];
}

function int(attrs: string, key: string): number {
  const m = new RegExp(`${key} = (-?\\d+)`).exec(attrs);
  if (!m) throw new Error(`attribute ${key} missing in {${attrs}}`);
  return Number(m[1]);
}

function constant(attrs: string, shape: number[], type: string): Tensor {
  const m = /value = dense<([^>]*)> : tensor<[^>]*>/.exec(attrs);
  if (!m) throw new Error(`constant without a splat dense value: ${attrs}`);
  const lit = m[1]!.trim();
  const data = alloc(type, size(shape));
  let v: number;
  if (lit.startsWith('0x')) {
    v = new Float32Array(new Uint32Array([parseInt(lit, 16)]).buffer)[0]!;
  } else if (lit === 'true' || lit === 'false') v = lit === 'true' ? 1 : 0;
  else v = Number(lit);
  data.fill(v);
  return { shape, type, data };
}

const UNARY: Record<string, (x: number) => number> = {
  negate: (x) => -x, abs: Math.abs, sign: (x) => (Number.isNaN(x) ? NaN : x > 0 ? 1 : x < 0 ? -1 : x), exponential: Math.exp,
  log: Math.log, log_plus_one: Math.log1p, sqrt: Math.sqrt, rsqrt: (x) => 1 / Math.sqrt(x), sine: Math.sin, cosine: Math.cos,
  tanh: Math.tanh, logistic: (x) => 1 / (1 + Math.exp(-x)), floor: Math.floor,
};

function binary(name: string, type: string): (a: number, b: number) => number {
  const intType = type === 'i32' || type === 'ui32';
  switch (name) {
    case 'add': return (a, b) => a + b;
    case 'subtract': return (a, b) => a - b;
    case 'multiply': return intType ? (a, b) => Math.imul(a, b) : (a, b) => a * b;
    case 'divide': return intType ? (a, b) => Math.trunc(a / b) : (a, b) => a / b;
    case 'power': return Math.pow;
    case 'maximum': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
    case 'minimum': return (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));
    case 'and': return type === 'i1' ? (a, b) => (a && b ? 1 : 0) : (a, b) => a & b;
    case 'or': return type === 'i1' ? (a, b) => (a || b ? 1 : 0) : (a, b) => a | b;
    case 'xor': return (a, b) => (a ^ b) >>> 0;
    case 'shift_right_logical': return (a, b) => (b >= 32 ? 0 : a >>> b);
    default: throw new Error(`op stablehlo.${name} is outside this subset`);
  }
}

function compare(attrs: string): (a: number, b: number) => boolean {
  const dir = /comparison_direction (\w+)/.exec(attrs)![1]!;
  switch (dir) {
    case 'EQ': return (a, b) => a === b;
    case 'NE': return (a, b) => a !== b;
    case 'LT': return (a, b) => a < b;
    case 'LE': return (a, b) => a <= b;
    case 'GT': return (a, b) => a > b;
    case 'GE': return (a, b) => a >= b;
    default: throw new Error(`comparison ${dir}`);
  }
}

/** Evaluates the program on its arguments; results in the order of func.return. */
export function run(p: Program, args: readonly Tensor[]): Tensor[] {
  if (args.length !== p.params.length) throw new Error(`expected ${p.params.length} arguments, got ${args.length}`);
  const env = new Map<string, Tensor>();
  p.params.forEach((q, k) => {
    const a = args[k]!;
    if (a.data.length !== size(q.shape)) throw new Error(`argument ${k}: ${a.data.length} elements for ${q.shape.join('x')}`);
    env.set(q.name, { shape: q.shape, type: q.type, data: a.data });
  });
  for (const op of p.body) env.set(op.result!, evaluate(op, op.operands.map((o) => {
    const v = env.get(o);
    if (!v) throw new Error(`use of undefined value ${o}`);
    return v;
  })));
  return p.results.map((r) => env.get(r)!);
}

const ELEMENTWISE_BINARY = new Set(['add', 'subtract', 'multiply', 'divide', 'power', 'maximum', 'minimum', 'and', 'or', 'xor', 'shift_right_logical', 'compare', 'select']);

function evaluate(op: Op, xs: Tensor[]): Tensor {
  const { shape, type } = op.resultType;
  // elementwise operands have the result's shape (StableHLO broadcasts nothing implicitly)
  if (ELEMENTWISE_BINARY.has(op.name) || UNARY[op.name]) {
    for (const x of xs) if (x.shape.join('x') !== shape.join('x')) throw new Error(`stablehlo.${op.name}: operand ${x.shape.join('x')} for a ${shape.join('x')} result`);
  }
  const n = size(shape);
  const out = alloc(type, n);
  const make = (): Tensor => ({ shape, type, data: out });
  const x = xs[0]!;
  if (UNARY[op.name]) {
    const f = UNARY[op.name]!;
    if (op.name === 'negate' && type === 'i32') for (let i = 0; i < n; i++) out[i] = -x.data[i]!;
    else for (let i = 0; i < n; i++) out[i] = f(x.data[i]!);
    return make();
  }
  switch (op.name) {
    case 'constant': return constant(op.attrs, shape, type);
    case 'not': for (let i = 0; i < n; i++) out[i] = type === 'i1' ? (x.data[i] ? 0 : 1) : ~x.data[i]!; return make();
    case 'compare': { const f = compare(op.attrs); for (let i = 0; i < n; i++) out[i] = f(x.data[i]!, xs[1]!.data[i]!) ? 1 : 0; return make(); }
    case 'select': for (let i = 0; i < n; i++) out[i] = x.data[i] ? xs[1]!.data[i]! : xs[2]!.data[i]!; return make();
    case 'convert': {
      for (let i = 0; i < n; i++) {
        const v = x.data[i]!;
        if (type === 'f16') out[i] = roundFloat16(v);
        else if (type === 'bf16') out[i] = roundBfloat16(v);
        else if (type === 'i32' && x.type !== 'i32') out[i] = Number.isNaN(v) ? 0 : Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.trunc(v)));
        else if (type === 'i1') out[i] = v !== 0 ? 1 : 0;
        else out[i] = v;
      }
      return make();
    }
    case 'reshape': out.set(x.data); return make();
    case 'iota': {
      const dim = int(op.attrs, 'iota_dimension'), st = stridesOf(shape);
      for (let i = 0; i < n; i++) out[i] = Math.floor(i / st[dim]!) % shape[dim]!;
      return make();
    }
    case 'broadcast_in_dim': {
      const dims = ints(op.attrs, 'broadcast_dimensions'), st = stridesOf(shape), xs0 = stridesOf(x.shape);
      for (let i = 0; i < n; i++) {
        let src = 0;
        dims.forEach((d, k) => { if (x.shape[k] !== 1) src += (Math.floor(i / st[d]!) % shape[d]!) * xs0[k]!; });
        out[i] = x.data[src]!;
      }
      return make();
    }
    case 'transpose': {
      const perm = ints(op.attrs, 'permutation'), st = stridesOf(shape), xs0 = stridesOf(x.shape);
      for (let i = 0; i < n; i++) {
        let src = 0;
        perm.forEach((p, k) => { src += (Math.floor(i / st[k]!) % shape[k]!) * xs0[p]!; });
        out[i] = x.data[src]!;
      }
      return make();
    }
    case 'slice': {
      const start = ints(op.attrs, 'start_indices'), step = ints(op.attrs, 'strides'), st = stridesOf(shape), xs0 = stridesOf(x.shape);
      for (let i = 0; i < n; i++) {
        let src = 0;
        shape.forEach((d, k) => { src += (start[k]! + (Math.floor(i / st[k]!) % d) * step[k]!) * xs0[k]!; });
        out[i] = x.data[src]!;
      }
      return make();
    }
    case 'concatenate': {
      const dim = int(op.attrs, 'dimension'), st = stridesOf(shape);
      for (let i = 0; i < n; i++) {
        let c = Math.floor(i / st[dim]!) % shape[dim]!, part = 0;
        while (c >= xs[part]!.shape[dim]!) c -= xs[part++]!.shape[dim]!;
        const src = xs[part]!, ss = stridesOf(src.shape);
        let at = 0;
        shape.forEach((d, k) => { at += (k === dim ? c : Math.floor(i / st[k]!) % d) * ss[k]!; });
        out[i] = src.data[at]!;
      }
      return make();
    }
    case 'reduce': {
      // pairwise, as XLA reduces in a tree (a sequential float32 sum drifts over long rows)
      const dims = ints(op.attrs, 'dimensions');
      const f = binary(op.combiner!, x.type);
      const groups: number[][] = Array.from({ length: n }, () => []);
      const xsSt = stridesOf(x.shape), st = stridesOf(shape);
      const keep = x.shape.map((_, k) => k).filter((k) => !dims.includes(k));
      for (let i = 0; i < x.data.length; i++) {
        let o = 0;
        keep.forEach((k, j) => { o += (Math.floor(i / xsSt[k]!) % x.shape[k]!) * st[j]!; });
        groups[o]!.push(x.data[i]!);
      }
      const round = (v: number) => { const t = alloc(type, 1); t[0] = v; return t[0]!; };
      const tree = (v: number[], lo: number, hi: number): number => (hi - lo === 1 ? v[lo]! : round(f(tree(v, lo, (lo + hi) >> 1), tree(v, (lo + hi) >> 1, hi))));
      for (let o = 0; o < n; o++) out[o] = groups[o]!.length ? round(f(xs[1]!.data[0]!, tree(groups[o]!, 0, groups[o]!.length))) : xs[1]!.data[0]!;
      return make();
    }
    case 'gather': {
      flatOnly(op, x, 'collapsed_slice_dims');
      const idx = xs[1]!;
      for (let i = 0; i < n; i++) out[i] = x.data[clamp(idx.data[i]!, x.data.length)]!;
      return make();
    }
    case 'scatter': {
      flatOnly(op, x, 'inserted_window_dims');
      const idx = xs[1]!, upd = xs[2]!;
      out.set(x.data);
      const f = op.combiner === 'replace' ? (_: number, b: number) => b : binary(op.combiner!, type);
      for (let i = 0; i < upd.data.length; i++) {
        const at = idx.data[i]!;
        if (at >= 0 && at < n) out[at] = f(out[at]!, upd.data[i]!); // out-of-range updates are skipped
      }
      return make();
    }
    case 'dynamic_update_slice': {
      if (x.shape.length !== 1) throw new Error('dynamic_update_slice beyond 1-D is outside this subset');
      out.set(x.data);
      const start = clamp(xs[2]!.data[0]!, n - xs[1]!.data.length + 1);
      out.set(xs[1]!.data, start);
      return make();
    }
    case 'reverse': {
      const dims = ints(op.attrs, 'dimensions'), st = stridesOf(shape);
      for (let i = 0; i < n; i++) {
        let src = 0;
        shape.forEach((d, k) => { const c = Math.floor(i / st[k]!) % d; src += (dims.includes(k) ? d - 1 - c : c) * st[k]!; });
        out[i] = x.data[src]!;
      }
      return make();
    }
    case 'convolution': return convolution(op, x, xs[1]!, shape, out, make);
    case 'dot_general': {
      const want = 'lhs_batching_dimensions = [0], rhs_batching_dimensions = [0], lhs_contracting_dimensions = [2], rhs_contracting_dimensions = [1]';
      if (!op.attrs.includes(want)) throw new Error(`dot_general other than a batched [B,M,K]x[B,K,N] product: ${op.attrs}`);
      const [B, M, K] = x.shape as [number, number, number];
      const N = xs[1]!.shape[2]!;
      if (xs[1]!.shape[0] !== B || xs[1]!.shape[1] !== K) throw new Error(`dot_general: batching or contracting dimension sizes differ: ${x.shape.join('x')} and ${xs[1]!.shape.join('x')}`);
      const a = x.data, b = xs[1]!.data;
      for (let q = 0; q < B; q++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[(q * M + i) * K + k]! * b[(q * K + k) * N + j]!;
        out[(q * M + i) * N + j] = s;
      }
      return make();
    }
    default: {
      const f = binary(op.name, x.type);
      for (let i = 0; i < n; i++) out[i] = f(x.data[i]!, xs[1]!.data[i]!);
      return make();
    }
  }
}

/**
 * A 2-D convolution by its definition: each output position sums lhs x rhs over the window, in
 * the input's padded, lhs-dilated coordinates (holes and padding read as zero), for any
 * arrangement of the batch, feature and spatial axes the dimension numbers name.
 */
function convolution(op: Op, lhs: Tensor, rhs: Tensor, shape: number[], out: Data, make: () => Tensor): Tensor {
  if (!/feature_group_count = 1 :/.test(op.attrs) || !/batch_group_count = 1 :/.test(op.attrs)) throw new Error('grouped convolutions are outside this subset');
  const m = /#stablehlo\.conv<\[([^\]]*)\]x\[([^\]]*)\]->\[([^\]]*)\]>/.exec(op.attrs);
  if (!m) throw new Error(`convolution without dimension numbers: ${op.attrs}`);
  const axes = (spec: string) => { const names = spec.split(',').map((t) => t.trim()); return (name: string) => names.indexOf(name); };
  const [L, R, O] = [axes(m[1]!), axes(m[2]!), axes(m[3]!)];
  const pad = /padding = dense<\[\[(-?\d+), (-?\d+)\], \[(-?\d+), (-?\d+)\]\]>/.exec(op.attrs)!.slice(1).map(Number);
  const stride = ints(op.attrs, 'window_strides'), ld = ints(op.attrs, 'lhs_dilation'), rd = ints(op.attrs, 'rhs_dilation');
  const ls = stridesOf(lhs.shape), rs = stridesOf(rhs.shape), os = stridesOf(shape);
  const K = [rhs.shape[R('0')]!, rhs.shape[R('1')]!], C = lhs.shape[L('f')]!;
  if (rhs.shape[R('i')] !== C) throw new Error(`convolution: ${C} input features against a kernel of ${rhs.shape[R('i')]}`);
  for (let i = 0; i < out.length; i++) {
    const at = (axis: number) => Math.floor(i / os[axis]!) % shape[axis]!;
    const nb = at(O('b')), f = at(O('f')), o0 = at(O('0')), o1 = at(O('1'));
    let s = 0;
    for (let k0 = 0; k0 < K[0]!; k0++) {
      const p0 = o0 * stride[0]! + k0 * rd[0]! - pad[0]!;
      if (p0 < 0 || p0 % ld[0]! !== 0 || p0 / ld[0]! >= lhs.shape[L('0')]!) continue;
      for (let k1 = 0; k1 < K[1]!; k1++) {
        const p1 = o1 * stride[1]! + k1 * rd[1]! - pad[2]!;
        if (p1 < 0 || p1 % ld[1]! !== 0 || p1 / ld[1]! >= lhs.shape[L('1')]!) continue;
        for (let c = 0; c < C; c++) {
          const a = lhs.data[nb * ls[L('b')]! + (p0 / ld[0]!) * ls[L('0')]! + (p1 / ld[1]!) * ls[L('1')]! + c * ls[L('f')]!]!;
          s += a * rhs.data[k0 * rs[R('0')]! + k1 * rs[R('1')]! + c * rs[R('i')]! + f * rs[R('o')]!]!;
        }
      }
    }
    out[i] = s;
  }
  return make();
}

/** gather/scatter on a 1-D operand with the index vector as the last axis (the form tessera emits). */
function flatOnly(op: Op, x: Tensor, dims: string): void {
  if (x.shape.length !== 1 || !op.attrs.includes(`${dims} = [0]`)) throw new Error(`${op.name} beyond a 1-D operand is outside this subset`);
}

/** XLA clamps gather start indices into range. */
const clamp = (i: number, n: number) => Math.max(0, Math.min(n - 1, i));
