/**
 * The Lanczos method with full reorthogonalization for the extreme eigenvalues of a symmetric
 * operator given only as `v ↦ H v` (Lanczos 1950; Golub & Van Loan §10.1; Ghorbani et al. 2019 use
 * it for neural-network Hessians). One Krylov space yields the algebraic λmax and λmin together —
 * unlike the paper's reference code, which finds the largest-magnitude eigenvalue, then shifts by
 * it, and so only sees λmin when λmin ≤ 0.02·λmax — plus any number of top and bottom Ritz pairs.
 *
 * Every new basis vector, after the three-term recurrence, is orthogonalized against all previous
 * ones, a second time when the first pass removed much of it ("twice is enough", Parlett; the DGKS
 * criterion decides), so float32 vectors on a TF.js backend keep orthogonality. Ritz pairs are accepted when
 * their residual ‖H y − θ y‖ = β_k·|s_k| is at most `tol · max|θ|`.
 *
 * A small residual proves that a Ritz pair is *an* eigenpair, not that it is the largest: a start
 * vector lying almost in one eigenvector converges to it at once, whatever lies above. So a warm
 * start (last epoch's eigenvectors) is mixed with the random start at equal weight, and the Krylov
 * space must reach `minIter` dimensions (default `WARM_MIN_KRYLOV` when warm) before it may stop:
 * by then the random half has been amplified enough to reveal a larger eigenvalue.
 */
import { tridiagonalEigen } from './tridiagonal-eigen.js';
import type { VectorSpace } from './vector-space.js';

/** Options of `lanczos`. */
export interface LanczosOptions<V> {
  /** Vector operations. */
  readonly space: VectorSpace<V>;
  /** The start vector (any non-zero vector; not modified, not disposed). */
  readonly start: V;
  /** How many of the largest eigenvalues to converge. @default 1 */
  readonly top?: number;
  /** How many of the smallest eigenvalues to converge. @default 1 */
  readonly bottom?: number;
  /** Residual tolerance, relative to the largest |Ritz value|. @default 1e-3 */
  readonly tol?: number;
  /** The most products (Krylov dimension). @default 80 */
  readonly maxIter?: number;
  /** Whether to form the Ritz vectors of the converged extremes (e.g. for a warm start). @default false */
  readonly vectors?: boolean;
  /**
   * Vectors expected to lie near the wanted eigenvectors (e.g. last epoch's). The start becomes
   * `cos·unit(Σ unit(wᵢ)) + sin·unit(start)` with the random part at `WARM_RANDOM_WEIGHT`.
   */
  readonly warmStart?: readonly V[];
  /** The smallest Krylov dimension at which it may stop. @default top + bottom, or WARM_MIN_KRYLOV with a warm start */
  readonly minIter?: number;
}

/** The share (sin of the angle) of the random start in a warm-started Lanczos start vector. */
export const WARM_RANDOM_WEIGHT = Math.SQRT1_2;
/** The smallest Krylov dimension a warm-started Lanczos stops at. */
export const WARM_MIN_KRYLOV = 12;

/** One Ritz pair. */
export interface RitzPair<V> {
  readonly value: number;
  /** ‖H y − θ y‖ for the unit Ritz vector y. */
  readonly residual: number;
  readonly vector?: V;
}

/** What `lanczos` found. */
export interface LanczosResult<V> {
  /** The largest eigenvalues, descending. */
  readonly top: RitzPair<V>[];
  /** The smallest eigenvalues, ascending. */
  readonly bottom: RitzPair<V>[];
  /** Whether every requested pair met the tolerance (or the Krylov space became invariant). */
  readonly converged: boolean;
  /** Products of H used. */
  readonly hvps: number;
  /** The largest residual among the requested pairs. */
  readonly maxResidual: number;
  /**
   * The tridiagonal T = Qᵀ H Q of the Krylov basis Q: its diagonal (m entries) and off-diagonal
   * (m − 1). With `top: 0, bottom: 0, minIter: m, maxIter: m` it is the m-step Lanczos
   * tridiagonal of the (normalized) start vector, as stochastic Lanczos quadrature needs.
   */
  readonly tridiagonal: { readonly alpha: readonly number[]; readonly beta: readonly number[] };
}

