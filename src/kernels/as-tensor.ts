/**
 * Kernel inputs as Tensors: TF.js passes Tensors to kernel functions, but the type is TensorInfo;
 * a plain TensorInfo is wrapped (sharing its data) so TF.js ops can run on it.
 */
import * as tf from '@tensorflow/tfjs';

/** The input as a Tensor, and whether the caller must dispose the wrapper. */
export function asTensor(info: tf.TensorInfo): { tensor: tf.Tensor; owned: boolean } {
  if (info instanceof tf.Tensor) return { tensor: info, owned: false };
  return { tensor: tf.engine().makeTensorFromTensorInfo(info), owned: true };
}

/** Runs `fn` on kernel inputs seen as Tensors, disposing any wrappers afterwards. */
export function withTensors<T>(infos: readonly tf.TensorInfo[], fn: (tensors: tf.Tensor[]) => T): T {
  const wrapped = infos.map(asTensor);
  try {
    return fn(wrapped.map((w) => w.tensor));
  } finally {
    for (const w of wrapped) if (w.owned) w.tensor.dispose();
  }
}
