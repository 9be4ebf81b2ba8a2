/**
 * The vector operations iterative eigen-solvers need, so the same Lanczos and Hutchinson code runs
 * on plain Float64Arrays (tests, small problems) and on parameter lists living on a TF.js backend.
 */
import { axpy, dot, type ParamList, scale } from './param-list.js';

/** Operations on vectors of type V; every result is a new vector the caller owns. */
export interface VectorSpace<V> {
  dot(a: V, b: V): number;
  /** `alpha · x + y` */
  axpy(alpha: number, x: V, y: V): V;
  scale(a: V, s: number): V;
  dispose(v: V): void;
}

/** Float64Array vectors. */
export const float64Space: VectorSpace<Float64Array> = {
  dot: (a, b) => a.reduce((s, v, i) => s + v * (b[i] as number), 0),
  axpy: (alpha, x, y) => y.map((v, i) => v + alpha * (x[i] as number)),
  scale: (a, s) => a.map((v) => v * s),
  dispose: () => {},
};

/** Parameter lists on the TF.js backend. */
export const paramListSpace: VectorSpace<ParamList> = {
  dot,
  axpy,
  scale,
  dispose: (v) => v.dispose(),
};
