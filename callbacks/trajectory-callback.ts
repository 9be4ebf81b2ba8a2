/**
 * Snapshots and the running PCA of the optimization trajectory (Li et al. 2018, section 7).
 * The trainable weights are snapshotted before training and after every monitored epoch as raw
 * float32 files in the run folder (not kept in memory); the Gram matrix of the snapshots relative
 * to the first one grows by one row per epoch (one pass over the earlier snapshots on disk), and
 * the PCA of θ_e − θ_last is recomputed from it (src/core/trajectory-pca.ts).
 */

import { snapshotDot, snapshotMask } from '../src/core/snapshot-dot.js';
import { trajectoryPca } from '../src/core/trajectory-pca.js';
import type { RunFolder } from '../src/io/run-folder.js';
import { takeSnapshot } from './snapshot-callback.js';
import { MeasurementCallback, type MeasurementCallbackOptions } from './measurement-callback.js';
import type { MeasureContext, Measurement, MeasureResult } from './measurement.js';

/** Trajectory settings. */
export interface TrajectorySettings {
  /** `none`: every trainable weight (the reference code's default); `biasbn`: tensors of rank ≤ 1 excluded. @default 'none' */
  readonly ignore?: 'none' | 'biasbn';
  /** How many components' coordinates to report. @default 2 */
  readonly components?: number;
}

/** The running PCA's state: what the end-of-training PCA plane is built from. */
export interface TrajectoryState {
  /** The Gram matrix of θ_e − θ_0 over the covered entries, row-major m×m. */
  readonly gram: Float64Array;
  /** The snapshots' labels and epochs, in order. */
  readonly labels: readonly string[];
  readonly epochs: readonly number[];
  /** The entries the PCA covers (undefined: all). */
  readonly mask: Uint8Array | undefined;
}

/** Snapshots the weights and tracks the trajectory's PCA; see the file comment. */
export class TrajectoryMeasurement implements Measurement {
  readonly name = 'trajectory';
  readonly essential = true;
  private labels: string[] = [];
  private epochs: number[] = [];
  private gram: number[][] = [];
  private mask: Uint8Array | undefined;
  private first: Float32Array | null = null;

  constructor(private readonly settings: TrajectorySettings = {}, private readonly what = 'trajectory') {
    if (settings.ignore !== undefined && settings.ignore !== 'none' && settings.ignore !== 'biasbn') {
      throw new RangeError(`${what}: ignore '${settings.ignore}' is not one of none, biasbn`);
    }
  }

  /** The Gram matrix and snapshots so far (the same the epochs' PCA used: `ignore` applied). */
  state(): TrajectoryState {
    return { gram: Float64Array.from(this.gram.flat()), labels: [...this.labels], epochs: [...this.epochs], mask: this.mask };
  }

  async begin(context: MeasureContext): Promise<void> {
    if (context.run === null) throw new RangeError(`${this.what}: the trajectory needs a run folder for its snapshots (runDir is null)`);
  }

  async measure(context: MeasureContext, epoch: number): Promise<MeasureResult> {
    const run = context.run as RunFolder;
    const { label, tensors, flat } = await takeSnapshot(context, epoch);
    if (this.first === null) this.mask = snapshotMask(tensors.map((t) => t.shape), this.settings.ignore ?? 'none');
    this.first ??= flat;
    // One new Gram row: (θ_new − θ_0)·(θ_i − θ_0), reading earlier snapshots from disk.
    const row: number[] = [];
    const first = this.first;
    const mask = this.mask;
    for (const other of this.labels) row.push(snapshotDot(flat, await run.readSnapshot(other), first, mask));
    row.push(snapshotDot(flat, flat, first, mask));
    this.gram.forEach((r, i) => r.push(row[i] as number));
    this.gram.push(row);
    this.labels.push(label);
    this.epochs.push(epoch);
    const m = this.labels.length;
    const pca = trajectoryPca(this.gram.flat(), m, this.settings.components ?? 2);
    const evr = pca.explainedVarianceRatio.slice(0, 5);
    return {
      record: {
        snapshot: label,
        snapshots: m,
        explainedVarianceRatio: evr,
        coords: { x: pca.coords[0] ?? [], y: pca.coords[1] ?? [] },
        epochs: [...this.epochs],
        ignore: this.settings.ignore ?? 'none',
        parameters: flat.length,
      },
      logs: { ...(evr[0] !== undefined ? { pca_evr1: evr[0] } : {}), ...(evr[1] !== undefined ? { pca_evr2: evr[1] } : {}) },
    };
  }
}

/** Options of `TrajectoryCallback`. */
export interface TrajectoryCallbackOptions extends MeasurementCallbackOptions, TrajectorySettings {}

/**
 * A callback that snapshots the weights every epoch and reports the trajectory's PCA.
 * @example await model.fit(x, y, { epochs: 10, callbacks: [trajectoryCallback({ probe: { x: xp, y: yp } })] });
 */
export class TrajectoryCallback extends MeasurementCallback {
  /** @throws {TypeError|RangeError} for bad options */
  constructor(options: TrajectoryCallbackOptions) {
    super(options, [new TrajectoryMeasurement(options, 'trajectoryCallback')], 'trajectoryCallback');
  }
}

/** Creates a TrajectoryCallback. */
export function trajectoryCallback(options: TrajectoryCallbackOptions): TrajectoryCallback {
  return new TrajectoryCallback(options);
}

