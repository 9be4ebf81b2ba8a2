/**
 * Evaluating something of a model at the points `θ0 + Σ_k c_k·d_k` of a grid: writes each point's
 * weights into the model, evaluates, and restores the original weights bit for bit afterwards —
 * also when an evaluation throws.
 */
import type * as tf from '@tensorflow/tfjs';
import { assertSameLayout, linearCombination, type ParamList } from '../core/param-list.js';
import { sampleGrid, type GridSubset, type GridValues, type PointValue } from '../core/sample-grid.js';
import { readModelWeights, writeModelWeights } from '../model/model-weights.js';

/**
 * Samples `evaluate` over a grid of weight-space points around `origin` (default: the model's
 * current weights).
 * @param model the model whose weights are moved
 * @param directions one per axis, in the model's layout
 * @param axes the coefficients along each direction
 * @param evaluate the values at the current point (the model holds the point's weights)
 * @param onProgress called after each point
 * @param origin the center, in the model's layout
 * @throws {RangeError} when a direction's layout is not the model's
 */
export async function sampleAround(
  model: tf.LayersModel,
  directions: readonly ParamList[],
  axes: readonly (readonly number[])[],
  evaluate: () => Promise<PointValue>,
  onProgress?: (done: number, total: number) => void,
  origin?: ParamList,
  subset?: GridSubset,
): Promise<GridValues> {
  const original = readModelWeights(model);
  try {
    for (const d of directions) assertSameLayout(original, d, 'direction vs model');
    const center = origin ?? original;
    return await sampleGrid(
      axes,
      async (coords) => {
        const point = linearCombination(center, coords, directions);
        try {
          writeModelWeights(model, point);
        } finally {
          point.dispose();
        }
        return evaluate();
      },
      onProgress,
      subset,
    );
  } finally {
    writeModelWeights(model, original);
    original.dispose();
  }
}
