/**
 * The training-time landscape monitor: one callback that, each epoch, records weight norms and the
 * learning rate, snapshots the weights and updates the trajectory's PCA, measures filter-normalized
 * sharpness, the Hessian's extreme eigenvalues and, on request, adaptive sharpness — in that priority order under the time budget —
 * into a run folder, the epoch's `logs`, and (optionally) MLflow; at the end of training it computes
 * the final surfaces and writes the report.
 */
import { AdaptiveSharpnessMeasurement, type AdaptiveSharpnessSettings } from './adaptive-sharpness-callback.js';
import { writeFinalAnalysis, type FinalAnalysisPlan } from './final-analysis.js';
import type { FinalDensitySettings } from './final-density.js';
import { checkFinalSurfaceSettings, type FinalSurfaceSettings } from './final-surfaces.js';
import { DEFAULT_HESSIAN_PROBE_SIZE, HessianMeasurement, type HessianSettings } from './hessian-callback.js';
import { checkDensityOptions } from '../src/landscape/hessian-density.js';
import { MeasurementCallback, type MeasurementCallbackOptions } from './measurement-callback.js';
import type { Measurement } from './measurement.js';
import { SharpnessMeasurement, type SharpnessSettings } from './sharpness-callback.js';
import { SnapshotMeasurement, type SnapshotSettings } from './snapshot-callback.js';
import { TrajectoryMeasurement, type TrajectorySettings } from './trajectory-callback.js';
import { WeightsMeasurement } from './weights-callback.js';

/** Options of `LandscapeMonitor`. */
export interface LandscapeMonitorOptions extends MeasurementCallbackOptions {
  /** Sharpness settings, or false to skip it. @default {} */
  readonly sharpness?: SharpnessSettings | false;
  /** Hessian settings, or false to skip it. @default {} */
  readonly hessian?: HessianSettings | false;
  /**
   * Adaptive (scale-invariant) sharpness: true or its settings to measure it, after the Hessian
   * (a few exact gradients and ~12 losses on the probe per epoch). @default false
   */
  readonly adaptiveSharpness?: AdaptiveSharpnessSettings | boolean;
  /** Trajectory settings, or false to skip its PCA. @default {} (needs a runDir) */
  readonly trajectory?: TrajectorySettings | false;
  /**
   * Without the trajectory: snapshot settings (e.g. `{ keepLast: 3 }`), or false for none.
   * With the trajectory, it snapshots every epoch itself and keeps them all.
   * @default false
   */
  readonly snapshots?: SnapshotSettings | false;
  /**
   * At the end of training: a 1-D slice, a 2-D surface and the loss over the trajectory's PCA
   * plane around the final weights, on the probe set (surfaces.json, drawn in the report), or false.
   * @default { resolution: 21, sliceResolution: 41, range: 1, pca: true }
   */
  readonly finalSurfaces?: FinalSurfaceSettings | false;
  /**
   * At the end of training, after the surfaces and within what is left of their time limit: the
   * Hessian's eigenvalue spectral density by stochastic Lanczos quadrature (density.json, drawn in
   * the report with its negative mass), or false. On the Hessian's probe samples.
   * @default { vectors: 2, steps: 40, points: 400 } (false when `hessian` is false)
   */
  readonly finalDensity?: FinalDensitySettings | false;
}

/**
 * Watches the loss landscape while a model trains.
 * @example
 * const monitor = landscapeMonitor({ probe: { x: xProbe, y: yProbe }, runDir: 'runs' });
 * await model.fit(x, y, { epochs: 30, batchSize: 64, callbacks: [monitor] });
 * // runs/<run-id>/: run.json, metrics.jsonl, snapshots/
 */
