/**
 * Scheduling of the measurements that run on the measurement worker: one epoch in flight at a
 * time; when training is faster than the measurements, only the newest waiting epoch is kept and
 * the one it replaces is reported as left behind (never silently dropped); a worker that fails to
 * start, crashes or is killed fails its epoch and is replaced by a fresh one, up to `maxRestarts`
 * times, after which `available` turns false and the caller measures on its own thread.
 */
import { MeasurementWorker, type WorkerInit } from './measurement-worker-client.js';
import type { WorkerOutcome } from './measurement-worker.js';
import type { OptimizerSnapshot } from '../src/model/optimizer-state.js';

/** One epoch's weights to measure. */
export interface OffThreadJob {
  readonly epoch: number;
  /** Every weight of the model, concatenated; transferred to the worker when sent. */
  readonly weights: Float32Array;
  /** The optimizer as the epoch left it; its preconditioner's buffers are transferred too. */
  readonly optimizer?: OptimizerSnapshot | null;
}

/** What happens to each job: exactly one of these is called for it. */
export interface OffThreadHandlers<J extends OffThreadJob> {
  done(job: J, outcomes: Record<string, WorkerOutcome>): void;
  failed(job: J, error: Error): void;
  /** Replaced by a newer epoch before it was sent. */
  behind(job: J): void;
  /** Not measured because the caller closed the worker first (`close`). */
  abandoned(job: J): void;
  /** A worker is ready to measure, on this backend. */
  ready?(backend: string): void;
}

/** The worker's job queue; see the file comment. */
export class OffThreadMeasurements<J extends OffThreadJob> {
  private worker: MeasurementWorker | null = null;
  private started = 0;
  private inFlight: J | null = null;
  private queued: J | null = null;
  private idle: (() => void)[] = [];
  private closed = false;

  /**
   * @param init what a worker is started with (called for each worker started)
   * @param handlers where each job's outcome goes
   * @param maxRestarts fresh workers after the first one stops
   */
  constructor(
    private readonly init: () => WorkerInit,
    private readonly handlers: OffThreadHandlers<J>,
    private readonly maxRestarts = 2,
  ) {}

  /**
   * False once the worker stopped more often than `maxRestarts` allows, or could not set up at all
   * (another would fail the same way), or after `close`.
   */
  get available(): boolean {
    if (this.closed || this.worker === null) return !this.closed;
    return !this.worker.stopped || (!this.worker.failedToStart && this.started <= this.maxRestarts);
  }

  /** Kills the running worker (its epoch in flight fails); the next epoch starts a fresh one. */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  /** Whether a job is in flight or waiting. */
  get busy(): boolean {
    return this.inFlight !== null || this.queued !== null;
  }

  /** The running worker's thread id and backend, if any. */
  get current(): { threadId: number; backend: string | null } | null {
    return this.worker === null || this.worker.stopped ? null : { threadId: this.worker.threadId, backend: this.worker.backend };
  }

  /** Starts a worker now (it loads while training goes on). */
  start(): void {
    this.ensureWorker();
  }

  /** Measures `job` now, or after the one in flight (replacing, as left behind, one already waiting). */
  submit(job: J): void {
    if (this.inFlight === null) return this.send(job);
    if (this.queued !== null) this.handlers.behind(this.queued);
    this.queued = job;
  }

  /**
   * Waits until no job is in flight or waiting, at most `timeoutMs`.
   * @returns true when everything was measured in time
   */
  async drain(timeoutMs: number): Promise<boolean> {
    if (!this.busy) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idle.push(() => resolve(true)));
    if (!Number.isFinite(timeoutMs)) return idle;
    const drained = await Promise.race([idle, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs))))]);
    clearTimeout(timer);
    return drained;
  }

  /**
   * The end-of-training analysis on the worker (see `MeasurementWorker.final`), once no epoch is in
   * flight or waiting.
   * @throws {Error} when no worker runs, a job is pending, or the worker stops before answering
   */
  async final(...args: Parameters<MeasurementWorker['final']>): ReturnType<MeasurementWorker['final']> {
    const worker = this.worker;
    if (this.closed || worker === null || worker.stopped) throw new Error('no measurement worker is running');
    if (this.busy) throw new Error('the measurement worker is still measuring an epoch');
    return worker.final(...args);
  }

  /** Stops the worker; jobs still in flight or waiting are abandoned. */
  async close(): Promise<void> {
    this.closed = true;
    const left = [this.inFlight, this.queued].filter((j): j is J => j !== null);
    this.inFlight = null;
    this.queued = null;
    const worker = this.worker;
    this.worker = null;
    for (const job of left) this.handlers.abandoned(job);
    this.settle();
    await worker?.terminate();
  }

  private ensureWorker(): MeasurementWorker | null {
    if (this.worker !== null && !this.worker.stopped) return this.worker;
    if (!this.available) return null;
    this.started++;
    this.worker = new MeasurementWorker(this.init(), (backend) => this.handlers.ready?.(backend));
    return this.worker;
  }

  private send(job: J): void {
    const worker = this.ensureWorker();
    if (worker === null) {
      this.handlers.failed(job, new Error('the measurement worker stopped too often'));
      return this.next();
    }
    this.inFlight = job;
    worker.measure(job.epoch, job.weights, job.optimizer ?? null).then(
      (outcomes) => {
        if (this.inFlight !== job) return;
        this.inFlight = null;
        this.handlers.done(job, outcomes);
        this.next();
      },
      (error: Error) => {
        if (this.inFlight !== job) return;
        this.inFlight = null;
        this.handlers.failed(job, error);
        this.next();
      },
    );
  }

  private next(): void {
    const job = this.queued;
    this.queued = null;
    if (job !== null && !this.closed) this.send(job);
    this.settle();
  }

  private settle(): void {
    if (this.busy) return;
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
  }
}
