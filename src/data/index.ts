// Data loading: the Dataset pipeline, IDX files and the MNIST-family loaders.
export { Dataset, type Element } from './dataset.js';
export { readIdx, parseIdx, type IdxArray } from './idx.js';
export { fashionMnist, mnist, FASHION_MNIST_CLASSES, type ImageDataset, type Split, type LoadOptions } from './fashion-mnist.js';
