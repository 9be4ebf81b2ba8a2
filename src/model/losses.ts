/**
 * The losses landscope evaluates by name, written as TF.js Layers writes them (tfjs-layers
 * `losses.ts`: predictions clipped to [1e-7, 1 − 1e-7], categorical predictions rescaled to sum to
 * one, the mean over the last axis), each returning one loss per sample.
 */
import * as tf from '@tensorflow/tfjs';

/** A loss: labels and predictions in, one loss per sample out. */
export type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** The canonical loss names. */
export type LossName =
  | 'categoricalCrossentropy'
  | 'sparseCategoricalCrossentropy'
  | 'binaryCrossentropy'
  | 'meanSquaredError'
  | 'meanAbsoluteError';

const EPSILON = 1e-7;

const categoricalCrossentropy: LossFn = (yTrue, yPred) => {
  const p = tf.clipByValue(tf.div(yPred, tf.sum(yPred, -1, true)), EPSILON, 1 - EPSILON);
  return tf.neg(tf.sum(tf.mul(tf.cast(yTrue, 'float32'), tf.log(p)), -1));
};

const LOSSES: Record<LossName, LossFn> = {
  categoricalCrossentropy,
  sparseCategoricalCrossentropy: (yTrue, yPred) => {
    const classes = yPred.shape[yPred.rank - 1] as number;
    const ids = tf.cast(tf.floor(tf.reshape(yTrue, [-1])), 'int32');
    return categoricalCrossentropy(tf.oneHot(ids, classes), tf.reshape(yPred, [-1, classes]));
  },
  binaryCrossentropy: (yTrue, yPred) => {
    const p = tf.clipByValue(yPred, EPSILON, 1 - EPSILON);
    const y = tf.cast(yTrue, 'float32');
    const perUnit = tf.neg(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))));
    return tf.mean(perUnit, -1);
  },
  meanSquaredError: (yTrue, yPred) => tf.mean(tf.square(tf.sub(yPred, yTrue)), -1),
  meanAbsoluteError: (yTrue, yPred) => tf.mean(tf.abs(tf.sub(yPred, yTrue)), -1),
};

const ALIASES: Record<string, LossName> = {
  categorical_crossentropy: 'categoricalCrossentropy',
  sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  binary_crossentropy: 'binaryCrossentropy',
  mean_squared_error: 'meanSquaredError',
  mse: 'meanSquaredError',
  MSE: 'meanSquaredError',
  mean_absolute_error: 'meanAbsoluteError',
  mae: 'meanAbsoluteError',
  MAE: 'meanAbsoluteError',
};

/** Every accepted loss name (canonical names and aliases). */
export const LOSS_NAMES: readonly string[] = [...Object.keys(LOSSES), ...Object.keys(ALIASES)];

/**
 * The canonical name of a loss, or undefined when landscope does not know it.
 * @param name a canonical name (`categoricalCrossentropy`) or an alias (`categorical_crossentropy`, `mse`)
 */
export function canonicalLossName(name: string): LossName | undefined {
  if (name in LOSSES) return name as LossName;
  return ALIASES[name];
}

/**
 * The loss function of a name.
 * @throws {RangeError} naming the accepted names
 */
export function lossByName(name: string, what = 'loss'): LossFn {
  const canonical = canonicalLossName(name);
  if (canonical === undefined) {
    throw new RangeError(`${what}: '${name}' is not a known loss; known: ${LOSS_NAMES.join(', ')}`);
  }
  return LOSSES[canonical];
}
