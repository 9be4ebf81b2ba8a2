/**
 * Adaptive (scale-invariant) sharpness (Kwon et al. 2021, ASAM; Andriushchenko et al. 2023): the
 * loss increase over the elementwise-scaled ball ‖ε ⊘ |θ|‖₂ ≤ ρ. In the scaled coordinates
 * δ = ε ⊘ |θ| the ball is the plain ball ‖δ‖₂ ≤ ρ, and a ReLU rescaling (θ₁·c, θ₂/c of two
 * consecutive layers) leaves L(θ + |θ| ⊙ δ) unchanged for every δ — so both numbers below are
 * invariant to it, unlike sharpness over a ball in θ itself.
 *
 * - worst case: max over the ball of L(θ + |θ| ⊙ δ) − L(θ), estimated from below by normalized
 *   projected gradient ascent in δ, started from the best of the gradient step ρ·∇δ/‖∇δ‖ and the
 *   random points below, with step halving when a step does not raise the loss;
 * - average case: the mean over seeded random directions u of L(θ + |θ| ⊙ ρ u/‖u‖) − L(θ), i.e.
 *   over the ball's sphere, with its standard error. Each direction is taken with its opposite,
 *   (L(θ + |θ| ⊙ δ) + L(θ − |θ| ⊙ δ))/2 − L(θ): the same expectation (the sphere is symmetric), but
 *   the first-order term ∇Lᵀ(|θ| ⊙ δ), whose random sign would otherwise dominate the spread, cancels.
 *   In n dimensions a random direction sees the mean curvature (for a quadratic, ½ρ² tr(M)/n with
 *   M = |θ| H |θ|) and the ascent the largest (½ρ² λmax(M) plus the slope), so worst/average says
 *   how anisotropic the landscape is.
 *
 * Every point evaluated lies in the ball, and the worst case is the largest loss among them, so
 * worst ≥ every random value ≥ the average case. The core sees only δ: `loss(δ)` and `gradient(δ)`
 * = |θ| ⊙ ∇L(θ + |θ| ⊙ δ) close over the model, θ and its scaling.
 */
import type { VectorSpace } from './vector-space.js';

/** The loss as a function of the scaled perturbation δ. */
export interface ScaledLoss<V> {
  readonly space: VectorSpace<V>;
  /** L(θ + |θ| ⊙ δ). */
  readonly loss: (delta: V) => Promise<number>;
  /** ∂/∂δ L(θ + |θ| ⊙ δ) = |θ| ⊙ ∇L(θ + |θ| ⊙ δ) (the caller of `gradient` owns the result). */
  readonly gradient: (delta: V) => Promise<V>;
}

/** Options of `adaptiveSharpness`. */
export interface AdaptiveSharpnessOptions<V> {
  /** ρ, the radius of the scaled ball. */
  readonly radius: number;
  /** Gradient-ascent steps after the start (each one gradient and one loss, fewer when a step is halved). */
  readonly steps: number;
  /** Random directions of any length (not modified, not disposed): the average case (each with its opposite), and ascent starts. At least 2. */
  readonly directions: readonly V[];
}

/** Adaptive sharpness at one radius; see the file comment. */
export interface AdaptiveSharpness {
  readonly radius: number;
  /** L(θ). */
  readonly center: number;
  /** The largest L(θ + |θ| ⊙ δ) − L(θ) found (a lower bound of the maximum over the ball). */
  readonly worst: number;
  /** The mean of `values`. */
  readonly average: number;
  /** Standard error of `average` (NaN with fewer than two finite values). */
  readonly averageStderr: number;
  /** (L(θ + |θ| ⊙ δ_i) + L(θ − |θ| ⊙ δ_i))/2 − L(θ), δ_i = ρ u_i/‖u_i‖, per random direction (null where not finite). */
  readonly values: (number | null)[];
  /** The best loss increase after the start and after each ascent step. */
  readonly ascent: number[];
  /** ‖δ‖ of the worst point (ρ unless the maximum is inside the ball). */
  readonly worstNorm: number;
  /** Loss evaluations and gradients computed. */
  readonly losses: number;
  readonly gradients: number;
}

/**
 * Worst-case and average-case adaptive sharpness; see the file comment.
 * @throws {RangeError} for a non-positive radius, a negative or fractional step count, fewer than
 * two directions or a direction of zero length
 * @example const s = await adaptiveSharpness(f, { radius: 0.5, steps: 3, directions: [u1, u2, u3] });
 */
