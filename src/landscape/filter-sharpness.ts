/**
 * Filter-normalized sharpness of a model at its current weights (Li et al. 2018, section 5; the
 * formula is `src/core/sharpness.ts`): raw directions normalized filter-wise against the current
 * weights (biases and batch-norm ignored), the loss at θ ± r·d for each radius, the weights put back
 * bit for bit.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ParamList } from '../core/param-list.js';
import { randomDirection } from '../core/random-direction.js';
import { sharpness, type Sharpness } from '../core/sharpness.js';
import { subSeed } from '../core/sub-seed.js';
import type { ModelEvaluator } from '../model/evaluator.js';
import { modelLayout } from '../model/model-weights.js';
import { normalizeForModel } from './directions.js';
import { sampleAround } from './sample-around.js';

/** The seeded raw directions of sharpness: direction i of seed s from sub-seed (s, i). The caller disposes them. */
export function sharpnessDirections(model: tf.LayersModel, count: number, seed: number): ParamList[] {
  const layout = modelLayout(model);
  return Array.from({ length: count }, (_, i) => randomDirection(layout, subSeed(seed, i)));
}

/**
 * L(θ) and filter-normalized sharpness at each radius.
 * @param model the model (at θ)
 * @param evaluator its loss on the data
 * @param raw raw directions in the model's layout (normalized here, not modified)
 * @param radii radii in filter-normalized units
 */
export async function modelFilterSharpness(model: tf.LayersModel, evaluator: ModelEvaluator, raw: readonly ParamList[], radii: readonly number[]): Promise<{ center: number; radii: Sharpness[] }> {
  const directions = raw.map((d) => normalizeForModel(model, d, { norm: 'filter', ignore: 'biasbn' }));
  try {
    const center = (await evaluator.evaluate()).loss;
    const offsets = radii.flatMap((r) => [-r, r]);
    const plus: number[][] = radii.map(() => []);
    const minus: number[][] = radii.map(() => []);
    for (const d of directions) {
      const values = await sampleAround(model, [d], [offsets], async () => ({ loss: (await evaluator.evaluate()).loss }));
      const losses = values.values['loss'] as Float64Array;
      radii.forEach((_, k) => {
        minus[k]?.push(losses[2 * k] as number);
        plus[k]?.push(losses[2 * k + 1] as number);
      });
    }
    return { center, radii: radii.map((r, k) => sharpness(center, plus[k] as number[], minus[k] as number[], r)) };
  } finally {
    for (const d of directions) d.dispose();
  }
}
