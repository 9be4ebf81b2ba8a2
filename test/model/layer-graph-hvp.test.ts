import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ParamList } from '../../src/core/param-list.js';
import { randomDirection } from '../../src/core/random-direction.js';
import { layerGraphPlan } from '../../src/model/layer-graph-hvp.js';
import { hvp } from '../../src/model/hvp.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { relErr } from '../helpers/rel-err.js';

const init = (seed: number, scale = 1) => ({ kernelInitializer: tf.initializers.randomNormal({ stddev: scale / 2, seed }), biasInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: seed + 100 }) });

/** γ and β away from 1 and 0, so that the batch norms' own terms show. */
const bnInit = (seed: number) => ({
  gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed }),
  betaInitializer: tf.initializers.randomNormal({ stddev: 0.3, seed: seed + 1 }),
});

/** Sets every batch norm's moving mean and variance to seeded values away from 0 and 1 (as after training). */
function withMovingStatistics(model: tf.LayersModel, seed: number): tf.LayersModel {
  for (const [k, layer] of model.layers.entries()) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(
      layer.weights.map((w) => {
        const name = w.originalName;
        if (name.endsWith('moving_mean')) return tf.randomNormal(w.shape, 0, 0.5, 'float32', seed + 10 * k);
        if (name.endsWith('moving_variance')) return tf.randomUniform(w.shape, 0.3, 2, 'float32', seed + 10 * k + 1);
        return w.read().clone();
      }),
    );
  }
  return model;
}

