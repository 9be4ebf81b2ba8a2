import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lossByName } from '../../src/model/losses.js';
import { useBackend } from '../helpers/backend.js';

describe('lossByName', () => {
  beforeAll(() => useBackend('cpu'));

  const cases = [
    { loss: 'categoricalCrossentropy', units: 3, activation: 'softmax', y: () => tf.oneHot(tf.tensor1d([0, 2, 1, 1, 0, 2], 'int32'), 3) },
    { loss: 'sparseCategoricalCrossentropy', units: 3, activation: 'softmax', y: () => tf.tensor1d([0, 2, 1, 1, 0, 2]) },
    { loss: 'binaryCrossentropy', units: 1, activation: 'sigmoid', y: () => tf.tensor2d([[0], [1], [1], [0], [1], [0]]) },
    { loss: 'meanSquaredError', units: 2, activation: 'linear', y: () => tf.randomNormal([6, 2], 0, 1, 'float32', 3) },
    { loss: 'meanAbsoluteError', units: 2, activation: 'linear', y: () => tf.randomNormal([6, 2], 0, 1, 'float32', 4) },
  ] as const;

  for (const c of cases) {
    it(`lossByName('${c.loss}') equals what model.evaluate computes with the same compiled loss`, () => {
      const m = tf.sequential({ layers: [tf.layers.dense({ units: c.units, inputShape: [4], activation: c.activation })] });
      m.compile({ optimizer: 'sgd', loss: c.loss });
      const x = tf.randomNormal([6, 4], 0, 2, 'float32', 5);
      const y = c.y();
      const ref = (m.evaluate(x, y) as tf.Scalar).dataSync()[0] as number;
      const ours = tf.mean(lossByName(c.loss)(y, m.predict(x) as tf.Tensor)).dataSync()[0] as number;
      expect(ours).toBeCloseTo(ref, 6);
    });
  }
});
