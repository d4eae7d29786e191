// Layers (tsr.layers.*) and models.
import { Activation, Flatten, LeakyReLU, PReLU, Reshape, Softmax } from './layers/basic.js';
import { Dropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D } from './layers/noise.js';
import { AveragePooling2D, Conv2D, type Conv2DArgs, GlobalAveragePooling2D, MaxPooling2D, type Pooling2DArgs } from './layers/conv.js';
import { Dense, type DenseArgs } from './layers/dense.js';
import { Embedding } from './layers/embedding.js';
import { Cropping2D, Permute, RepeatVector, UpSampling2D, ZeroPadding2D } from './layers/reshaping.js';
import { AveragePooling1D, Conv1D, type Conv1DArgs, GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, type Pooling1DArgs } from './layers/conv1d.js';
import { GRU, LSTM, type RecurrentArgs, SimpleRNN } from './layers/recurrent.js';
import { type BatchNormArgs, BatchNormalization, type LayerNormArgs, LayerNormalization } from './layers/normalization.js';
import { Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract } from './layers/merge.js';
import { Bidirectional, TimeDistributed } from './layers/wrappers.js';
import { MultiHeadAttention, type MultiHeadAttentionArgs, PositionalEmbedding } from './layers/attention.js';
import type { LayerArgs } from './layer.js';

export { Layer, type LayerArgs } from './layer.js';
export { Dense, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, Activation, Softmax, LeakyReLU, PReLU, Dropout, SpatialDropout1D, SpatialDropout2D, GaussianNoise, BatchNormalization, LayerNormalization, Embedding, SimpleRNN, LSTM, GRU,
  ZeroPadding2D, Cropping2D, UpSampling2D, Permute, RepeatVector, Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling2D };
export { Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, Merge } from './layers/merge.js';
export { SymbolicTensor, input, type InputArgs } from './symbolic.js';
export { Bidirectional, TimeDistributed } from './layers/wrappers.js';
export { MultiHeadAttention, type MultiHeadAttentionArgs, PositionalEmbedding } from './layers/attention.js';
export { initialize, type Initializer, type InitializerName } from './initializers.js';

/** Keras-style factories: tsr.layers.dense({ units: 10 }). */
export const layers = {
  dense: (args: DenseArgs) => new Dense(args),
  conv2d: (args: Conv2DArgs) => new Conv2D(args),
  maxPooling2d: (args: Pooling2DArgs = {}) => new MaxPooling2D(args),
  averagePooling2d: (args: Pooling2DArgs = {}) => new AveragePooling2D(args),
  globalAveragePooling2d: (args: LayerArgs = {}) => new GlobalAveragePooling2D(args),
  flatten: (args: LayerArgs = {}) => new Flatten(args),
  reshape: (args: LayerArgs & { targetShape: readonly number[] }) => new Reshape(args),
  activation: (args: LayerArgs & { activation: ConstructorParameters<typeof Activation>[0]['activation'] }) => new Activation(args),
  softmax: (args: LayerArgs & { axis?: number } = {}) => new Softmax(args),
  leakyReLU: (args: LayerArgs & { alpha?: number } = {}) => new LeakyReLU(args),
  prelu: (args: ConstructorParameters<typeof PReLU>[0] = {}) => new PReLU(args),
  dropout: (args: LayerArgs & { rate: number; seed?: number }) => new Dropout(args),
  spatialDropout1d: (args: LayerArgs & { rate: number; seed?: number }) => new SpatialDropout1D(args),
  spatialDropout2d: (args: LayerArgs & { rate: number; seed?: number }) => new SpatialDropout2D(args),
  gaussianNoise: (args: LayerArgs & { stddev: number; seed?: number }) => new GaussianNoise(args),
  batchNormalization: (args: BatchNormArgs = {}) => new BatchNormalization(args),
  layerNormalization: (args: LayerNormArgs = {}) => new LayerNormalization(args),
  embedding: (args: LayerArgs & { inputDim: number; outputDim: number }) => new Embedding(args),
  simpleRNN: (args: RecurrentArgs) => new SimpleRNN(args),
  lstm: (args: RecurrentArgs & { unitForgetBias?: boolean }) => new LSTM(args),
  gru: (args: RecurrentArgs) => new GRU(args),
  conv1d: (args: Conv1DArgs) => new Conv1D(args),
  maxPooling1d: (args: Pooling1DArgs = {}) => new MaxPooling1D(args),
  averagePooling1d: (args: Pooling1DArgs = {}) => new AveragePooling1D(args),
  globalMaxPooling1d: (args: LayerArgs = {}) => new GlobalMaxPooling1D(args),
  globalAveragePooling1d: (args: LayerArgs = {}) => new GlobalAveragePooling1D(args),
  globalMaxPooling2d: (args: LayerArgs = {}) => new GlobalMaxPooling2D(args),
  zeroPadding2d: (args: ConstructorParameters<typeof ZeroPadding2D>[0] = {}) => new ZeroPadding2D(args),
  cropping2d: (args: ConstructorParameters<typeof Cropping2D>[0] = {}) => new Cropping2D(args),
  upSampling2d: (args: ConstructorParameters<typeof UpSampling2D>[0] = {}) => new UpSampling2D(args),
  permute: (args: ConstructorParameters<typeof Permute>[0]) => new Permute(args),
  repeatVector: (args: ConstructorParameters<typeof RepeatVector>[0]) => new RepeatVector(args),
  add: (args: LayerArgs = {}) => new Add(args),
  subtract: (args: LayerArgs = {}) => new Subtract(args),
  multiply: (args: LayerArgs = {}) => new Multiply(args),
  average: (args: LayerArgs = {}) => new Average(args),
  maximum: (args: LayerArgs = {}) => new Maximum(args),
  minimum: (args: LayerArgs = {}) => new Minimum(args),
  concatenate: (args: ConstructorParameters<typeof Concatenate>[0] = {}) => new Concatenate(args),
  dot: (args: ConstructorParameters<typeof Dot>[0]) => new Dot(args),
  timeDistributed: (args: ConstructorParameters<typeof TimeDistributed>[0]) => new TimeDistributed(args),
  bidirectional: (args: ConstructorParameters<typeof Bidirectional>[0]) => new Bidirectional(args),
  multiHeadAttention: (args: MultiHeadAttentionArgs) => new MultiHeadAttention(args),
  positionalEmbedding: (args: ConstructorParameters<typeof PositionalEmbedding>[0]) => new PositionalEmbedding(args),
};
