import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ParamList } from '../../src/core/param-list.js';
import { randomDirection } from '../../src/core/random-direction.js';
import { hvp } from '../../src/model/hvp.js';
import { registerKernels } from '../../src/kernels/register-kernels.js';
import { resolveLoss } from '../../src/model/model-loss.js';
import { withSecondOrderGradients } from '../../src/model/second-order-gradients.js';
import { modelWeights, readModelWeights, writeModelWeights } from '../../src/model/model-weights.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { relErr } from '../helpers/rel-err.js';
import { cnnLoss } from '../helpers/reference-net.js';

/**
 * Central differences of TF.js's own first-order gradients (stock, trustworthy) in float32:
 * (∇L(θ + h v) − ∇L(θ − h v)) / 2h. Accurate to ~1e-4 on smooth models: enough to catch a
 * silently wrong second derivative, whose error is of order one.
 */
async function fdHvp(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, v: ParamList, h = 1e-3): Promise<Float64Array> {
  const trainable = modelWeights(model).filter((w) => w.trainable);
  const theta = readModelWeights(model);
  const all = modelWeights(model);
  const gradAt = async (sign: number) => {
    const moved = theta.map((t, i) => {
      const k = trainable.findIndex((w) => w.name === all[i]?.name);
      return k < 0 ? t.clone() : tf.add(t, tf.mul(v.tensors[k] as tf.Tensor, sign * h));
    });
    writeModelWeights(model, moved);
    moved.dispose();
    const grads = tf.tidy(() => {
      const { grads: g } = tf.variableGrads(() => tf.mean(resolveLoss(model).fn(y, model.apply(x, { training: false }) as tf.Tensor)) as tf.Scalar, trainable.map((w) => w.variable));
      return trainable.map((w) => g[w.variable.name] as tf.Tensor);
    });
    return new ParamList(trainable.map((w, i) => ({ name: w.name, tensor: grads[i] as tf.Tensor })));
  };
  const plus = await (await gradAt(1)).toFlat();
  const minus = await (await gradAt(-1)).toFlat();
  writeModelWeights(model, theta);
  return plus.map((p, i) => (p - (minus[i] as number)) / (2 * h));
}


const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotNormal({ seed }), biasInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: seed + 100 }) });

/** Smooth models covering the supported layers and activations: one activation per model, so an error in one is not averaged away by the others. */
const smooth: { name: string; build: () => tf.LayersModel; input: number[]; classes: number; loss?: string; intInput?: number; tol?: number; h?: number }[] = [
  ...(['sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'gelu', 'swish', 'mish', 'relu6', 'softsign'] as const).map((activation, i) => ({
    name: `Dense with ${activation}, then softmax`,
    build: () => tf.sequential({ layers: [tf.layers.dense({ units: 6, activation, inputShape: [5], ...init(1 + i * 31) }), tf.layers.dense({ units: 3, activation: 'softmax', ...init(5 + i) })] }),
    input: [5],
    classes: 3,
    // At h = 1e-3 the step crosses kinks of elu (f'') and relu6 (f') for a few of the 144
    // pre-activations and the differences, not the HVP, are off (1.7% and 99%); at 3e-4 none is crossed.
    tol: 1e-3,
    h: 3e-4,
  })),
  {
    name: 'Conv2D (tanh) + AveragePooling2D + BatchNormalization + Dropout + Flatten',
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh', inputShape: [6, 6, 2], ...init(6) }),
          tf.layers.averagePooling2d({ poolSize: 2 }),
          tf.layers.batchNormalization({ movingVarianceInitializer: tf.initializers.constant({ value: 0.7 }), gammaInitializer: tf.initializers.constant({ value: 1.3 }) }),
          tf.layers.dropout({ rate: 0.5 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: 'softmax', ...init(7) }),
        ],
      }),
    input: [6, 6, 2],
    classes: 3,
  },
  {
    name: 'Conv1D (strided, tanh) + GlobalAveragePooling1D',
    build: () => tf.sequential({ layers: [tf.layers.conv1d({ filters: 4, kernelSize: 3, strides: 2, activation: 'tanh', inputShape: [9, 2], ...init(8) }), tf.layers.globalAveragePooling1d(), tf.layers.dense({ units: 3, activation: 'softmax', ...init(9) })] }),
    input: [9, 2],
    classes: 3,
  },
  {
    name: 'functional Add and Concatenate (tanh branches), binary cross-entropy',
    build: () => {
      const input = tf.input({ shape: [4] });
      const a = tf.layers.dense({ units: 5, activation: 'tanh', ...init(10) }).apply(input) as tf.SymbolicTensor;
      const b = tf.layers.dense({ units: 5, activation: 'sigmoid', ...init(11) }).apply(input) as tf.SymbolicTensor;
      const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
      const cat = tf.layers.concatenate().apply([sum, a]) as tf.SymbolicTensor;
      const out = tf.layers.dense({ units: 1, activation: 'sigmoid', ...init(12) }).apply(cat) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: out });
    },
    input: [4],
    classes: 1,
    loss: 'binaryCrossentropy',
  },
  {
    name: 'Embedding + Flatten, sparse categorical cross-entropy',
    build: () => tf.sequential({ layers: [tf.layers.embedding({ inputDim: 7, outputDim: 3, inputLength: 4, embeddingsInitializer: tf.initializers.randomNormal({ seed: 13 }) }), tf.layers.flatten(), tf.layers.dense({ units: 3, activation: 'softmax', ...init(14) })] }),
    input: [4],
    classes: 3,
    loss: 'sparseCategoricalCrossentropy',
    intInput: 7,
  },
  {
    name: 'Dense (linear) with mean squared error',
    build: () => tf.sequential({ layers: [tf.layers.dense({ units: 4, activation: 'tanh', inputShape: [3], ...init(15) }), tf.layers.dense({ units: 2, ...init(16) })] }),
    input: [3],
    classes: 2,
    loss: 'meanSquaredError',
  },
];

