/**
 * Direction normalization (Li et al. 2018, section 4, "filter-wise normalization"; reference code
 * `normalize_directions_for_weights` and `ignore_biasbn`).
 *
 * `filter`: each filter d_f of a tensor is scaled to the norm of the matching filter of the
 * weights, d_f ← d_f · |θ_f| / (|d_f| + 1e-10). A filter is one output unit: the entries that
 * share an index along the tensor's *filter axes* (for TF.js kernels the last axis, see
 * `src/model/filter-axes.ts`). `layer`: the whole tensor, d ← d · |θ| / |d| (no epsilon, as the
 * reference code). `model`: the whole vector, d ← d · |θ| / |d| over the tensors that are not
 * ignored. `none`: unchanged.
 *
 * Tensors of at most one dimension (biases, batch-norm parameters): `ignore: 'biasbn'` sets
 * their direction to zero; `ignore: 'none'` follows the reference code and sets it to a copy of
 * the weights. Tensors marked `frozen` (non-trainable weights, e.g. batch-norm moving statistics)
 * always get a zero direction, so a landscape never moves them.
 */
import * as tf from '@tensorflow/tfjs';
import { assertSameLayout, ParamList } from './param-list.js';

/** How a direction is scaled against the weights. */
export type NormKind = 'filter' | 'layer' | 'model' | 'none';
/** What happens to the direction of tensors with at most one dimension. */
export type IgnoreKind = 'biasbn' | 'none';

/** The accepted `NormKind` values. */
export const NORM_KINDS: readonly NormKind[] = ['filter', 'layer', 'model', 'none'];
/** The accepted `IgnoreKind` values. */
export const IGNORE_KINDS: readonly IgnoreKind[] = ['biasbn', 'none'];

/** Options of `normalizeDirection`. */
export interface NormalizeOptions {
  /** How to scale. */
  readonly norm: NormKind;
  /** What to do with tensors of at most one dimension. @default 'biasbn' */
  readonly ignore?: IgnoreKind;
  /**
   * Per tensor, the axes whose index names a filter (the norms reduce over the other axes).
   * @default the last axis of every tensor
   */
  readonly filterAxes?: readonly (readonly number[])[];
  /** Per tensor, true when it must not move (direction zero). @default none frozen */
  readonly frozen?: readonly boolean[];
}

/** The filter epsilon of the reference code. */
const FILTER_EPSILON = 1e-10;

/**
 * Checks a `norm` value.
 * @throws {RangeError} naming the allowed values
 */
export function assertNormKind(value: string, what = 'norm'): asserts value is NormKind {
  if (!(NORM_KINDS as readonly string[]).includes(value)) {
    throw new RangeError(`${what}: '${value}' is not one of ${NORM_KINDS.join(', ')}`);
  }
}

/**
 * Checks an `ignore` value.
 * @throws {RangeError} naming the allowed values
 */
export function assertIgnoreKind(value: string, what = 'ignore'): asserts value is IgnoreKind {
  if (!(IGNORE_KINDS as readonly string[]).includes(value)) {
    throw new RangeError(`${what}: '${value}' is not one of ${IGNORE_KINDS.join(', ')}`);
  }
}

/**
 * Normalizes a direction against the weights.
 * @param direction the raw direction (not modified)
 * @param weights the weights it is normalized against, same layout
 * @param options how to normalize
 * @returns a new list the caller owns
 * @throws {RangeError} on an unknown norm or ignore value, a layout mismatch, or a filter axis
 * outside a tensor's rank
 * @example const d1 = normalizeDirection(randomDirection(layoutOf(theta), 7), theta, { norm: 'filter' });
 */
export function normalizeDirection(
  direction: ParamList,
  weights: ParamList,
  options: NormalizeOptions,
): ParamList {
  const { norm } = options;
  const ignore = options.ignore ?? 'biasbn';
  assertNormKind(norm, 'normalizeDirection: norm');
  assertIgnoreKind(ignore, 'normalizeDirection: ignore');
  assertSameLayout(direction, weights, 'normalizeDirection');
  const count = direction.tensors.length;
  for (const [what, list] of [['filterAxes', options.filterAxes], ['frozen', options.frozen]] as const) {
    if (list !== undefined && list.length !== count) {
      throw new RangeError(`normalizeDirection: ${what} has ${list.length} entries for ${count} tensors`);
    }
  }
  const isFrozen = (i: number) => options.frozen?.[i] === true;
  const isSmall = (t: tf.Tensor) => t.rank <= 1;

  const scaled = direction.map((d, i) => {
    const w = weights.tensors[i] as tf.Tensor;
    if (isFrozen(i)) return tf.zerosLike(d);
    if (isSmall(d)) return ignore === 'biasbn' ? tf.zerosLike(d) : w.clone();
    switch (norm) {
      case 'filter': {
        const axes = options.filterAxes?.[i] ?? [d.rank - 1];
        const reduce = reductionAxes(d.rank, axes, direction.names[i] as string);
        const dNorm = tf.sqrt(tf.sum(tf.square(d), reduce, true));
        const wNorm = tf.sqrt(tf.sum(tf.square(w), reduce, true));
        return tf.mul(d, tf.div(wNorm, tf.add(dNorm, FILTER_EPSILON)));
      }
      case 'layer':
        return tf.mul(d, tf.div(tf.norm(w), tf.norm(d)));
      case 'model':
      case 'none':
        return d.clone();
    }
  });
  if (norm !== 'model') return scaled;

  // Whole-vector scaling over the tensors that were not ignored.
  const included = direction.tensors.map((d, i) => !isFrozen(i) && !isSmall(d));
  const sumSquares = (list: ParamList) =>
    tf.tidy(() => {
      const parts = list.tensors.filter((_, i) => included[i]).map((t) => tf.sum(tf.square(t)));
      return parts.length === 0 ? 0 : (tf.addN(parts).dataSync()[0] as number);
    });
  const factor = Math.sqrt(sumSquares(weights) / sumSquares(scaled));
  const out = scaled.map((d, i) => (included[i] ? tf.mul(d, factor) : d.clone()));
  scaled.dispose();
  return out;
}

function reductionAxes(rank: number, filterAxes: readonly number[], name: string): number[] {
  const normalized = filterAxes.map((a) => (a < 0 ? a + rank : a));
  for (const a of normalized) {
    if (!(Number.isInteger(a) && a >= 0 && a < rank)) {
      throw new RangeError(
        `normalizeDirection: filter axes [${filterAxes}] of '${name}' do not fit its rank ${rank}`,
      );
    }
  }
  return Array.from({ length: rank }, (_, k) => k).filter((k) => !normalized.includes(k));
}
