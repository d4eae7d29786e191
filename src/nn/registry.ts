// Layer classes by name, for rebuilding a saved architecture.
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
import type { Layer } from './layer.js';

export const LAYER_CLASSES: Record<string, new (args: never) => Layer> = {
  Dense, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, Activation, Softmax, LeakyReLU, PReLU, Dropout, SpatialDropout1D, SpatialDropout2D, GaussianNoise, BatchNormalization, LayerNormalization, Embedding, SimpleRNN, LSTM, GRU,
  ZeroPadding2D, Cropping2D, UpSampling2D, Permute, RepeatVector, Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling2D,
  Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, TimeDistributed, Bidirectional,
  MultiHeadAttention, PositionalEmbedding,
};
