/**
 * Seeded Gaussian directions in parameter space (Li et al. 2018, section 4: "a random Gaussian
 * direction vector with dimensions compatible with θ"; reference code `get_random_weights`).
 *
 * Tensor `i` draws from N(0, 1) with `tf.randomNormal` seeded by `(seed, i)`. TF.js generates
 * those numbers in JavaScript whatever the backend, so the same seed and the same layout give
 * the same direction on cpu, wasm, WebGL or tfjs-node.
 */
import * as tf from '@tensorflow/tfjs';
import { ParamList } from './param-list.js';

/** The names and shapes a direction must have. */
export interface ParamLayout {
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
}

/** The largest seed accepted (seeds are integers from 0 to this). */
export const MAX_SEED = 2 ** 31 - 1;

/**
 * Checks a seed.
 * @throws {RangeError} unless `seed` is an integer in [0, 2³¹ − 1]
 */
export function assertSeed(seed: number, what = 'seed'): void {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= MAX_SEED)) {
    throw new RangeError(`${what}: ${seed} is not an integer from 0 to ${MAX_SEED}`);
  }
}

/**
 * A direction of i.i.d. N(0, 1) entries with the given layout.
 * @param layout the names and shapes (a ParamList's, or a model's)
 * @param seed an integer from 0 to 2³¹ − 1
 * @returns a new list the caller owns
 * @throws {RangeError} on a bad seed
 * @example const d = randomDirection({ names: ['w'], shapes: [[3, 2]] }, 7);
 */
export function randomDirection(layout: ParamLayout, seed: number): ParamList {
  assertSeed(seed);
  return new ParamList(
    layout.names.map((name, i) => ({
      name,
      // MPRandGauss treats a seed of 0 as "no seed": tensor seeds start at 1.
      tensor: tf.randomNormal([...(layout.shapes[i] as number[])], 0, 1, 'float32', seed * 100_003 + i + 1),
    })),
  );
}

/** The layout of a parameter list. */
export function layoutOf(list: ParamList): ParamLayout {
  return { names: list.names, shapes: list.tensors.map((t) => t.shape) };
}

/**
 * A vector of i.i.d. Rademacher (±1 with probability ½ each) entries, seeded like
 * `randomDirection` (and as reproducible across backends): Hutchinson's trace probes.
 * @returns a new list the caller owns
 * @throws {RangeError} on a bad seed
 */
export function rademacherDirection(layout: ParamLayout, seed: number): ParamList {
  assertSeed(seed);
  return new ParamList(
    layout.names.map((name, i) => ({
      name,
      tensor: tf.tidy(() => {
        const u = tf.randomUniform([...(layout.shapes[i] as number[])], 0, 1, 'float32', seed * 100_003 + i + 1);
        return tf.sub(tf.mul(tf.cast(tf.greaterEqual(u, 0.5), 'float32'), 2), 1);
      }),
    })),
  );
}
