/**
 * Weight snapshots during training: the trainable weights, before training and after every
 * monitored epoch, as raw float32 files in the run folder (see src/io/run-folder.ts), optionally
 * pruned to the first and the last few. The trajectory PCA takes its own snapshots and needs them
 * all, so pruning is for runs that keep snapshots without the trajectory.
 */
import type { RunFolder, SnapshotTensor } from '../src/io/run-folder.js';
import { modelWeights } from '../src/model/model-weights.js';
import { MeasurementCallback, type MeasurementCallbackOptions } from './measurement-callback.js';
import type { MeasureContext, Measurement, MeasureResult } from './measurement.js';

/** The label of the snapshot after `epoch` (−1: `init`). */
export function snapshotLabel(epoch: number): string {
  return epoch < 0 ? 'init' : `epoch-${String(epoch).padStart(4, '0')}`;
}

/**
 * Writes the model's trainable weights to the run folder as one flat float32 snapshot.
 * @returns the snapshot's label, its layout and values
 */
export async function takeSnapshot(context: MeasureContext, epoch: number): Promise<{ label: string; tensors: SnapshotTensor[]; flat: Float32Array }> {
  const run = context.run as RunFolder;
  const weights = modelWeights(context.model).filter((w) => w.trainable);
  const tensors: SnapshotTensor[] = [];
  let offset = 0;
  for (const w of weights) {
    tensors.push({ name: w.name, shape: w.variable.shape, offset });
    offset += w.variable.size;
  }
  const flat = new Float32Array(offset);
  for (const [i, w] of weights.entries()) flat.set((await w.variable.data()) as Float32Array, (tensors[i] as SnapshotTensor).offset);
  const label = snapshotLabel(epoch);
  await run.writeSnapshot(label, epoch, tensors, flat);
  return { label, tensors, flat };
}

/** Snapshot settings. */
export interface SnapshotSettings {
  /** Keep the first snapshot and the last `keepLast` on disk; delete the others. @default all kept */
  readonly keepLast?: number;
}

/** Takes a snapshot each monitored epoch; see the file comment. */
export class SnapshotMeasurement implements Measurement {
  readonly name = 'snapshot';
  readonly essential = true;

  constructor(private readonly settings: SnapshotSettings = {}, private readonly what = 'snapshot') {
    const keep = settings.keepLast;
    if (keep !== undefined && !(Number.isInteger(keep) && keep >= 1)) throw new RangeError(`${what}: keepLast = ${keep} is not a positive integer`);
  }

  async begin(context: MeasureContext): Promise<void> {
    if (context.run === null) throw new RangeError(`${this.what}: snapshots need a run folder (runDir is null)`);
  }

  async measure(context: MeasureContext, epoch: number): Promise<MeasureResult> {
    const { label, flat } = await takeSnapshot(context, epoch);
    const pruned = this.settings.keepLast === undefined ? [] : await (context.run as RunFolder).pruneSnapshots(this.settings.keepLast);
    return { record: { snapshot: label, parameters: flat.length, pruned }, logs: {} };
  }
}

/** Options of `SnapshotCallback`. */
export interface SnapshotCallbackOptions extends MeasurementCallbackOptions, SnapshotSettings {}

/**
 * A callback that snapshots the trainable weights each epoch into the run folder.
 * @example await model.fit(x, y, { epochs: 10, callbacks: [snapshotCallback({ probe: { x: xp, y: yp }, keepLast: 3 })] });
 */
export class SnapshotCallback extends MeasurementCallback {
  /** @throws {TypeError|RangeError} for bad options */
  constructor(options: SnapshotCallbackOptions) {
    super(options, [new SnapshotMeasurement(options, 'snapshotCallback')], 'snapshotCallback');
  }
}

/** Creates a SnapshotCallback. */
export function snapshotCallback(options: SnapshotCallbackOptions): SnapshotCallback {
  return new SnapshotCallback(options);
}
