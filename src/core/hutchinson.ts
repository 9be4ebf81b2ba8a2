/**
 * Hutchinson's stochastic trace estimator (Hutchinson 1990; PyHessian `trace`): for probes z with
 * i.i.d. Rademacher (±1) entries, E[zᵀ H z] = tr(H). The estimate is the mean over probes, reported
 * with its standard error (sample standard deviation / √m).
 */
import type { VectorSpace } from './vector-space.js';

/** Options of `hutchinsonTrace`. */
export interface HutchinsonOptions<V> {
  readonly space: VectorSpace<V>;
  /** The k-th probe (Rademacher entries); the estimator disposes it. */
  readonly probe: (k: number) => V;
  /** The most probes. @default 100 */
  readonly samples?: number;
  /** Stop early once the standard error is at most `tol · |trace|` (after 10 probes). @default 0: never */
  readonly tol?: number;
}

/** A trace estimate. */
export interface TraceEstimate {
  readonly trace: number;
  /** Standard error of the mean (NaN with one probe). */
  readonly stderr: number;
  readonly samples: number;
  /** zᵀHz for each probe. */
  readonly values: number[];
}

/**
 * Estimates tr(H).
 * @param hvp `v ↦ H v`
 * @param options probes, their number, an optional early stop
 * @throws {RangeError} for a non-positive sample count or a negative tolerance
 */
export async function hutchinsonTrace<V>(hvp: (v: V) => Promise<V>, options: HutchinsonOptions<V>): Promise<TraceEstimate> {
  const samples = options.samples ?? 100;
  const tol = options.tol ?? 0;
  if (!(Number.isInteger(samples) && samples >= 1)) throw new RangeError(`hutchinsonTrace: samples = ${samples} is not a positive integer`);
  if (!(tol >= 0)) throw new RangeError(`hutchinsonTrace: tol = ${tol} is not ≥ 0`);
  const values: number[] = [];
  for (let k = 0; k < samples; k++) {
    const z = options.probe(k);
    const hz = await hvp(z);
    values.push(options.space.dot(z, hz));
    options.space.dispose(z);
    options.space.dispose(hz);
    if (tol > 0 && values.length >= 10) {
      const { mean, stderr } = meanAndStderr(values);
      if (stderr <= tol * Math.abs(mean)) break;
    }
  }
  const { mean, stderr } = meanAndStderr(values);
  return { trace: mean, stderr, samples: values.length, values };
}

function meanAndStderr(values: readonly number[]): { mean: number; stderr: number } {
  const m = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / m;
  if (m < 2) return { mean, stderr: NaN };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (m - 1);
  return { mean, stderr: Math.sqrt(variance / m) };
}
