// Sequential: a stack of layers applied in order, with a Keras-style summary.
import { fail } from '../core/errors.js';
import { shown } from '../core/validate.js';
import type { Tensor } from '../tensor/tensor.js';
import { Layer, type LayerArgs } from '../nn/layer.js';
import type { ArchitectureConfig } from '../io/model-dir.js';
import { Model } from './model.js';
import { summaryTable } from './summary.js';
import { exportOnnx } from '../io/onnx-export.js';

export class Sequential extends Model {
  readonly layers: Layer[];

  constructor(layers: Layer[] = [], args: LayerArgs = {}) {
    super('sequential', args);
    this.layers = [...layers];
    const first = this.layers[0]?.declaredInputShape ?? args.inputShape;
    if (first) this.ensureBuilt(first);
  }

  add(layer: Layer): this {
    if (!(layer instanceof Layer)) fail(this.name, `add() takes a layer, got ${shown(layer)}`);
    // a model built already (its first layer declared inputShape) builds the new layer where the others end
    if (this.built && this.inputShape) layer.ensureBuilt(this.computeOutputShape(this.inputShape), this.device);
    this.layers.push(layer);
    return this;
  }

  /** Per-sample input shape, when known: declared, or the one the model was first called with. */
  get inputShape(): number[] | undefined {
    return this.declaredInputShape ?? this.layers[0]?.declaredInputShape ?? this.builtShape;
  }

  override build(inputShape: readonly number[], device: string): void {
    let shape: readonly number[] = inputShape;
    for (const l of this.layers) {
      l.ensureBuilt(shape, device);
      shape = l.computeOutputShape(shape);
    }
  }

  override computeOutputShape(inputShape: readonly number[]): number[] {
    let shape: number[] = [...inputShape];
    for (const l of this.layers) shape = l.computeOutputShape(shape);
    return shape;
  }

  /** The layers in order; the mask of padded steps (from an embedding with maskZero) goes along. */
  forward(x: Tensor): Tensor {
    let y = x, mask: Tensor | null = null;
    for (const l of this.layers) ({ y, mask } = l.applyMasked(y, mask));
    return y;
  }

  /**
   * Writes the model as ONNX (opset 17) for inference elsewhere (onnxruntime, TensorRT, ...).
   * Inputs and outputs keep tessera's layout (images NHWC); the batch size is free.
   * @example await model.exportOnnx('model.onnx')
   */
  exportOnnx(path: string): Promise<void> {
    return exportOnnx(this, path);
  }

  override architecture(): ArchitectureConfig {
    return { class: 'Sequential', name: this.name, inputShape: this.inputShape ?? null, layers: this.layers.map((l) => ({ class: l.constructor.name, config: l.getConfig() })) };
  }

  /** Keras-style table of layers, output shapes and parameter counts. */
  summary(print: (line: string) => void = console.log): string {
    const inputShape = this.inputShape;
    if (!this.built || !inputShape) fail(this.name, 'summary() needs the input shape: give the first layer inputShape, or call the model once');
    const rows: [string, string, string][] = [];
    let shape: number[] = [...inputShape];
    for (const l of this.layers) {
      shape = l.computeOutputShape(shape);
      rows.push([`${l.name} (${l.constructor.name})`, `(None, ${shape.join(', ')})`, String(l.countParams())]);
    }
    return summaryTable(this, ['Layer (type)', 'Output Shape', 'Param #'], rows, print);
  }
}

/**
 * A model that applies `layers` in order; takes the list, or TF.js's config object.
 * @example tsr.sequential([tsr.layers.dense({ units: 10, inputShape: [4] })])
 * @example tsr.sequential({ layers: [tsr.layers.dense({ units: 10, inputShape: [4] })], name: 'classifier' })
 */
export function sequential(layers: Layer[] | (LayerArgs & { layers?: Layer[] }) = [], args: LayerArgs = {}): Sequential {
  if (Array.isArray(layers)) return new Sequential(checkLayers(layers), args);
  if (typeof layers !== 'object' || layers === null) fail('sequential', `expected a list of layers or { layers: [...] }, got ${shown(layers)}`);
  const { layers: list = [], ...rest } = layers;
  if (!Array.isArray(list)) fail('sequential', `layers must be a list of layers, got ${shown(list)}`);
  return new Sequential(checkLayers(list), { ...rest, ...args });
}

function checkLayers(list: readonly unknown[]): Layer[] {
  list.forEach((l, i) => { if (!(l instanceof Layer)) fail('sequential', `layer ${i + 1} is not a layer, got ${shown(l)}`); });
  return list as Layer[];
}
