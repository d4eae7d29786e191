// The Keras-style summary table shared by sequential and functional models.
import type { Layer } from '../nn/layer.js';

/** Formats the rows under their headings with the parameter totals, prints and returns the text. */
export function summaryTable(model: Layer, heads: readonly string[], rows: readonly (readonly string[])[], print: (line: string) => void): string {
  const w = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 4);
  const line = (r: readonly string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('').trimEnd();
  const total = model.countParams(), trainable = model.countParams({ trainableOnly: true });
  const rule = '─'.repeat(w.reduce((a, b) => a + b, 0));
  const text = [
    `Model: "${model.name}"`, rule, line(heads), rule.replace(/─/g, '═'),
    ...rows.map(line), rule,
    `Total params: ${total.toLocaleString('en-US')}`,
    `Trainable params: ${trainable.toLocaleString('en-US')}`,
    `Non-trainable params: ${(total - trainable).toLocaleString('en-US')}`,
  ].join('\n');
  print(text);
  return text;
}