/**
 * Extreme eigenpairs of a symmetric operator.
 * @param hvp `v ↦ H v` (must not dispose its argument)
 * @param n the dimension of the space
 * @param options start vector, how many pairs, tolerance, iteration cap
 * @returns the Ritz pairs, their residuals, and whether they converged
 * @throws {RangeError} for counts that do not fit n, a bad tolerance or cap, or a zero start
 * @example
 * const r = await lanczos(async (v) => A.times(v), n, { space: float64Space, start: ones });
 */
export async function lanczos<V>(hvp: (v: V) => Promise<V>, n: number, options: LanczosOptions<V>): Promise<LanczosResult<V>> {
  const { space } = options;
  const top = options.top ?? 1;
  const bottom = options.bottom ?? 1;
  const tol = options.tol ?? 1e-3;
  const maxIter = Math.min(options.maxIter ?? 80, n);
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`lanczos: n = ${n} is not a positive integer`);
  for (const [name, k] of [['top', top], ['bottom', bottom]] as const) {
    if (!(Number.isInteger(k) && k >= 0 && k <= n)) throw new RangeError(`lanczos: ${name} = ${k} is not an integer from 0 to the dimension ${n}`);
  }
  if (!(tol > 0)) throw new RangeError(`lanczos: tol = ${tol} is not positive`);
  if (!(Number.isInteger(options.maxIter ?? 80) && (options.maxIter ?? 80) >= 1)) {
    throw new RangeError(`lanczos: maxIter = ${options.maxIter} is not a positive integer`);
  }
  const startNorm = Math.sqrt(space.dot(options.start, options.start));
  if (!(startNorm > 0 && Number.isFinite(startNorm))) throw new RangeError(`lanczos: the start vector has norm ${startNorm}`);
  if (!(Number.isInteger(options.minIter ?? 1) && (options.minIter ?? 1) >= 1)) {
    throw new RangeError(`lanczos: minIter = ${options.minIter} is not a positive integer`);
  }
  const warm = options.warmStart ?? [];
  const minIter = Math.min(n, options.minIter ?? (warm.length > 0 ? Math.max(WARM_MIN_KRYLOV, top + bottom) : top + bottom));

  const basis: V[] = [warm.length === 0 ? space.scale(options.start, 1 / startNorm) : warmStartVector(space, options.start, startNorm, warm)];
  const alpha: number[] = [];
  const beta: number[] = [];
  let hvps = 0;
  let invariant = false;
  let ritz: ReturnType<typeof tridiagonalEigen> | undefined;
  let wantedResiduals: { index: number; residual: number }[] = [];
  try {
    for (let k = 0; k < maxIter; k++) {
      const q = basis[k] as V;
      let w: V = await hvp(q);
      hvps++;
      const a = space.dot(q, w);
      alpha.push(a);
      // The three-term recurrence, then full reorthogonalization against the whole basis.
      w = replaced(space, w, space.axpy(-a, q, w));
      if (k > 0) w = replaced(space, w, space.axpy(-(beta[k - 1] as number), basis[k - 1] as V, w));
      const b = reorthogonalize(space, basis, (next) => (w = next), w);
      ritz = tridiagonalEigen(alpha, beta);
      const m = alpha.length;
      const scale = Math.max(Math.abs(ritz.values[0] as number), Math.abs(ritz.values[m - 1] as number), Number.MIN_VALUE);
      invariant = !(b > 1e-7 * scale) || m === n;
      const wanted = wantedIndices(m, top, bottom);
      wantedResiduals = wanted.map((index) => ({ index, residual: invariant ? 0 : b * Math.abs(ritz!.vectors[(m - 1) * m + index] as number) }));
      const done = m >= minIter && wantedResiduals.every((r) => r.residual <= tol * scale);
      if (invariant || done || k === maxIter - 1) {
        space.dispose(w);
        break;
      }
      beta.push(b);
      basis.push(space.scale(w, 1 / b));
      space.dispose(w);
    }
    const result = ritz as ReturnType<typeof tridiagonalEigen>;
    const m = alpha.length;
    const scale = Math.max(Math.abs(result.values[0] as number), Math.abs(result.values[m - 1] as number), Number.MIN_VALUE);
    const pair = (index: number): RitzPair<V> => {
      const residual = wantedResiduals.find((r) => r.index === index)?.residual ?? NaN;
      if (options.vectors !== true) return { value: result.values[index] as number, residual };
      let y = space.scale(basis[0] as V, result.vectors[index] as number);
      for (let j = 1; j < m; j++) {
        const next = space.axpy(result.vectors[j * m + index] as number, basis[j] as V, y);
        space.dispose(y);
        y = next;
      }
      return { value: result.values[index] as number, residual, vector: y };
    };
    const topPairs = Array.from({ length: Math.min(top, m) }, (_, i) => pair(m - 1 - i));
    const bottomPairs = Array.from({ length: Math.min(bottom, m) }, (_, i) => pair(i));
    const maxResidual = Math.max(0, ...wantedResiduals.map((r) => r.residual));
    return {
      top: topPairs,
      bottom: bottomPairs,
      converged: invariant || (m >= minIter && maxResidual <= tol * scale),
      hvps,
      maxResidual,
      tridiagonal: { alpha, beta },
    };
  } finally {
    for (const q of basis) space.dispose(q);
  }
}

