import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseRange, linspace } from '../../src/core/grid.js';
import { modelDirection } from '../../src/landscape/directions.js';
import { surface } from '../../src/landscape/surface.js';
import { readModelWeights } from '../../src/model/model-weights.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { cnnLoss } from '../helpers/reference-net.js';

function cnn() {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu', inputShape: [6, 6, 2], kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }), biasInitializer: tf.initializers.constant({ value: 0.05 }) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
    ],
  });
  m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  return m;
}

for (const backend of BACKENDS) {
  describe(`surface of a CNN on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('surface(cnn, data, d1, d2) equals a plain float64 CNN evaluated at θ + a·d1 + b·d2', async () => {
      const model = cnn();
      const x = tf.randomNormal([20, 6, 6, 2], 0, 1, 'float32', 3);
      const y = tf.oneHot(tf.tensor1d(Array.from({ length: 20 }, (_, i) => (i * 7) % 4), 'int32'), 4).toFloat();
      const d1 = modelDirection(model, 5);
      const d2 = modelDirection(model, 6);
      const s = await surface(model, { x, y }, { directions: [d1, d2], xRange: parseRange('-1:1:3'), yRange: parseRange('-0.5:0.5:3'), batchSize: 7 });
      const theta = readModelWeights(model);
      const xs = Float64Array.from(await x.data());
      const ys = Float64Array.from(await y.data());
      const as = linspace(parseRange('-1:1:3'));
      const bs = linspace(parseRange('-0.5:0.5:3'));
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          // The point in float64 from the float32 tensors: θ + a d1 + b d2.
          const [t, u, v] = [await theta.toFlat(), await d1.toFlat(), await d2.toFlat()] as const;
          const p = t.map((w, k) => w + (as[i] as number) * (u[k] as number) + (bs[j] as number) * (v[k] as number));
          const sizes = theta.tensors.map((q) => q.size);
          const at = (k: number) => p.subarray(sizes.slice(0, k).reduce((a, b) => a + b, 0), sizes.slice(0, k + 1).reduce((a, b) => a + b, 0));
          const ref = cnnLoss({ conv: { kernel: at(0), bias: at(1), kh: 3, kw: 3, cin: 2, cout: 3 }, dense: { kernel: at(2), bias: at(3), units: 4 } }, xs, [20, 6, 6, 2], ys);
          expect(Math.abs(((s.loss as number[][])[i]![j] as number) - ref.loss)).toBeLessThan(1e-5 * Math.max(1, ref.loss));
          expect((s.accuracy as number[][])[i]![j]).toBe(ref.accuracy);
        }
      }
      expect(Array.from((d1.tensors[1] as tf.Tensor).dataSync())).toEqual([0, 0, 0]); // biasbn: biases do not move
    });
  });
}
