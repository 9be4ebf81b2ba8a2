/**
 * Turns arrays read from disk into tensors that fit a model: checks the inputs against the model's
 * input shape and the labels against its output, and converts labels between one-hot and integer
 * class ids as the loss needs them.
 */
import * as tf from '@tensorflow/tfjs';
import { LandscopeError } from '../errors.js';
import type { NpyArray } from '../io/npy.js';
import type { LossName } from './losses.js';

/** Inputs and labels on the backend, ready for the model and its loss. */
export interface Dataset {
  /** Inputs, `[N, …input shape]`, float32. */
  readonly x: tf.Tensor;
  /** Labels as the loss wants them. */
  readonly y: tf.Tensor;
}

/** Where the arrays came from, for error messages (e.g. `--x data/x.npy`). */
export interface DataSources {
  readonly x: string;
  readonly y: string;
}

/**
 * Checks and converts inputs and labels for a model.
 * @param model the model (its first input and its output)
 * @param x inputs, `[N, …]`, any numeric dtype
 * @param y labels: one-hot `[N, C]`, class ids `[N]` or `[N, 1]`, or targets shaped as the output
 * @param loss the loss's canonical name, when known (decides one-hot vs ids)
 * @param sources the arrays' names, for error messages
 * @returns tensors the caller owns
 * @throws {LandscopeError} `EMPTY_DATA`, `DATA_SHAPE` or `LABEL_SHAPE`, naming the array, its shape
 * and the shape the model needs
 */
export function prepareData(
  model: tf.LayersModel,
  x: NpyArray,
  y: NpyArray,
  loss: LossName | undefined,
  sources: DataSources = { x: 'x', y: 'y' },
): Dataset {
  const inputShape = model.inputs[0]?.shape ?? [];
  const outputShape = model.outputs[0]?.shape ?? [];
  const n = x.shape[0];
  if (x.shape.length === 0 || n === 0) {
    throw new LandscopeError('EMPTY_DATA', `${sources.x}: shape [${x.shape}] holds no samples`);
  }
  const fits = x.shape.length === inputShape.length && inputShape.every((d, i) => i === 0 || d === null || d === x.shape[i]);
  if (!fits) {
    throw new LandscopeError(
      'DATA_SHAPE',
      `${sources.x}: shape [${x.shape}] does not fit the model's input [${inputShape.map((d) => d ?? 'N')}]`,
    );
  }
  if (y.shape[0] !== n) {
    throw new LandscopeError('LABEL_SHAPE', `${sources.y}: shape [${y.shape}] has ${y.shape[0] ?? 0} rows, ${sources.x} has ${n}`);
  }
  const classes = outputShape[outputShape.length - 1] ?? 1;
  const expect = `one-hot [${n}, ${classes}], class ids [${n}], or [${outputShape.map((d) => d ?? n)}]`;
  const badLabels = (why: string): never => {
    throw new LandscopeError('LABEL_SHAPE', `${sources.y}: ${why}; the model's output is [${outputShape.map((d) => d ?? 'N')}] (expected ${expect})`);
  };
  const values = y.data instanceof Float32Array || y.data instanceof Float64Array || y.data instanceof Int32Array ? Array.from(y.data) : Array.from(y.data as ArrayLike<number | bigint>, Number);
  const matchesOutput = y.shape.length === outputShape.length && outputShape.every((d, i) => i === 0 || d === null || d === y.shape[i]);
  const isIds = classes > 1 && (y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === 1));

  const xValues = x.data instanceof Float32Array ? x.data : Float32Array.from(x.data as ArrayLike<number | bigint>, Number);
  const xTensor = tf.tensor(xValues, [...x.shape], 'float32');
  const ids = (): Int32Array => {
    const out = new Int32Array(values.length);
    values.forEach((v, i) => {
      if (!(Number.isInteger(v) && v >= 0 && v < classes)) badLabels(`label ${v} at row ${i} is not a class id from 0 to ${classes - 1}`);
      out[i] = v;
    });
    return out;
  };
  try {
    if (loss === 'sparseCategoricalCrossentropy') {
      if (isIds) return { x: xTensor, y: tf.tensor1d(ids(), 'float32') };
      if (matchesOutput) return { x: xTensor, y: tf.tidy(() => tf.cast(tf.argMax(tf.tensor(values, [...y.shape]), -1), 'float32')) };
      return badLabels(`shape [${y.shape}] is neither class ids nor one-hot`);
    }
    if (isIds && !matchesOutput) return { x: xTensor, y: tf.tidy(() => tf.oneHot(tf.tensor1d(ids(), 'int32'), classes).toFloat()) };
    if (!matchesOutput) return badLabels(`shape [${y.shape}] does not fit`);
    return { x: xTensor, y: tf.tensor(values, [...y.shape], 'float32') };
  } catch (e) {
    xTensor.dispose();
    throw e;
  }
}
