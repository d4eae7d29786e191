// A small Transformer encoder (a ViT) on Fashion-MNIST, written with the functional API: each
// image becomes 16 patches of 7x7 pixels, embedded, given a learned position each, and read by
// two blocks of multi-head self-attention and an MLP; the mean over patches is classified.
//   npm run build && node dist/examples/fashion-mnist-transformer.js [epochs]
import * as tsr from 'tessera';

const epochs = Number(process.argv[2] ?? 5);
const { train, test } = await tsr.datasets.fashionMnist();
const L = tsr.layers;
const features = 64, patches = 16;

const image = tsr.input({ shape: [28, 28] });
// [28, 28] -> [4, 7, 4, 7] (patch row, pixel row, patch column, pixel column) -> [16, 49]
let x = L.reshape({ targetShape: [4, 7, 4, 7] }).apply(image);
x = L.permute({ dims: [1, 3, 2, 4] }).apply(x);
x = L.reshape({ targetShape: [patches, 49] }).apply(x);
x = L.dense({ units: features }).apply(x);
x = L.positionalEmbedding({ sequenceLength: patches }).apply(x);
for (let block = 0; block < 2; block++) {
  const attended = L.multiHeadAttention({ numHeads: 4, keyDim: features / 4 }).apply(L.layerNormalization().apply(x));
  x = L.add().apply([x, attended]);
  const hidden = L.dense({ units: 2 * features, activation: 'gelu' }).apply(L.layerNormalization().apply(x));
  x = L.add().apply([x, L.dense({ units: features }).apply(hidden)]);
}
x = L.globalAveragePooling1d().apply(L.layerNormalization().apply(x));
const model = tsr.model({ inputs: image, outputs: L.dense({ units: 10 }).apply(x) });

model.compile({ optimizer: 'adam', loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
model.summary();
await model.fit(train.images, train.labels, { epochs, batchSize: 32, validationData: [test.images, test.labels] });
const { accuracy } = await model.evaluate(test.images, test.labels);
console.log(`test accuracy ${accuracy!.toFixed(4)}`);