for (const backend of BACKENDS) {
  describe(`hvp through every supported layer on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
      registerKernels(); // the finite-difference reference takes first-order conv and embedding gradients on wasm
    });

    for (const c of smooth) {
      it(`hvp(${c.name}) agrees with central differences of first-order gradients`, async () => {
        const model = c.build();
        model.compile({ optimizer: 'sgd', loss: c.loss ?? 'categoricalCrossentropy' });
        const n = 24;
        const x = c.intInput !== undefined ? tf.tensor(Array.from({ length: n * (c.input[0] as number) }, (_, i) => (i * 5) % (c.intInput as number)), [n, ...c.input]) : tf.randomNormal([n, ...c.input], 0, 1, 'float32', 17);
        const labels = Array.from({ length: n }, (_, i) => (i * 7) % Math.max(2, c.classes));
        const y =
          c.loss === 'binaryCrossentropy'
            ? tf.tensor2d(labels.map((l) => [l % 2]))
            : c.loss === 'sparseCategoricalCrossentropy'
              ? tf.tensor1d(labels)
              : c.loss === 'meanSquaredError'
                ? tf.randomNormal([n, c.classes], 0, 1, 'float32', 18)
                : tf.oneHot(tf.tensor1d(labels, 'int32'), c.classes).toFloat();
        const H = hvp(model, { x, y }, { batchSize: 10 });
        const v = randomDirection({ names: H.names, shapes: H.shapes }, 19);
        const exact = await (await H(v)).toFlat();
        const fd = await fdHvp(model, x, y, v, c.h ?? 1e-3);
        expect(relErr(exact, fd)).toBeLessThan(c.tol ?? 1e-2);
        H.dispose();
      });
    }

    const pooled = [
      { name: 'ReLU CNN with Conv2D and MaxPooling2D', activation: 'relu', pool: 'max2', layer: () => tf.layers.maxPooling2d({ poolSize: 2 }) },
      { name: 'tanh CNN with Conv2D and GlobalMaxPooling2D', activation: 'tanh', pool: 'globalMax', layer: () => tf.layers.globalMaxPooling2d({}) },
      { name: 'ReLU CNN with Conv2D and GlobalMaxPooling2D', activation: 'relu', pool: 'globalMax', layer: () => tf.layers.globalMaxPooling2d({}) },
    ] as const;
    for (const c of pooled) {
      it(`hvp(${c.name}) equals second differences of a float64 reference net`, async () => {
        // Central differences of float32 gradients are no reference here: a step of 1e-3 already
        // moves some window's maximum to another position and the difference jumps (seen: 29.9
        // where the HVP's 0.090 is right). The float64 net's second differences step 1e-5.
        const model = tf.sequential({
          layers: [
            tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: c.activation, inputShape: [6, 6, 2], ...init(20), biasInitializer: tf.initializers.constant({ value: 0.05 }) }),
            c.layer(),
            ...(c.pool === 'max2' ? [tf.layers.flatten()] : []),
            tf.layers.dense({ units: 4, activation: 'softmax', ...init(21) }),
          ],
        });
        model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
        const x = tf.sub(tf.randomNormal([16, 6, 6, 2], 0, 1, 'float32', 22), 0.5); // negative windows too
        const y = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => (i * 3) % 4), 'int32'), 4).toFloat();
        const H = hvp(model, { x, y }, { batchSize: 6 });
        const theta = await readModelWeights(model).toFlat();
        const sizes = H.shapes.map((s) => s.reduce((a, b) => a * b, 1));
        const xs = Float64Array.from(await x.data());
        const ys = Float64Array.from(await y.data());
        const loss = (p: Float64Array) => {
          const at = (k: number) => p.subarray(sizes.slice(0, k).reduce((a, b) => a + b, 0), sizes.slice(0, k + 1).reduce((a, b) => a + b, 0));
          return cnnLoss({ conv: { kernel: at(0), bias: at(1), kh: 3, kw: 3, cin: 2, cout: 3 }, dense: { kernel: at(2), bias: at(3), units: 4 }, activation: c.activation, pool: c.pool }, xs, [16, 6, 6, 2], ys).loss;
        };
        // Piecewise smooth: a tiny step stays within one region of ReLU and of each window's argmax.
        const quad = (u: Float64Array) => {
          const h = 1e-5;
          return (loss(theta.map((t, i) => t + h * (u[i] as number))) - 2 * loss(theta) + loss(theta.map((t, i) => t - h * (u[i] as number)))) / (h * h);
        };
        for (const seed of [23, 24]) {
          const v = randomDirection({ names: H.names, shapes: H.shapes }, seed);
          const vf = await v.toFlat();
          const hv = await (await H(v)).toFlat();
          const exact = hv.reduce((s, val, i) => s + val * (vf[i] as number), 0);
          expect(Math.abs(exact - quad(vf)) / Math.abs(quad(vf))).toBeLessThan(2e-3);
        }
        H.dispose();
      });
    }
  });
}

describe('why the replacements exist', () => {
  it('a comparison against a broadcast operand gets a zero gradient of its own shape (GlobalMaxPooling compares [N,H,W,C] with [N,1,1,C])', async () => {
    await useBackend('cpu');
    const a = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const b = tf.tensor2d([[1, 5, 3]]);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.cast(tf.equal(a, t), 'float32'), tf.add(a, t)));
    const g = await withSecondOrderGradients(() => tf.grad(f)(b));
    expect(g.shape).toEqual([1, 3]);
    // d/db of Σ mask·(a + b) with the mask constant: the count of equal entries per column.
    expect(await g.array()).toEqual([[1, 1, 1]]);
  });

  it('stock TF.js grad(grad) through tanh is silently wrong (what hvp avoids)', async () => {
    await useBackend('cpu');
    // f(x) = Σ x·tanh(x): f''(x) = 2(1 − t²) − 2x·t(1 − t²) with t = tanh(x)
    const f = (x: tf.Tensor) => tf.sum(tf.mul(x, tf.tanh(x)));
    const x = tf.tensor1d([0.3, -0.7, 1.2]);
    const secondDerivative = (fn: () => Promise<number[]>) => fn();
    const nested = () => tf.grad((t: tf.Tensor) => tf.sum(tf.grad(f)(t)))(x).array() as Promise<number[]>;
    const exact = [0.3, -0.7, 1.2].map((v) => {
      const t = Math.tanh(v);
      return 2 * (1 - t * t) - 2 * v * t * (1 - t * t);
    });
    expect(relErr(await secondDerivative(nested), exact)).toBeGreaterThan(0.3);
    const fixed = await withSecondOrderGradients(nested);
    expect(relErr(fixed, exact)).toBeLessThan(1e-6);
  });

  it('hvp names an unsupported kernel instead of returning a wrong number', async () => {
    await useBackend('cpu');
    const model = tf.sequential({ layers: [tf.layers.depthwiseConv2d({ kernelSize: 2, inputShape: [4, 4, 2] }), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const H = hvp(model, { x: tf.randomNormal([3, 4, 4, 2]), y: tf.oneHot(tf.tensor1d([0, 1, 0], 'int32'), 2).toFloat() });
    await expect(H(randomDirection({ names: H.names, shapes: H.shapes }, 1))).rejects.toThrow(/hvp: the model uses the TF.js kernel 'DepthwiseConv2dNative\w*', whose second-order gradient landscope does not provide/);
  });
});
