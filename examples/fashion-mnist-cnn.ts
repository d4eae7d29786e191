// A small convolutional network on Fashion-MNIST (images are NHWC: channels last).
//   npm run build && node dist/examples/fashion-mnist-cnn.js [epochs]
import * as tsr from 'tessera';

const epochs = Number(process.argv[2] ?? 5);
const { train, test } = await tsr.datasets.fashionMnist();

const model = tsr.sequential([
  tsr.layers.reshape({ targetShape: [28, 28, 1], inputShape: [28, 28] }),
  tsr.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu' }),
  tsr.layers.maxPooling2d({ poolSize: 2 }),
  tsr.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
  tsr.layers.maxPooling2d({ poolSize: 2 }),
  tsr.layers.flatten(),
  tsr.layers.dropout({ rate: 0.25 }),
  tsr.layers.dense({ units: 128, activation: 'relu' }),
  tsr.layers.dense({ units: 10 }),
]);
model.compile({ optimizer: 'adam', loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }), metrics: ['accuracy'] });
model.summary();
await model.fit(train.images, train.labels, {
  epochs, batchSize: 64, validationData: [test.images, test.labels],
  callbacks: [tsr.callbacks.earlyStopping({ monitor: 'val_accuracy', patience: 2, restoreBestWeights: true })],
});
console.log(await model.evaluate(test.images, test.labels));
