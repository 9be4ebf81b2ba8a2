/**
 * How far a new run may go before it is a regression, when the baseline is several replicate runs
 * of one script: their spread is the noise between reruns (unseeded initializers, shuffling,
 * the chaos of training near the edge of stability), which no single run can show. Under the
 * null hypothesis the new run is one more draw with the replicates' mean shifted by the rule's
 * threshold, so c − (1 + θ)·m has variance σ²·(1 + (1 + θ)²/k) (σ estimated by the replicates'
 * standard deviation s, k − 1 degrees of freedom), and a regression needs it beyond the one-sided
 * 95% Student-t quantile: a prediction bound, not a confidence interval for the mean.
 */
import { studentTQuantile } from './student-t.js';

/** The limit a new run's value is judged against. */
export interface ReplicateLimit {
  /** The replicates' mean and standard deviation. */
  readonly mean: number;
  readonly sd: number;
  readonly replicates: number;
  /** The most (for `<=`) or least (for `>=`) a new run may reach and still pass. */
  readonly limit: number;
  /** A 90% prediction interval of the change of one more replicate run, in the rule's units. */
  readonly interval: readonly [number, number];
}

/**
 * The pass limit of a rule against replicate baseline values.
 * @param values each replicate run's value (at least 2)
 * @param rule `relative` (threshold a fraction, the mean must be positive) or `absolute-change`,
 * `op` and `threshold` as in the gate rule
 * @param alpha the one-sided level (default 0.05)
 * @throws {RangeError} for fewer than 2 values, a non-positive mean with a relative rule, or a bad alpha
 */
export function replicateLimit(values: readonly number[], rule: { kind: 'relative' | 'absolute-change'; op: '<=' | '>='; threshold: number }, alpha = 0.05): ReplicateLimit {
  const k = values.length;
  if (k < 2) throw new RangeError(`replicateLimit: ${k} replicate value(s); at least 2 are needed`);
  if (!(alpha > 0 && alpha < 0.5)) throw new RangeError(`replicateLimit: alpha = ${alpha} is not in (0, 0.5)`);
  const mean = values.reduce((a, b) => a + b, 0) / k;
  const sd = Math.sqrt(values.reduce((s, x) => s + (x - mean) ** 2, 0) / (k - 1));
  if (rule.kind === 'relative' && !(mean > 0)) throw new RangeError(`replicateLimit: the replicates' mean ${mean} is not positive: a relative change is undefined`);
  const t = studentTQuantile(1 - alpha, k - 1);
  const sign = rule.op === '<=' ? 1 : -1;
  const scale = rule.kind === 'relative' ? 1 + rule.threshold : 1;
  const centre = rule.kind === 'relative' ? scale * mean : mean + rule.threshold;
  const limit = centre + sign * t * sd * Math.sqrt(1 + (scale * scale) / k);
  const spread = t * sd * Math.sqrt(1 + 1 / k);
  const interval: [number, number] = rule.kind === 'relative' ? [-spread / mean, spread / mean] : [-spread, spread];
  return { mean, sd, replicates: k, limit, interval };
}
