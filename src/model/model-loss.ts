/**
 * Which loss a model is evaluated with: an explicit choice, else the one it was compiled with.
 */
import type * as tf from '@tensorflow/tfjs';
import { LandscopeError } from '../errors.js';
import { canonicalLossName, lossByName, type LossFn, type LossName } from './losses.js';

/** The loss to evaluate: its function and, when known, its canonical name. */
export interface ResolvedLoss {
  readonly fn: LossFn;
  readonly name: LossName | undefined;
  /** Where it came from, for metadata: the name, or `compiled:<name>`. */
  readonly label: string;
}

/**
 * Resolves the loss of a model.
 * @param model the model
 * @param loss a loss name or function; when absent, the model's compiled loss
 * @throws {LandscopeError} `UNSUPPORTED_MODEL` when no loss is given and the model is not compiled,
 * or has several outputs
 * @throws {RangeError} for an unknown loss name
 */
export function resolveLoss(model: tf.LayersModel, loss?: string | LossFn): ResolvedLoss {
  if (model.outputs.length !== 1) {
    throw new LandscopeError('UNSUPPORTED_MODEL', `the model has ${model.outputs.length} outputs; landscope handles single-output models`);
  }
  if (typeof loss === 'function') return { fn: loss, name: undefined, label: 'custom function' };
  if (typeof loss === 'string') return { fn: lossByName(loss, 'loss'), name: canonicalLossName(loss), label: loss };
  // A Sequential compiles the functional LayersModel it wraps (`model.model`).
  const compiledModel = (model as unknown as { model?: unknown }).model ?? model;
  const compiled = (compiledModel as { lossFunctions?: LossFn[] }).lossFunctions?.[0];
  const compiledName = (model as unknown as { loss?: unknown }).loss;
  if (compiled === undefined) {
    throw new LandscopeError(
      'UNSUPPORTED_MODEL',
      'the model is not compiled and no loss was given (a checkpoint saved without includeOptimizer: true has no training config): pass a loss (--loss categoricalCrossentropy, …) or compile the model',
    );
  }
  const name = typeof compiledName === 'string' ? canonicalLossName(compiledName) : undefined;
  return { fn: compiled, name, label: `compiled:${typeof compiledName === 'string' ? compiledName : 'function'}` };
}