/** Models the engine takes, each with what makes it different. */
const cases: { name: string; build: () => tf.LayersModel; input: number[]; loss: string; labels: 'onehot' | 'ids' | 'targets'; params?: 'all' | 'kernels' }[] = [
  ...(['relu', 'tanh', 'sigmoid', 'linear'] as const).map((activation, i) => ({
    name: `two ${activation} layers, softmax, categorical cross-entropy`,
    build: () => tf.sequential({ layers: [tf.layers.dense({ units: 7, activation, inputShape: [5], ...init(1 + i) }), tf.layers.dense({ units: 6, activation, ...init(10 + i) }), tf.layers.dense({ units: 3, activation: 'softmax', ...init(20 + i) })] }),
    input: [5],
    loss: 'categoricalCrossentropy',
    labels: 'onehot' as const,
  })),
  {
    name: 'Flatten and Dropout in front, no bias in the hidden layer, sparse cross-entropy on class ids',
    build: () => tf.sequential({ layers: [tf.layers.flatten({ inputShape: [3, 3, 2] }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 5, activation: 'tanh', useBias: false, ...init(30) }), tf.layers.dense({ units: 4, activation: 'softmax', ...init(31) })] }),
    input: [3, 3, 2],
    loss: 'sparseCategoricalCrossentropy',
    labels: 'ids',
  },
  {
    name: 'linear output, mean squared error, kernels only',
    build: () => tf.sequential({ layers: [tf.layers.dense({ units: 6, activation: 'sigmoid', inputShape: [4], ...init(40) }), tf.layers.dense({ units: 2, ...init(41) })] }),
    input: [4],
    loss: 'meanSquaredError',
    labels: 'targets',
    params: 'kernels',
  },
  {
    name: 'conv 3×3 same relu, 2×2 max pool, conv 3×3 valid tanh, Flatten, softmax',
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 2], ...init(60) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'tanh', ...init(61) }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: 'softmax', ...init(62) }),
        ],
      }),
    input: [8, 8, 2],
    loss: 'categoricalCrossentropy',
    labels: 'onehot',
  },
  {
    name: 'conv stride 2 sigmoid, 2×2 average pool (same, divisible), global average pool, sparse cross-entropy',
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'sigmoid', inputShape: [8, 8, 2], ...init(70) }),
          tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
          tf.layers.globalAveragePooling2d({}),
          tf.layers.dense({ units: 3, activation: 'softmax', ...init(71) }),
        ],
      }),
    input: [8, 8, 2],
    loss: 'sparseCategoricalCrossentropy',
    labels: 'ids',
  },
  {
    name: 'conv without bias, max pool over an odd size (a row and a column left out), Dense relu, linear output, MSE',
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ filters: 2, kernelSize: 3, useBias: false, inputShape: [7, 7, 1], ...init(80) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.dropout({ rate: 0.3 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 5, activation: 'relu', ...init(81) }),
          tf.layers.dense({ units: 2, ...init(82) }),
        ],
      }),
    input: [7, 7, 1],
    loss: 'meanSquaredError',
    labels: 'targets',
  },
  {
    name: 'residual MLP: relu Dense blocks with functional Add (a value read by two layers)',
    build: () => {
      const input = tf.input({ shape: [6] });
      let h = tf.layers.dense({ units: 5, activation: 'relu', ...init(100) }).apply(input) as tf.SymbolicTensor;
      for (const k of [1, 2]) h = tf.layers.add().apply([h, tf.layers.dense({ units: 5, activation: 'relu', ...init(100 + k) }).apply(h) as tf.SymbolicTensor]) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, activation: 'softmax', ...init(103) }).apply(h) as tf.SymbolicTensor });
    },
    input: [6],
    loss: 'categoricalCrossentropy',
    labels: 'onehot',
  },
  {
    name: 'Concatenate of a tanh branch, a sigmoid branch and the input itself (a slice with no R), sparse cross-entropy',
    build: () => {
      const input = tf.input({ shape: [4] });
      const a = tf.layers.dense({ units: 3, activation: 'tanh', ...init(110) }).apply(input) as tf.SymbolicTensor;
      const b = tf.layers.dense({ units: 2, activation: 'sigmoid', ...init(111) }).apply(input) as tf.SymbolicTensor;
      const cat = tf.layers.concatenate().apply([a, input, b]) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, activation: 'softmax', ...init(112) }).apply(cat) as tf.SymbolicTensor });
    },
    input: [4],
    loss: 'sparseCategoricalCrossentropy',
    labels: 'ids',
  },
  {
    name: 'conv, BatchNormalization (moving statistics away from 0 and 1), Activation relu, max pool, Flatten, softmax',
    build: () =>
      withMovingStatistics(
        tf.sequential({
          layers: [
            tf.layers.conv2d({ filters: 3, kernelSize: 3, inputShape: [7, 7, 2], ...init(120) }),
            tf.layers.batchNormalization({ ...bnInit(121) }),
            tf.layers.activation({ activation: 'relu' }),
            tf.layers.maxPooling2d({ poolSize: 2 }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 3, activation: 'softmax', ...init(122) }),
          ],
        }),
        123,
      ),
    input: [7, 7, 2],
    loss: 'categoricalCrossentropy',
    labels: 'onehot',
  },
  {
    name: 'a residual conv block: conv-BN-relu-conv-BN, Add to the shortcut, ReLU layer, global average pool',
    build: () => {
      const input = tf.input({ shape: [6, 6, 2] });
      const stem = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', ...init(130) }).apply(input) as tf.SymbolicTensor;
      let h = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', useBias: false, ...init(131) }).apply(stem) as tf.SymbolicTensor;
      h = tf.layers.batchNormalization({ ...bnInit(132) }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.activation({ activation: 'relu' }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', useBias: false, ...init(133) }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.batchNormalization({ ...bnInit(134) }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.reLU().apply(tf.layers.add().apply([stem, h]) as tf.SymbolicTensor) as tf.SymbolicTensor;
      const pooled = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
      return withMovingStatistics(tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, activation: 'softmax', ...init(135) }).apply(pooled) as tf.SymbolicTensor }), 136);
    },
    input: [6, 6, 2],
    loss: 'categoricalCrossentropy',
    labels: 'onehot',
  },
  ...(['kernels', 'all'] as const).map((params) => ({
    name: `batch norms, the second frozen (its γ and β held fixed), Activation tanh and sigmoid, MSE, params: '${params}'${params === 'kernels' ? ' (every γ and β held fixed)' : ''}`,
    build: () => {
      const model = withMovingStatistics(
        tf.sequential({
          layers: [
            tf.layers.dense({ units: 5, inputShape: [4], ...init(140) }),
            tf.layers.batchNormalization({ ...bnInit(141) }),
            tf.layers.activation({ activation: 'tanh' }),
            tf.layers.dense({ units: 4, ...init(142) }),
            tf.layers.batchNormalization({ ...bnInit(143) }),
            tf.layers.activation({ activation: 'sigmoid' }),
            tf.layers.dense({ units: 2, ...init(144) }),
          ],
        }),
        145,
      );
      (model.layers[4] as tf.layers.Layer).trainable = false;
      return model;
    },
    input: [4],
    loss: 'meanSquaredError',
    labels: 'targets' as const,
    params,
  })),
  {
    name: 'large weights: some probabilities clipped at 1 − 1e-7 (their terms are constant)',
    build: () => tf.sequential({ layers: [tf.layers.dense({ units: 8, activation: 'relu', inputShape: [5], ...init(50, 12) }), tf.layers.dense({ units: 3, activation: 'softmax', ...init(51, 12) })] }),
    input: [5],
    loss: 'categoricalCrossentropy',
    labels: 'onehot',
  },
];

