// Shared by every backend's code generator: each distinct subexpression becomes one named
// local, computed once per element however often the tree uses it.
import type { Expr } from '../core/expr.js';
import { exprKey } from '../core/expr.js';

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
