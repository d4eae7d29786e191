// The two Fashion-MNIST models of the main job: the Keras tutorial MLP and a small CNN.
import { layers } from '../nn/index.js';
import { type Sequential, sequential } from './sequential.js';

export type ModelKind = 'mlp' | 'cnn';

export function buildModel(kind: ModelKind): Sequential {
  if (kind === 'mlp') {
    return sequential([
      layers.flatten({ inputShape: [28, 28] }),
      layers.dense({ units: 128, activation: 'relu' }),
      layers.dense({ units: 10 }),
    ]);
  }
  return sequential([
    layers.reshape({ targetShape: [28, 28, 1], inputShape: [28, 28] }),
    layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    layers.maxPooling2d({ poolSize: 2 }),
    layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
    layers.maxPooling2d({ poolSize: 2 }),
    layers.flatten(),
    layers.dense({ units: 128, activation: 'relu' }),
    layers.dense({ units: 10 }),
  ]);
}
