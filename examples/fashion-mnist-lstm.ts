// An LSTM reading each Fashion-MNIST image as a sequence: 28 rows (time steps) of 28 pixels.
//   npm run build && node dist/examples/fashion-mnist-lstm.js [epochs]
import * as tsr from 'tessera';

const epochs = Number(process.argv[2] ?? 5);
const { train, test } = await tsr.datasets.fashionMnist();

const model = tsr.sequential({
  layers: [
    tsr.layers.lstm({ units: 128, inputShape: [28, 28] }),
    tsr.layers.dense({ units: 10, activation: 'softmax' }),
  ],
});
model.compile({ optimizer: tsr.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
model.summary();
await model.fit(train.images, train.labels, { epochs, batchSize: 32, validationData: [test.images, test.labels] });
const { accuracy } = await model.evaluate(test.images, test.labels);
console.log(`test accuracy ${accuracy!.toFixed(4)}`);
