/**
 * Loss and accuracy of a model at its current weights over a whole dataset, in inference mode
 * (`training: false`: no dropout, batch-norm moving statistics used and never updated), batched.
 *
 * The data are split into batches once, when the evaluator is made; each `evaluate()` runs the
 * batches, sums per-sample losses and correct counts on the backend, and reads two numbers back.
 */
import * as tf from '@tensorflow/tfjs';
import type { LossFn, LossName } from './losses.js';
import type { Dataset } from './prepare-data.js';

/** Loss (mean over samples) and accuracy (fraction correct, or null when not a classifier). */
export interface LossAndAccuracy {
  readonly loss: number;
  readonly accuracy: number | null;
}

/** Options of `ModelEvaluator`. */
export interface EvaluatorOptions {
  /** The loss per sample (see `resolveLoss`). */
  readonly loss: LossFn;
  /**
   * Its canonical name when known: decides how accuracy is computed (argmax match for the
   * categorical cross-entropies, a 0.5 threshold for binary cross-entropy on one unit, none for
   * other or unnamed losses).
   */
  readonly lossName?: LossName | undefined;
  /** Samples per forward pass. @default 256 */
  readonly batchSize?: number;
}

/** How accuracy is counted for a model: argmax match, a 0.5 threshold, or not at all. */
export type AccuracyKind = 'categorical' | 'binary' | 'none';

/**
 * Evaluates a model's loss and accuracy on a fixed dataset, as often as asked.
 * @example
 * const ev = new ModelEvaluator(model, data, { loss: resolveLoss(model).fn });
 * const { loss, accuracy } = await ev.evaluate();
 * ev.dispose();
 */
export class ModelEvaluator {
  /** The number of samples. */
  readonly size: number;
  /** How accuracy is counted. */
  readonly accuracyKind: AccuracyKind;
  private readonly batches: { x: tf.Tensor; y: tf.Tensor }[];
  private readonly loss: LossFn;

  /**
   * @param model the model, evaluated at whatever weights it holds when `evaluate` runs
   * @param data inputs and labels (not owned: the evaluator keeps its own batch slices)
   * @param options the loss and the batch size
   * @throws {RangeError} when `batchSize` is not a positive integer
   */
  constructor(
    private readonly model: tf.LayersModel,
    data: Dataset,
    options: EvaluatorOptions,
  ) {
    const batchSize = options.batchSize ?? 256;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
      throw new RangeError(`ModelEvaluator: batchSize ${batchSize} is not a positive integer`);
    }
    this.loss = options.loss;
    this.size = data.x.shape[0] as number;
    const outputs = model.outputs[0]?.shape;
    const outUnits = outputs?.[outputs.length - 1] ?? 1;
    this.accuracyKind =
      options.lossName === 'binaryCrossentropy' && outUnits === 1
        ? 'binary'
        : options.lossName === 'categoricalCrossentropy' || options.lossName === 'sparseCategoricalCrossentropy'
          ? 'categorical'
          : 'none';
    this.batches = [];
    for (let start = 0; start < this.size; start += batchSize) {
      const count = Math.min(batchSize, this.size - start);
      this.batches.push({
        x: data.x.slice(start, count),
        y: data.y.slice(start, count),
      });
    }
  }

  /** Loss and accuracy at the model's current weights. */
  async evaluate(): Promise<LossAndAccuracy> {
    const totals = tf.tidy(() => {
      let lossSum: tf.Tensor = tf.scalar(0);
      let correct: tf.Tensor = tf.scalar(0);
      let predSum: tf.Tensor = tf.scalar(0);
      for (const b of this.batches) {
        const pred = this.model.apply(b.x, { training: false }) as tf.Tensor;
        lossSum = tf.add(lossSum, tf.sum(this.loss(b.y, pred)));
        // The losses clip probabilities, so a NaN prediction would come out as a finite loss
        // (−ln 1e-7 = 16.118): any non-finite prediction makes the sum of predictions non-finite.
        predSum = tf.add(predSum, tf.sum(pred));
        if (this.accuracyKind !== 'none') correct = tf.add(correct, this.correct(b.y, pred));
      }
      return tf.stack([lossSum, correct, predSum]);
    });
    const [lossSum, correct, predSum] = await totals.data();
    totals.dispose();
    return {
      // Non-finite predictions (NaN or infinite weights, directions or inputs): no loss, NaN.
      loss: Number.isFinite(predSum) ? (lossSum as number) / this.size : NaN,
      accuracy: this.accuracyKind === 'none' ? null : (correct as number) / this.size,
    };
  }

  private correct(y: tf.Tensor, pred: tf.Tensor): tf.Tensor {
    if (this.accuracyKind === 'binary') {
      return tf.sum(tf.cast(tf.equal(tf.greater(pred, 0.5), tf.greater(y, 0.5)), 'float32'));
    }
    const predicted = tf.argMax(pred, -1);
    const truth = y.rank === pred.rank ? tf.argMax(y, -1) : tf.cast(tf.reshape(y, predicted.shape), 'int32');
    return tf.sum(tf.cast(tf.equal(predicted, truth), 'float32'));
  }

  /** Frees the batch slices. */
  dispose(): void {
    for (const b of this.batches) {
      b.x.dispose();
      b.y.dispose();
    }
  }
}
