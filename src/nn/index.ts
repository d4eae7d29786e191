// Layers: tsr.layers.* (the factories of the one table in registry.ts), the classes, and the
// functional API's symbolic tensors.
export { layers, LAYERS, type LayerName } from './registry.js';
export { Layer, type LayerArgs } from './layer.js';
export { Activation, Flatten, LeakyReLU, PReLU, Reshape, Softmax } from './layers/basic.js';
export { Dropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D } from './layers/noise.js';
export { AveragePooling2D, Conv2D, type Conv2DArgs, GlobalAveragePooling2D, MaxPooling2D, type Pooling2DArgs } from './layers/conv.js';
export { Dense, type DenseArgs } from './layers/dense.js';
export { Conv2DTranspose, type Conv2DTransposeArgs, DepthwiseConv2D, type DepthwiseConv2DArgs, SeparableConv2D, type SeparableConv2DArgs } from './layers/conv-variants.js';
export { Embedding } from './layers/embedding.js';
export { Cropping2D, Permute, RepeatVector, UpSampling2D, ZeroPadding2D } from './layers/reshaping.js';
export { AveragePooling1D, Conv1D, type Conv1DArgs, GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, type Pooling1DArgs } from './layers/conv1d.js';
export { GRU, LSTM, type RecurrentArgs, SimpleRNN } from './layers/recurrent.js';
export { type BatchNormArgs, BatchNormalization, type LayerNormArgs, LayerNormalization } from './layers/normalization.js';
export { Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot, Merge } from './layers/merge.js';
export { Bidirectional, TimeDistributed } from './layers/wrappers.js';
export { MultiHeadAttention, type MultiHeadAttentionArgs, PositionalEmbedding } from './layers/attention.js';
export { SymbolicTensor, input, type InputArgs } from './symbolic.js';
export { initialize, type Initializer, type InitializerName } from './initializers.js';
