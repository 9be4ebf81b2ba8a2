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

/** The allowed ranges of the density's vectors, steps and grid points. */
const RANGES = { vectors: [1, 99], steps: [2, 1000], points: [3, 100000] } as const;

/**
 * Checks the given vectors, steps and points (absent ones are left to their defaults).
 * @param what how the caller names the settings, e.g. `landscapeMonitor: finalDensity`
 * @throws {RangeError} naming the setting, its value and the allowed range
 */
export function checkDensityOptions(options: Pick<HessianDensityOptions, 'vectors' | 'steps' | 'points'>, what: string): void {
  for (const name of ['vectors', 'steps', 'points'] as const) {
    const v = options[name];
    const [min, max] = RANGES[name];
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) throw new RangeError(`${what}.${name} = ${v} is not an integer from ${min} to ${max}`);
  }
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
 * @throws {RangeError} for a bad vector, step or point count (see `checkDensityOptions`)
 * @example const d = await hessianDensity(hvp(model, data), { vectors: 2, steps: 40 });
 */
export async function hessianDensity(H: HvpOperator, options: HessianDensityOptions = {}): Promise<HessianDensity> {
  const started = performance.now();
  checkDensityOptions(options, 'hessianDensity: options');
  const vectors = options.vectors ?? 2;
  const steps = Math.min(options.steps ?? 40, H.size);
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