for (const backend of BACKENDS) {
  describe(`the R-operator engine for layer graphs on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    for (const c of cases) {
      it(`equals double backpropagation: ${c.name}`, async () => {
        const model = c.build();
        model.compile({ optimizer: 'sgd', loss: c.loss });
        expect(layerGraphPlan(model, c.loss as never)).not.toBeNull();
        const n = 40;
        const x = tf.randomNormal([n, ...c.input], 0, 1, 'float32', 7);
        const ids = Array.from({ length: n }, (_, i) => (i * 7) % (model.outputs[0]?.shape[1] as number));
        const classes = model.outputs[0]?.shape[1] as number;
        const y = c.labels === 'onehot' ? tf.oneHot(tf.tensor1d(ids, 'int32'), classes).toFloat() : c.labels === 'ids' ? tf.tensor1d(ids) : tf.randomNormal([n, classes], 0, 1, 'float32', 8);
        const fast = hvp(model, { x, y }, { batchSize: 16, params: c.params ?? 'all' });
        const reference = hvp(model, { x, y }, { batchSize: 16, params: c.params ?? 'all', engine: 'reference' });
        expect(fast.names).toEqual(reference.names);
        expect([fast.engine, reference.engine]).toEqual(['graph', 'reference']);
        for (const seed of [3, 4]) {
          const v = randomDirection({ names: fast.names, shapes: fast.shapes }, seed);
          const a = await (await fast(v)).toFlat();
          const b = await (await reference(v)).toFlat();
          expect(relErr(a, b)).toBeLessThan(1e-5);
          // Per-shard vᵀ H_s v: the engine splits one pass by sample, the reference slices the data.
          expect(relErr(await fast.shardQuadratics(v, 5), await reference.shardQuadratics(v, 5))).toBeLessThan(1e-4);
        }
        // The gradient without a tape equals TF.js's own.
        expect(relErr(await (await fast.gradient()).toFlat(), await (await reference.gradient()).toFlat())).toBeLessThan(1e-5);
        if (c.name.startsWith('large weights')) {
          // The case is what it says: some probabilities are at the clip.
          const p = (await (model.predict(x) as tf.Tensor).data()) as Float32Array;
          expect(Array.from(p).some((q) => q > 1 - 1e-7)).toBe(true);
        }
        fast.dispose();
        reference.dispose();
      });
    }
  });
}

for (const backend of BACKENDS) {
  describe(`batch norms without γ or β on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    // Double backpropagation through TF.js fails on these (its batch-norm gradient saves the
    // missing γ or β), so the reference is the same model with γ = 1 and β = 0 in place and their
    // part of v zero: on the other weights, its H v is the product the engine must give.
    for (const missing of ['scale', 'center'] as const) {
      it(`hvp(BatchNormalization({ ${missing}: false })) equals the model with ${missing === 'scale' ? 'γ = 1' : 'β = 0'} on the other weights`, async () => {
        const build = (without: boolean) => {
          const model = withMovingStatistics(
            tf.sequential({
              layers: [
                tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'tanh', inputShape: [6, 6, 2], ...init(150) }),
                tf.layers.batchNormalization({
                  ...bnInit(151),
                  ...(without ? { [missing]: false } : missing === 'scale' ? { gammaInitializer: 'ones' } : { betaInitializer: 'zeros' }),
                }),
                tf.layers.flatten(),
                tf.layers.dense({ units: 3, activation: 'softmax', ...init(152) }),
              ],
            }),
            153,
          );
          model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
          return model;
        };
        const [without, withIt] = [build(true), build(false)];
        const x = tf.randomNormal([24, 6, 6, 2], 0, 1, 'float32', 9);
        const y = tf.oneHot(tf.tensor1d(Array.from({ length: 24 }, (_, i) => i % 3), 'int32'), 3).toFloat();
        const fast = hvp(without, { x, y }, { batchSize: 8 });
        const reference = hvp(withIt, { x, y }, { batchSize: 8, engine: 'reference' });
        expect(fast.engine).toBe('graph');
        const extra = reference.names.findIndex((n) => n.endsWith(missing === 'scale' ? '/gamma' : '/beta'));
        expect(reference.names.length).toBe(fast.names.length + 1);
        const v = randomDirection({ names: fast.names, shapes: fast.shapes }, 6);
        const padded = new ParamList(reference.names.map((name, i) => ({ name, tensor: i === extra ? tf.zeros(reference.shapes[i] as number[]) : (v.tensors[i < extra ? i : i - 1] as tf.Tensor).clone() })));
        const a = await fast(v);
        const b = await reference(padded);
        const kept = new ParamList(b.names.flatMap((name, i) => (i === extra ? [] : [{ name, tensor: b.tensors[i] as tf.Tensor }])));
        expect(relErr(await a.toFlat(), await kept.toFlat())).toBeLessThan(1e-5);
        const gradient = await reference.gradient();
        const keptGradient = new ParamList(gradient.names.flatMap((name, i) => (i === extra ? [] : [{ name, tensor: gradient.tensors[i] as tf.Tensor }])));
        expect(relErr(await (await fast.gradient()).toFlat(), await keptGradient.toFlat())).toBeLessThan(1e-5);
        fast.dispose();
        reference.dispose();
        tf.dispose([x, y]);
      });
    }
  });
}

