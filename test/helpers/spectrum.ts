/**
 * Symmetric test operators with a chosen spectrum: A = Q diag(spectrum) Qᵀ with a seeded random
 * orthogonal Q, as a counted `v ↦ A v` on Float64Arrays, with its eigenvectors.
 */
import { float64Space } from '../../src/core/vector-space.js';

/** A seeded uniform generator in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A dense symmetric matrix Q diag(spectrum) Qᵀ with a random orthogonal Q (Gram–Schmidt). */
export function withSpectrum(spectrum: number[], seed: number) {
  const n = spectrum.length;
  const r = rng(seed);
  const q: Float64Array[] = [];
  while (q.length < n) {
    let v = Float64Array.from({ length: n }, () => r() - 0.5);
    for (let pass = 0; pass < 2; pass++) for (const u of q) v = float64Space.axpy(-float64Space.dot(u, v), u, v);
    q.push(float64Space.scale(v, 1 / Math.sqrt(float64Space.dot(v, v))));
  }
  const A = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const l = spectrum[k] as number;
    const u = q[k] as Float64Array;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = (A[i * n + j] as number) + l * (u[i] as number) * (u[j] as number);
  }
  let count = 0;
  const hvp = async (v: Float64Array) => {
    count++;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += (A[i * n + j] as number) * (v[j] as number);
      out[i] = s;
    }
    return out;
  };
  /** The unit eigenvector of `spectrum[k]`. */
  const eigenvector = (k: number) => Float64Array.from(q[k] as Float64Array);
  return { hvp, n, count: () => count, start: Float64Array.from({ length: n }, () => r() - 0.5), eigenvector };
}
