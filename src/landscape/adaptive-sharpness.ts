/**
 * Adaptive sharpness of a model at its current weights (the numeric core is
 * `src/core/adaptive-sharpness.ts`): the scaled perturbation δ moves every trainable weight to
 * θ + |θ| ⊙ δ, losses come from an evaluator, gradients from the HVP operator's exact gradient (the
 * R-operator engine's primal pass where the model allows); the weights are put back bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { adaptiveSharpness, type AdaptiveSharpness } from '../core/adaptive-sharpness.js';
import type { ParamList } from '../core/param-list.js';
import { randomDirection } from '../core/random-direction.js';
import { subSeed } from '../core/sub-seed.js';
import { paramListSpace } from '../core/vector-space.js';
import type { ModelEvaluator } from '../model/evaluator.js';
import type { HvpOperator } from '../model/hvp.js';
import { modelWeights } from '../model/model-weights.js';

/** Sub-seeds of the directions start here, apart from sharpness's (0, 1, …). */
export const ADAPTIVE_SEED_OFFSET = 500;

/**
 * The seeded raw directions of adaptive sharpness over the operator's parameters: direction i of
 * seed s is drawn from sub-seed (s, 500 + i), so the monitor and `landscope sharpness` draw the
 * same ones. The caller disposes them.
 * @throws {RangeError} for more than 499 directions or a bad seed
 */
export function adaptiveDirections(H: Pick<HvpOperator, 'names' | 'shapes'>, count: number, seed: number): ParamList[] {
  if (!(Number.isInteger(count) && count >= 2 && count <= 499)) throw new RangeError(`adaptive sharpness: directions = ${count} is not an integer from 2 (a standard error needs two) to 499`);
  return Array.from({ length: count }, (_, i) => randomDirection({ names: H.names, shapes: H.shapes }, subSeed(seed, ADAPTIVE_SEED_OFFSET + i)));
}

/**
 * Worst- and average-case adaptive sharpness of `model` at its current weights.
 * @param model the model; H and evaluator are built on it, over the same data
 * @param H its HVP operator over every trainable weight (for the gradient)
 * @param evaluator its loss on the data
 * @param options radius ρ, ascent steps, raw directions in H's layout
 */
export async function modelAdaptiveSharpness(
  model: tf.LayersModel,
  H: HvpOperator,
  evaluator: ModelEvaluator,
  options: { radius: number; steps: number; directions: readonly ParamList[] },
): Promise<AdaptiveSharpness> {
  const byName = new Map(modelWeights(model).map((w) => [w.name, w.variable]));
  const variables = H.names.map((n) => {
    const v = byName.get(n);
    if (v === undefined) throw new RangeError(`adaptive sharpness: the operator's weight '${n}' is not the model's`);
    return v;
  });
  const theta = H.current();
  const scale = theta.map((t) => tf.abs(t));
  /** Sets the trainable weights to θ + |θ| ⊙ δ. */
  const moveTo = (delta: ParamList) =>
    tf.tidy(() => variables.forEach((v, i) => v.assign(tf.add(theta.tensors[i] as tf.Tensor, tf.mul(scale.tensors[i] as tf.Tensor, delta.tensors[i] as tf.Tensor)))));
  try {
    return await adaptiveSharpness(
      {
        space: paramListSpace,
        loss: async (delta) => {
          moveTo(delta);
          return (await evaluator.evaluate()).loss;
        },
        gradient: async (delta) => {
          moveTo(delta);
          const g = await H.gradient();
          try {
            return g.map((t, i) => tf.mul(t, scale.tensors[i] as tf.Tensor));
          } finally {
            g.dispose();
          }
        },
      },
      options,
    );
  } finally {
    variables.forEach((v, i) => v.assign(theta.tensors[i] as tf.Tensor));
    theta.dispose();
    scale.dispose();
  }
}
