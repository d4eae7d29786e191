// tessera's public API: import * as tsr from 'tessera'.
export * from './ops/index.js';
export { Tensor } from './tensor/tensor.js';
export { tidy, keep } from './tensor/scope.js';
export { memory, type MemoryInfo } from './tensor/memory.js';
export { noGrad, isGradEnabled } from './tensor/autograd.js';
export { grad, valueAndGrad } from './tensor/grad.js';
export { getDefaultDevice, setDefaultDevice, availableDevices, getBackend, initDevices, releaseDevices, unavailableDevices } from './backends/registry.js';
export type { Backend, DeviceInfo } from './backends/backend.js';
export type { DType } from './core/dtype.js';
export { TesseraError } from './core/errors.js';
export * as optimizers from './optim/index.js';
export { layers, Layer } from './nn/index.js';
export * from './train/index.js';
export * as datasets from './data/fashion-mnist.js';
export * as data from './data/index.js';
export * as nn from './nn/index.js';
export { saveSafetensors, loadSafetensors, encodeSafetensors, decodeSafetensors } from './io/safetensors.js';
