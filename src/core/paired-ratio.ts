/**
 * The relative change of a mean between two runs measured on the same seeded directions, with a
 * confidence interval from Fieller's theorem on the paired differences (Fieller 1954; the paired
 * form: for a ratio ρ, dᵢ = cᵢ − ρ·bᵢ has mean 0 exactly when mean(c)/mean(b) = ρ, and its
 * one-sample t statistic is Student-t with n − 1 degrees of freedom). The interval is every ρ that
 * t does not reject, the roots of a quadratic. Unlike a percentile bootstrap (anti-conservative at
 * 8 pairs: ~9% false regressions at a nominal 5%), it keeps its level at small n, and unlike a
 * t-interval on log-ratios it takes values of either sign (sharpness can be negative).
 */
import { studentTQuantile } from './student-t.js';

/** A relative change with its one-sided lower bound and two-sided interval. */
export interface PairedChange {
  /** mean(current)/mean(baseline) − 1. */
  readonly change: number;
  /** The (1 − α) one-sided lower confidence bound of the change (−∞ when unbounded). */
  readonly lower: number;
  /** The two-sided (1 − 2α) interval (infinite ends when the baseline mean is not significantly above 0). */
  readonly interval: readonly [number, number];
  /** The number of pairs. */
  readonly pairs: number;
}

/**
 * The relative change of the mean and its Fieller interval.
 * @param baseline per-direction values of the baseline run
 * @param current the same directions' values in the current run
 * @param options `alpha`, the one-sided level (default 0.05)
 * @throws {RangeError} when the lengths differ, there are fewer than 2 pairs, the baseline mean is
 * not positive, or alpha is not in (0, 0.5)
 */
export function pairedRelativeChange(baseline: readonly number[], current: readonly number[], options: { alpha?: number } = {}): PairedChange {
  const n = baseline.length;
  if (current.length !== n) throw new RangeError(`pairedRelativeChange: ${n} baseline values and ${current.length} current ones`);
  if (n < 2) throw new RangeError(`pairedRelativeChange: ${n} pairs; at least 2 are needed`);
  const alpha = options.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 0.5)) throw new RangeError(`pairedRelativeChange: alpha = ${alpha} is not in (0, 0.5)`);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const mb = mean(baseline);
  const mc = mean(current);
  if (!(mb > 0)) throw new RangeError(`pairedRelativeChange: the baseline mean ${mb} is not positive`);
  // Sample (co)variances of the means.
  let sbb = 0;
  let scc = 0;
  let sbc = 0;
  for (let i = 0; i < n; i++) {
    const db = (baseline[i] as number) - mb;
    const dc = (current[i] as number) - mc;
    sbb += db * db;
    scc += dc * dc;
    sbc += db * dc;
  }
  const v = 1 / (n * (n - 1));
  const [vbb, vcc, vbc] = [sbb * v, scc * v, sbc * v];
  const q2 = studentTQuantile(1 - alpha, n - 1) ** 2;
  // (mc − ρ mb)² ≤ q² (vcc − 2ρ vbc + ρ² vbb)  ⇔  A ρ² − 2 B ρ + C ≤ 0.
  const A = mb * mb - q2 * vbb;
  const B = mc * mb - q2 * vbc;
  const C = mc * mc - q2 * vcc;
  const change = mc / mb - 1;
  if (!(A > 0)) return { change, lower: -Infinity, interval: [-Infinity, Infinity], pairs: n };
  const root = Math.sqrt(Math.max(0, B * B - A * C));
  const lo = (B - root) / A - 1;
  const hi = (B + root) / A - 1;
  return { change, lower: lo, interval: [lo, hi], pairs: n };
}
