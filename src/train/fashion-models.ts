// The Fashion-MNIST models of the main job: the Keras tutorial MLP, a small CNN, and an LSTM
// reading each image as 28 rows of 28 pixels. One table: the CLI and the bench list its keys.
import { layers } from '../nn/index.js';
import { type Sequential, sequential } from './sequential.js';

export const FASHION_MODELS = {
  mlp: () => sequential([
    layers.flatten({ inputShape: [28, 28] }),
    layers.dense({ units: 128, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ]),
  cnn: () => sequential([
    layers.reshape({ targetShape: [28, 28, 1], inputShape: [28, 28] }),
    layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    layers.maxPooling2d({ poolSize: 2 }),
    layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
    layers.maxPooling2d({ poolSize: 2 }),
    layers.flatten(),
    layers.dense({ units: 128, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ]),
  lstm: () => sequential([
    layers.lstm({ units: 128, inputShape: [28, 28] }),
    layers.dense({ units: 10 }),
  ]),
} satisfies Record<string, () => Sequential>;

export type ModelKind = keyof typeof FASHION_MODELS;
export const MODEL_KINDS = Object.keys(FASHION_MODELS) as ModelKind[];

export function buildModel(kind: ModelKind): Sequential {
  return FASHION_MODELS[kind]();
}

/** Which of the models a saved one is, from its layers. */
export function kindOfLayers(classes: readonly string[]): ModelKind {
  return classes.includes('LSTM') ? 'lstm' : classes.includes('Conv2D') ? 'cnn' : 'mlp';
}
