import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { symmetricEigen } from '../../src/core/symmetric-eigen.js';
import { layerBlocks, layerCurvature } from '../../src/landscape/layer-curvature.js';
import { hvp } from '../../src/model/hvp.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { denseHessian } from '../helpers/dense-hessian.js';

function model(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.randomNormal({ mean: 0, stddev: 0.9, seed });
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ name: 'first', units: 6, activation: 'tanh', inputShape: [5], kernelInitializer: init(1), biasInitializer: init(2) }),
      tf.layers.dense({ name: 'second', units: 4, activation: 'tanh', kernelInitializer: init(3) }),
      tf.layers.dense({ name: 'out', units: 3, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
  m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  return m;
}

for (const backend of BACKENDS) {
  describe(`layerCurvature on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('each layer’s λmax and trace are those of its diagonal block of the full Hessian (float64 eigensolver)', async () => {
      const m = model();
      const x = tf.randomNormal([40, 5], 0, 1, 'float32', 6);
      const y = tf.oneHot(tf.tensor1d(Array.from({ length: 40 }, (_, i) => i % 3), 'int32'), 3).toFloat();
      const H = hvp(m, { x, y }, { batchSize: 40 });
      const n = H.size;
      const dense = await denseHessian(H);
      const blocks = layerBlocks(H);
      expect(blocks.map((b) => b.layer)).toEqual(['first', 'second', 'out']);
      const { layers, hvps } = await layerCurvature(H, { traceSamples: 400, tol: 1e-5, maxIter: 60, seed: 1 });
      let offset = 0;
      for (const [k, block] of blocks.entries()) {
        const size = block.tensors.reduce((a, i) => a + (H.shapes[i] as number[]).reduce((p, q) => p * q, 1), 0);
        const sub = new Float64Array(size * size);
        for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) sub[i * size + j] = dense[(offset + i) * n + offset + j] as number;
        let trace = 0;
        for (let i = 0; i < size; i++) trace += sub[i * size + i] as number;
        const lmax = Math.max(...symmetricEigen(sub, size).values);
        const got = layers[k]!;
        expect(got.params).toBe(size);
        expect(got.converged).toBe(true);
        expect(Math.abs(got.lambdaMax - lmax) / Math.abs(lmax), `${block.layer} λmax`).toBeLessThan(1e-4);
        expect(Math.abs(got.trace - trace), `${block.layer} trace`).toBeLessThan(4 * got.traceStderr);
        // Its standard error is Hutchinson's: Var(zᵀAz) = 2 Σ_{i≠j} A_ij² for Rademacher z.
        let off = 0;
        for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) if (i !== j) off += (sub[i * size + j] as number) ** 2;
        const theory = Math.sqrt((2 * off) / 400);
        expect(Math.abs(got.traceStderr / theory - 1), `${block.layer} stderr`).toBeLessThan(0.2);
        offset += size;
      }
      expect(offset).toBe(n);
      // The blocks' λmax never exceed the whole Hessian's (Cauchy interlacing).
      const whole = Math.max(...symmetricEigen(dense, n).values);
      for (const l of layers) expect(l.lambdaMax).toBeLessThanOrEqual(whole * (1 + 1e-5));
      expect(hvps).toBe(3 * 400 + layers.reduce((a, l) => a + l.hvps, 0));
      await expect(layerCurvature(H, { traceSamples: 1 })).rejects.toThrow(/traceSamples = 1 is not an integer ≥ 2/);
      H.dispose();
      m.dispose();
      tf.dispose([x, y]);
    });
  });
}
