/** The models and data the benchmarks share: an MNIST-sized MLP and a small CNN, trained briefly on real digits. */
import * as tf from '@tensorflow/tfjs';
import { loadMnist } from '../examples/mnist-data.js';

/** A 784-128-10 ReLU MLP. */
export function mlp(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 128, activation: 'relu', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return m;
}

/** A 784-256-10 ReLU MLP (the engine issue's model). */
export function mlp256(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 256, activation: 'relu', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return m;
}

/** The demo's deep residual MLP: 784-64, then 19 relu Dense 64 blocks each added to its input (functional Add), then 10. */
export function residualMlp(): tf.LayersModel {
  const input = tf.input({ shape: [784] });
  const dense = (units: number, seed: number, activation: 'relu' | 'softmax', scale = 2) =>
    tf.layers.dense({ units, activation, kernelInitializer: tf.initializers.varianceScaling({ scale, mode: 'fanIn', distribution: 'normal', seed }) });
  let h = dense(64, 100, 'relu').apply(input) as tf.SymbolicTensor;
  for (let k = 1; k < 20; k++) h = tf.layers.add().apply([h, dense(64, 100 + k, 'relu', 0.1).apply(h) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: dense(10, 199, 'softmax').apply(h) as tf.SymbolicTensor });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return m;
}

/** conv8-pool-conv16-pool-dense10 on 28×28×1. */
export function cnn(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1], kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
    ],
  });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return m;
}

/** `count` real MNIST digits (balanced), shaped for the model's input. */
export function digits(count: number, inputShape: number[]): { x: tf.Tensor; y: tf.Tensor } {
  const { train } = loadMnist(Math.ceil(count / 10), 0);
  const x = tf.tensor(train.images.subarray(0, count * 784), [count, ...inputShape]);
  const y = tf.oneHot(tf.tensor1d(train.labels.subarray(0, count), 'int32'), 10).toFloat();
  return { x, y };
}

/** A model of the given kind trained for `epochs` on `count` digits. */
export async function trained(kind: 'mlp' | 'cnn', count: number, epochs: number) {
  const inputShape = kind === 'mlp' ? [784] : [28, 28, 1];
  const model = kind === 'mlp' ? mlp() : cnn();
  const data = digits(count, inputShape);
  await model.fit(data.x, data.y, { epochs, batchSize: 64, shuffle: false, verbose: 0 });
  return { model, data, name: kind === 'mlp' ? 'MLP 784-128-10 (relu)' : 'CNN conv8-pool-conv16-pool-dense (relu)' };
}
