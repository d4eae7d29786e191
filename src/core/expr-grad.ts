// Gradients of the expression IR: one rule per IR op, so every fused elementwise op
// (gelu, silu, an Adam update...) is differentiated symbolically into one fused kernel.
import {
  type BinaryOp, type Expr, type UnaryOp,
  add, binary, constant, div, exp, mul, neg, sub, unary, where,
} from './expr.js';

/** d(op(a))/da, given the operand and the node itself; null where the op has no gradient. */
const UNARY_RULES: Record<UnaryOp, ((a: Expr, out: Expr) => Expr) | null> = {
  neg: () => constant(-1),
  abs: (a) => unary('sign', a),
  sign: null,
  exp: (_a, out) => out,
  log: (a) => div(1, a),
  log1p: (a) => div(1, add(1, a)),
  sqrt: (_a, out) => div(0.5, out),
  rsqrt: (_a, out) => mul(-0.5, mul(out, mul(out, out))),
  recip: (_a, out) => neg(mul(out, out)),
  sin: (a) => unary('cos', a),
  cos: (a) => neg(unary('sin', a)),
  tanh: (_a, out) => sub(1, mul(out, out)),
  sigmoid: (_a, out) => mul(out, sub(1, out)),
  erf: (a) => mul(2 / Math.sqrt(Math.PI), exp(neg(mul(a, a)))),
  floor: null,
  not: null,
  isnan: null,
};

/** [d/da, d/db] of a binary op; null entries have no gradient. */
const BINARY_RULES: Record<BinaryOp, ((a: Expr, b: Expr, out: Expr) => [Expr | null, Expr | null]) | null> = {
  add: () => [constant(1), constant(1)],
  sub: () => [constant(1), constant(-1)],
  mul: (a, b) => [b, a],
  div: (a, b) => [div(1, b), neg(div(a, mul(b, b)))],
  // d/db a^b = a^b * log(a); defined as 0 where a == 0 so 0^b does not give NaN gradients
  pow: (a, b, out) => [
    mul(b, binary('pow', a, sub(b, 1))),
    where(binary('gt', a, 0), mul(out, unary('log', a)), 0),
  ],
  // ties send the gradient to the first operand, like PyTorch's maximum
  max: (a, b) => [where(binary('ge', a, b), 1, 0), where(binary('ge', a, b), 0, 1)],
  min: (a, b) => [where(binary('le', a, b), 1, 0), where(binary('le', a, b), 0, 1)],
  lt: null, le: null, gt: null, ge: null, eq: null, ne: null, and: null, or: null,
};

function isZero(e: Expr): boolean {
  return e.kind === 'const' && e.value === 0;
}

/** g * d, folding the constant cases that the rules produce most. */
function scale(g: Expr, d: Expr): Expr {
  if (d.kind === 'const' && d.value === 1) return g;
  if (d.kind === 'const' && d.value === -1) return neg(g);
  return mul(g, d);
}

/**
 * Vector-Jacobian product: for upstream gradient `g`, returns for each input index the
 * expression of its gradient (inputs that carry none are absent).
 */
export function exprVjp(e: Expr, g: Expr): Map<number, Expr> {
  const grads = new Map<number, Expr>();
  const visit = (node: Expr, up: Expr): void => {
    // integer and boolean values carry no gradient, and neither does a cast from them
    if (isZero(up) || node.dtype !== 'float32') return;
    switch (node.kind) {
      case 'input': {
        const prev = grads.get(node.index);
        grads.set(node.index, prev ? add(prev, up) : up);
        return;
      }
      case 'param': case 'const': case 'cast': return;
      case 'unary': {
        const rule = UNARY_RULES[node.op];
        if (rule) visit(node.a, scale(up, rule(node.a, node)));
        return;
      }
      case 'binary': {
        const rule = BINARY_RULES[node.op];
        if (!rule) return;
        const [da, db] = rule(node.a, node.b, node);
        if (da) visit(node.a, scale(up, da));
        if (db) visit(node.b, scale(up, db));
        return;
      }
      case 'where':
        visit(node.a, where(node.cond, up, 0));
        visit(node.b, where(node.cond, 0, up));
        return;
    }
  };
  visit(e, g);
  return grads;
}
