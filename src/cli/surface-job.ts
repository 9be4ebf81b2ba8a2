/**
 * A surface job that any thread can open from its description (file paths, seeds, ranges,
 * settings) and evaluate points of: the main thread and every worker of the pool compute the same
 * values for the same point, so a pooled run equals a single-threaded one value for value.
 */
import type * as tf from '@tensorflow/tfjs';
import type { AxisRange } from '../core/grid.js';
import { linspace } from '../core/grid.js';
import type { IgnoreKind, NormKind } from '../core/normalize-direction.js';
import type { ParamList } from '../core/param-list.js';
import type { PointValue } from '../core/sample-grid.js';
import { eigenOf, hessianPoint } from '../landscape/hessian.js';
import { sampleAround } from '../landscape/sample-around.js';
import { hvp } from '../model/hvp.js';
import { ModelEvaluator } from '../model/evaluator.js';
import { loadDirection, type ModelInputs } from './inputs.js';

/** Everything that defines a surface job, as plain data (it crosses thread boundaries). */
export interface SurfaceJobSpec {
  readonly modelPath: string;
  readonly xPath: string;
  readonly yPath: string;
  readonly loss: string | undefined;
  readonly dirX: string | undefined;
  readonly dirY: string | undefined;
  readonly seed: number;
  readonly normalization: { norm: NormKind; ignore: IgnoreKind };
  readonly xRange: AxisRange;
  readonly yRange: AxisRange | undefined;
  readonly batchSize: number;
  readonly backend: string;
}

/** An opened job: evaluate points by row-major index. */
export interface OpenSurfaceJob {
  readonly axes: number[][];
  readonly accuracyKind: ModelEvaluator['accuracyKind'];
  readonly size: number;
  evaluate(indices: readonly number[], onPoint?: (k: number, value: PointValue) => void | Promise<void>): Promise<Map<number, PointValue>>;
  dispose(): void;
}

/** `evaluate(indices)` of a job: the model is moved to each point, `value()` measures it there. */
function evaluatorAt(model: tf.LayersModel, directions: readonly ParamList[], axes: number[][], value: () => Promise<PointValue>): OpenSurfaceJob['evaluate'] {
  return async (indices, onPoint) => {
    const values = new Map<number, PointValue>();
    await sampleAround(model, directions, axes, value, undefined, undefined, {
      indices,
      onValue: async (k, v) => {
        values.set(k, v);
        await onPoint?.(k, v);
      },
    });
    return values;
  };
}

/**
 * Opens a job on already loaded inputs: normalizes its directions and prepares the evaluator.
 * @param inputs the model and data (see `loadModelInputs`), owned by the caller
 */
export async function openSurfaceJob(inputs: ModelInputs, spec: SurfaceJobSpec): Promise<OpenSurfaceJob> {
  const { model, data } = inputs;
  const directions: ParamList[] = [(await loadDirection(model, spec.dirX, spec.seed, '--dir-x', spec.normalization)).direction];
  if (spec.yRange !== undefined) directions.push((await loadDirection(model, spec.dirY, spec.seed + 1, '--dir-y', spec.normalization)).direction);
  const loss = inputs.loss;
  const evaluator = new ModelEvaluator(model as tf.LayersModel, data, { loss: loss.fn, lossName: loss.name, batchSize: spec.batchSize });
  const axes = [linspace(spec.xRange), ...(spec.yRange !== undefined ? [linspace(spec.yRange)] : [])];
  return {
    axes,
    accuracyKind: evaluator.accuracyKind,
    size: evaluator.size,
    evaluate: evaluatorAt(model, directions, axes, async () => ({ ...(await evaluator.evaluate()) })),
    dispose: () => {
      for (const d of directions) d.dispose();
      evaluator.dispose();
    },
  };
}

/** A ratio-map job: the surface job's description plus the Lanczos settings. */
export interface HessianJobSpec extends SurfaceJobSpec {
  readonly params: 'all' | 'kernels';
  readonly top: number;
  readonly bottom: number;
  readonly tol: number;
  readonly maxIter: number;
  readonly lanczosSeed: number;
}

/**
 * Opens a ratio-map job: at each point, λmax, λmin, |λmin/λmax|, the largest residual and whether
 * Lanczos converged (the same values `hessianMap` gives).
 */
export async function openHessianJob(inputs: ModelInputs, spec: HessianJobSpec): Promise<OpenSurfaceJob> {
  const { model, data } = inputs;
  const directions: ParamList[] = [(await loadDirection(model, spec.dirX, spec.seed, '--dir-x', spec.normalization)).direction];
  if (spec.yRange !== undefined) directions.push((await loadDirection(model, spec.dirY, spec.seed + 1, '--dir-y', spec.normalization)).direction);
  const H = hvp(model, data, { params: spec.params, batchSize: spec.batchSize, ...(spec.loss !== undefined ? { loss: spec.loss } : {}) });
  const axes = [linspace(spec.xRange), ...(spec.yRange !== undefined ? [linspace(spec.yRange)] : [])];
  const options = { top: spec.top, bottom: spec.bottom, tol: spec.tol, maxIter: spec.maxIter, seed: spec.lanczosSeed };
  return {
    axes,
    accuracyKind: 'none',
    size: data.x.shape[0] as number,
    evaluate: evaluatorAt(model, directions, axes, async () => hessianPoint(await eigenOf(H, options))),
    dispose: () => {
      for (const d of directions) d.dispose();
      H.dispose();
    },
  };
}
