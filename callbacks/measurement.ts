/**
 * One thing a landscape callback measures at the end of an epoch (sharpness, Hessian extremes,
 * the trajectory, weight norms). The callback owns timing, the budget, error handling, logs and
 * the run folder; a measurement only computes.
 */
import type * as tf from '@tensorflow/tfjs';
import type { RunFolder } from '../src/io/run-folder.js';
import type { OptimizerSnapshot } from '../src/model/optimizer-state.js';
import type { Dataset } from '../src/model/prepare-data.js';

/** What a measurement sees. */
export interface MeasureContext {
  readonly model: tf.LayersModel;
  /** The probe set, in inference mode. */
  readonly probe: Dataset;
  /** The loss name (or undefined for the compiled loss). */
  readonly loss: string | undefined;
  readonly batchSize: number;
  /** The run folder, when the callback writes one. */
  readonly run: RunFolder | null;
  readonly seed: number;
  /**
   * The optimizer as the epoch left it (read on the training thread, handed to the worker with
   * the weights): the Hessian measures the edge of stability from it. Absent before it is known.
   */
  readonly optimizer?: OptimizerSnapshot | null;
}

/** A measurement's result: a JSON-ready record, plus the numbers that go into `logs`. */
export interface MeasureResult {
  readonly record: Record<string, unknown>;
  readonly logs: Record<string, number>;
}

/**
 * How to rebuild a measurement on the measurement worker (callbacks/measurement-worker.ts): its
 * kind and its settings, which must survive structured cloning.
 */
export interface PortableMeasurement {
  readonly kind: 'sharpness' | 'hessian' | 'adaptive-sharpness';
  readonly settings: unknown;
}

/** A measurement taken each monitored epoch. */
export interface Measurement {
  /** Its key in metrics.jsonl, e.g. `sharpness`. */
  readonly name: string;
  /**
   * Set when the measurement only reads the weights and the probe (no run folder, no optimizer):
   * it can then run on the measurement worker, off the training thread.
   */
  readonly portable?: PortableMeasurement;
  /** Cheap and needed every epoch (weights, snapshots): the budget never skips it. */
  readonly essential?: boolean;
  /** Set up (the model is compiled and the probe fits it). */
  begin?(context: MeasureContext): Promise<void>;
  /**
   * Measures after epoch `epoch` (−1: before training).
   * @param epoch the epoch just finished
   */
  measure(context: MeasureContext, epoch: number): Promise<MeasureResult>;
  /** Releases what it holds. */
  end?(): void;
}