export async function adaptiveSharpness<V>(f: ScaledLoss<V>, options: AdaptiveSharpnessOptions<V>): Promise<AdaptiveSharpness> {
  const { space } = f;
  const { radius, steps, directions } = options;
  if (!(radius > 0 && Number.isFinite(radius))) throw new RangeError(`adaptiveSharpness: radius = ${radius} is not a positive number`);
  if (!(Number.isInteger(steps) && steps >= 0)) throw new RangeError(`adaptiveSharpness: steps = ${steps} is not a non-negative integer`);
  if (directions.length < 2) throw new RangeError(`adaptiveSharpness: ${directions.length} direction(s); at least 2 are needed (a standard error needs two)`);
  let losses = 0;
  let gradients = 0;
  const lossAt = async (delta: V) => {
    losses++;
    return f.loss(delta);
  };
  const gradientAt = async (delta: V) => {
    gradients++;
    return f.gradient(delta);
  };
  /** ρ·unit(v), or null for a zero (or non-finite) vector. */
  const onSphere = (v: V): V | null => {
    const n = Math.sqrt(space.dot(v, v));
    return n > 0 && Number.isFinite(n) ? space.scale(v, radius / n) : null;
  };
  const zero = space.scale(directions[0] as V, 0);
  // The highest point so far (a holder: closures update it).
  const top: { best: { delta: V; loss: number } | null } = { best: null };
  /** Keeps (delta, loss) if it is the highest point so far, else disposes delta. */
  const consider = (delta: V, loss: number): void => {
    if (!Number.isFinite(loss) || (top.best !== null && loss <= top.best.loss)) return space.dispose(delta);
    if (top.best !== null) space.dispose(top.best.delta);
    top.best = { delta, loss };
  };
  try {
    const center = await lossAt(zero);
    const values: (number | null)[] = [];
    for (const [i, u] of directions.entries()) {
      const delta = onSphere(u);
      if (delta === null) throw new RangeError(`adaptiveSharpness: direction ${i} has zero length`);
      const opposite = space.scale(delta, -1);
      const plus = await lossAt(delta);
      const minus = await lossAt(opposite);
      const value = (plus + minus) / 2 - center;
      values.push(Number.isFinite(value) ? value : null);
      consider(delta, plus);
      consider(opposite, minus);
    }
    // The first-order step from θ (ASAM's and SAM's ε).
    const g0 = await gradientAt(zero);
    const step0 = onSphere(g0);
    space.dispose(g0);
    if (step0 !== null) consider(step0, await lossAt(step0));
    const ascent: number[] = [];
    if (top.best !== null) ascent.push(top.best.loss - center);
    let stepSize = radius;
    let g: V | null = null;
    try {
      for (let k = 0; k < steps && top.best !== null; k++) {
        const at = top.best;
        if (g === null) g = await gradientAt(at.delta);
        const gNorm = Math.sqrt(space.dot(g, g));
        if (!(gNorm > 0 && Number.isFinite(gNorm))) break;
        const moved = space.axpy(stepSize / gNorm, g, at.delta);
        const movedNorm = Math.sqrt(space.dot(moved, moved));
        const candidate = movedNorm > radius ? space.scale(moved, radius / movedNorm) : moved;
        if (candidate !== moved) space.dispose(moved);
        const loss = await lossAt(candidate);
        if (Number.isFinite(loss) && loss > at.loss) {
          // A new point: its gradient is needed next.
          space.dispose(g);
          g = null;
        } else stepSize /= 2;
        consider(candidate, loss);
        ascent.push(top.best.loss - center);
      }
    } finally {
      if (g !== null) space.dispose(g);
    }
    const finite = values.filter((v): v is number => v !== null);
    const average = finite.length === 0 ? NaN : finite.reduce((a, b) => a + b, 0) / finite.length;
    const averageStderr = finite.length < 2 ? NaN : Math.sqrt(finite.reduce((a, v) => a + (v - average) ** 2, 0) / (finite.length - 1) / finite.length);
    const worstPoint = top.best;
    return {
      radius,
      center,
      worst: worstPoint === null ? NaN : worstPoint.loss - center,
      average,
      averageStderr,
      values,
      ascent,
      worstNorm: worstPoint === null ? NaN : Math.sqrt(space.dot(worstPoint.delta, worstPoint.delta)),
      losses,
      gradients,
    };
  } finally {
    space.dispose(zero);
    if (top.best !== null) space.dispose(top.best.delta);
  }
}