for (const backend of BACKENDS) {
  describe(`max pooling ties on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('a window of equal values (a linear conv over a blank region: every output is the bias) routes R and the gradient to its first maximum, as TF.js does', async () => {
      const model = tf.sequential({
        layers: [
          tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', inputShape: [6, 6, 1], ...init(90) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: 'softmax', ...init(91) }),
        ],
      });
      model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
      // Images blank but for one pixel: most windows are exact ties at the bias value.
      const n = 12;
      const pixels = new Float32Array(n * 36);
      for (let i = 0; i < n; i++) pixels[i * 36 + ((i * 7) % 36)] = 1;
      const x = tf.tensor4d(pixels, [n, 6, 6, 1]);
      const y = tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % 3), 'int32'), 3).toFloat();
      const fast = hvp(model, { x, y }, { batchSize: 8 });
      const reference = hvp(model, { x, y }, { batchSize: 8, engine: 'reference' });
      expect(fast.engine).toBe('graph');
      const v = randomDirection({ names: fast.names, shapes: fast.shapes }, 5);
      expect(relErr(await (await fast(v)).toFlat(), await (await reference(v)).toFlat())).toBeLessThan(1e-5);
      fast.dispose();
      reference.dispose();
      tf.dispose([x, y]);
    });
  });
}

describe('what the engine does not take (double backpropagation does)', () => {
  beforeAll(() => useBackend('cpu'));

  it('layerGraphPlan refuses other layers, activations, losses, shared layers and frozen layers', () => {
    const mk = (layers: tf.layers.Layer[], loss = 'categoricalCrossentropy') => {
      const m = tf.sequential({ layers });
      m.compile({ optimizer: 'sgd', loss });
      return m;
    };
    expect(layerGraphPlan(mk([tf.layers.dense({ units: 3, activation: 'elu', inputShape: [4] }), tf.layers.dense({ units: 2, activation: 'softmax' })]), 'categoricalCrossentropy')).toBeNull();
    expect(layerGraphPlan(mk([tf.layers.conv1d({ filters: 2, kernelSize: 2, inputShape: [4, 1] }), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: 'softmax' })]), 'categoricalCrossentropy')).toBeNull();
    expect(layerGraphPlan(mk([tf.layers.dense({ units: 2, activation: 'sigmoid', inputShape: [4] })], 'binaryCrossentropy'), 'binaryCrossentropy')).toBeNull();
    expect(layerGraphPlan(mk([tf.layers.dense({ units: 2, activation: 'softmax', inputShape: [4] })]), undefined)).toBeNull();
    expect(layerGraphPlan(mk([tf.layers.dense({ units: 2, activation: 'softmax', inputShape: [4] })]), 'categoricalCrossentropy')).not.toBeNull();
    const conv = (extra: Record<string, unknown>, pool?: tf.layers.Layer) =>
      mk([tf.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [9, 9, 1], ...extra }), ...(pool ? [pool] : []), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: 'softmax' })]);
    expect(layerGraphPlan(conv({}), 'categoricalCrossentropy')).not.toBeNull();
    expect(layerGraphPlan(conv({ dilationRate: 2 }), 'categoricalCrossentropy')).toBeNull();
    expect(layerGraphPlan(conv({ activation: 'elu' }), 'categoricalCrossentropy')).toBeNull();
    expect(layerGraphPlan(conv({}, tf.layers.maxPooling2d({ poolSize: 3, strides: 2 })), 'categoricalCrossentropy')).toBeNull(); // overlapping windows
    expect(layerGraphPlan(conv({}, tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' })), 'categoricalCrossentropy')).toBeNull(); // 7 × 7: 'same' would pad
    expect(layerGraphPlan(mk([tf.layers.dense({ units: 3, inputShape: [4, 2] }), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: 'softmax' })]), 'categoricalCrossentropy')).toBeNull(); // Dense on the last axis
    // A layer applied twice (shared weights), a batch norm over another axis, a capped ReLU.
    const input = tf.input({ shape: [4] });
    const shared = tf.layers.dense({ units: 4, activation: 'tanh' });
    const twice = shared.apply(shared.apply(input)) as tf.SymbolicTensor;
    const functional = (out: tf.SymbolicTensor) => {
      const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, activation: 'softmax' }).apply(out) as tf.SymbolicTensor });
      m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
      return m;
    };
    expect(layerGraphPlan(functional(twice), 'categoricalCrossentropy')).toBeNull();
    expect(layerGraphPlan(conv({}, tf.layers.batchNormalization({ axis: 1 })), 'categoricalCrossentropy')).toBeNull();
    expect(layerGraphPlan(conv({}, tf.layers.reLU({ maxValue: 6 })), 'categoricalCrossentropy')).toBeNull();
    expect(layerGraphPlan(conv({}, tf.layers.reLU()), 'categoricalCrossentropy')).not.toBeNull();
  });
});
