import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { folderSaveHandler } from '../../src/io/artifact.js';
import { writeNpyFile } from '../../src/io/npy.js';
import { ModelEvaluator } from '../../src/model/evaluator.js';
import { resolveLoss } from '../../src/model/model-loss.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';

describe('non-finite weights and data', () => {
  beforeAll(() => useBackend('cpu'));

  it('the evaluator gives NaN, not the clipped 16.118, for NaN weights', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })] });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const x = tf.randomNormal([8, 4], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3).toFloat();
    const loss = resolveLoss(model);
    const ev = new ModelEvaluator(model, { x, y }, { loss: loss.fn, lossName: loss.name });
    expect(Number.isFinite((await ev.evaluate()).loss)).toBe(true);
    model.layers[0]?.setWeights([tf.fill([4, 3], NaN), tf.zeros([3])]);
    expect((await ev.evaluate()).loss).toBeNaN();
  });

  it('the CLI refuses NaN in the weights or in x with exit 3 naming the file and tensor', async () => {
    const root = tmpPath('non-finite');
    await rm(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })] });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    await model.save(folderSaveHandler(`${root}/good`), { includeOptimizer: true });
    model.layers[0]?.setWeights([tf.fill([4, 3], NaN), tf.zeros([3])]);
    await model.save(folderSaveHandler(`${root}/nan`), { includeOptimizer: true });
    const x = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i));
    await writeNpyFile(`${root}/x.npy`, { dtype: 'float32', shape: [8, 4], data: x });
    x[5] = NaN;
    await writeNpyFile(`${root}/x-nan.npy`, { dtype: 'float32', shape: [8, 4], data: x });
    await writeNpyFile(`${root}/y.npy`, { dtype: 'int32', shape: [8], data: Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1]) });
    const grid = ['--seed', '1', '--xrange=-1:1:3', '--out', `${root}/s.json`];
    const weights = await runCli(['surface', '--model', `${root}/nan/model.json`, '--x', `${root}/x.npy`, '--y', `${root}/y.npy`, ...grid]);
    expect(weights.code).toBe(3);
    expect(weights.stderr).toMatch(/--model .*nan\/model\.json: \S+\/kernel has a non-finite value \(NaN\) at flat index 0/);
    const data = await runCli(['surface', '--model', `${root}/good/model.json`, '--x', `${root}/x-nan.npy`, '--y', `${root}/y.npy`, ...grid]);
    expect(data.code).toBe(3);
    expect(data.stderr).toMatch(/--x .*x-nan\.npy: x has a non-finite value \(NaN\) at flat index 5/);
    const ok = await runCli(['surface', '--model', `${root}/good/model.json`, '--x', `${root}/x.npy`, '--y', `${root}/y.npy`, ...grid]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
