// One error type for everything tessera rejects, always naming the op that rejected it.

export class TesseraError extends Error {
  constructor(readonly op: string, detail: string) {
    super(`${op}: ${detail}`);
    this.name = 'TesseraError';
  }
}

export function fail(op: string, detail: string): never {
  throw new TesseraError(op, detail);
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
