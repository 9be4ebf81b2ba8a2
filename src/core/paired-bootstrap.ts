/**
 * A paired bootstrap for the relative change of a mean (Efron & Tibshirani 1993, ch. 13, percentile
 * intervals): the same seeded directions are measured in both runs, so direction i's baseline and
 * current values form a pair; resampling pairs with replacement gives the distribution of
 * mean(current)/mean(baseline) − 1 that the gate judges a sharpness regression by.
 */

/** A relative change with its one-sided lower bound and two-sided interval. */
export interface PairedChange {
  /** mean(current)/mean(baseline) − 1. */
  readonly change: number;
  /** The (1 − α) one-sided lower confidence bound of the change. */
  readonly lower: number;
  /** The two-sided (1 − 2α) percentile interval. */
  readonly interval: readonly [number, number];
  readonly samples: number;
}

/** mulberry32: a small seeded generator for reproducible resampling. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The paired bootstrap distribution of the relative change of the mean.
 * @param baseline per-direction values of the baseline run
 * @param current the same directions' values in the current run
 * @param options `alpha` (one-sided level, default 0.05), `samples` (default 10000), `seed` (default 1)
 * @throws {RangeError} when the lengths differ, there are fewer than 2 pairs, or the baseline mean is not positive
 */
export function pairedRelativeChange(
  baseline: readonly number[],
  current: readonly number[],
  options: { alpha?: number; samples?: number; seed?: number } = {},
): PairedChange {
  const n = baseline.length;
  if (current.length !== n) throw new RangeError(`pairedRelativeChange: ${n} baseline values and ${current.length} current ones`);
  if (n < 2) throw new RangeError(`pairedRelativeChange: ${n} pairs; at least 2 are needed`);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const base = mean(baseline);
  if (!(base > 0)) throw new RangeError(`pairedRelativeChange: the baseline mean ${base} is not positive`);
  const alpha = options.alpha ?? 0.05;
  const samples = options.samples ?? 10_000;
  const next = generator(options.seed ?? 1);
  const changes = new Float64Array(samples);
  for (let s = 0; s < samples; s++) {
    let b = 0;
    let c = 0;
    for (let k = 0; k < n; k++) {
      const i = Math.floor(next() * n);
      b += baseline[i] as number;
      c += current[i] as number;
    }
    changes[s] = b > 0 ? c / b - 1 : Infinity;
  }
  changes.sort();
  const at = (q: number) => changes[Math.min(samples - 1, Math.max(0, Math.floor(q * samples)))] as number;
  return { change: mean(current) / base - 1, lower: at(alpha), interval: [at(alpha), at(1 - alpha)], samples };
}
