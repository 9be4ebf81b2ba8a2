import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NpyArray } from '../../src/io/npy.js';
import { ModelEvaluator } from '../../src/model/evaluator.js';
import { resolveLoss } from '../../src/model/model-loss.js';
import { prepareData } from '../../src/model/prepare-data.js';
import { useBackend } from '../helpers/backend.js';

const f32 = (shape: number[], values?: number[]): NpyArray => ({ dtype: 'float32', shape, data: Float32Array.from(values ?? Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % 7) / 7)) });
const ids = (values: number[], shape = [values.length]): NpyArray => ({ dtype: 'int64', shape, data: BigInt64Array.from(values.map(BigInt)) });

function classifier(loss: string) {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [4], activation: 'softmax' })] });
  m.compile({ optimizer: 'sgd', loss });
  return m;
}

describe('prepareData', () => {
  beforeAll(() => useBackend('cpu'));

  it('prepareData converts class ids to one-hot for categorical cross-entropy, and one-hot to ids for the sparse loss', async () => {
    const cat = classifier('categoricalCrossentropy');
    const d = prepareData(cat, f32([3, 4]), ids([2, 0, 1]), resolveLoss(cat).name);
    expect(await d.y.array()).toEqual([[0, 0, 1], [1, 0, 0], [0, 1, 0]]);
    const sparse = classifier('sparseCategoricalCrossentropy');
    const oneHot = f32([3, 3], [0, 0, 1, 1, 0, 0, 0, 1, 0]);
    expect(await prepareData(sparse, f32([3, 4]), oneHot, resolveLoss(sparse).name).y.array()).toEqual([2, 0, 1]);
    expect(await prepareData(sparse, f32([3, 4]), ids([2, 0, 1], [3, 1]), resolveLoss(sparse).name).y.array()).toEqual([2, 0, 1]);
  });

  it('prepareData rejects empty data, inputs and labels that do not fit, naming the array and both shapes', () => {
    const m = classifier('categoricalCrossentropy');
    const src = { x: '--x x.npy', y: '--y y.npy' };
    expect(() => prepareData(m, f32([0, 4]), ids([]), 'categoricalCrossentropy', src)).toThrow('--x x.npy: shape [0,4] holds no samples');
    expect(() => prepareData(m, f32([3, 5]), ids([0, 1, 2]), 'categoricalCrossentropy', src)).toThrow("--x x.npy: shape [3,5] does not fit the model's input [N,4]");
    expect(() => prepareData(m, f32([3, 4]), ids([0, 1]), 'categoricalCrossentropy', src)).toThrow('--y y.npy: shape [2] has 2 rows, --x x.npy has 3');
    expect(() => prepareData(m, f32([3, 4]), f32([3, 4]), 'categoricalCrossentropy', src)).toThrow("--y y.npy: shape [3,4] does not fit; the model's output is [N,3]");
    expect(() => prepareData(m, f32([3, 4]), ids([0, 3, 1]), 'categoricalCrossentropy', src)).toThrow('--y y.npy: label 3 at row 1 is not a class id from 0 to 2');
  });
});

describe('ModelEvaluator', () => {
  beforeAll(() => useBackend('cpu'));

  it('ModelEvaluator.evaluate() equals model.evaluate() for any batch size, and leaks nothing', async () => {
    const m = classifier('categoricalCrossentropy');
    m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const x = tf.randomNormal([50, 4], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 50 }, (_, i) => i % 3), 'int32'), 3);
    const [refLoss, refAcc] = (m.evaluate(x, y, { batchSize: 50 }) as tf.Scalar[]).map((t) => t.dataSync()[0] as number);
    for (const batchSize of [1, 7, 50, 64]) {
      const ev = new ModelEvaluator(m, { x, y }, { loss: resolveLoss(m).fn, lossName: 'categoricalCrossentropy', batchSize });
      const before = tf.memory().numTensors;
      const r = await ev.evaluate();
      expect(tf.memory().numTensors).toBe(before);
      expect(r.loss).toBeCloseTo(refLoss as number, 5);
      expect(r.accuracy).toBeCloseTo(refAcc as number, 6);
      ev.dispose();
    }
    expect(() => new ModelEvaluator(m, { x, y }, { loss: resolveLoss(m).fn, batchSize: 0 })).toThrow('ModelEvaluator: batchSize 0 is not a positive integer');
  });

  it('ModelEvaluator runs in inference mode: dropout is off', async () => {
    const m = tf.sequential({ layers: [tf.layers.dropout({ rate: 0.9, inputShape: [4] }), tf.layers.dense({ units: 1 })] });
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const x = tf.ones([8, 4]);
    const y = tf.zeros([8, 1]);
    const ev = new ModelEvaluator(m, { x, y }, { loss: resolveLoss(m).fn, lossName: resolveLoss(m).name });
    const a = await ev.evaluate();
    const b = await ev.evaluate();
    expect(a.loss).toBe(b.loss);
    expect(a.accuracy).toBeNull();
    const predicted = (m.predict(x) as tf.Tensor).square().mean().dataSync()[0] as number;
    expect(a.loss).toBeCloseTo(predicted, 6);
  });

  it('resolveLoss refuses an uncompiled model without a loss, and an unknown loss name', () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    expect(() => resolveLoss(m)).toThrow('the model is not compiled and no loss was given');
    expect(() => resolveLoss(m, 'hinge')).toThrow("loss: 'hinge' is not a known loss");
    expect(resolveLoss(m, 'mse').name).toBe('meanSquaredError');
  });
});
