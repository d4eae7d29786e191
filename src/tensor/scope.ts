// Memory scopes: tidy(fn) disposes every tensor made inside fn except what fn returns.
import { fail } from '../core/errors.js';

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const stack: Set<Disposable>[] = [];

export function track(t: Disposable): void {
  stack[stack.length - 1]?.add(t);
}

/** Takes a tensor out of every scope, so no tidy disposes it. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<Disposable>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (typeof (value as Disposable).dispose === 'function' && 'isDisposed' in (value as object)) {
    into.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, into, seen);
  else if (value instanceof Map) for (const v of value.values()) collect(v, into, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, into, seen);
}

/**
 * Runs fn and disposes the tensors it created, except those in its result (tensors,
 * or arrays/plain objects/maps of them), which move to the enclosing scope.
 *
 * @example
 * const y = tsr.tidy(() => x.mul(2).add(1)); // the x*2 temporary is freed
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) fail('tidy', 'the function returned a Promise; tidy only tracks synchronous work (await outside, tidy inside)');
  } catch (e) {
    stack.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  stack.pop();
  const kept = new Set<Disposable>();
  collect(result, kept);
  for (const t of scope) if (!kept.has(t)) t.dispose();
  for (const t of kept) if (scope.has(t)) track(t);
  return result;
}
