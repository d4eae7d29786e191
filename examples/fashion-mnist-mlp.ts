// The Keras basic-classification tutorial in tessera: an MLP on Fashion-MNIST.
//   npm run build && node dist/examples/fashion-mnist-mlp.js [epochs]
import * as tsr from 'tessera';

const epochs = Number(process.argv[2] ?? 10);
const { train, test, source } = await tsr.datasets.fashionMnist();
console.log(`data: ${source}`);

const model = tsr.sequential([
  tsr.layers.flatten({ inputShape: [28, 28] }),
  tsr.layers.dense({ units: 128, activation: 'relu' }),
  tsr.layers.dense({ units: 10 }),
]);
model.compile({
  optimizer: tsr.optimizers.adam({ learningRate: 1e-3 }),
  loss: tsr.losses.sparseCategoricalCrossentropy({ fromLogits: true }),
  metrics: ['accuracy'],
});
model.summary();
await model.fit(train.images, train.labels, { epochs, batchSize: 32 });
const { loss, accuracy } = await model.evaluate(test.images, test.labels);
console.log(`test loss ${loss!.toFixed(4)}, test accuracy ${accuracy!.toFixed(4)}`);

// class probabilities for the first test image
const probs = tsr.softmax(model.predict(test.images.slice([[0, 1]])));
const best = probs.argmax(1).item();
console.log(`first test image: ${tsr.datasets.FASHION_MNIST_CLASSES[best]} (${(probs.max().item() * 100).toFixed(1)}%)`);
