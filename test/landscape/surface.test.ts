import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRange } from '../../src/core/grid.js';
import type { ParamList } from '../../src/core/param-list.js';
import { artifactWeights, loadModel, readArtifact } from '../../src/io/artifact.js';
import { readNpyFile } from '../../src/io/npy.js';
import { modelDirection, normalizeForModel } from '../../src/landscape/directions.js';
import { interpolate, surface } from '../../src/landscape/surface.js';
import { matchModelLayout, readModelWeights } from '../../src/model/model-weights.js';
import { resolveLoss } from '../../src/model/model-loss.js';
import { prepareData, type Dataset } from '../../src/model/prepare-data.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { expected, fixturePath } from '../helpers/fixture.js';

const ref = expected();

async function loadDirection(model: tf.LayersModel, name: string): Promise<ParamList> {
  return matchModelLayout(model, artifactWeights(await readArtifact(fixturePath('dirs', name))), name);
}

for (const backend of BACKENDS) {
  describe(`surface on ${backend}`, () => {
    let model: tf.LayersModel;
    let data: Dataset;
    let d1: ParamList;
    let d2: ParamList;
    beforeAll(async () => {
      await useBackend(backend);
      model = await loadModel(fixturePath('model'));
      data = prepareData(model, await readNpyFile(fixturePath('data/x.npy')), await readNpyFile(fixturePath('data/y.npy')), resolveLoss(model).name);
      const raw1 = await loadDirection(model, 'd1');
      const raw2 = await loadDirection(model, 'd2');
      d1 = normalizeForModel(model, raw1, { norm: 'filter' });
      d2 = normalizeForModel(model, raw2, { norm: 'filter' });
      raw1.dispose();
      raw2.dispose();
    });
    afterAll(() => {
      d1.dispose();
      d2.dispose();
      model.dispose();
    });

    it('surface(model, data, 2 directions) reproduces the fixture surface_2d', async () => {
      const before = await readModelWeights(model).toFlat();
      const s = await surface(model, data, { directions: [d1, d2], xRange: parseRange('-1:1:11'), yRange: parseRange('-1:1:11') });
      expect(s.x).toEqual(ref.surface_2d.a);
      expect(s.y).toEqual(ref.surface_2d.b);
      const loss = s.loss as number[][];
      const acc = s.accuracy as number[][];
      for (let i = 0; i < 11; i++) {
        for (let j = 0; j < 11; j++) {
          const L = ref.surface_2d.loss[i][j];
          expect(Math.abs(loss[i]![j]! - L)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(L)));
          expect(Math.abs(acc[i]![j]! - ref.surface_2d.accuracy[i][j]) * 256).toBeLessThanOrEqual(1.0001);
        }
      }
      const after = await readModelWeights(model).toFlat();
      expect(Buffer.from(after.buffer).equals(Buffer.from(before.buffer))).toBe(true);
    });

    it('surface(model, data, 1 direction) reproduces the fixture slice_1d', async () => {
      const s = await surface(model, data, { directions: [d1], xRange: parseRange('-1:1:21') });
      expect(s.y).toBeUndefined();
      (s.loss as number[]).forEach((v, i) => {
        const L = ref.slice_1d.loss[i];
        expect(Math.abs(v - L)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(L)));
      });
    });
  });
}

describe('surface edge cases', () => {
  beforeAll(() => useBackend('cpu'));

  function regression() {
    const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }) })] });
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    return m;
  }

  it('surface restores the weights bit for bit when an evaluation throws', async () => {
    const model = regression();
    const before = await readModelWeights(model).toFlat();
    const d = modelDirection(model, 1);
    let calls = 0;
    const failing = (yt: tf.Tensor, yp: tf.Tensor) => {
      if (++calls === 3) throw new Error('boom');
      return tf.mean(tf.square(tf.sub(yt, yp)), -1);
    };
    await expect(surface(model, { x: tf.ones([4, 3]), y: tf.zeros([4, 2]) }, { directions: [d], xRange: parseRange('-1:1:5'), loss: failing })).rejects.toThrow('boom');
    expect(Array.from(await readModelWeights(model).toFlat())).toEqual(Array.from(before));
  });

  it('surface records a non-finite loss as null, and regression models get accuracy null', async () => {
    const model = regression();
    const d = modelDirection(model, 1, { norm: 'none' });
    // At ±1e20 the outputs are ~1e20 and their squares overflow float32 to Infinity.
    const s = await surface(model, { x: tf.ones([4, 3]), y: tf.zeros([4, 2]) }, { directions: [d], xRange: parseRange('-1e20:1e20:3') });
    const loss = s.loss as (number | null)[];
    expect(loss[0]).toBeNull();
    expect(Number.isFinite(loss[1])).toBe(true);
    expect(loss[2]).toBeNull();
    expect(s.accuracy).toBeNull();
  });

  it('surface evaluates batch-norm and dropout models in inference mode and never moves moving statistics', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ units: 6, inputShape: [3], activation: 'relu' }),
        tf.layers.batchNormalization({ movingMeanInitializer: tf.initializers.constant({ value: 0.3 }), movingVarianceInitializer: tf.initializers.constant({ value: 2 }) }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const x = tf.randomNormal([32, 3], 0, 1, 'float32', 9);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 3), 'int32'), 3).toFloat();
    const d = modelDirection(model, 2, { ignore: 'none' });
    const movingMean = d.names.indexOf(d.names.find((n) => n.endsWith('moving_mean')) as string);
    expect(Array.from((d.tensors[movingMean] as tf.Tensor).dataSync())).toEqual(Array(6).fill(0));
    const s = await surface(model, { x, y }, { directions: [d], xRange: parseRange('-1:1:3') });
    const [refLoss] = (model.evaluate(x, y) as tf.Scalar[]).map((t) => t.dataSync()[0] as number);
    expect((s.loss as number[])[1]).toBeCloseTo(refLoss as number, 6);
  });
});
