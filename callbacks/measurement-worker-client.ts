/**
 * The main thread's handle on the measurement worker (callbacks/measurement-worker.ts): starts
 * it without waiting for it (training goes on while it loads TF.js and the model), sends one
 * epoch's weights at a time (their buffer is transferred, not copied), and turns a worker that
 * fails to start, crashes or is killed into an error for the epoch it was measuring.
 */
import { Worker } from 'node:worker_threads';
import type { OptimizerSnapshot } from '../src/model/optimizer-state.js';
import type { BackendName } from '../src/cli/backend.js';
import type { TensorData, WorkerOutcome, WorkerReply, WorkerRequest } from './measurement-worker.js';

/** What the worker is started with (see `WorkerRequest` 'init'). */
export type WorkerInit = Omit<Extract<WorkerRequest, { type: 'init' }>, 'type'>;

/** The worker's file: the compiled one next to this file, or dist/ when running from sources (tests). */
function workerUrl(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? '../dist/callbacks/measurement-worker.js' : './measurement-worker.js', import.meta.url);
}

/** A running measurement worker; see the file comment. */
export class MeasurementWorker {
  private readonly worker: Worker;
  private pending: { epoch: number; resolve: (o: Record<string, WorkerOutcome>) => void; reject: (e: Error) => void } | null = null;
  private pendingFinal: { resolve: (r: { notes: Record<string, unknown>; error?: string }) => void; reject: (e: Error) => void; progress: (line: string) => void } | null = null;
  /** Why the worker stopped (null while it runs). */
  private dead: Error | null = null;
  /** True when the worker could not set up (the model or backend cannot be loaded there): another would fail the same way. */
  failedToStart = false;
  /** The backend the worker measures on, once it is ready. */
  backend: string | null = null;

  /**
   * Starts the worker and sends it the model, probe and measurements.
   * @param init what it measures with
   * @param onReady called when the worker has loaded (with its backend)
   */
  constructor(init: WorkerInit, onReady: (backend: string) => void = () => {}) {
    this.worker = new Worker(workerUrl());
    // A monitor that is never closed (fit threw in user code) must not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'ready') {
        this.backend = reply.backend;
        onReady(reply.backend);
      } else if (reply.type === 'init-error') {
        this.failedToStart = true;
        this.stop(new Error(`the measurement worker could not start: ${reply.message}`));
        void this.worker.terminate();
      } else if (reply.type === 'progress') {
        this.pendingFinal?.progress(reply.line);
      } else if (reply.type === 'final-result' && this.pendingFinal !== null) {
        const p = this.pendingFinal;
        this.pendingFinal = null;
        p.resolve(reply.error !== undefined ? { notes: reply.notes, error: reply.error } : { notes: reply.notes });
      } else if (reply.type === 'result' && this.pending?.epoch === reply.epoch) {
        const p = this.pending;
        this.pending = null;
        p.resolve(reply.outcomes);
      }
    });
    this.worker.on('error', (e) => this.stop(new Error(`the measurement worker crashed: ${e.message}`)));
    this.worker.on('exit', (code) => this.stop(new Error(`the measurement worker exited (code ${code})`)));
    this.post({ type: 'init', ...init });
  }

  /** True once the worker failed to start, crashed, exited or was terminated. */
  get stopped(): boolean {
    return this.dead !== null;
  }

  /** The worker's thread id (e.g. to tell it apart in a debugger). */
  get threadId(): number {
    return this.worker.threadId;
  }

  /**
   * Measures one epoch's weights. The buffer of `weights` is transferred: it is unusable here after,
   * as are those of the optimizer's preconditioner.
   * @returns each measurement's outcome
   * @throws {Error} when the worker stops before answering
   */
  measure(epoch: number, weights: Float32Array, optimizer: OptimizerSnapshot | null = null): Promise<Record<string, WorkerOutcome>> {
    if (this.dead !== null) return Promise.reject(this.dead);
    if (this.pending !== null) return Promise.reject(new Error(`the measurement worker is still measuring epoch ${this.pending.epoch}`));
    return new Promise((resolve, reject) => {
      this.pending = { epoch, resolve, reject };
      const scaling = Object.values(optimizer?.scaling ?? {}).map((a) => a.buffer as ArrayBuffer);
      this.post({ type: 'measure', epoch, weights, optimizer }, [weights.buffer as ArrayBuffer, ...scaling]);
    });
  }

  /**
   * Runs the end-of-training analysis on the worker (it writes surfaces.json and density.json into
   * the run folder). The buffer of `request.weights` is transferred.
   * @param onProgress each progress line, as it comes
   * @returns what run.json should say of it, and the error that stopped it, if any
   * @throws {Error} when the worker stops before answering
   */
  final(request: Omit<Extract<WorkerRequest, { type: 'final' }>, 'type'>, onProgress: (line: string) => void): Promise<{ notes: Record<string, unknown>; error?: string }> {
    if (this.dead !== null) return Promise.reject(this.dead);
    if (this.pending !== null || this.pendingFinal !== null) return Promise.reject(new Error('the measurement worker is still busy'));
    return new Promise((resolve, reject) => {
      this.pendingFinal = { resolve, reject, progress: onProgress };
      this.post({ type: 'final', ...request }, [request.weights.buffer as ArrayBuffer]);
    });
  }

  /** Stops the worker; a measurement in flight fails. */
  async terminate(): Promise<void> {
    this.stop(new Error('the measurement worker was terminated'));
    await this.worker.terminate();
  }

  private post(request: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(request, transfer);
  }

  private stop(reason: Error): void {
    this.dead ??= reason;
    const p = this.pending;
    this.pending = null;
    p?.reject(this.dead);
    const f = this.pendingFinal;
    this.pendingFinal = null;
    f?.reject(this.dead);
  }
}

/** A tensor's values as plain data for the worker (a copy). */
export function tensorData(values: Float32Array | Int32Array | Uint8Array, shape: readonly number[], dtype: string): TensorData {
  return dtype === 'int32' ? { data: Int32Array.from(values), shape: [...shape], dtype: 'int32' } : { data: Float32Array.from(values), shape: [...shape], dtype: 'float32' };
}

/**
 * The backend the worker measures on for a training backend: wasm for the single-threaded
 * JavaScript backends (it is 6–35× faster than cpu), the same native backend otherwise.
 */
export function workerBackendFor(trainingBackend: string): BackendName {
  return trainingBackend === 'tensorflow' ? 'tensorflow' : 'wasm';
}
