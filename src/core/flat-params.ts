/**
 * A parameter list as one flat float32 vector on the TF.js backend — each tensor in C order, the
 * tensors in list order, as `ParamList` documents its flat view — and back. Iterative solvers run
 * on flat vectors (`flatTensorSpace`): a dot product or an axpy is then one or two operations
 * whatever the layer count, where a list of k tensors takes 2k + 2; with Lanczos's full
 * reorthogonalization that count is what a step costs on a backend where every small operation
 * has a fixed price (wasm, cpu).
 */
import * as tf from '@tensorflow/tfjs';
import { ParamList } from './param-list.js';
import type { VectorSpace } from './vector-space.js';

/** Flat float32 vectors on the TF.js backend; every result is a new tensor the caller owns. */
export const flatTensorSpace: VectorSpace<tf.Tensor1D> = {
  dot: (a, b) => tf.tidy(() => tf.sum(tf.mul(a, b)).dataSync()[0] as number),
  axpy: (alpha, x, y) => tf.tidy(() => tf.add(tf.mul(x, alpha), y)),
  scale: (a, s) => tf.tidy(() => tf.mul(a, s)),
  dispose: (v) => v.dispose(),
};

/** A layout's flat view (see the file comment). */
export interface FlatParams {
  /** The list as one vector (a new tensor; the list is not disposed). */
  flatten(list: ParamList): tf.Tensor1D;
  /** The vector as a list in the layout (new tensors; the vector is not disposed). */
  unflatten(flat: tf.Tensor1D): ParamList;
  /** `v ↦ H v` on lists as `v ↦ H v` on flat vectors (its argument is not disposed). */
  operator(H: (v: ParamList) => Promise<ParamList>): (v: tf.Tensor1D) => Promise<tf.Tensor1D>;
}

/**
 * The flat view of a layout.
 * @param layout the names and shapes of the list's tensors, in order
 */
export function flatParams(layout: { readonly names: readonly string[]; readonly shapes: readonly (readonly number[])[] }): FlatParams {
  const sizes = layout.shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const flatten = (list: ParamList): tf.Tensor1D => tf.tidy(() => tf.concat(list.tensors.map((t) => tf.reshape(t, [-1])), 0) as tf.Tensor1D);
  const unflatten = (flat: tf.Tensor1D): ParamList => {
    const parts = tf.split(flat, sizes);
    return new ParamList(
      layout.names.map((name, i) => {
        const part = parts[i] as tf.Tensor;
        // A reshape shares the part's data, so the part itself can go.
        const tensor = tf.reshape(part, [...(layout.shapes[i] as number[])]);
        part.dispose();
        return { name, tensor };
      }),
    );
  };
  return {
    flatten,
    unflatten,
    operator: (H) => async (v) => {
      const list = unflatten(v);
      try {
        const product = await H(list);
        const flat = flatten(product);
        product.dispose();
        return flat;
      } finally {
        list.dispose();
      }
    },
  };
}
