import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { dot, ParamList } from '../../src/core/param-list.js';
import { randomDirection } from '../../src/core/random-direction.js';
import { hvp } from '../../src/model/hvp.js';
import { readModelWeights } from '../../src/model/model-weights.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { relErr } from '../helpers/rel-err.js';
import { mlpHvp, mlpLossAndGrad } from '../helpers/reference-mlp.js';

function tanhMlp(sizes: number[], seed: number) {
  const layers = sizes.slice(1).map((units, i) =>
    tf.layers.dense({
      units,
      activation: i === sizes.length - 2 ? 'softmax' : 'tanh',
      ...(i === 0 ? { inputShape: [sizes[0] as number] } : {}),
      kernelInitializer: tf.initializers.randomNormal({ stddev: 0.8, seed: seed + i }),
      biasInitializer: tf.initializers.randomNormal({ stddev: 0.3, seed: seed + 10 + i }),
    }),
  );
  const m = tf.sequential({ layers });
  m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  return m;
}

function data(n: number, d: number, c: number, seed: number) {
  const x = tf.randomNormal([n, d], 0, 1, 'float32', seed);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 5 + 1) % c), 'int32'), c).toFloat();
  return { x, y };
}


for (const backend of BACKENDS) {
  describe(`hvp on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('shardQuadratics gives vᵀ H_s v of each contiguous shard (closed form: uᵀ(diag p − p pᵀ)u per sample, u = [x, 1]ᵀV), on both engines, across batch boundaries', async () => {
      const model = tanhMlp([5, 4], 1);
      const { x, y } = data(40, 5, 4, 2);
      const X = (await x.array()) as number[][];
      const P = (await (model.predict(x) as tf.Tensor).array()) as number[][];
      for (const engine of ['auto', 'reference'] as const) {
        const H = hvp(model, { x, y }, { batchSize: 16, engine });
        const v = randomDirection({ names: H.names, shapes: H.shapes }, 3);
        const vf = await v.toFlat();
        const perSample = X.map((row, i) => {
          const p = P[i] as number[];
          const u = [0, 1, 2, 3].map((c) => row.reduce((a, xj, j) => a + xj * (vf[j * 4 + c] as number), 0) + (vf[20 + c] as number));
          const pu = u.reduce((a, uc, c) => a + uc * (p[c] as number), 0);
          return u.reduce((a, uc, c) => a + uc * uc * (p[c] as number), 0) - pu * pu;
        });
        // 3 shards of 40 samples: [0, 13), [13, 26), [26, 40); batches of 16 cut through them.
        const bounds = [0, 13, 26, 40];
        const want = [0, 1, 2].map((s) => perSample.slice(bounds[s], bounds[s + 1]).reduce((a, b) => a + b, 0) / ((bounds[s + 1] as number) - (bounds[s] as number)));
        const got = await H.shardQuadratics(v, 3);
        expect(H.engine).toBe(engine === 'auto' ? 'graph' : 'reference');
        for (let s = 0; s < 3; s++) expect(relErr([got[s] as number], [want[s] as number]), `${engine} shard ${s}`).toBeLessThan(1e-4);
        // One shard is the whole: vᵀ H v.
        const whole = await H(v);
        expect(relErr(await H.shardQuadratics(v, 1), [dot(v, whole)])).toBeLessThan(1e-5);
        await expect(H.shardQuadratics(v, 41)).rejects.toThrow(/hvp: shards = 41 is not an integer from 1 to the 40 samples/);
        whole.dispose();
        v.dispose();
        H.dispose();
      }
      tf.dispose([x, y]);
      model.dispose();
    });

    it('hvp(softmax regression) equals the closed-form Hessian (1/N) Σ x xᵀ ⊗ (diag p − p pᵀ)', async () => {
      const model = tanhMlp([5, 4], 1);
      const { x, y } = data(40, 5, 4, 2);
      const H = hvp(model, { x, y }, { batchSize: 16 });
      const v = randomDirection({ names: H.names, shapes: H.shapes }, 3);
      const got = await (await H(v)).toFlat();
      // Closed form over W [5,4] (index j·4 + c) and b [4] (index 20 + c).
      const X = await x.array() as number[][];
      const P = (await (model.predict(x) as tf.Tensor).array()) as number[][];
      const vf = await v.toFlat();
      const feat = (i: number, j: number) => (j < 5 ? (X[i] as number[])[j] as number : 1); // j = 5 is the bias "feature"
      const idx = (j: number, c: number) => (j < 5 ? j * 4 + c : 20 + c);
      const want = new Float64Array(24);
      for (let i = 0; i < 40; i++) {
        const p = P[i] as number[];
        for (let j = 0; j < 6; j++) for (let c = 0; c < 4; c++) {
          let acc = 0;
          for (let k = 0; k < 6; k++) for (let e = 0; e < 4; e++) {
            const curv = (c === e ? (p[c] as number) : 0) - (p[c] as number) * (p[e] as number);
            acc += feat(i, j) * feat(i, k) * curv * (vf[idx(k, e)] as number);
          }
          want[idx(j, c)] = (want[idx(j, c)] as number) + acc / 40;
        }
      }
      expect(relErr(got, want)).toBeLessThan(1e-5);
      expect(H.count()).toBe(1);
      H.dispose();
    });

    it('hvp(tanh MLP) equals a float64 plain-TypeScript reference (exact gradient, central difference)', async () => {
      const sizes = [6, 7, 5, 3];
      const model = tanhMlp(sizes, 5);
      const { x, y } = data(30, 6, 3, 6);
      const H = hvp(model, { x, y }, { batchSize: 7 });
      const theta = Float64Array.from(await readModelWeights(model).toFlat());
      const xf = Float64Array.from(await x.data());
      const yf = Float64Array.from(await y.data());
      // The float32 loss equals the reference loss: same model, same conventions.
      const ref = mlpLossAndGrad({ sizes }, theta, xf, yf, 30);
      const tfLoss = (model.evaluate(x, y) as tf.Scalar).dataSync()[0] as number;
      expect(tfLoss).toBeCloseTo(ref.loss, 5);
      // The gradient, from the products' primal pass (before and after products) and by the reference engine.
      const reference = hvp(model, { x, y }, { batchSize: 7, engine: 'reference' });
      for (const G of [H, reference]) expect(relErr(await (await G.gradient()).toFlat(), ref.grad), G.engine).toBeLessThan(1e-5);
      reference.dispose();
      for (const seed of [11, 12]) {
        const v = randomDirection({ names: H.names, shapes: H.shapes }, seed);
        const got = await (await H(v)).toFlat();
        const want = mlpHvp({ sizes }, theta, await v.toFlat(), xf, yf, 30);
        expect(relErr(got, want)).toBeLessThan(2e-5);
      }
      expect(relErr(await (await H.gradient()).toFlat(), ref.grad)).toBeLessThan(1e-5);
      H.dispose();
    });

    it('hvp is symmetric: uᵀ(Hv) = vᵀ(Hu)', async () => {
      const model = tanhMlp([4, 6, 3], 9);
      const { x, y } = data(20, 4, 3, 10);
      const H = hvp(model, { x, y });
      const u = randomDirection({ names: H.names, shapes: H.shapes }, 1);
      const v = randomDirection({ names: H.names, shapes: H.shapes }, 2);
      const a = dot(u, await H(v));
      const b = dot(v, await H(u));
      expect(Math.abs(a - b)).toBeLessThan(1e-4 * Math.max(1, Math.abs(a)));
    });

    it('training gradients are bit-for-bit the same before and after HVPs', async () => {
      const model = tanhMlp([4, 6, 3], 13);
      const { x, y } = data(20, 4, 3, 14);
      const trainGrads = () =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => model.evaluate(x, y) as tf.Scalar);
          return Object.keys(grads).sort().flatMap((k) => Array.from((grads[k] as tf.Tensor).dataSync()));
        });
      const before = trainGrads();
      const H = hvp(model, { x, y });
      (await H(randomDirection({ names: H.names, shapes: H.shapes }, 3))).dispose();
      const after = trainGrads();
      expect(Float32Array.from(after)).toEqual(Float32Array.from(before));
      expect(tf.getGradient('Tanh')?.outputsToSave).toEqual([true]); // the stock definition is back
    });

    it('hvp rejects a model without trainable weights and a vector of the wrong layout', async () => {
      const frozen = tanhMlp([4, 3], 1);
      frozen.trainable = false;
      const { x, y } = data(8, 4, 3, 1);
      expect(() => hvp(frozen, { x, y })).toThrow('hvp: the model has no trainable weights');
      const model = tanhMlp([4, 3], 1);
      const H = hvp(model, { x, y });
      const wrong = new ParamList([{ name: 'w', tensor: tf.zeros([3, 4]) }]);
      await expect(H(wrong)).rejects.toThrow(/hvp: v has tensors w \[3,4\]; expected .*kernel \[4,3\]/);
      expect(() => hvp(model, { x, y }, { params: 'biases' as never })).toThrow("hvp: params 'biases' is not one of all, kernels");
    });
  });
}

describe('hvp keeps each batch\'s primal pass while the weights stay', () => {
  beforeAll(() => useBackend('wasm'));

  it('a product after the weights move (setWeights, an optimizer step) is the product at the new weights, not the kept pass', async () => {
    const model = tanhMlp([4, 6, 3], 31);
    const { x, y } = data(20, 4, 3, 32);
    const H = hvp(model, { x, y }, { batchSize: 8 });
    const v = randomDirection({ names: H.names, shapes: H.shapes }, 2);
    const flat = async (p: ParamList) => {
      const f = await p.toFlat();
      p.dispose();
      return f;
    };
    const before = await flat(await H(v));
    expect(await flat(await H(v))).toEqual(before); // the kept pass: the same product, bit for bit
    const moved = async (what: string) => {
      const fresh = hvp(model, { x, y }, { batchSize: 8, primalCacheBytes: 0 });
      const want = await flat(await fresh(v));
      fresh.dispose();
      const got = await flat(await H(v));
      expect(relErr(got, want), what).toBeLessThan(1e-6);
      expect(relErr(got, before), what).toBeGreaterThan(1e-3);
    };
    model.setWeights(model.getWeights().map((w) => tf.mul(w, 1.5)));
    await moved('after setWeights');
    await model.fit(x, y, { epochs: 1, batchSize: 20, verbose: 0 });
    await moved('after an optimizer step');
    H.dispose();
  });

  it('primalCacheBytes 0 keeps nothing and gives the same products', async () => {
    const model = tanhMlp([4, 6, 3], 33);
    const { x, y } = data(20, 4, 3, 34);
    const kept = hvp(model, { x, y }, { batchSize: 8 });
    const none = hvp(model, { x, y }, { batchSize: 8, primalCacheBytes: 0 });
    const v = randomDirection({ names: kept.names, shapes: kept.shapes }, 3);
    const count = tf.memory().numTensors;
    const a = await none(v);
    expect(tf.memory().numTensors - count).toBe(a.tensors.length); // only the product itself
    const b = await kept(v);
    expect(relErr(await a.toFlat(), await b.toFlat())).toBeLessThan(1e-7);
    expect(() => hvp(model, { x, y }, { primalCacheBytes: -1 })).toThrow('hvp: primalCacheBytes -1 is not a non-negative number of bytes');
    a.dispose();
    b.dispose();
    kept.dispose();
    none.dispose();
  });
});

describe('hvp memory', () => {
  it('hvp leaks no tensor across products', async () => {
    await useBackend('wasm');
    const model = tanhMlp([4, 6, 3], 21);
    const { x, y } = data(20, 4, 3, 22);
    const H = hvp(model, { x, y }, { batchSize: 8 });
    const v = randomDirection({ names: H.names, shapes: H.shapes }, 1);
    (await H(v)).dispose();
    const before = tf.memory().numTensors;
    for (let k = 0; k < 3; k++) (await H(v)).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
