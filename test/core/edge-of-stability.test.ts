import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { inverseSqrtPreconditioner, stabilityThreshold, type UpdateRule } from '../../src/core/edge-of-stability.js';
import { optimizerSnapshot } from '../../src/model/optimizer-state.js';
import { useBackend } from '../helpers/backend.js';

/** |θ| after `steps` of TF.js's own optimizer on L(θ) = λθ²/2 from θ = 1. */
async function iterate(optimizer: tf.Optimizer, lambda: number, steps: number): Promise<number> {
  const theta = tf.variable(tf.scalar(1));
  for (let t = 0; t < steps; t++) optimizer.minimize(() => tf.mul(0.5 * lambda, tf.square(theta)) as tf.Scalar);
  const v = Math.abs((await theta.data())[0] as number);
  theta.dispose();
  optimizer.dispose();
  return v;
}

describe('stabilityThreshold', () => {
  it('is where TF.js’s own SGD, momentum and Nesterov start to diverge on a quadratic', async () => {
    await useBackend('cpu');
    const cases: [string, UpdateRule, (lr: number) => tf.Optimizer][] = [
      ['sgd', { kind: 'sgd', learningRate: 0.1 }, (lr) => tf.train.sgd(lr)],
      ['momentum 0.9', { kind: 'momentum', learningRate: 0.1, momentum: 0.9, nesterov: false }, (lr) => tf.train.momentum(lr, 0.9)],
      ['nesterov 0.9', { kind: 'momentum', learningRate: 0.1, momentum: 0.9, nesterov: true }, (lr) => tf.train.momentum(lr, 0.9, true)],
    ];
    for (const [name, rule, make] of cases) {
      const t = stabilityThreshold(rule);
      expect(t?.preconditioned, name).toBe(false);
      const threshold = t?.threshold as number;
      expect(await iterate(make(0.1), 0.97 * threshold, 400), `${name} below`).toBeLessThan(1);
      const above = await iterate(make(0.1), 1.03 * threshold, 400);
      expect(!(above <= 1), `${name} above: |θ| = ${above} (overflow counts as divergence)`).toBe(true);
    }
    expect(stabilityThreshold({ kind: 'sgd', learningRate: 0.1 })?.threshold).toBeCloseTo(20, 12);
    expect(stabilityThreshold({ kind: 'sgd', learningRate: 0 })).toBeNull();
  });

  it('bounds λ(P⁻¹H) for Adam with the preconditioner frozen: EMA momentum, brute-forced in float64', () => {
    const lr = 0.01;
    const beta1 = 0.9;
    const { threshold, preconditioned } = stabilityThreshold({ kind: 'adam', learningRate: lr, beta1, beta2: 0.999, epsilon: 1e-7, step: 10 }) as { threshold: number; preconditioned: boolean };
    expect(preconditioned).toBe(true);
    // θ ← θ − η m/P, m ← β₁m + (1 − β₁)λθ: in q = λ/P it is m' ← β₁m' + (1 − β₁)qθ, θ ← θ − ηm'.
    const run = (q: number) => {
      let theta = 1;
      let m = 0;
      for (let t = 0; t < 3000; t++) {
        m = beta1 * m + (1 - beta1) * q * theta;
        theta -= lr * m;
      }
      return Math.abs(theta);
    };
    expect(run(0.98 * threshold)).toBeLessThan(1);
    expect(run(1.02 * threshold)).toBeGreaterThan(1);
  });
});

describe('inverseSqrtPreconditioner with optimizerSnapshot', () => {
  it('reproduces the step TF.js’s Adam took: Δθ = −η·m·D² with D = P^{-1/2}', async () => {
    await useBackend('cpu');
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }), tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })] });
    const lr = 0.05;
    model.compile({ optimizer: tf.train.adam(lr, 0.8, 0.95), loss: 'meanSquaredError' });
    const x = tf.tensor2d([[1, 2, -1], [0.5, -1, 2], [-2, 0, 1], [1, 1, 1]]);
    const y = tf.tensor2d([[1], [-1], [0.5], [2]]);
    await model.fit(x, y, { epochs: 4, batchSize: 4, verbose: 0, shuffle: false });
    const before = await model.trainableWeights[0]!.read().data();
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, shuffle: false });
    const after = await model.trainableWeights[0]!.read().data();
    const snapshot = await optimizerSnapshot(model, true);
    expect(snapshot?.state).toMatchObject({ name: 'Adam', learningRate: lr, step: 5, rule: { kind: 'adam', beta1: 0.8, beta2: 0.95, step: 5 } });
    const name = model.trainableWeights[0]!.name;
    const d = snapshot?.scaling?.[name] as Float32Array;
    const o = model.optimizer as unknown as { accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[] };
    const m = await (o.accumulatedFirstMoment.find((a) => a.originalName === `${name}/m`) as { variable: tf.Variable }).variable.data();
    for (let i = 0; i < d.length; i++) {
      const expected = -lr * (m[i] as number) * (d[i] as number) ** 2;
      expect(Math.abs((after[i] as number) - (before[i] as number) - expected), `entry ${i}`).toBeLessThan(1e-6 + 1e-4 * Math.abs(expected));
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  it('names what it cannot precondition', () => {
    expect(() => inverseSqrtPreconditioner({ kind: 'sgd', learningRate: 1 }, new Float32Array(2))).toThrow(/sgd does not precondition/);
    expect(() => inverseSqrtPreconditioner({ kind: 'adam', learningRate: 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 0 }, new Float32Array(2))).toThrow(/taken 0 steps/);
  });
});
