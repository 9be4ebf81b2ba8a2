/**
 * Loss landscapes of a model: 1-D slices `L(θ + a·d1)` and 2-D surfaces `L(θ + a·d1 + b·d2)` over a
 * dataset (Li et al. 2018, section 3; reference code plot_surface.py), and the linear interpolation
 * `L((1 − α)·θ1 + α·θ2)` between two checkpoints (section 3, Goodfellow et al.'s 1-D plot).
 *
 * Evaluation is in inference mode over the whole dataset. The model's weights are restored bit for
 * bit afterwards, also when an evaluation throws. A non-finite loss is recorded as null.
 */
import * as tf from '@tensorflow/tfjs';
import { linspace, type AxisRange } from '../core/grid.js';
import { assertSameLayout, linearCombination, type ParamList } from '../core/param-list.js';
import { toNested, type GridSubset } from '../core/sample-grid.js';
import { ModelEvaluator } from '../model/evaluator.js';
import type { LossFn } from '../model/losses.js';
import { resolveLoss } from '../model/model-loss.js';
import type { Dataset } from '../model/prepare-data.js';
import { sampleAround } from './sample-around.js';

/** Options of `surface`. */
export interface SurfaceOptions {
  /** One direction (a 1-D slice) or two (a 2-D surface), in the model's layout. */
  readonly directions: readonly ParamList[];
  /** Coefficients of the first direction. */
  readonly xRange: AxisRange;
  /** Coefficients of the second direction (required with two directions). */
  readonly yRange?: AxisRange;
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
  /** Loss name or function. @default the model's compiled loss */
  readonly loss?: string | LossFn;
  /** Called after each grid point. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Only some points, some known already, each new one reported (sharded and resumable runs). */
  readonly subset?: GridSubset;
}

/** A 1-D or 2-D landscape; `loss[i][j]` is at `(x[i], y[j])`, `loss[i]` at `x[i]` for 1-D. */
export interface SurfaceResult {
  readonly x: number[];
  readonly y?: number[];
  readonly loss: (number | null)[] | (number | null)[][];
  /** Null when the model is not a classifier. */
  readonly accuracy: (number | null)[] | (number | null)[][] | null;
  readonly meta: SurfaceMeta;
}

/** How a landscape was computed. */
export interface SurfaceMeta {
  readonly dataSize: number;
  readonly batchSize: number;
  readonly loss: string;
  readonly backend: string;
  readonly points: number;
  readonly seconds: number;
  readonly pointsPerSecond: number;
  readonly tfjsVersion: string;
}

/**
 * Computes a 1-D slice or a 2-D surface of the loss around the model's current weights.
 * @param model a compiled model (or pass `loss`)
 * @param data inputs and labels that fit the model (see `prepareData`)
 * @param options directions, grid and evaluation settings
 * @returns the landscape; the model's weights are unchanged
 * @throws {RangeError} for a bad option or directions whose layout is not the model's
 * @example
 * const d1 = modelDirection(model, 1), d2 = modelDirection(model, 2);
 * const s = await surface(model, data, { directions: [d1, d2], xRange: parseRange('-1:1:21'), yRange: parseRange('-1:1:21') });
 */
export async function surface(model: tf.LayersModel, data: Dataset, options: SurfaceOptions): Promise<SurfaceResult> {
  const { directions } = options;
  if (directions.length < 1 || directions.length > 2) {
    throw new RangeError(`surface: ${directions.length} directions given; 1 (a slice) or 2 (a surface) are allowed`);
  }
  if (directions.length === 2 && options.yRange === undefined) {
    throw new RangeError('surface: two directions need a yRange');
  }
  const axes = [linspace(options.xRange)];
  if (directions.length === 2) axes.push(linspace(options.yRange as AxisRange));
  return sampleAlong(model, data, directions, axes, options);
}

/** Options of `interpolate`. */
export interface InterpolateOptions {
  /** Values of α. */
  readonly range: AxisRange;
  /** @default 256 */
  readonly batchSize?: number;
  /** @default the model's compiled loss */
  readonly loss?: string | LossFn;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Loss along the line between two checkpoints, `L((1 − α)·θ1 + α·θ2)`, over every weight (biases
 * and batch-norm statistics included). The model supplies the architecture; its weights are
 * restored afterwards.
 * @param model a model of the checkpoints' architecture
 * @param theta1 the weights at α = 0 (model layout)
 * @param theta2 the weights at α = 1
 * @returns `{ x: α values, loss, accuracy, meta }`
 * @throws {RangeError} when the checkpoints' layouts differ
 */
export async function interpolate(
  model: tf.LayersModel,
  data: Dataset,
  theta1: ParamList,
  theta2: ParamList,
  options: InterpolateOptions,
): Promise<SurfaceResult> {
  assertSameLayout(theta1, theta2, 'interpolate');
  const direction = linearCombination(theta2, [-1], [theta1]);
  try {
    return await sampleAlong(model, data, [direction], [linspace(options.range)], options, theta1);
  } finally {
    direction.dispose();
  }
}

async function sampleAlong(
  model: tf.LayersModel,
  data: Dataset,
  directions: readonly ParamList[],
  axes: number[][],
  options: { batchSize?: number; loss?: string | LossFn; onProgress?: (done: number, total: number) => void; subset?: GridSubset },
  origin?: ParamList,
): Promise<SurfaceResult> {
  const loss = resolveLoss(model, options.loss);
  const batchSize = options.batchSize ?? 256;
  const evaluator = new ModelEvaluator(model, data, { loss: loss.fn, lossName: loss.name, batchSize });
  const started = performance.now();
  try {
    const values = await sampleAround(model, directions, axes, async () => ({ ...(await evaluator.evaluate()) }), options.onProgress, origin, options.subset);
    const seconds = (performance.now() - started) / 1000;
    const points = options.subset?.indices?.length ?? values.shape.reduce((a, b) => a * b, 1);
    return {
      x: axes[0] as number[],
      ...(axes.length === 2 ? { y: axes[1] as number[] } : {}),
      loss: toNested(values.values['loss'] as Float64Array, values.shape),
      accuracy: evaluator.accuracyKind === 'none' ? null : toNested(values.values['accuracy'] as Float64Array, values.shape),
      meta: {
        dataSize: evaluator.size,
        batchSize,
        loss: loss.label,
        backend: tf.getBackend(),
        points,
        seconds,
        pointsPerSecond: points / seconds,
        tfjsVersion: tf.version.tfjs,
      },
    };
  } finally {
    evaluator.dispose();
  }
}
