/**
 * The end-of-training analysis in one place: the final surfaces, then the Hessian's spectral
 * density in what the limit has left, each saying in `notes` (for run.json) when it was skipped or
 * failed. The monitor runs it on the training thread, or on the measurement worker when training
 * runs on the cpu backend.
 */
import { writeFinalDensity, type FinalDensitySettings } from './final-density.js';
import { writeFinalSurfaces, type FinalSurfaceSettings } from './final-surfaces.js';
import type { MeasureContext } from './measurement.js';
import type { TrajectoryState } from './trajectory-callback.js';

/** What the end-of-training analysis computes (null parts are off). */
export interface FinalAnalysisPlan {
  readonly surfaces: FinalSurfaceSettings | null;
  /** The trajectory, for the surfaces' PCA plane. */
  readonly trajectory: TrajectoryState | null;
  readonly density: FinalDensitySettings | null;
  /** The Hessian measurement's probe size (the density is on the same samples). */
  readonly hessianProbeSize: number;
}

/**
 * Writes surfaces.json and density.json into the context's run folder within `limitSeconds`.
 * @param strict rethrow the density's error instead of noting it (a model whose Hessian landscope
 * cannot take: the Hessian measurement said so each epoch)
 * @returns what run.json should record: `finalSurfaces` / `finalDensity` when skipped or failed
 */
export async function writeFinalAnalysis(context: MeasureContext, plan: FinalAnalysisPlan, log: (line: string) => void, limitSeconds: number, strict: boolean): Promise<Record<string, unknown>> {
  const started = performance.now();
  const notes: Record<string, unknown> = {};
  if (plan.surfaces !== null) {
    const skipped = await writeFinalSurfaces(context, plan.surfaces, log, plan.trajectory, limitSeconds);
    if (skipped !== null) notes['finalSurfaces'] = skipped;
  }
  if (plan.density !== null) {
    try {
      const skipped = await writeFinalDensity(context, plan.density, plan.hessianProbeSize, log, limitSeconds - (performance.now() - started) / 1000);
      if (skipped !== null) notes['finalDensity'] = skipped;
    } catch (e) {
      if (strict) throw e;
      notes['finalDensity'] = { error: (e as Error)?.message ?? String(e) };
    }
  }
  return notes;
}
