// Every built-in layer, declared once: its factory name (tsr.layers.<name>) and its class. The
// factories, loading a saved architecture (by class name) and ONNX export (a rule per entry,
// checked by the compiler) all read this table.
import { Activation, Flatten, LeakyReLU, PReLU, Reshape, Softmax } from './layers/basic.js';
import { Dropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D } from './layers/noise.js';
import { AveragePooling2D, Conv2D, GlobalAveragePooling2D, MaxPooling2D } from './layers/conv.js';
import { Dense } from './layers/dense.js';
import { Embedding } from './layers/embedding.js';
import { Cropping2D, Permute, RepeatVector, UpSampling2D, ZeroPadding2D } from './layers/reshaping.js';
import { AveragePooling1D, Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D } from './layers/conv1d.js';
import { GRU, LSTM, SimpleRNN } from './layers/recurrent.js';
import { BatchNormalization, LayerNormalization } from './layers/normalization.js';
import { Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract } from './layers/merge.js';
import { Bidirectional, TimeDistributed } from './layers/wrappers.js';
import { MultiHeadAttention, PositionalEmbedding } from './layers/attention.js';
import { Conv2DTranspose, DepthwiseConv2D, SeparableConv2D } from './layers/conv-variants.js';
import type { Layer } from './layer.js';

export const LAYERS = {
  dense: Dense,
  conv2d: Conv2D, depthwiseConv2d: DepthwiseConv2D, separableConv2d: SeparableConv2D, conv2dTranspose: Conv2DTranspose,
  maxPooling2d: MaxPooling2D, averagePooling2d: AveragePooling2D, globalAveragePooling2d: GlobalAveragePooling2D, globalMaxPooling2d: GlobalMaxPooling2D,
  conv1d: Conv1D, maxPooling1d: MaxPooling1D, averagePooling1d: AveragePooling1D, globalMaxPooling1d: GlobalMaxPooling1D, globalAveragePooling1d: GlobalAveragePooling1D,
  flatten: Flatten, reshape: Reshape, permute: Permute, repeatVector: RepeatVector,
  zeroPadding2d: ZeroPadding2D, cropping2d: Cropping2D, upSampling2d: UpSampling2D,
  activation: Activation, softmax: Softmax, leakyReLU: LeakyReLU, prelu: PReLU,
  dropout: Dropout, spatialDropout1d: SpatialDropout1D, spatialDropout2d: SpatialDropout2D, gaussianNoise: GaussianNoise,
  batchNormalization: BatchNormalization, layerNormalization: LayerNormalization,
  embedding: Embedding, simpleRNN: SimpleRNN, lstm: LSTM, gru: GRU,
  add: Add, subtract: Subtract, multiply: Multiply, average: Average, maximum: Maximum, minimum: Minimum, concatenate: Concatenate, dot: Dot,
  timeDistributed: TimeDistributed, bidirectional: Bidirectional,
  multiHeadAttention: MultiHeadAttention, positionalEmbedding: PositionalEmbedding,
} as const;

export type LayerName = keyof typeof LAYERS;
/** A built-in layer class's name, as saved in model.json. */
export type LayerClassName = (typeof LAYERS)[LayerName]['name'];

/** Layer classes by class name, for rebuilding a saved architecture. */
export const LAYER_CLASSES: Readonly<Record<string, new (args: never) => Layer>> = Object.fromEntries(Object.values(LAYERS).map((c) => [c.name, c]));

type Factories = { readonly [K in LayerName]: (...args: ConstructorParameters<(typeof LAYERS)[K]>) => InstanceType<(typeof LAYERS)[K]> };

/** Keras-style factories: tsr.layers.dense({ units: 10 }). */
export const layers = Object.fromEntries(Object.entries(LAYERS).map(([name, C]) => [name, (...args: unknown[]) => new (C as unknown as new (...a: unknown[]) => Layer)(...args)])) as unknown as Factories;