export class LandscapeMonitor extends MeasurementCallback {
  /** @throws {TypeError|RangeError} naming the option, the value and what is allowed */
  constructor(options: LandscapeMonitorOptions) {
    const measurements: Measurement[] = [new WeightsMeasurement()];
    let trajectory: TrajectoryMeasurement | null = null;
    if (options?.trajectory !== false) {
      if (options?.runDir === null) throw new RangeError('landscapeMonitor: trajectory needs a runDir for its snapshots; pass runDir or trajectory: false');
      if (options?.snapshots) throw new RangeError('landscapeMonitor: snapshots (pruning) go with trajectory: false; the trajectory keeps every snapshot for its PCA');
      trajectory = new TrajectoryMeasurement(options?.trajectory || {}, 'landscapeMonitor: trajectory');
      measurements.push(trajectory);
    } else if (options?.snapshots) {
      measurements.push(new SnapshotMeasurement(options.snapshots, 'landscapeMonitor: snapshots'));
    }
    if (options?.sharpness !== false) measurements.push(new SharpnessMeasurement(options?.sharpness || {}, 'landscapeMonitor: sharpness'));
    if (options?.hessian !== false) measurements.push(new HessianMeasurement(options?.hessian || {}, 'landscapeMonitor: hessian'));
    const adaptive = options?.adaptiveSharpness;
    if (adaptive !== undefined && adaptive !== false && adaptive !== true && (typeof adaptive !== 'object' || adaptive === null)) {
      throw new TypeError(`landscapeMonitor: adaptiveSharpness = ${JSON.stringify(adaptive)} is not true, false or a settings object ({ radius, steps, directions })`);
    }
    if (adaptive) measurements.push(new AdaptiveSharpnessMeasurement(adaptive === true ? {} : adaptive, 'landscapeMonitor: adaptiveSharpness'));
    if (options?.finalSurfaces) checkFinalSurfaceSettings(options.finalSurfaces, 'landscapeMonitor: finalSurfaces');
    super(options, measurements, 'landscapeMonitor');
    this.trajectory = trajectory;
    const density = options?.finalDensity;
    if (density !== undefined && density !== false && (typeof density !== 'object' || density === null)) {
      throw new TypeError(`landscapeMonitor: finalDensity = ${JSON.stringify(density)} is not false or a settings object ({ vectors, steps, points })`);
    }
    if (density) checkDensityOptions(density, 'landscapeMonitor: finalDensity');
    this.finalDensity = density === false || options?.runDir === null || (density === undefined && options?.hessian === false) ? null : { ...(density || {}) };
    this.hessianProbeSize = (options?.hessian || {}).probeSize ?? DEFAULT_HESSIAN_PROBE_SIZE;
    this.finalSurfaces = options?.finalSurfaces === false || options?.runDir === null ? null : { ...(options?.finalSurfaces || {}), pca: options?.trajectory !== false && (options?.finalSurfaces || {}).pca !== false };
  }

  private readonly finalSurfaces: FinalSurfaceSettings | null;
  private readonly finalDensity: FinalDensitySettings | null;
  private readonly hessianProbeSize: number;
  private readonly trajectory: TrajectoryMeasurement | null;

  protected override async afterTraining(seconds: number): Promise<void> {
    if (this.context === null || this.context.run === null) return;
    if (this.finalSurfaces === null && this.finalDensity === null) return;
    const begun = performance.now();
    // Training on the pure-JS cpu backend: the analysis runs on the measurement worker's wasm
    // backend (6–35× faster), the same code at the same weights, writing into the same folder.
    const worker = this.finalWorker;
    if (worker !== null) {
      try {
        const { notes, error } = await worker.final(
          {
            ...this.finalPlan(),
            weights: await this.weightsForWorker(),
            runDir: this.context.run.dir,
            limitSeconds: seconds,
          },
          (line) => this.progress(line),
        );
        for (const [key, value] of Object.entries(notes)) this.note(key, value);
        this.note('finalAnalysis', { on: 'measurement worker', backend: this.measurementWorker?.backend ?? null });
        if (error !== undefined) throw new Error(error);
        return;
      } catch (e) {
        // A worker that died takes nothing with it: the analysis runs here instead, in what is left.
        if (!/measurement worker/.test((e as Error)?.message ?? '')) throw e;
        this.progress(`end-of-training analysis: ${(e as Error).message}; running it on the training thread`);
      }
    }
    const notes = await writeFinalAnalysis(this.context, this.finalPlan(), (line) => this.progress(line), seconds - (performance.now() - begun) / 1000, this.options.strict === true);
    for (const [key, value] of Object.entries(notes)) this.note(key, value);
  }

  /** What the end-of-training analysis computes. */
  private finalPlan(): FinalAnalysisPlan {
    return { surfaces: this.finalSurfaces, trajectory: this.finalSurfaces === null ? null : this.trajectory?.state() ?? null, density: this.finalDensity, hessianProbeSize: this.hessianProbeSize };
  }
}

/** Creates a LandscapeMonitor. */
export function landscapeMonitor(options: LandscapeMonitorOptions): LandscapeMonitor {
  return new LandscapeMonitor(options);
}
