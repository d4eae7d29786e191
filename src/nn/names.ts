// Keras-style unique names (dense_1, dense_2, ...) for layers, inputs and models.
const counters = new Map<string, number>();

export function uniqueName(prefix: string): string {
  const n = (counters.get(prefix) ?? 0) + 1;
  counters.set(prefix, n);
  return `${prefix}_${n}`;
}
