// Per-step values (loss, metric counts, an input check) written into a table on the device by
// the step itself, and read in bulk when someone looks: the host never waits for the device
// inside a step, and what it reads is exactly what each step computed.
import * as E from '../core/expr.js';
import { replayParams } from '../backends/capture.js';
import { assignExpr } from '../ops/apply.js';
import { arange, zeros } from '../ops/creation.js';
import { reshape } from '../ops/views.js';
import { noGrad } from '../tensor/autograd.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** A value of one step: a one-element tensor on the device, or a number known on the host. */
export type StepValue = Tensor | number;

export class StepLog {
  /** rows written since the last read */
  private pending = 0;
  private readonly table: Tensor;
  private readonly rowIds: Tensor;
  private readonly columnIds: Tensor;

  /** `columns` values per step; `capacity` steps between reads at most. */
  constructor(device: string, readonly columns: number, readonly capacity = 256) {
    this.table = keep(zeros([capacity, columns], { device }));
    this.rowIds = keep(tidy(() => reshape(arange(0, capacity, 1, { device, dtype: 'float32' }), [capacity, 1])));
    this.columnIds = keep(tidy(() => reshape(arange(0, columns, 1, { device, dtype: 'float32' }), [1, columns])));
  }

  get full(): boolean { return this.pending >= this.capacity; }

  /** Writes this step's values into the next row: one kernel, whose row number a replay advances. */
  record(values: readonly StepValue[]): void {
    if (values.length !== this.columns) throw new Error(`step log: expected ${this.columns} values, got ${values.length}`);
    const row = replayParams(() => [this.pending++]);
    const tensors: Tensor[] = [this.table, this.rowIds, this.columnIds];
    // counts may come as integers (a custom metric's): the table holds float32
    const value = (v: StepValue): E.Expr => {
      if (typeof v === 'number') return E.constant(v);
      const x = E.input(tensors.push(reshape(v, [1, 1])) - 1, v.dtype);
      return v.dtype === 'float32' ? x : E.cast(x, 'float32');
    };
    // column j of the new row takes value j: nested selects on the column index
    let rowExpr: E.Expr = value(values[values.length - 1]!);
    for (let j = values.length - 2; j >= 0; j--) rowExpr = E.where(E.binary('eq', E.input(2), j), value(values[j]!), rowExpr);
    noGrad(() => assignExpr('step log', [this.table], [E.where(E.binary('eq', E.input(1), E.param(0)), rowExpr, E.input(0))], tensors, row));
  }

  /** The rows written since the last read, oldest first (waits for the device). */
  async read(): Promise<Float32Array[]> {
    const n = this.pending;
    this.pending = 0;
    if (n === 0) return [];
    const all = (await this.table.data()) as Float32Array;
    return Array.from({ length: n }, (_, i) => all.subarray(i * this.columns, (i + 1) * this.columns));
  }

  dispose(): void {
    this.table.dispose();
    this.rowIds.dispose();
    this.columnIds.dispose();
  }
}
