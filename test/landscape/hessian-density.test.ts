import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { NEGATIVE_TOLERANCE } from '../../src/core/spectral-density.js';
import { symmetricEigen } from '../../src/core/symmetric-eigen.js';
import { hessianDensity } from '../../src/landscape/hessian-density.js';
import { hvp } from '../../src/model/hvp.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { denseHessian } from '../helpers/dense-hessian.js';

/** A tanh MLP 5-6-3 (57 parameters) away from a minimum, so its Hessian has negative eigenvalues. */
function model(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 6, activation: 'tanh', inputShape: [5], kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 1.2, seed: 3 }), biasInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.5, seed: 4 }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 1.2, seed: 5 }) }),
    ],
  });
  m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  return m;
}

for (const backend of BACKENDS) {
  describe(`hessianDensity on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('matches the exact eigenvalues of the full Hessian (built from HVPs, float64 eigensolver): nodes, negative mass, mean', async () => {
      const m = model();
      const x = tf.randomNormal([30, 5], 0, 1, 'float32', 8);
      const y = tf.oneHot(tf.tensor1d(Array.from({ length: 30 }, (_, i) => i % 3), 'int32'), 3).toFloat();
      const H = hvp(m, { x, y }, { batchSize: 30 });
      const n = H.size;
      const exact = Array.from(symmetricEigen(await denseHessian(H), n).values).sort((a, b) => a - b);
      const scale = Math.max(...exact.map(Math.abs));
      const negatives = exact.filter((l) => l < -NEGATIVE_TOLERANCE * scale).length;
      expect(negatives).toBeGreaterThan(2);
      // One vector, n steps: the nodes are the eigenvalues (each distinct one once: the Krylov space
      // of one vector closes early on a repeated eigenvalue, here the zeros).
      const full = await hessianDensity(H, { vectors: 1, steps: n, seed: 2 });
      const nodes = full.rules[0]?.nodes as number[];
      expect(nodes.length).toBeGreaterThan(n / 2);
      nodes.forEach((v, i) => expect(Math.min(...exact.map((l) => Math.abs(l - v))) / scale, `node ${i}`).toBeLessThan(1e-4));
      expect(Math.abs((nodes.at(-1) as number) - (exact.at(-1) as number)) / scale).toBeLessThan(1e-5);
      expect(Math.abs((nodes[0] as number) - (exact[0] as number)) / scale).toBeLessThan(1e-5);
      // Every eigenvalue away from the others is a node.
      exact.forEach((l, i) => {
        const apart = exact.every((o, j) => j === i || Math.abs(o - l) > 1e-3 * scale);
        if (apart) expect(Math.min(...nodes.map((v) => Math.abs(v - l))) / scale, `eigenvalue ${i}`).toBeLessThan(1e-4);
      });
      // Many vectors: the share of negative eigenvalues and the mean eigenvalue tr(H)/n, within their errors.
      const many = await hessianDensity(H, { vectors: 40, steps: n, seed: 3 });
      expect(Math.abs(many.negativeMass - negatives / n)).toBeLessThan(4 * many.negativeMassStderr + 1e-9);
      const means = many.rules.map((r) => r.nodes.reduce((s, v, k) => s + v * (r.weights[k] as number), 0));
      const mean = means.reduce((a, b) => a + b, 0) / means.length;
      const se = Math.sqrt(means.reduce((a, v) => a + (v - mean) ** 2, 0) / (means.length - 1) / means.length);
      expect(Math.abs(mean - exact.reduce((a, b) => a + b, 0) / n)).toBeLessThan(4 * se);
      // The default, fewer steps: the extremes are still found (Lanczos converges there first).
      const quick = await hessianDensity(H, { vectors: 2, steps: 20 });
      expect(quick.hvps).toBe(40);
      expect(Math.abs(quick.range[1] - (exact.at(-1) as number)) / scale).toBeLessThan(1e-3);
      expect(Math.abs(quick.range[0] - (exact[0] as number)) / scale).toBeLessThan(1e-2);
      H.dispose();
      m.dispose();
      tf.dispose([x, y]);
    });
  });
}
