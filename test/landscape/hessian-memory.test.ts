import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { randomDirection } from '../../src/core/random-direction.js';
import { hessianEigen, hessianMap } from '../../src/landscape/hessian.js';
import { modelWeights } from '../../src/model/model-weights.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';

function model(seed: number) {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 4, activation: 'tanh', inputShape: [3], kernelInitializer: tf.initializers.glorotNormal({ seed }) }),
      tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 1 }) }),
    ],
  });
  m.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy' });
  return m;
}

function data(n: number, seed: number) {
  const x = tf.randomNormal([n, 3], 0, 1, 'float32', seed);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2), 'int32'), 2).toFloat();
  return { x, y };
}

/** How many tensors `work` leaves behind (after one warm-up call, which may create caches). */
async function leaked(work: () => Promise<unknown>): Promise<number> {
  await work();
  const before = tf.memory().numTensors;
  await work();
  return tf.memory().numTensors - before;
}

describe('Hessian work leaks no tensor', () => {
  beforeAll(() => useBackend('wasm'));

  it('hessianEigen with the exact trace, with Hutchinson, and with vectors returned', async () => {
    const m = model(1);
    const d = data(16, 2);
    expect(await leaked(() => hessianEigen(m, d, { trace: true, traceMethod: 'exact' }))).toBe(0);
    expect(await leaked(() => hessianEigen(m, d, { trace: true, traceMethod: 'hutchinson', traceSamples: 3 }))).toBe(0);
    expect(
      await leaked(async () => {
        const r = await hessianEigen(m, d, { vectors: true, top: 2 });
        for (const v of [...(r.vectors?.top ?? []), ...(r.vectors?.bottom ?? [])]) v.dispose();
      }),
    ).toBe(0);
  });

  it('hessianMap over a small plane', async () => {
    const m = model(3);
    const d = data(16, 4);
    const layout = { names: modelWeights(m).map((w) => w.name), shapes: modelWeights(m).map((w) => w.variable.shape) };
    const dirs = [randomDirection(layout, 1), randomDirection(layout, 2)] as const;
    expect(await leaked(() => hessianMap(m, d, { directions: dirs, xRange: { min: -1, max: 1, num: 2 }, yRange: { min: -1, max: 1, num: 2 }, maxIter: 10 }))).toBe(0);
    for (const dir of dirs) dir.dispose();
  });

  it('a whole monitored fit with the trace, end-of-training surfaces and the ratio map', async () => {
    const root = tmpPath('hessian-memory');
    await rm(root, { recursive: true, force: true });
    const train = data(32, 5);
    const probe = data(16, 6);
    const fit = async () => {
      const m = model(7);
      const monitor = landscapeMonitor({ probe, runDir: root, budget: null, warn: () => {}, log: () => {}, hessian: { trace: true, traceSamples: 2, maxIter: 12 }, finalBudget: null, finalSurfaces: { resolution: 3, sliceResolution: 3, ratioMap: 2 } });
      await m.fit(train.x, train.y, { epochs: 2, batchSize: 16, callbacks: [monitor], verbose: 0 });
      m.dispose();
      m.optimizer.dispose();
    };
    expect(await leaked(fit)).toBe(0);
  });
});
