import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ParamList } from '../../src/core/param-list.js';
import { artifactWeights, loadModel, readArtifact } from '../../src/io/artifact.js';
import { normalizeForModel } from '../../src/landscape/directions.js';
import { matchModelLayout, modelWeights, readModelWeights, writeModelWeights } from '../../src/model/model-weights.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { expected, fixturePath } from '../helpers/fixture.js';

describe('modelWeights', () => {
  beforeAll(() => useBackend('cpu'));

  it('modelWeights(model) gives every kernel-bearing layer type its TF.js filter axes', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv' }).apply(input) as tf.SymbolicTensor;
    h = tf.layers.conv2dTranspose({ filters: 5, kernelSize: 3, name: 'deconv' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, name: 'dw' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.separableConv2d({ filters: 6, kernelSize: 3, depthMultiplier: 1, name: 'sep' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization({ name: 'bn' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.reshape({ targetShape: [4, 24], name: 'r' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.conv1d({ filters: 3, kernelSize: 2, name: 'c1' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.lstm({ units: 2, name: 'lstm' }).apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2, name: 'dense' }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const axes = Object.fromEntries(modelWeights(model).map((w) => [w.name, [w.layerClass, w.filterAxes, w.trainable]]));
    expect(axes['conv/kernel']).toEqual(['Conv2D', [3], true]);
    expect(axes['deconv/kernel']).toEqual(['Conv2DTranspose', [2], true]);
    expect(axes['dw/depthwise_kernel']).toEqual(['DepthwiseConv2D', [2, 3], true]);
    expect(axes['sep/depthwise_kernel']).toEqual(['SeparableConv2D', [2, 3], true]);
    expect(axes['sep/pointwise_kernel']).toEqual(['SeparableConv2D', [3], true]);
    expect(axes['c1/kernel']).toEqual(['Conv1D', [2], true]);
    expect(axes['lstm/kernel']).toEqual(['LSTM', [1], true]);
    expect(axes['lstm/recurrent_kernel']).toEqual(['LSTM', [1], true]);
    expect(axes['dense/kernel']).toEqual(['Dense', [1], true]);
    expect(axes['bn/moving_mean']).toEqual(['BatchNormalization', [], false]);
    expect(axes['conv/bias']).toEqual(['Conv2D', [], true]);

    const emb = tf.sequential({ layers: [tf.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 3, name: 'emb' })] });
    expect(modelWeights(emb)[0]?.filterAxes).toEqual([0]);
  });

  it('modelWeights(model) uses saved names even when variables were renamed, in manifest order', async () => {
    const a = await loadModel(fixturePath('model'));
    const b = await loadModel(fixturePath('model'));
    const manifestNames = expected().parameters.tensors.map((t: { name: string }) => t.name);
    expect(modelWeights(b).map((w) => w.name)).toEqual(manifestNames);
    expect(modelWeights(b).some((w) => w.variable.name !== w.name)).toBe(true); // live names got a suffix
    a.dispose();
    b.dispose();
  });

  it('writeModelWeights sets values exactly, ignoring layer constraints', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2], kernelConstraint: tf.constraints.maxNorm({ maxValue: 1 }) })] });
    const big = new ParamList(modelWeights(model).map((w) => ({ name: w.name, tensor: tf.fill(w.variable.shape, 10) })));
    writeModelWeights(model, big);
    expect(Array.from(await readModelWeights(model).toFlat())).toEqual(Array(6).fill(10));
  });

  it('matchModelLayout names the first missing, misshapen, mistyped or extra weight', async () => {
    const model = await loadModel(fixturePath('model'));
    const artifact = await readArtifact(fixturePath('dirs/d1'));
    const named = () => artifactWeights(artifact);
    const drop = named().filter((n) => n.name !== 'dense3/bias');
    expect(() => matchModelLayout(model, drop, '--dir-x d1')).toThrow("--dir-x d1: has no weight 'dense3/bias'");
    const reshaped = named().map((n) => (n.name === 'dense2/kernel' ? { name: n.name, tensor: tf.zeros([100]) } : n));
    expect(() => matchModelLayout(model, reshaped, '--dir-x d1')).toThrow("--dir-x d1: weight 'dense2/kernel' has shape [100], the model's is [10,10]");
    const retyped = named().map((n) => (n.name === 'dense1/bias' ? { name: n.name, tensor: tf.zeros([10], 'int32') } : n));
    expect(() => matchModelLayout(model, retyped, 'd')).toThrow("d: weight 'dense1/bias' has dtype int32, the model's is float32");
    const extra = [...named(), { name: 'dense9/kernel', tensor: tf.zeros([1]) }];
    expect(() => matchModelLayout(model, extra, 'd')).toThrow("d: has a weight 'dense9/kernel' that the model does not have");
  });
});

for (const backend of BACKENDS) {
  describe(`fixture directions on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    for (const norm of ['filter', 'layer'] as const) {
      it(`normalizeForModel(model, d, ${norm}) reproduces the fixture's ${norm}-normalized d1 and d2 (1e-6·max|w|)`, async () => {
        const model = await loadModel(fixturePath('model'));
        const maxW = Math.max(...Array.from(await readModelWeights(model).toFlat(), Math.abs));
        for (const d of ['d1', 'd2']) {
          const raw = matchModelLayout(model, artifactWeights(await readArtifact(fixturePath('dirs', d))), d);
          const want = await matchModelLayout(model, artifactWeights(await readArtifact(fixturePath('dirs', `${d}-${norm}`))), d).toFlat();
          const got = await normalizeForModel(model, raw, { norm }).toFlat();
          const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - (want[i] as number))), 0);
          expect(worst).toBeLessThanOrEqual(1e-6 * maxW);
        }
        model.dispose();
      });
    }
  });
}
