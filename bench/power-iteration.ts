/**
 * Power iteration for the largest-magnitude eigenvalue, as PyHessian's `eigenvalues` does it
 * (normalize, multiply, Rayleigh quotient; stop when the relative change is below tol) — the
 * baseline the Lanczos benchmark compares against. Benchmark-only.
 */
import type { VectorSpace } from '../src/core/vector-space.js';

/** Largest-magnitude eigenvalue and the products used. */
export async function powerIteration<V>(hvp: (v: V) => Promise<V>, start: V, space: VectorSpace<V>, tol = 1e-3, maxIter = 1000): Promise<{ value: number; hvps: number }> {
  let v = space.scale(start, 1 / Math.sqrt(space.dot(start, start)));
  let value: number | undefined;
  for (let k = 1; k <= maxIter; k++) {
    const hv = await hvp(v);
    const next = space.dot(v, hv);
    space.dispose(v);
    v = space.scale(hv, 1 / Math.sqrt(space.dot(hv, hv)));
    space.dispose(hv);
    if (value !== undefined && Math.abs(next - value) / (Math.abs(value) + 1e-6) < tol) {
      space.dispose(v);
      return { value: next, hvps: k };
    }
    value = next;
  }
  space.dispose(v);
  return { value: value as number, hvps: maxIter };
}
