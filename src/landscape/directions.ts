/**
 * Directions for a model's landscape: seeded Gaussian directions normalized against its weights
 * (filter-wise by default), raw directions read from disk normalized the same way, and the
 * direction from one checkpoint to another.
 */
import type * as tf from '@tensorflow/tfjs';
import { normalizeDirection, type IgnoreKind, type NormKind } from '../core/normalize-direction.js';
import { subtract, type ParamList } from '../core/param-list.js';
import { randomDirection } from '../core/random-direction.js';
import { modelLayout, modelWeights, readModelWeights } from '../model/model-weights.js';

/** How to normalize a direction against a model. */
export interface DirectionOptions {
  /** @default 'filter' */
  readonly norm?: NormKind;
  /** @default 'biasbn' */
  readonly ignore?: IgnoreKind;
}

/**
 * Normalizes a raw direction (model layout) against the model's current weights, with the filter
 * axes of each weight's layer; non-trainable weights get a zero direction.
 * @returns a new list the caller owns
 * @throws {RangeError} on a layout mismatch or a bad option
 */
export function normalizeForModel(model: tf.LayersModel, raw: ParamList, options: DirectionOptions = {}): ParamList {
  const weights = modelWeights(model);
  const theta = readModelWeights(model);
  try {
    return normalizeDirection(raw, theta, {
      norm: options.norm ?? 'filter',
      ignore: options.ignore ?? 'biasbn',
      filterAxes: weights.map((w) => w.filterAxes),
      frozen: weights.map((w) => !w.trainable),
    });
  } finally {
    theta.dispose();
  }
}

/**
 * A seeded Gaussian direction for a model, normalized against its current weights.
 * @param model the model
 * @param seed an integer from 0 to 2³¹ − 1; the same seed and architecture give the same raw direction
 * @param options normalization (default: filter-wise, biases and batch-norm ignored)
 * @returns a new list the caller owns
 * @example const d1 = modelDirection(model, 1, { norm: 'filter' });
 */
export function modelDirection(model: tf.LayersModel, seed: number, options: DirectionOptions = {}): ParamList {
  const raw = randomDirection(modelLayout(model), seed);
  try {
    return normalizeForModel(model, raw, options);
  } finally {
    raw.dispose();
  }
}

/**
 * The direction from checkpoint `from` to checkpoint `to`, `θ_to − θ_from`, over every weight.
 * @returns a new list the caller owns
 */
export function checkpointDirection(from: ParamList, to: ParamList): ParamList {
  return subtract(to, from);
}
