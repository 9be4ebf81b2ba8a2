/**
 * A model's Hessian as a dense float64 matrix, built column by column from its HVPs (H eᵢ for
 * every unit vector), symmetrized, optionally scaled as D H D: the reference the iterative
 * estimates are checked against through a float64 eigensolver.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamList } from '../../src/core/param-list.js';
import type { HvpOperator } from '../../src/model/hvp.js';

/** The n×n row-major matrix D H D (D = diag(d), identity when d is omitted). */
export async function denseHessian(H: HvpOperator, d?: Float64Array): Promise<Float64Array> {
  const n = H.size;
  const scale = (i: number) => (d === undefined ? 1 : (d[i] as number));
  const dense = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let offset = 0;
    const e = new ParamList(
      H.names.map((name, i) => {
        const shape = H.shapes[i] as number[];
        const size = shape.reduce((a, b) => a * b, 1);
        const values = new Float32Array(size);
        if (j >= offset && j < offset + size) values[j - offset] = 1;
        offset += size;
        return { name, tensor: tf.tensor(values, shape) };
      }),
    );
    const col = await H(e);
    const flat = Float64Array.from((await Promise.all(col.tensors.map((t) => t.data()))).flatMap((a) => Array.from(a as Float32Array)));
    for (let i = 0; i < n; i++) dense[i * n + j] = scale(i) * (flat[i] as number) * scale(j);
    e.dispose();
    col.dispose();
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) dense[i * n + j] = dense[j * n + i] = ((dense[i * n + j] as number) + (dense[j * n + i] as number)) / 2;
  return dense;
}
