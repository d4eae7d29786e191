// Shared by every backend's code generator: each distinct subexpression becomes one named
// local, computed once per element however often the tree uses it.
import type { BinaryOp, Expr } from '../core/expr.js';
import { exprKey } from '../core/expr.js';

/** Binary ops written the same way in WGSL and CUDA C: `(a op b)`. */
const INFIX: Partial<Record<BinaryOp, string>> = { add: '+', sub: '-', mul: '*', lt: '<', le: '<=', gt: '>', ge: '>=', eq: '==', ne: '!=', and: '&&', or: '||' };

/** `(a op b)` for the C-like binary ops, undefined for the rest. */
export function infix(op: BinaryOp, a: string, b: string): string | undefined {
  const sym = INFIX[op];
  return sym ? `(${a} ${sym} ${b})` : undefined;
}

export abstract class CseEmitter {
  readonly lines: string[] = [];
  private readonly memo = new Map<string, string>();
  private count = 0;

  /** Source for the node's value; the result of emit() names it. */
  emit(e: Expr): string {
    const key = exprKey(e);
    const known = this.memo.get(key);
    if (known) return known;
    const code = this.code(e);
    if (e.kind === 'const') return code;
    const name = `v${this.count++}`;
    this.lines.push(this.declare(name, e, code));
    this.memo.set(key, name);
    return name;
  }

  /** The expression source of one node, with its operands already emitted. */
  protected abstract code(e: Expr): string;
  /** A statement binding `name` to `code`. */
  protected abstract declare(name: string, e: Expr, code: string): string;
}
