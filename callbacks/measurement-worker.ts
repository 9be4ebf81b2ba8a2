/**
 * The measurement worker's thread (worker_threads): it rebuilds the training model from its
 * architecture (`model.toJSON()`) on a TF.js backend of its own, holds the probe set and the
 * portable measurements (sharpness, Hessian), and measures each epoch's weights it is handed
 * while training goes on in the main thread — and, when training runs on the slow cpu backend, the
 * end-of-training analysis on its own faster one. Messages: see `WorkerRequest` and `WorkerReply`.
 * The main thread's side is callbacks/measurement-worker-client.ts.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendName } from '../src/cli/backend.js';
import { ParamList } from '../src/core/param-list.js';
import { modelWeights, writeModelWeights } from '../src/model/model-weights.js';
import type { OptimizerSnapshot } from '../src/model/optimizer-state.js';
import { RunFolder } from '../src/io/run-folder.js';
import { AdaptiveSharpnessMeasurement, type AdaptiveSharpnessSettings } from './adaptive-sharpness-callback.js';
import { writeFinalAnalysis, type FinalAnalysisPlan } from './final-analysis.js';
import { HessianMeasurement, type HessianSettings } from './hessian-callback.js';
import type { MeasureContext, Measurement, PortableMeasurement } from './measurement.js';
import { SharpnessMeasurement, type SharpnessSettings } from './sharpness-callback.js';

/** A tensor as plain data. */
export interface TensorData {
  readonly data: Float32Array | Int32Array;
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
}

/** What the main thread sends. */
export type WorkerRequest =
  | {
      readonly type: 'init';
      /** `model.toJSON()`. */
      readonly model: string;
      readonly backend: BackendName;
      readonly probe: { readonly x: TensorData; readonly y: TensorData };
      /** A loss name (the worker's model is not compiled). */
      readonly loss: string;
      readonly batchSize: number;
      readonly seed: number;
      readonly measurements: readonly { readonly name: string; readonly portable: PortableMeasurement }[];
    }
  | {
      readonly type: 'measure';
      readonly epoch: number;
      /** Every weight of the model (`model.weights` order), concatenated. */
      readonly weights: Float32Array;
      /** The optimizer as the epoch left it (for the edge of stability). */
      readonly optimizer: OptimizerSnapshot | null;
    }
  | ({
      /** The end-of-training analysis at the final weights, written into the run folder. */
      readonly type: 'final';
      readonly weights: Float32Array;
      readonly runDir: string;
      readonly limitSeconds: number;
    } & FinalAnalysisPlan);

/** One measurement's outcome. */
export type WorkerOutcome =
  | { readonly record: Record<string, unknown>; readonly logs: Record<string, number>; readonly seconds: number }
  | { readonly error: string; readonly seconds: number };

/** What the worker answers. */
export type WorkerReply =
  | { readonly type: 'ready'; readonly backend: string }
  | { readonly type: 'init-error'; readonly message: string }
  | { readonly type: 'result'; readonly epoch: number; readonly outcomes: Record<string, WorkerOutcome> }
  | { readonly type: 'progress'; readonly line: string }
  /** notes: what run.json should say of the analysis (a part skipped for the limit, or its error). */
  | { readonly type: 'final-result'; readonly notes: Record<string, unknown>; readonly error?: string };

const KINDS: Record<PortableMeasurement['kind'], (settings: unknown, name: string) => Measurement> = {
  sharpness: (s, name) => new SharpnessMeasurement(s as SharpnessSettings, name),
  hessian: (s, name) => new HessianMeasurement(s as HessianSettings, name),
  'adaptive-sharpness': (s, name) => new AdaptiveSharpnessMeasurement(s as AdaptiveSharpnessSettings, name),
};

let state: { model: tf.LayersModel; context: MeasureContext; measurements: Measurement[] } | null = null;
let ready: Promise<void> = Promise.resolve();

function tensorOf(t: TensorData): tf.Tensor {
  return tf.tensor(t.data, t.shape, t.dtype);
}

async function init(request: Extract<WorkerRequest, { type: 'init' }>): Promise<void> {
  let backend: string;
  try {
    backend = await selectBackend(request.backend);
  } catch {
    backend = await selectBackend('cpu');
  }
  const model = await tf.models.modelFromJSON(JSON.parse(request.model) as tf.io.ModelJSON['modelTopology'] as never);
  const context: MeasureContext = {
    model,
    probe: { x: tensorOf(request.probe.x), y: tensorOf(request.probe.y) },
    loss: request.loss,
    batchSize: request.batchSize,
    run: null,
    seed: request.seed,
  };
  const measurements = request.measurements.map((m) => KINDS[m.portable.kind](m.portable.settings, m.name));
  for (const m of measurements) await m.begin?.(context);
  state = { model, context, measurements };
  parentPort?.postMessage({ type: 'ready', backend } satisfies WorkerReply);
}

/** Sets the model's weights from one flat buffer (`model.weights` order). */
function setWeights(model: tf.LayersModel, flat: Float32Array): void {
  const weights = modelWeights(model);
  let offset = 0;
  const list = new ParamList(
    weights.map((w) => {
      const size = w.variable.size;
      const values = flat.subarray(offset, offset + size);
      offset += size;
      return { name: w.name, tensor: tf.tensor(values, w.variable.shape, 'float32') };
    }),
  );
  writeModelWeights(model, list);
  list.dispose();
}

async function measure(request: Extract<WorkerRequest, { type: 'measure' }>): Promise<void> {
  const { model, context, measurements } = state as NonNullable<typeof state>;
  setWeights(model, request.weights);
  const outcomes: Record<string, WorkerOutcome> = {};
  for (const m of measurements) {
    const t0 = performance.now();
    try {
      const result = await m.measure({ ...context, optimizer: request.optimizer }, request.epoch);
      outcomes[m.name] = { record: result.record, logs: result.logs, seconds: (performance.now() - t0) / 1000 };
    } catch (e) {
      outcomes[m.name] = { error: (e as Error)?.message ?? String(e), seconds: (performance.now() - t0) / 1000 };
    }
  }
  parentPort?.postMessage({ type: 'result', epoch: request.epoch, outcomes } satisfies WorkerReply);
}

/** The final surfaces and density, as the monitor computes them in-thread (see callbacks/final-*.ts). */
async function final(request: Extract<WorkerRequest, { type: 'final' }>): Promise<void> {
  const { model, context } = state as NonNullable<typeof state>;
  setWeights(model, request.weights);
  const log = (line: string) => parentPort?.postMessage({ type: 'progress', line } satisfies WorkerReply);
  try {
    const notes = await writeFinalAnalysis({ ...context, run: RunFolder.reopen(request.runDir) }, request, log, request.limitSeconds, false);
    parentPort?.postMessage({ type: 'final-result', notes } satisfies WorkerReply);
  } catch (e) {
    parentPort?.postMessage({ type: 'final-result', notes: {}, error: (e as Error)?.message ?? String(e) } satisfies WorkerReply);
  }
}

parentPort?.on('message', (request: WorkerRequest) => {
  // One request at a time, in order: the main thread sends the next epoch only after a result.
  ready = ready.then(async () => {
    if (request.type === 'init') {
      try {
        await init(request);
      } catch (e) {
        parentPort?.postMessage({ type: 'init-error', message: (e as Error)?.message ?? String(e) } satisfies WorkerReply);
      }
    } else if (state !== null && request.type === 'final') {
      await final(request);
    } else if (state !== null && request.type === 'measure') {
      await measure(request);
    }
  });
});
