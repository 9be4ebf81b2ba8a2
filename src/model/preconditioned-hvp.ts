/**
 * The preconditioned Hessian of an adaptive optimizer in symmetric form, D H D with D = P^{-1/2}
 * diagonal: it has the eigenvalues of P⁻¹H (similar matrices), so Lanczos on it gives the
 * preconditioned sharpness λmax(P⁻¹H) that bounds Adam's and RMSprop's stability.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamList } from '../core/param-list.js';
import type { HvpOperator } from './hvp.js';

/**
 * `u ↦ D·H(D·u)` for a diagonal scaling D given per covered weight.
 * @param H the Hessian's operator (not owned: dispose it separately)
 * @param scaling D's diagonal, one array per `H.names` entry with that weight's size
 * @returns an operator over the same parameters; its `dispose` frees D only
 * @throws {RangeError} when a scaling array's length differs from its weight's size
 */
export function preconditionedHvp(H: HvpOperator, scaling: readonly Float32Array[]): HvpOperator {
  if (scaling.length !== H.names.length) throw new RangeError(`preconditionedHvp: ${scaling.length} scaling arrays for ${H.names.length} weights`);
  const D = new ParamList(
    H.names.map((name, i) => {
      const shape = H.shapes[i] as number[];
      const size = shape.reduce((a, b) => a * b, 1);
      const s = scaling[i] as Float32Array;
      if (s.length !== size) throw new RangeError(`preconditionedHvp: the scaling of '${name}' has ${s.length} entries; the weight has ${size}`);
      return { name, tensor: tf.tensor(s, shape, 'float32') };
    }),
  );
  const scaled = (v: ParamList): ParamList => v.map((t, i) => tf.mul(t, D.tensors[i] as tf.Tensor));
  const product = Object.assign(
    async (u: ParamList): Promise<ParamList> => {
      const du = scaled(u);
      try {
        const hdu = await H(du);
        try {
          return scaled(hdu);
        } finally {
          hdu.dispose();
        }
      } finally {
        du.dispose();
      }
    },
    {
      names: H.names,
      shapes: H.shapes,
      size: H.size,
      count: H.count,
      current: H.current,
      dispose: () => D.dispose(),
      shardQuadratics: async (v: ParamList, shards: number): Promise<number[]> => {
        const dv = scaled(v);
        try {
          return await H.shardQuadratics(dv, shards);
        } finally {
          dv.dispose();
        }
      },
      gradient: async (): Promise<ParamList> => {
        const g = await H.gradient();
        try {
          return scaled(g);
        } finally {
          g.dispose();
        }
      },
      engine: H.engine,
    },
  );
  return product;
}
