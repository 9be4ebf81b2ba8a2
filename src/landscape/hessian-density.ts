/**
 * The Hessian's eigenvalue spectral density of a model's loss (stochastic Lanczos quadrature over
 * exact Hessian-vector products; the estimator is `src/core/spectral-density.ts`), from seeded
 * Rademacher start vectors.
 */
import { rademacherDirection } from '../core/random-direction.js';
import { spectralDensity, stochasticLanczosQuadrature, type SpectralDensity } from '../core/spectral-density.js';
import { subSeed } from '../core/sub-seed.js';
import { paramListSpace } from '../core/vector-space.js';
import type { HvpOperator } from '../model/hvp.js';

/** Options of `hessianDensity`. */
export interface HessianDensityOptions {
  /** Random start vectors. @default 2 */
  readonly vectors?: number;
  /** Lanczos steps per vector (capped at the parameter count). @default 40 */
  readonly steps?: number;
  /** Seed of the start vectors: vector i from sub-seed (seed, 700 + i). @default 0 */
  readonly seed?: number;
  /** Grid points of the smoothed density. @default 400 */
  readonly points?: number;
  /** Kernel width as a fraction of the spectrum's span. @default 0.01 */
  readonly relativeSigma?: number;
}

/** The density, with its cost. */
export interface HessianDensity extends SpectralDensity {
  readonly vectors: number;
  readonly steps: number;
  readonly hvps: number;
  readonly seconds: number;
}

/**
 * The spectral density of H.
 * @throws {RangeError} for a bad vector or step count
 * @example const d = await hessianDensity(hvp(model, data), { vectors: 2, steps: 40 });
 */
export async function hessianDensity(H: HvpOperator, options: HessianDensityOptions = {}): Promise<HessianDensity> {
  const started = performance.now();
  const vectors = options.vectors ?? 2;
  const steps = Math.min(options.steps ?? 40, H.size);
  if (!(Number.isInteger(vectors) && vectors >= 1 && vectors <= 99)) throw new RangeError(`hessian density: vectors = ${vectors} is not an integer from 1 to 99`);
  if (!(Number.isInteger(steps) && steps >= 2)) throw new RangeError(`hessian density: steps = ${options.steps} is not an integer ≥ 2`);
  const layout = { names: H.names, shapes: H.shapes };
  const starts = Array.from({ length: vectors }, (_, i) => rademacherDirection(layout, subSeed(options.seed ?? 0, 700 + i)));
  try {
    const { rules, hvps } = await stochasticLanczosQuadrature(H, H.size, { space: paramListSpace, starts, steps });
    const density = spectralDensity(rules, { ...(options.points !== undefined ? { points: options.points } : {}), ...(options.relativeSigma !== undefined ? { relativeSigma: options.relativeSigma } : {}) });
    return { ...density, vectors, steps, hvps, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const s of starts) s.dispose();
  }
}
