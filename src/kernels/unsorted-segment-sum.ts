/**
 * `UnsortedSegmentSum` written with TF.js ops: one matMul of the segment ids' one-hot matrix with
 * the data. The wasm backend has no such kernel, and it is the gradient of `gather` — without it an
 * Embedding layer cannot train or take gradients on wasm.
 *
 * out[s, …] = Σ_{i : ids[i] = s} x[i, …]; ids outside [0, numSegments) are dropped.
 */
import * as tf from '@tensorflow/tfjs';
import { withTensors } from './as-tensor.js';

/**
 * Sums the rows of `x` by segment.
 * @param x `[N, …]`
 * @param segmentIds `[N]` integer segment of each row
 * @param numSegments the number of segments
 * @returns `[numSegments, …]`
 */
export function unsortedSegmentSum(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  return tf.tidy(() => {
    const rows = x.shape[0] as number;
    const rest = x.shape.slice(1);
    const oneHot = tf.oneHot(tf.cast(tf.reshape(segmentIds, [rows]), 'int32'), numSegments).toFloat();
    const summed = tf.matMul(oneHot, tf.reshape(tf.cast(x, 'float32'), [rows, -1]), true, false);
    return tf.cast(tf.reshape(summed, [numSegments, ...rest]), x.dtype);
  });
}

/** The kernel function registered for `UnsortedSegmentSum`. */
export const unsortedSegmentSumKernel: tf.KernelFunc = ({ inputs, attrs }) =>
  withTensors([inputs['x'] as tf.TensorInfo, inputs['segmentIds'] as tf.TensorInfo], ([x, ids]) =>
    unsortedSegmentSum(x as tf.Tensor, ids as tf.Tensor, (attrs as unknown as { numSegments: number }).numSegments),
  );
