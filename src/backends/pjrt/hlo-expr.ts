// The elementwise expression IR as StableHLO ops over one shape, with the same arithmetic as
// the other devices (the CPU's erf polynomial, NaN-propagating max/min, C-style int casts).
import type { BinaryOp, Expr, UnaryOp } from '../../core/expr.js';
import { exprKey } from '../../core/expr.js';
import type { Direction, HloBuilder, Value } from './hlo-builder.js';
import { elemType } from './hlo-views.js';

const COMPARE: Partial<Record<BinaryOp, Direction>> = { lt: 'LT', le: 'LE', gt: 'GT', ge: 'GE', eq: 'EQ', ne: 'NE' };
const BINARY: Partial<Record<BinaryOp, string>> = {
  add: 'add', sub: 'subtract', mul: 'multiply', div: 'divide', pow: 'power', max: 'maximum', min: 'minimum', and: 'and', or: 'or',
};
const UNARY: Partial<Record<UnaryOp, string>> = {
  neg: 'negate', abs: 'abs', sign: 'sign', exp: 'exponential', log: 'log', log1p: 'log_plus_one', sqrt: 'sqrt',
  rsqrt: 'rsqrt', sin: 'sine', cos: 'cosine', tanh: 'tanh', sigmoid: 'logistic', floor: 'floor', not: 'not',
};

export class ExprLowering {
  private readonly memo = new Map<string, Value>();

  /** inputs[k] is input k over `shape`; param(k) gives parameter k as a scalar value. */
  constructor(
    private readonly b: HloBuilder,
    private readonly shape: readonly number[],
    private readonly inputs: readonly Value[],
    private readonly param: (k: number) => Value,
  ) {}

  emit(e: Expr): Value {
    const key = exprKey(e);
    let v = this.memo.get(key);
    if (!v) this.memo.set(key, (v = this.lower(e)));
    return v;
  }

  private lower(e: Expr): Value {
    const b = this.b, shape = this.shape;
    switch (e.kind) {
      case 'input': return this.inputs[e.index]!;
      case 'param': return b.splat(this.param(e.index), shape);
      case 'const': return b.constant(e.value, shape, elemType(e.dtype));
      case 'where': return b.select(this.emit(e.cond), this.emit(e.a), this.emit(e.b));
      case 'cast': return this.cast(this.emit(e.a), e.dtype);
      case 'unary': return this.unary(e.op, this.emit(e.a));
      case 'binary': {
        const x = this.emit(e.a), y = this.emit(e.b);
        const dir = COMPARE[e.op];
        return dir ? b.compare(dir, x, y) : b.map(BINARY[e.op]!, [x, y]);
      }
    }
  }

  private cast(x: Value, dtype: Expr['dtype']): Value {
    const b = this.b;
    if (dtype === 'bool') return x.type === 'i1' ? x : b.compare('NE', x, b.constant(0, x.shape, x.type));
    if (dtype === 'float16' || dtype === 'bfloat16') return b.roundTo(b.convert(x, 'f32'), dtype === 'float16' ? 'f16' : 'bf16');
    return b.convert(x, elemType(dtype));
  }

  private unary(op: UnaryOp, x: Value): Value {
    const b = this.b;
    if (op === 'isnan') return b.compare('NE', x, x);
    if (op === 'recip') return b.map('divide', [b.constant(1, x.shape, 'f32'), x]);
    if (op === 'erf') return this.erf(x);
    if (op === 'floor' && x.type !== 'f32') return x;
    return b.map(UNARY[op]!, [x]);
  }

  /** Abramowitz-Stegun 7.1.26, the polynomial the CPU backend uses. */
  private erf(x: Value): Value {
    const b = this.b;
    const c = (v: number) => b.constant(v, x.shape, 'f32');
    const a = b.map('abs', [x]);
    const t = b.map('divide', [c(1), b.map('add', [c(1), b.map('multiply', [c(0.3275911), a])])]);
    let p = c(1.061405429);
    for (const k of [-1.453152027, 1.421413741, -0.284496736, 0.254829592]) p = b.map('add', [b.map('multiply', [p, t]), c(k)]);
    const e = b.map('exponential', [b.map('negate', [b.map('multiply', [a, a])])]);
    const y = b.map('subtract', [c(1), b.map('multiply', [b.map('multiply', [p, t]), e])]);
    const negative = b.compare('LT', x, c(0));
    return b.select(negative, b.map('negate', [y]), y);
  }
}
