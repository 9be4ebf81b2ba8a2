/**
 * Where a model's sharpness stands against its optimizer's stability threshold (Cohen et al. 2021,
 * 2022; the thresholds are `src/core/edge-of-stability.ts`): λmax·η/2 and λmax/threshold for SGD
 * and momentum, and for Adam and RMSprop λmax(P⁻¹H) — Lanczos on P^{-1/2} H P^{-1/2} with the
 * optimizer's current preconditioner — against theirs. Used by the monitor each epoch and by
 * `landscope hessian --stability` on a checkpoint saved with its optimizer.
 */
import type { ParamList } from '../core/param-list.js';
import { stabilityThreshold } from '../core/edge-of-stability.js';
import type { HvpOperator } from '../model/hvp.js';
import type { OptimizerSnapshot } from '../model/optimizer-state.js';
import { preconditionedHvp } from '../model/preconditioned-hvp.js';
import { eigenOf } from './hessian.js';

/** The edge of stability's record and logs, and (adaptive optimizers) λmax(P⁻¹H)'s eigenvector. */
export interface StabilityResult {
  readonly record: Record<string, unknown>;
  readonly logs: Record<string, number>;
  /** The top eigenvector of P^{-1/2} H P^{-1/2} (a warm start for next time; the caller disposes it). */
  readonly vectors: ParamList[];
}

/**
 * The edge of stability at the current weights.
 * @param H the Hessian operator (its parameters must be the optimizer's)
 * @param snapshot the optimizer's state and preconditioner (`optimizerSnapshot(model, true)`)
 * @param lambdaMax λmax of H, already computed
 * @param options Lanczos settings, and a warm start for λmax(P⁻¹H)
 * @returns null when the optimizer's update rule is not known (Adagrad, Adadelta, Adamax)
 */
export async function edgeOfStability(
  H: HvpOperator,
  snapshot: OptimizerSnapshot,
  lambdaMax: number,
  options: { tol?: number; maxIter?: number; seed?: number; warmStart?: readonly ParamList[] } = {},
): Promise<StabilityResult | null> {
  const rule = snapshot.state.rule;
  const threshold = rule !== null ? stabilityThreshold(rule) : null;
  if (rule === null || threshold === null) return null;
  const about = { optimizer: snapshot.state.name, learningRate: rule.learningRate, step: snapshot.state.step, threshold: threshold.threshold, preconditioned: threshold.preconditioned };
  if (!threshold.preconditioned) {
    const maxTimesLr = (lambdaMax * rule.learningRate) / 2;
    const ratio = lambdaMax / threshold.threshold;
    return { record: { ...about, maxTimesLr, ratio }, logs: { hessian_max_x_lr: maxTimesLr, stability_threshold: threshold.threshold, stability_ratio: ratio }, vectors: [] };
  }
  const scaling = snapshot.scaling === null ? null : H.names.map((n) => snapshot.scaling?.[n]);
  if (scaling === null || scaling.some((a) => a === undefined)) {
    const why = snapshot.scaling === null ? 'the optimizer has not taken a step yet' : `the optimizer keeps no second moment for ${H.names.filter((n) => snapshot.scaling?.[n] === undefined).join(', ')}`;
    return { record: { ...about, skipped: why }, logs: { stability_threshold: threshold.threshold }, vectors: [] };
  }
  const P = preconditionedHvp(H, scaling as Float32Array[]);
  try {
    // λmax(P⁻¹H) alone: converging its λmin too took up to 21 products instead of 12 on the MNIST CNN.
    const r = await eigenOf(P, {
      bottom: 0,
      tol: options.tol ?? 1e-3,
      maxIter: options.maxIter ?? 40,
      seed: options.seed ?? 0,
      vectors: true,
      ...(options.warmStart !== undefined && options.warmStart.length > 0 ? { warmStart: options.warmStart } : {}),
    });
    const ratio = r.lambdaMax / threshold.threshold;
    return {
      record: { ...about, lambdaMax: r.lambdaMax, converged: r.converged, residual: r.residuals.top[0], hvps: r.hvps, seconds: r.seconds, ratio },
      logs: { preconditioned_hessian_max: r.lambdaMax, stability_threshold: threshold.threshold, stability_ratio: ratio },
      vectors: r.vectors?.top ?? [],
    };
  } finally {
    P.dispose();
  }
}
