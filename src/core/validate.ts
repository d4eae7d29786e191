// Checks at the public boundary: every option's type and range, before any work starts. Each
// failure is a TesseraError naming the function, the option, the value and what is allowed.
import { type DType, isDType } from './dtype.js';
import { fail } from './errors.js';

/** A value as an error shows it: strings quoted, objects by their kind. */
export function shown(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return 'an array';
  return `an object (${(v as object).constructor?.name ?? 'Object'})`;
}

export interface Range {
  min?: number;
  max?: number;
  /** the bounds themselves are excluded */
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
}

function rangeText(r: Range): string {
  const lo = r.min === undefined ? '' : `${r.exclusiveMin ? '>' : '>='} ${r.min}`;
  const hi = r.max === undefined ? '' : `${r.exclusiveMax ? '<' : '<='} ${r.max}`;
  return [lo, hi].filter(Boolean).join(' and ');
}

function inRange(v: number, r: Range): boolean {
  if (r.min !== undefined && (r.exclusiveMin ? v <= r.min : v < r.min)) return false;
  if (r.max !== undefined && (r.exclusiveMax ? v >= r.max : v > r.max)) return false;
  return true;
}

/** A finite number within the range. */
export function checkNumber(op: string, name: string, v: unknown, r: Range = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !inRange(v, r)) {
    const bounds = rangeText(r);
    fail(op, `${name} must be a finite number${bounds ? ` ${bounds}` : ''}, got ${shown(v)}`);
  }
  return v;
}

/** An integer within the range (safe integers only). */
export function checkInt(op: string, name: string, v: unknown, r: Range = {}): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || !inRange(v, r)) {
    const bounds = rangeText(r);
    fail(op, `${name} must be an integer${bounds ? ` ${bounds}` : ''}, got ${shown(v)}`);
  }
  return v;
}

export const checkPositiveInt = (op: string, name: string, v: unknown) => checkInt(op, name, v, { min: 1 });

export function checkBool(op: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(op, `${name} must be true or false, got ${shown(v)}`);
  return v;
}

export function checkOneOf<T extends string | number>(op: string, name: string, v: unknown, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(v)) fail(op, `${name} must be one of ${allowed.map(shown).join(', ')}, got ${shown(v)}`);
  return v as T;
}

export function checkDType(op: string, v: unknown, allowed?: readonly DType[]): DType {
  if (!isDType(v)) fail(op, `unknown dtype ${shown(v)} (expected float32, int32, bool, float16 or bfloat16)`);
  if (allowed && !allowed.includes(v)) fail(op, `dtype ${shown(v)} is not supported here (expected ${allowed.join(' or ')})`);
  return v;
}

/**
 * An options object with only known keys: a misspelt option (`batchsize`) is an error rather
 * than a default silently used, as Keras rejects unknown keyword arguments.
 */
export function checkOptions<T extends object>(op: string, opts: T | undefined, known: readonly string[]): T {
  if (opts === undefined || opts === null) return {} as T;
  if (typeof opts !== 'object' || Array.isArray(opts)) fail(op, `options must be an object, got ${shown(opts)}`);
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) fail(op, `unknown option '${k}' (expected ${known.join(', ')})`);
  }
  return opts;
}
