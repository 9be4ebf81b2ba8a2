/**
 * The mean of paired differences between two runs with a one-sided lower bound and a two-sided
 * interval from Student's t on the differences: the absolute-change counterpart of
 * `paired-ratio.ts`, for gate rules like `loss <= +0.05`.
 */
import { studentTQuantile } from './student-t.js';

/** An absolute change with its one-sided lower bound and two-sided interval. */
export interface PairedDifference {
  /** mean(current) − mean(baseline). */
  readonly change: number;
  /** The (1 − α) one-sided lower confidence bound. */
  readonly lower: number;
  /** The two-sided (1 − 2α) interval. */
  readonly interval: readonly [number, number];
  readonly pairs: number;
}

/**
 * The mean paired difference and its t interval.
 * @param baseline per-unit values of the baseline run
 * @param current the same units' values in the current run
 * @param options `alpha`, the one-sided level (default 0.05)
 * @throws {RangeError} when the lengths differ, there are fewer than 2 pairs or alpha is not in (0, 0.5)
 */
export function pairedDifference(baseline: readonly number[], current: readonly number[], options: { alpha?: number } = {}): PairedDifference {
  const n = baseline.length;
  if (current.length !== n) throw new RangeError(`pairedDifference: ${n} baseline values and ${current.length} current ones`);
  if (n < 2) throw new RangeError(`pairedDifference: ${n} pairs; at least 2 are needed`);
  const alpha = options.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 0.5)) throw new RangeError(`pairedDifference: alpha = ${alpha} is not in (0, 0.5)`);
  const d = baseline.map((b, i) => (current[i] as number) - b);
  const mean = d.reduce((a, b) => a + b, 0) / n;
  const variance = d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  const half = studentTQuantile(1 - alpha, n - 1) * Math.sqrt(variance / n);
  return { change: mean, lower: mean - half, interval: [mean - half, mean + half], pairs: n };
}
