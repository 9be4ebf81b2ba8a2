/**
 * The Hessian's eigenvalue spectral density at the end of training, on the probe set (stochastic
 * Lanczos quadrature, `src/landscape/hessian-density.ts`), sized to the end-of-training time left:
 * fewer Lanczos steps, then fewer vectors, and skipped (saying so) when even the smallest does not
 * fit. Written to `density.json` in the run folder and drawn in the report.
 */
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { writeAtomic } from '../src/io/write-atomic.js';
import { hessianDensity, type HessianDensityOptions } from '../src/landscape/hessian-density.js';
import { hvp } from '../src/model/hvp.js';
import type { MeasureContext } from './measurement.js';

/** Settings of the end-of-training density: Lanczos steps and vectors, the density's grid. */
export type FinalDensitySettings = Pick<HessianDensityOptions, 'vectors' | 'steps' | 'points'>;

/** The fewest steps the density is still worth computing with. */
const MIN_STEPS = 10;

/**
 * Computes and writes density.json.
 * @param probeSize how many of the probe's first samples the Hessian is averaged over (as the Hessian measurement's)
 * @returns null when written, or why it was skipped
 */
export async function writeFinalDensity(
  context: MeasureContext,
  settings: FinalDensitySettings,
  probeSize: number,
  log: (line: string) => void,
  limitSeconds = Infinity,
): Promise<{ skipped: 'finalBudget'; estimatedSeconds: number; limitSeconds: number } | null> {
  const started = performance.now();
  const run = context.run;
  if (run === null) return null;
  const available = context.probe.x.shape[0] as number;
  const size = Math.min(available, probeSize);
  const slice: { x: tf.Tensor; y: tf.Tensor } | null = size === available ? null : { x: context.probe.x.slice(0, size), y: context.probe.y.slice(0, size) };
  const H = hvp(context.model, slice ?? context.probe, { params: 'all', batchSize: context.batchSize, ...(context.loss !== undefined ? { loss: context.loss } : {}) });
  try {
    // One product's cost (the second: the first builds the primal pass the others reuse).
    let perProduct = Infinity;
    const v = H.current();
    for (let k = 0; k < 2; k++) {
      const t0 = performance.now();
      (await H(v)).dispose();
      perProduct = Math.min(perProduct, (performance.now() - t0) / 1000);
    }
    v.dispose();
    const asked = { vectors: settings.vectors ?? 2, steps: Math.min(settings.steps ?? 40, H.size) };
    const left = limitSeconds - (performance.now() - started) / 1000;
    const cost = (u: { vectors: number; steps: number }) => perProduct * u.vectors * u.steps * 1.1;
    let used = { ...asked };
    while (cost(used) > left && used.steps > Math.min(MIN_STEPS, asked.steps)) used = { ...used, steps: Math.max(Math.min(MIN_STEPS, asked.steps), Math.floor(used.steps * 0.7)) };
    while (cost(used) > left && used.vectors > 1) used = { ...used, vectors: used.vectors - 1 };
    if (cost(used) > left) {
      log(`final density: skipped: about ${cost(used).toPrecision(2)} s even at ${used.vectors} vector × ${used.steps} steps, over the end-of-training time left of ${Math.max(0, left).toFixed(1)} s (finalBudget)`);
      return { skipped: 'finalBudget', estimatedSeconds: cost(used), limitSeconds: Math.max(0, left) };
    }
    const lowered = used.steps !== asked.steps || used.vectors !== asked.vectors;
    log(`final density: ${used.vectors} vector(s) × ${used.steps} Lanczos steps on ${size} probe samples, about ${cost(used).toPrecision(2)} s${lowered ? ` (lowered from ${asked.vectors} × ${asked.steps} to fit the end-of-training limit)` : ''}`);
    const d = await hessianDensity(H, { ...used, seed: context.seed, ...(settings.points !== undefined ? { points: settings.points } : {}) });
    await writeAtomic(join(run.dir, 'density.json'), JSON.stringify({ schemaVersion: 1, probeSize: size, params: 'all', n: H.size, ...d, requested: asked, lowered }));
    return null;
  } finally {
    H.dispose();
    if (slice !== null) {
      slice.x.dispose();
      slice.y.dispose();
    }
  }
}