/**
 * Projects every basis vector out of w (modified Gram–Schmidt) — one pass, and a second only when
 * the first removed more than 1 − 1/√2 of w's norm: the DGKS criterion (Daniel, Gragg, Kaufman &
 * Stewart 1976) keeps "twice is enough" without paying the second pass when the three-term
 * recurrence already left w nearly orthogonal (on the MNIST MLP the two unconditional passes cost
 * more than the products). Each pass replaces w (set) and disposes the old one.
 * @returns ‖w‖ after
 */
function reorthogonalize<V>(space: VectorSpace<V>, basis: readonly V[], set: (w: V) => void, w: V): number {
  let norm = Math.sqrt(space.dot(w, w));
  for (let pass = 0; pass < 2; pass++) {
    for (const u of basis) {
      w = replaced(space, w, space.axpy(-space.dot(u, w), u, w));
      set(w);
    }
    const after = Math.sqrt(space.dot(w, w));
    const enough = after >= norm * Math.SQRT1_2;
    norm = after;
    if (enough) break;
  }
  return norm;
}

/** `next`, disposing `old`. */
function replaced<V>(space: VectorSpace<V>, old: V, next: V): V {
  space.dispose(old);
  return next;
}

/** `cos·unit(Σ unit(wᵢ)) + sin·unit(random)`, unit length, with sin = WARM_RANDOM_WEIGHT. */
function warmStartVector<V>(space: VectorSpace<V>, random: V, randomNorm: number, warm: readonly V[]): V {
  // Σ unit(wᵢ), then scaled to length cos.
  let sum: V | null = null;
  for (const [i, w] of warm.entries()) {
    const norm = Math.sqrt(space.dot(w, w));
    if (!(norm > 0 && Number.isFinite(norm))) {
      if (sum !== null) space.dispose(sum);
      throw new RangeError(`lanczos: warmStart[${i}] has norm ${norm}`);
    }
    const next: V = sum === null ? space.scale(w, 1 / norm) : space.axpy(1 / norm, w, sum);
    if (sum !== null) space.dispose(sum);
    sum = next;
  }
  const total = sum as V;
  const sumNorm = Math.sqrt(space.dot(total, total));
  const warmPart = space.scale(total, sumNorm > 0 ? Math.sqrt(1 - WARM_RANDOM_WEIGHT ** 2) / sumNorm : 0);
  space.dispose(total);
  const mixed = space.axpy(WARM_RANDOM_WEIGHT / randomNorm, random, warmPart);
  space.dispose(warmPart);
  const unit = space.scale(mixed, 1 / Math.sqrt(space.dot(mixed, mixed)));
  space.dispose(mixed);
  return unit;
}

/** The indices (ascending Ritz order) of the `bottom` smallest and `top` largest of m values. */
function wantedIndices(m: number, top: number, bottom: number): number[] {
  const set = new Set<number>();
  for (let i = 0; i < Math.min(bottom, m); i++) set.add(i);
  for (let i = 0; i < Math.min(top, m); i++) set.add(m - 1 - i);
  return [...set];
}
