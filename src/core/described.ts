// Functions made by factories (losses, learning-rate schedules) remember how they were made,
// so a saved model can record them as JSON and rebuild them when loaded.
import { TesseraError } from './errors.js';

export interface Description {
  type: string;
  args: unknown[];
}

const descriptions = new WeakMap<object, Description>();

/** Records that `value` is what factory `type` returned for `args`. */
export function describe<T extends object>(value: T, type: string, ...args: unknown[]): T {
  descriptions.set(value, { type, args });
  return value;
}

export function descriptionOf(value: unknown): Description | undefined {
  return typeof value === 'object' || typeof value === 'function' ? descriptions.get(value as object) : undefined;
}

/** Calls the factory a description names; an unknown one is an error listing the known. */
export function rebuild<T>(d: Description, factories: Record<string, (...args: never[]) => T>, what: string): T {
  const make = Object.hasOwn(factories, d.type) ? factories[d.type] : undefined;
  if (!make || !Array.isArray(d.args)) throw new TesseraError('load', `unknown ${what} '${String(d.type)}' (known: ${Object.keys(factories).join(', ')})`);
  return (make as (...args: unknown[]) => T)(...d.args);
}
