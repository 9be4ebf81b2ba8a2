/**
 * Seeds derived from one user seed: direction k of seed s is drawn from `(s·1000 + k) mod (2³¹ − 1)`.
 * For seeds up to ~2.1 million this is plain s·1000 + k (so `landscope surface --seed 3005` draws the
 * monitor's direction 5 of seed 3); above, the modulus keeps it a valid seed instead of throwing.
 * s·1000 + k stays far below 2⁵³, so the arithmetic is exact.
 */

/** The largest seed + 1 that seeded generators take. */
export const SEED_MODULUS = 2147483647;

/**
 * The k-th sub-seed of `seed`.
 * @throws {RangeError} when seed or k is not a non-negative integer, or k ≥ 1000
 */
export function subSeed(seed: number, k: number): number {
  if (!(Number.isInteger(seed) && seed >= 0 && seed < SEED_MODULUS)) throw new RangeError(`subSeed: seed = ${seed} is not an integer from 0 to ${SEED_MODULUS - 1}`);
  if (!(Number.isInteger(k) && k >= 0 && k < 1000)) throw new RangeError(`subSeed: k = ${k} is not an integer from 0 to 999`);
  return (seed * 1000 + k) % SEED_MODULUS;
}
