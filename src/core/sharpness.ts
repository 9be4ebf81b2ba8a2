/**
 * Filter-normalized sharpness from losses along random directions (Li et al. 2018, section 5: flat
 * and sharp minima compared under filter normalization; the 1-D slices' curvature at the minimum).
 * For k directions d_i and radius r (in filter-normalized units):
 *   s_i = (L(θ + r d_i) + L(θ − r d_i)) / 2 − L(θ),
 * reported as the mean over directions, its standard error, the per-direction values, and the
 * implied curvature 2s/r² (the second derivative along d for a quadratic).
 */

/** Sharpness at one radius. */
export interface Sharpness {
  readonly radius: number;
  /** Mean of s_i over directions. */
  readonly mean: number;
  /** Standard error of that mean (NaN for one direction). */
  readonly stderr: number;
  /** s_i per direction, in direction order (null where a loss was not finite). */
  readonly values: (number | null)[];
  /** 2·mean / r². */
  readonly curvature: number;
}

/**
 * Sharpness from the center loss and the losses at ±r along each direction.
 * @param center L(θ)
 * @param plus L(θ + r d_i) per direction
 * @param minus L(θ − r d_i) per direction
 * @param radius r
 * @throws {RangeError} for a non-positive radius, mismatched lengths or no directions
 */
export function sharpness(center: number, plus: readonly number[], minus: readonly number[], radius: number): Sharpness {
  if (!(radius > 0)) throw new RangeError(`sharpness: radius ${radius} is not positive`);
  if (plus.length !== minus.length || plus.length === 0) {
    throw new RangeError(`sharpness: ${plus.length} losses at +r and ${minus.length} at −r; need the same positive number`);
  }
  const values = plus.map((p, i) => {
    const s = (p + (minus[i] as number)) / 2 - center;
    return Number.isFinite(s) ? s : null;
  });
  const finite = values.filter((v): v is number => v !== null);
  const k = finite.length;
  const mean = k === 0 ? NaN : finite.reduce((a, b) => a + b, 0) / k;
  const stderr = k < 2 ? NaN : Math.sqrt(finite.reduce((a, v) => a + (v - mean) ** 2, 0) / (k - 1) / k);
  return { radius, mean, stderr, values, curvature: (2 * mean) / (radius * radius) };
}
