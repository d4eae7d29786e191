// The Fashion-MNIST models of the main job: the Keras tutorial MLP, a small CNN, an LSTM reading
// each image as 28 rows of 28 pixels, and a small Transformer encoder over 7x7-pixel patches.
// One table: the CLI and the bench list its keys.
import { input } from '../nn/symbolic.js';
import { layers } from '../nn/index.js';
import { type Functional, model } from './functional.js';
import { type Sequential, sequential } from './sequential.js';

/**
 * A ViT-style encoder: 16 patches of 7x7 pixels embedded in 64 features, a learned position
 * vector each, 2 pre-norm blocks (4-head self-attention, then a GELU MLP, each added back),
 * then the mean over patches and a linear classifier.
 */
function transformer(): Functional {
  const image = input({ shape: [28, 28], name: 'image' });
  // [28, 28] -> [4 patch rows, 7, 4 patch columns, 7] -> [16 patches, 49 pixels]
  let x = layers.reshape({ targetShape: [4, 7, 4, 7] }).apply(image);
  x = layers.permute({ dims: [1, 3, 2, 4] }).apply(x);
  x = layers.reshape({ targetShape: [16, 49] }).apply(x);
  x = layers.dense({ units: 64 }).apply(x);
  x = layers.positionalEmbedding({ sequenceLength: 16 }).apply(x);
  for (let block = 0; block < 2; block++) {
    const n = layers.layerNormalization().apply(x);
    x = layers.add().apply([x, layers.multiHeadAttention({ numHeads: 4, keyDim: 16 }).apply(n)]);
    const m = layers.dense({ units: 128, activation: 'gelu' }).apply(layers.layerNormalization().apply(x));
    x = layers.add().apply([x, layers.dense({ units: 64 }).apply(m)]);
  }
  x = layers.globalAveragePooling1d().apply(layers.layerNormalization().apply(x));
  return model({ inputs: image, outputs: layers.dense({ units: 10 }).apply(x) });
}

/** How `tessera train` trains a model by default: its model, and the recipe that reaches its target accuracy. */
interface FashionEntry {
  readonly build: () => FashionModel;
  readonly epochs: number;
  readonly batchSize: number;
  /** Adam's learning rate (the peak of a cosine schedule) */
  readonly learningRate: number;
  readonly schedule: 'constant' | 'cosine';
}

export const FASHION_MODELS = {
  mlp: {
    build: () => sequential([
      layers.flatten({ inputShape: [28, 28] }),
      layers.dense({ units: 128, activation: 'relu' }),
      layers.dense({ units: 10 }),
    ]),
    epochs: 10, batchSize: 32, learningRate: 1e-3, schedule: 'constant',
  },
  cnn: {
    build: () => sequential([
      layers.reshape({ targetShape: [28, 28, 1], inputShape: [28, 28] }),
      layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.flatten(),
      layers.dense({ units: 128, activation: 'relu' }),
      layers.dense({ units: 10 }),
    ]),
    epochs: 5, batchSize: 32, learningRate: 1e-3, schedule: 'constant',
  },
  lstm: {
    build: () => sequential([
      layers.lstm({ units: 128, inputShape: [28, 28] }),
      layers.dense({ units: 10 }),
    ]),
    // the constant 1e-3 at batch 32 ends near 0.876 after 5 epochs; decaying to 0 settles higher
    epochs: 5, batchSize: 64, learningRate: 2e-3, schedule: 'cosine',
  },
  transformer: { build: transformer, epochs: 5, batchSize: 32, learningRate: 1e-3, schedule: 'cosine' },
} satisfies Record<string, FashionEntry>;

/** A model of the table: one image in, ten scores out. */
export type FashionModel = Sequential | Functional;

export type ModelKind = keyof typeof FASHION_MODELS;
export const MODEL_KINDS = Object.keys(FASHION_MODELS) as ModelKind[];

export function buildModel(kind: ModelKind): FashionModel {
  return FASHION_MODELS[kind].build();
}

/** Which of the models a saved one is, from its layers. */
export function kindOfLayers(classes: readonly string[]): ModelKind {
  return classes.includes('MultiHeadAttention') ? 'transformer' : classes.includes('LSTM') ? 'lstm' : classes.includes('Conv2D') ? 'cnn' : 'mlp';
}
