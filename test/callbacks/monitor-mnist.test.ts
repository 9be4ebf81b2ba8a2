import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { loadMnist } from '../../examples/mnist-data.js';
import { folderSaveHandler } from '../../src/io/artifact.js';
import { writeNpyFile } from '../../src/io/npy.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';

describe('landscapeMonitor on real MNIST, checked against the offline CLI', () => {
  beforeAll(() => useBackend('wasm'));

  it('a real fit() on MNIST digits gives metrics that landscope hessian, surface and trajectory reproduce from the saved files', async () => {
    const root = tmpPath('monitor-mnist');
    await rm(root, { recursive: true, force: true });
    const { train, test } = loadMnist(150, 30);
    const x = tf.tensor2d(train.images, [train.count, 784]);
    const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10).toFloat();
    const probe = { x: tf.tensor2d(test.images, [test.count, 784]), y: tf.oneHot(tf.tensor1d(test.labels, 'int32'), 10).toFloat() };
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ units: 32, activation: 'relu', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
        tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const monitor = landscapeMonitor({ probe, runDir: root, runId: 'mnist', budget: null, seed: 3, sharpness: { directions: 4 }, hessian: { tol: 1e-4, maxIter: 80, probeSize: 1000 } });
    const history = await model.fit(x, y, { epochs: 4, batchSize: 50, shuffle: false, callbacks: [monitor], verbose: 0 });
    expect((history.history['acc'] as number[]).at(-1)).toBeGreaterThan(0.7);

    const run = await readRunFolder(`${root}/mnist`);
    const last = run.metrics.at(-1) as Record<string, any>;
    expect(last['epoch']).toBe(3);

    // The final weights and the probe, as files the CLI reads.
    await model.save(folderSaveHandler(`${root}/final`), { includeOptimizer: true });
    await writeNpyFile(`${root}/px.npy`, { dtype: 'float32', shape: [test.count, 784], data: test.images });
    await writeNpyFile(`${root}/py.npy`, { dtype: 'int32', shape: [test.count], data: test.labels });
    const files = ['--model', `${root}/final/model.json`, '--x', `${root}/px.npy`, '--y', `${root}/py.npy`];

    const h = await runCli(['hessian', ...files, '--tol', '1e-5', '--max-iter', '200', '--out', `${root}/h.json`]);
    expect(h.code, h.stderr).toBe(0);
    const offline = JSON.parse(readFileSync(`${root}/h.json`, 'utf8'));
    expect(Math.abs(last['hessian'].lambdaMax - offline.lambdaMax) / offline.lambdaMax).toBeLessThan(1e-3);
    expect(Math.abs(last['hessian'].lambdaMin - offline.lambdaMin)).toBeLessThan(2e-3 * offline.lambdaMax);

    // Sharpness along direction i is the 1-D slice along seed 3·1000 + i at ±r.
    const r = last['sharpness'].radii[0].radius as number;
    for (const i of [0, 3]) {
      const s = await runCli(['surface', ...files, '--seed', String(3 * 1000 + i), `--xrange=${-r}:${r}:3`, '--out', `${root}/s${i}.json`]);
      expect(s.code, s.stderr).toBe(0);
      const loss = JSON.parse(readFileSync(`${root}/s${i}.json`, 'utf8')).loss as number[];
      const offlineSharpness = ((loss[0] as number) + (loss[2] as number)) / 2 - (loss[1] as number);
      expect(last['sharpness'].radii[0].values[i]).toBeCloseTo(offlineSharpness, 5);
    }

    const t = await runCli(['trajectory', `${root}/mnist`, '--out', `${root}/t.json`]);
    expect(t.code, t.stderr).toBe(0);
    const pca = JSON.parse(readFileSync(`${root}/t.json`, 'utf8'));
    (last['trajectory'].explainedVarianceRatio as number[]).forEach((v, k) => expect(pca.explainedVarianceRatio[k]).toBeCloseTo(v, 9));
    (last['trajectory'].coords.x as number[]).forEach((v, e) => expect(pca.coords.x[e]).toBeCloseTo(v, 6));
    expect(pca.checkpoints).toEqual(['init', 'epoch-0000', 'epoch-0001', 'epoch-0002', 'epoch-0003']);
  });

  it('landscapeMonitor works with model.fitDataset', async () => {
    const { train } = loadMnist(20, 0);
    const xs = tf.data.array(Array.from({ length: train.count }, (_, i) => Array.from(train.images.subarray(i * 784, (i + 1) * 784))));
    const ys = tf.data.array(Array.from({ length: train.count }, (_, i) => Array.from({ length: 10 }, (__, c) => (c === train.labels[i] ? 1 : 0))));
    const dataset = tf.data.zip({ xs, ys }).batch(40);
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 10, activation: 'softmax', inputShape: [784] })] });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const probe = { x: tf.tensor2d(train.images.subarray(0, 50 * 784), [50, 784]), y: tf.oneHot(tf.tensor1d(train.labels.subarray(0, 50), 'int32'), 10).toFloat() };
    const monitor = landscapeMonitor({ probe, runDir: tmpPath('monitor-dataset'), budget: null, hessian: { maxIter: 10 } });
    const history = await model.fitDataset(dataset, { epochs: 2, callbacks: [monitor], verbose: 0 });
    expect(history.history['fn_sharpness']).toHaveLength(2);
    expect(history.history['hessian_max']).toHaveLength(2);
    expect(monitor.records.map((r) => r.epoch)).toEqual([-1, 0, 1]);
  });
});
