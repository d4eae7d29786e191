// Layers around another layer: timeDistributed (the layer on every time step) and bidirectional
// (a recurrent layer read forwards and backwards). Saved with the inner layer's own config.
import { fail, shapeStr } from '../../core/errors.js';
import { checkOneOf, shown } from '../../core/validate.js';
import type { LayerEntry } from '../../io/model-dir.js';
import { add, mul } from '../../ops/arith.js';
import { tensor } from '../../ops/creation.js';
import { gather } from '../../ops/indexing.js';
import { concat } from '../../ops/join.js';
import { reshape } from '../../ops/views.js';
import type { Tensor } from '../../tensor/tensor.js';
import { Layer, type LayerArgs } from '../layer.js';

/** The wrapped layer (loadModel makes it from its saved { class, config } before calling us). */
function innerLayer(op: string, v: unknown): Layer {
  return v instanceof Layer ? v : fail(op, `layer must be a layer (e.g. tsr.layers.dense({ units: 8 })), got ${shown(v)}`);
}

const entryOf = (l: Layer): LayerEntry => ({ class: l.constructor.name, config: l.getConfig() });

/** Applies `layer` to every time step: [batch, time, ...] -> [batch, time, ...layer's output]. */
export class TimeDistributed extends Layer {
  static override readonly passesMask = true;
  static override readonly options = ['layer'];
  readonly layer: Layer;
  constructor(args: LayerArgs & { layer: Layer }) {
    // the inner layer is saved through its own config (getConfig), not as an option
    super('time_distributed', { ...args, layer: undefined } as LayerArgs);
    this.layer = innerLayer(this.name, args.layer);
  }
  override build(inputShape: readonly number[], device: string): void {
    if (inputShape.length < 2) fail(this.name, `expects inputs [batch, time, ...], got per-sample shape [${inputShape.join(', ')}]`);
    this.layer.ensureBuilt(inputShape.slice(1), device);
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    return [inputShape[0]!, ...this.layer.computeOutputShape(inputShape.slice(1))];
  }
  forward(x: Tensor): Tensor {
    if (x.rank < 3) fail(this.name, `expects inputs [batch, time, ...], got ${shapeStr(x.shape)}`);
    const [batch, time] = x.shape as [number, number];
    const y = this.layer.apply(reshape(x, [batch * time, ...x.shape.slice(2)]));
    return reshape(y, [batch, time, ...y.shape.slice(1)]);
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), layer: entryOf(this.layer) };
  }
}

type MergeMode = 'concat' | 'sum' | 'mul' | 'ave';
interface RecurrentLike { readonly returnSequences: boolean; readonly goBackwards: boolean }

/**
 * A recurrent layer and its copy reading the sequence backwards, merged (Keras's Bidirectional).
 * With returnSequences the backward outputs are put back in time order before merging.
 * @example tsr.layers.bidirectional({ layer: tsr.layers.lstm({ units: 32 }) })
 */
export class Bidirectional extends Layer {
  static override readonly options = ['layer', 'mergeMode', 'backwardLayer'];
  readonly forwardLayer: Layer;
  readonly backwardLayer: Layer;
  readonly mergeMode: MergeMode;
  constructor(args: LayerArgs & { layer: Layer; mergeMode?: MergeMode; backwardLayer?: Layer }) {
    super('bidirectional', { ...args, layer: undefined, backwardLayer: undefined } as LayerArgs);
    this.forwardLayer = innerLayer(this.name, args.layer);
    const rnn = this.forwardLayer as unknown as Partial<RecurrentLike>;
    if (typeof rnn.goBackwards !== 'boolean' || typeof rnn.returnSequences !== 'boolean') fail(this.name, `wraps a recurrent layer (simpleRNN, lstm, gru), got ${this.forwardLayer.constructor.name}`);
    if ((rnn as { returnState?: boolean }).returnState) fail(this.name, 'a wrapped layer with returnState is not supported; wrap it without, or use two recurrent layers');
    this.mergeMode = checkOneOf(this.name, 'mergeMode', args.mergeMode ?? 'concat', ['concat', 'sum', 'mul', 'ave'] as const);
    // a loaded model passes its saved backward layer, whose name finds its weights again
    const Same = this.forwardLayer.constructor as new (a: Record<string, unknown>) => Layer;
    this.backwardLayer = args.backwardLayer instanceof Same ? args.backwardLayer : new Same({ ...this.forwardLayer.getConfig(), name: `backward_${this.forwardLayer.name}`, goBackwards: !rnn.goBackwards });
  }
  private get sequences(): boolean { return (this.forwardLayer as unknown as RecurrentLike).returnSequences; }
  override build(inputShape: readonly number[], device: string): void {
    this.forwardLayer.ensureBuilt(inputShape, device);
    this.backwardLayer.ensureBuilt(inputShape, device);
  }
  computeOutputShape(inputShape: readonly number[]): number[] {
    const out = this.forwardLayer.computeOutputShape(inputShape);
    return this.mergeMode === 'concat' ? [...out.slice(0, -1), 2 * out.at(-1)!] : out;
  }
  forward(x: Tensor): Tensor {
    return this.merged(this.forwardLayer.apply(x), this.backwardLayer.apply(x));
  }
  protected override forwardMasked(x: Tensor, mask: Tensor): Tensor {
    return this.merged(this.forwardLayer.applyMasked(x, mask).y, this.backwardLayer.applyMasked(x, mask).y);
  }
  override computeMask(_x: Tensor, mask: Tensor | null): Tensor | null {
    return this.sequences ? mask : null;
  }
  /** The backward outputs back in time order, merged with the forward ones. */
  private merged(a: Tensor, b: Tensor): Tensor {
    if (this.sequences) {
      const time = b.shape[1]!;
      b = gather(b, tensor(Int32Array.from({ length: time }, (_, t) => time - 1 - t), { device: b.device }), 1);
    }
    switch (this.mergeMode) {
      case 'concat': return concat([a, b], a.rank - 1);
      case 'sum': return add(a, b);
      case 'mul': return mul(a, b);
      case 'ave': return mul(add(a, b), 0.5);
    }
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), layer: entryOf(this.forwardLayer), backwardLayer: entryOf(this.backwardLayer) };
  }
}
