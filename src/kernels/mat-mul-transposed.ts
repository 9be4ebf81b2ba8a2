/**
 * a·b with either operand transposed, the transpose made explicit: wasm's matMul with a transpose
 * flag runs about 10× slower than a transpose followed by a plain matMul (256×784 by 256×128:
 * 17 ms against 2 ms), and the copy costs little on the other backends.
 */
import * as tf from '@tensorflow/tfjs';

/** `tf.matMul(a, b, transposeA, transposeB)`, with the transposes done by `tf.transpose`. */
export function matMulTransposed(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return tf.matMul(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b);
}
