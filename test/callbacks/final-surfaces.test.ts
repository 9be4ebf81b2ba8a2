import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';

function data(n: number, seed: number) {
  const x = tf.randomNormal([n, 5], 0, 1, 'float32', seed);
  const y = tf.oneHot(tf.argMax(tf.matMul(x, tf.randomNormal([5, 3], 0, 1, 'float32', seed + 1)), 1), 3).toFloat();
  return { x, y };
}

describe('end-of-training PCA plane', () => {
  beforeAll(() => useBackend('wasm'));

  it('uses the running PCA (trajectory.ignore included): its coordinates and explained variance are the last epoch’s', async () => {
    const root = tmpPath('final-pca');
    await rm(root, { recursive: true, force: true });
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ units: 6, activation: 'relu', inputShape: [5], kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }), biasInitializer: tf.initializers.randomNormal({ stddev: 1, seed: 4 }) }),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 5 }) }),
      ],
    });
    model.compile({ optimizer: tf.train.sgd(0.8), loss: 'categoricalCrossentropy' });
    const train = data(64, 1);
    const monitor = landscapeMonitor({
      probe: data(32, 7),
      runDir: root,
      runId: 'r',
      budget: null,
      sharpness: false,
      hessian: false,
      trajectory: { ignore: 'biasbn' },
      finalSurfaces: { resolution: 3, sliceResolution: 3 },
      finalBudget: null, // tiny training: the default 25% would skip them
      report: false,
      log: () => {},
    });
    await model.fit(train.x, train.y, { epochs: 5, batchSize: 16, callbacks: [monitor], verbose: 0 });
    const last = monitor.records.at(-1)?.['trajectory'] as { coords: { x: number[]; y: number[] }; explainedVarianceRatio: number[] };
    const surfaces = JSON.parse(readFileSync(`${root}/r/surfaces.json`, 'utf8'));
    expect(surfaces.pca.explainedVarianceRatio).toEqual(last.explainedVarianceRatio);
    expect(surfaces.pca.coords).toEqual(JSON.parse(JSON.stringify(last.coords)));
    // The plane's centre is the final weights: loss there equals the probe loss at the end.
    const centre = surfaces.pca.loss[1][1] as number;
    expect(centre).toBeCloseTo(surfaces.surface.loss[1][1], 5);
  });
});
