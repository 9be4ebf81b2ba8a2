/**
 * The `model.fit` callback behind every landscope callback: at the end of each monitored epoch it
 * runs its measurements on a fixed probe set, within a time budget, puts their numbers into the
 * epoch's `logs` (for EarlyStopping, tfjs-vis, History), appends a line to the run folder's
 * metrics.jsonl, queues the numbers for MLflow, and restores the weights bit for bit. A measurement
 * that throws becomes an errored value with a warning and training goes on, unless `strict` is set.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { mlflowSinkFromEnv, type MlflowSink } from '../src/io/mlflow-sink.js';
import { writeAtomic } from '../src/io/write-atomic.js';
import { chartJsSource } from '../reports/chart-js-source.js';
import { runReportData } from '../reports/run-report-data.js';
import { renderRunReport } from '../reports/run-report.js';
import { makeRunId, readRunFolder, RunFolder } from '../src/io/run-folder.js';
import { LandscopeError } from '../src/errors.js';
import { resolveLoss } from '../src/model/model-loss.js';
import { modelWeights, readModelWeights, writeModelWeights } from '../src/model/model-weights.js';
import { optimizerSnapshot, type OptimizerSnapshot } from '../src/model/optimizer-state.js';
import { LANDSCOPE_VERSION } from '../src/version.js';
import type { MeasureContext, Measurement, MeasureResult, PortableMeasurement } from './measurement.js';
import { tensorData, workerBackendFor } from './measurement-worker-client.js';
import type { WorkerOutcome } from './measurement-worker.js';
import { OffThreadMeasurements, type OffThreadJob } from './off-thread-measurements.js';
import { checkServeSetting, serveRuns, type ServeSetting } from './live-server.js';

/** Options every landscope callback takes. */
export interface MeasurementCallbackOptions {
  /** A fixed probe set (inputs and labels as `fit` takes them), evaluated in inference mode. */
  readonly probe: { readonly x: tf.Tensor; readonly y: tf.Tensor };
  /** Measure every `every` epochs (and after the last). @default 1 */
  readonly every?: number;
  /**
   * The monitor's time on the training thread, from `onTrainBegin` to the end of the last epoch's
   * measurement, as a fraction of training time: a measurement that would exceed what is left is
   * skipped that epoch (recorded as skipped: 'budget'); unused budget carries over, overspending
   * is paid back. The measurement before training runs in full (nothing is known of its cost yet)
   * and is charged too. Measurements on the worker cost the training thread only the hand-over.
   * `null`: no limit.
   * @default 0.1
   */
  readonly budget?: number | null;
  /**
   * End-of-training analysis (final surfaces, the report) as a fraction of training time: final surfaces lower their resolution to fit, and say
   * so. `null`: no limit.
   * @default 0.25
   */
  readonly finalBudget?: number | null;
  /**
   * Measure sharpness and the Hessian on a worker thread with its own TF.js backend (wasm, or
   * tfjs-node when training runs on it), while training goes on: each epoch's weights are handed
   * over and `fit` continues at once; results land in metrics.jsonl and MLflow as they arrive, and
   * a later epoch's `logs` carry the newest ones with the epoch they were measured at
   * (`hessian_max_epoch`, …). When the worker falls behind, waiting epochs are skipped for the
   * newest (skipped: 'behind'), unless `budget` is null: then training waits for the worker's
   * previous epoch. `false`: measure on the training thread, between epochs.
   * @default true when the machine has a spare core and training runs on a single-threaded backend (wasm, cpu)
   */
  readonly worker?: boolean;
  /** Throw (stopping training) when a measurement fails, instead of recording an error. @default false */
  readonly strict?: boolean;
  /** Folder under which `runs/<runId>/` is written; `null`: no run folder. @default 'runs' */
  readonly runDir?: string | null;
  /** The run's id (its folder name). @default a timestamp, the name and a random suffix */
  readonly runId?: string;
  /** A human-readable name for the run. */
  readonly name?: string;
  /** Seed of the random directions and start vectors. @default 1 */
  readonly seed?: number;
  /** Samples per forward pass on the probe. @default 256 */
  readonly batchSize?: number;
  /** Loss name. @default the model's compiled loss */
  readonly loss?: string;
  /** Called with each epoch's record after it is written. */
  readonly onRecord?: (record: EpochRecord) => void | Promise<void>;
  /**
   * Where to send the run in MLflow: a sink, or false for none.
   * @default a sink from MLFLOW_TRACKING_URI (and its token/user variables) when that is set
   */
  readonly mlflow?: MlflowSink | false;
  /** How long `onTrainEnd` waits for MLflow to take what is queued. @default 15000 */
  readonly mlflowCloseTimeoutMs?: number;
  /** Write `report.html` into the run folder when training ends (and upload it to MLflow). @default true */
  readonly report?: boolean;
  /**
   * Serve the run folder root live (`landscope serve`'s dashboard) from this script: a port (0:
   * any free one), `{ port, host }`, or true for 6006 on 127.0.0.1. The URL is printed once; the
   * server does not keep the process alive. One that cannot start (the port is taken) is a warning.
   * @default false
   */
  readonly serve?: ServeSetting | boolean;
  /** Where warnings go. @default console.warn */
  readonly warn?: (message: string) => void;
  /** Where progress lines go (end-of-training work). @default stderr */
  readonly log?: (line: string) => void;
}

/** One line of metrics.jsonl. */
export interface EpochRecord {
  readonly epoch: number;
  readonly time: string;
  /** Seconds of training in this epoch (null for the pre-training measurement). */
  readonly trainSeconds: number | null;
  /** Seconds the monitor spent on this epoch. */
  readonly monitorSeconds: number;
  /** The epoch's logs from fit (loss, acc, val_loss, …) plus the monitor's numbers. */
  readonly logs: Record<string, number>;
  /** Measurements skipped by the budget. */
  readonly skipped: string[];
  readonly [measurement: string]: unknown;
}

const DEFAULT_BUDGET = 0.1;
const DEFAULT_FINAL_BUDGET = 0.25;
/** How often run.json's heartbeat is refreshed while training runs (ms); see `HEARTBEAT_STALE_SECONDS`. */
const HEARTBEAT_MS = 30_000;

/** A `model.fit` callback running landscope measurements; see the file comment. */
export class MeasurementCallback extends tf.Callback {
  /** The run folder, once training began (null without one). */
  run: RunFolder | null = null;
  /** Seconds spent: training, monitoring during training (what the budget governs), end-of-training analysis. */
  get seconds(): { training: number; duringTraining: number; final: number } {
    return { training: this.trainSeconds, duringTraining: this.budgetSpent, final: this.finalSeconds };
  }

  /** The records written so far. */
  readonly records: EpochRecord[] = [];
  protected readonly options: MeasurementCallbackOptions;
  /** `options.budget` and `options.finalBudget` with their defaults. */
  private readonly budget: number | null;
  private readonly finalBudget: number | null;
  private readonly measurements: Measurement[];
  protected context: MeasureContext | null = null;
  private epochStarted = 0;
  private trainSeconds = 0;
  private monitorSeconds = 0;
  /** Monitor time on the training thread from onTrainBegin to the last epoch's end: what the budget is charged. */
  private budgetSpent = 0;
  /** End-of-training analysis: waiting for the worker, final surfaces, the report. */
  private finalSeconds = 0;
  /** Whether the worker's first measurement costs were said. */
  private costsSaid = false;
  /** The measurement worker and its queue (null: everything runs on the training thread). */
  private offThread: OffThreadMeasurements<PendingJob> | null = null;
  /** Measurements the worker takes (while it is available). */
  private portable: Measurement[] = [];
  /** Measurements whose `begin` ran on this thread. */
  private readonly begun = new Set<Measurement>();
  /** Records not written yet, in epoch order: a record waits for the worker's part. */
  private readonly unwritten: PendingRecord[] = [];
  private writing: Promise<void> = Promise.resolve();
  /** The newest values the worker delivered, with the epoch they were measured at. */
  private readonly latest = new Map<string, { value: number; epoch: number }>();
  /** Why epochs still on the worker when it is closed were not measured. */
  private abandonReason: 'budget' | 'failed' = 'budget';
  /** A worker measurement's error in strict mode, thrown at the next hook. */
  private deferredError: unknown = null;
  private readonly lastCost = new Map<string, number>();
  private lastEpoch = -1;
  private started = '';
  private runInfo: Record<string, unknown> = {};
  private readonly name: string;
  private sink: MlflowSink | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  /** One-hot labels made from a probe of class ids for a categorical loss (owned here). */
  private probeY: tf.Tensor | null = null;
  /** Set once the run is closed (finished, failed or killed): closing again does nothing. */
  private closed = false;
  /** run.json writes, one after another in call order, so a heartbeat never lands over the final status. */
  private runWrites: Promise<void> = Promise.resolve();

  /**
   * @param options probe set and settings (validated here)
   * @param measurements what to measure each monitored epoch, in priority order
   * @param name the callback's name in error messages
   * @throws {TypeError|RangeError} naming the option, the value and what is allowed
   */
  constructor(options: MeasurementCallbackOptions, measurements: Measurement[], name = 'landscapeMonitor') {
    super();
    this.name = name;
    validateOptions(options, name);
    this.options = options;
    this.budget = options.budget === undefined ? DEFAULT_BUDGET : options.budget;
    this.finalBudget = options.finalBudget === undefined ? DEFAULT_FINAL_BUDGET : options.finalBudget;
    this.measurements = measurements;
  }

  override async onTrainBegin(): Promise<void> {
    const t0 = performance.now();
    try {
      await this.closingOnError(() => this.trainBegin());
    } finally {
      this.budgetSpent += (performance.now() - t0) / 1000;
    }
  }

  override async onEpochEnd(epoch: number, logs?: tf.Logs): Promise<void> {
    const t0 = performance.now();
    try {
      await this.closingOnError(() => this.epochEnd(epoch, logs));
    } finally {
      this.budgetSpent += (performance.now() - t0) / 1000;
    }
  }

  /**
   * Runs a hook; an error it lets through (strict mode, a probe that does not fit) stops `fit`,
   * and TF.js then never calls `onTrainEnd`: so the run is closed here as failed first.
   */
  private async closingOnError(hook: () => Promise<void>): Promise<void> {
    try {
      this.throwDeferred();
      await hook();
    } catch (e) {
      await this.fail(e).catch(() => {});
      throw e;
    }
  }

  /** In strict mode, an error the worker reported since the last hook stops training now. */
  private throwDeferred(): void {
    const e = this.deferredError;
    this.deferredError = null;
    if (e !== null) throw e;
  }

  /**
   * The measurement worker, when one measures this run (null otherwise): its thread id and the
   * backend it measures on (null until it has loaded).
   */
  get measurementWorker(): { threadId: number; backend: string | null } | null {
    return this.offThread?.current ?? null;
  }

  /**
   * Kills the measurement worker (e.g. to free its core for a while): the epoch it was measuring
   * is recorded as an error, and the next epoch starts a fresh worker.
   */
  async terminateWorker(): Promise<void> {
    await this.offThread?.kill();
  }

  /** Starts (or joins) the live dashboard of the run folder root; a server that cannot start is a warning. */
  private async startServer(setting: ServeSetting | true): Promise<void> {
    try {
      const { server, started } = await serveRuns(this.options.runDir ?? 'runs', setting);
      if (started) this.progress(`live dashboard: ${server.url}${this.run === null ? '' : ` (this run: ${server.url}run?id=${encodeURIComponent(this.run.id)})`}`);
    } catch (e) {
      if (this.options.strict === true) throw e;
      this.warn(`${this.name}: serve: the dashboard could not start: ${(e as Error)?.message ?? String(e)} (training goes on; \`landscope serve ${this.options.runDir ?? 'runs'}\` serves it from another shell)`);
    }
  }

  private async trainBegin(): Promise<void> {
    const model = this.model as unknown as tf.LayersModel;
    const { probe } = this.options;
    const name = this.name;
    let loss;
    try {
      loss = resolveLoss(model, this.options.loss);
    } catch (e) {
      throw new LandscopeError('UNSUPPORTED_MODEL', `${name}: ${(e as Error).message}`);
    }
    checkProbeFits(model, probe, name);
    this.probeY = await oneHotProbeLabels(model, probe.y, loss.name, name);
    this.run = this.options.runDir === null ? null : await RunFolder.create(this.options.runDir ?? 'runs', this.options.runId ?? makeRunId(this.options.name));
    this.context = {
      model,
      probe: { x: probe.x, y: this.probeY ?? probe.y },
      loss: this.options.loss,
      batchSize: this.options.batchSize ?? 256,
      run: this.run,
      seed: this.options.seed ?? 1,
    };
    this.started = new Date().toISOString();
    const weights = model.trainableWeights;
    const workerPlan = this.planWorker(model, loss.name);
    this.runInfo = {
      id: this.run?.id ?? null,
      name: this.options.name ?? null,
      start: this.started,
      // Who writes this run: a reader that finds it 'running' with this process gone calls it killed.
      process: { pid: process.pid, host: hostname() },
      backend: tf.getBackend(),
      landscopeVersion: LANDSCOPE_VERSION,
      tfjsVersion: tf.version.tfjs,
      options: describeOptions(this.options),
      loss: loss.label,
      model: {
        name: model.name,
        layers: model.layers.map((l) => ({ name: l.name, class: l.getClassName() })),
        trainableParameters: weights.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0),
        weights: model.weights.map((w) => ({ name: w.originalName, shape: w.shape, trainable: weights.includes(w) })),
      },
      probe: { samples: probe.x.shape[0], xShape: probe.x.shape, yShape: probe.y.shape },
      seeds: { directions: this.context.seed },
      fit: { epochs: this.params?.['epochs'] ?? null, batchSize: this.params?.['batchSize'] ?? null },
      worker: workerPlan.use ? { measures: this.portable.map((m) => m.name), backend: workerBackendFor(tf.getBackend()) } : { off: workerPlan.why },
    };
    await this.writeRun('running');
    if (this.options.serve !== undefined && this.options.serve !== false) await this.startServer(this.options.serve);
    if (this.run !== null) {
      this.heartbeat = setInterval(() => void this.writeRun('running').catch(() => {}), HEARTBEAT_MS);
      this.heartbeat.unref();
    }
    this.sink = this.options.mlflow === false ? null : (this.options.mlflow ?? mlflowSinkFromEnv(process.env, { runName: this.options.name ?? this.run?.id ?? 'landscope' }, (m) => this.warn(`${this.name}: ${m}`)));
    this.sink?.start(
      { ...flattenParams(this.runInfo['options'] as Record<string, unknown>), loss: loss.label, backend: tf.getBackend(), trainable_parameters: (this.runInfo['model'] as { trainableParameters: number }).trainableParameters, probe_samples: probe.x.shape[0] },
      { 'landscope.run_id': this.run?.id ?? '', 'landscope.version': LANDSCOPE_VERSION, 'landscope.model': model.name, ...(this.options.name !== undefined ? { 'mlflow.runName': this.options.name } : {}) },
    );
    if (tf.getBackend() === 'cpu') {
      this.warn(
        `${this.name}: training runs on TF.js's pure-JavaScript cpu backend, the slowest there is. Faster: @tensorflow/tfjs-node (import it instead of @tensorflow/tfjs), or @tensorflow/tfjs-backend-wasm with \`await tf.setBackend('wasm')\` (6–35× faster here; landscope depends on it already).` +
          (workerPlan.use ? ' The monitor itself measures on a wasm worker.' : ''),
      );
    }
    if (workerPlan.use) await this.startWorker(model, workerPlan.loss as string);
    for (const m of this.measurements) if (!this.onWorker(m)) await this.begin(m);
    this.progress(this.startLine());
    await this.measureEpoch(-1, {}, null);
  }

  /** Whether the measurement worker is used, and why not. */
  private planWorker(model: tf.LayersModel, lossName: string | undefined): { use: boolean; why?: string; loss?: string } {
    const portable = this.measurements.filter((m) => m.portable !== undefined);
    const backend = tf.getBackend();
    const spare = availableParallelism() >= 2;
    const wanted = this.options.worker ?? (spare && (backend === 'wasm' || backend === 'cpu'));
    if (!wanted) return { use: false, why: this.options.worker === false ? 'worker: false' : !spare ? 'no spare core' : `the ${backend} backend uses every core itself` };
    if (portable.length === 0) return { use: false, why: 'nothing to measure off the training thread' };
    const loss = this.options.loss ?? lossName;
    if (loss === undefined) return { use: false, why: 'the compiled loss is a function, which cannot be sent to a worker (pass loss: <name>)' };
    try {
      model.toJSON();
    } catch (e) {
      return { use: false, why: `the model cannot be serialized for a worker: ${(e as Error).message}` };
    }
    this.portable = portable;
    return { use: true, loss };
  }

  /** Starts the measurement worker (without waiting for it to load). */
  private async startWorker(model: tf.LayersModel, loss: string): Promise<void> {
    const context = this.context as MeasureContext;
    const [xs, ys] = await Promise.all([context.probe.x.data(), context.probe.y.data()]);
    const probe = { x: tensorData(xs as Float32Array, context.probe.x.shape, context.probe.x.dtype), y: tensorData(ys as Float32Array, context.probe.y.shape, context.probe.y.dtype) };
    const init = () => ({
      model: JSON.stringify(model.toJSON(undefined, false)),
      backend: workerBackendFor(tf.getBackend()),
      probe,
      loss,
      batchSize: context.batchSize,
      seed: context.seed,
      measurements: this.portable.map((m) => ({ name: m.name, portable: m.portable as PortableMeasurement })),
    });
    this.offThread = new OffThreadMeasurements<PendingJob>(init, {
      done: (job, outcomes) => this.workerDone(job, outcomes),
      failed: (job, error) => this.workerFailed(job, error),
      behind: (job) => this.workerSkipped(job, 'behind'),
      abandoned: (job) => this.workerSkipped(job, this.abandonReason),
      ready: (backend) => {
        this.runInfo = { ...this.runInfo, worker: { ...(this.runInfo['worker'] as object), backend } };
      },
    });
    this.offThread.start();
  }

  /** True when `m` is measured on the worker (while the worker is available). */
  private onWorker(m: Measurement): boolean {
    return this.offThread !== null && this.offThread.available && this.portable.includes(m);
  }

  private async begin(m: Measurement): Promise<void> {
    if (this.begun.has(m)) return;
    this.begun.add(m);
    await m.begin?.(this.context as MeasureContext);
  }

  override async onEpochBegin(): Promise<void> {
    this.epochStarted = performance.now();
  }

  private async epochEnd(epoch: number, logs?: tf.Logs): Promise<void> {
    const trained = (performance.now() - this.epochStarted) / 1000;
    this.trainSeconds += trained;
    const every = this.options.every ?? 1;
    const epochs = this.params?.['epochs'] as number | undefined;
    // Early stopping (a callback before this one set stopTraining) also makes this the last epoch.
    const stopping = (this.model as unknown as { stopTraining?: boolean }).stopTraining === true;
    const last = (epochs !== undefined && epoch === epochs - 1) || stopping;
    if (!((epoch + 1) % every === 0 || last)) return;
    await this.measureEpoch(epoch, logs ?? {}, trained);
  }

  override async onTrainEnd(): Promise<void> {
    if (this.closed) return;
    this.stopHeartbeat();
    const epochs = this.params?.['epochs'] as number | undefined;
    const stopped = (this.model as unknown as { stopTraining?: boolean }).stopTraining === true;
    const status = epochs !== undefined && this.lastEpoch < epochs - 1 && !stopped ? 'killed' : 'finished';
    if (this.offThread !== null) {
      // The last epochs' measurements may still be on the worker: the wait is monitoring during
      // training, so the budget bounds it (what it cuts off is recorded as skipped: 'budget').
      const waited = performance.now();
      const budget = this.budget;
      if (this.offThread.busy) this.progress('waiting for the measurement worker to finish the last epoch');
      this.abandonReason = 'budget';
      const drained = await this.offThread.drain(budget === null ? Infinity : (budget * this.trainSeconds - this.budgetSpent) * 1000);
      // An idle worker stays for the end-of-training analysis when training's own backend is the
      // slow cpu (`finalWorker`); otherwise, or with an epoch cut off, it stops here.
      if (!(drained && tf.getBackend() === 'cpu' && this.offThread.available)) {
        await this.offThread.close();
        this.offThread = null;
      }
      this.budgetSpent += (performance.now() - waited) / 1000;
    }
    const t0 = performance.now();
    const finalBudget = this.finalBudget;
    const allowance = () => (finalBudget === null ? Infinity : finalBudget * this.trainSeconds - (performance.now() - t0) / 1000);
    await this.writing;
    try {
      // In strict mode, an error the worker reported for the last epochs fails the run.
      this.throwDeferred();
    } catch (e) {
      await this.fail(e).catch(() => {});
      throw e;
    }
    for (const m of this.measurements) m.end?.();
    try {
      await this.afterTraining(allowance());
    } catch (e) {
      if (this.options.strict === true) {
        await this.fail(e).catch(() => {});
        throw e;
      }
      this.warn(`${this.name}: end-of-training work failed: ${(e as Error)?.message ?? String(e)}`);
    }
    await this.offThread?.close();
    this.offThread = null;
    this.finalSeconds += (performance.now() - t0) / 1000;
    this.releaseProbe();
    await this.writeRun(status);
    this.closed = true;
    await this.writeReport();
    await this.closeSink(status === 'finished' ? 'FINISHED' : 'KILLED');
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private releaseProbe(): void {
    this.probeY?.dispose();
    this.probeY = null;
  }

  /**
   * The measurement worker, idle, during `afterTraining` when it can take the end-of-training
   * analysis off the training thread's slow cpu backend (null otherwise).
   */
  protected get finalWorker(): Pick<OffThreadMeasurements<OffThreadJob>, 'final'> | null {
    return this.offThread !== null && this.offThread.available && !this.offThread.busy ? this.offThread : null;
  }

  /** Every weight of the model (`model.weights` order) as one buffer, for the worker. */
  protected async weightsForWorker(): Promise<Float32Array> {
    return allWeights(this.model as unknown as tf.LayersModel);
  }

  /**
   * Work after the last epoch, before the report (the monitor computes its final surfaces here).
   * @param seconds how long it may take (Infinity: no limit)
   */
  protected async afterTraining(seconds: number): Promise<void> {
    void seconds;
  }

  /** The line said when training begins: what is measured where, within what, and where it goes. */
  private startLine(): string {
    const names = (ms: Measurement[]) => ms.map((m) => m.name).join(', ');
    const offThread = this.offThread === null ? [] : this.measurements.filter((m) => this.portable.includes(m));
    const here = this.measurements.filter((m) => !offThread.includes(m));
    const budget = this.budget;
    const finalBudget = this.finalBudget;
    const every = this.options.every ?? 1;
    return (
      `measuring ${every === 1 ? 'every epoch' : `every ${every} epochs`}: ${names(here)} on the training thread` +
      (offThread.length > 0 ? `, ${names(offThread)} on a ${workerBackendFor(tf.getBackend())} worker` : '') +
      `; budget ${budget === null ? 'none' : `${Math.round(budget * 100)}% of training`}, end of training ${finalBudget === null ? 'no limit' : `≤ ${Math.round(finalBudget * 100)}%`}` +
      `; ${this.run === null ? 'no run folder' : `run folder ${this.run.dir}`}`
    );
  }

  /** Records something about the run in run.json (e.g. why end-of-training work was skipped). */
  protected note(key: string, value: unknown): void {
    this.runInfo = { ...this.runInfo, [key]: value };
  }

  /** Writes a warning (to `options.warn`). */
  private warn(message: string): void {
    (this.options.warn ?? console.warn)(message);
  }

  /** Writes a progress line. */
  protected progress(line: string): void {
    (this.options.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(`${this.name}: ${line}`);
  }

  /** Writes report.html into the run folder; a failure is a warning, never an error. */
  private async writeReport(): Promise<void> {
    if (this.run === null || this.options.report === false) return;
    try {
      const html = renderRunReport(runReportData(await readRunFolder(this.run.dir)), chartJsSource());
      await writeAtomic(join(this.run.dir, 'report.html'), html);
      this.progress(`report: ${join(this.run.dir, 'report.html')}`);
    } catch (e) {
      if (this.options.strict === true) throw e;
      this.warn(`${this.name}: the report could not be written: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  /** Uploads the run folder's files, sets the final status, and keeps what could not be sent. */
  private async closeSink(status: 'FINISHED' | 'FAILED' | 'KILLED'): Promise<void> {
    const sink = this.sink;
    if (sink === null) return;
    this.sink = null;
    if (this.run !== null) {
      for (const file of ['run.json', 'metrics.jsonl', 'report.html']) {
        const content = await readFile(join(this.run.dir, file)).catch(() => null);
        if (content !== null) sink.uploadArtifact(file, new Uint8Array(content));
      }
    }
    const report = await sink.close(status, this.options.mlflowCloseTimeoutMs ?? 15_000);
    if (report.unsent.length > 0) await this.run?.appendText('mlflow-unsent.jsonl', report.unsent.map((u) => JSON.stringify(u)).join('\n') + '\n');
    if (report.failed.length > 0 || report.unsent.length > 0) {
      const why = [
        ...(report.failed.length > 0 ? [`${report.failed.length} failed (${report.failed[0]?.error})`] : []),
        ...(report.timedOut !== null ? [`timeout: the server did not answer within ${(report.timedOut.afterMs / 1000).toFixed(1)} s of the end of training`] : []),
      ];
      this.warn(`${this.name}: MLflow: ${report.sent} calls sent, ${report.unsent.length} not sent${this.run ? ` (kept in ${join(this.run.dir, 'mlflow-unsent.jsonl')})` : ''}; ${why.join('; ')}`);
    }
    this.runInfo = { ...this.runInfo, mlflow: { runId: report.runId, experimentId: report.experimentId, sent: report.sent, failed: report.failed, unsent: report.unsent.length } };
    await this.persistRun();
  }

  /**
   * Marks the run failed and closes it: run.json says `failed` with the error, the MLflow run is
   * ended as FAILED (what it could not send is kept in mlflow-unsent.jsonl), the measurements are
   * released. The monitor calls it for errors it sees itself (strict mode); call it for an error
   * thrown by your own code or another callback, which `fit` does not tell callbacks about:
   * `try { await model.fit(…) } catch (e) { await monitor.fail(e); throw e; }`. A second call, or a
   * call after the run ended, does nothing.
   */
  async fail(error: unknown): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopHeartbeat();
    this.runInfo = { ...this.runInfo, error: String((error as Error)?.message ?? error) };
    this.abandonReason = 'failed';
    await this.offThread?.close();
    this.offThread = null;
    await this.flush();
    await this.writeRun('failed');
    for (const m of this.measurements) m.end?.();
    this.releaseProbe();
    await this.writeReport();
    await this.closeSink('FAILED');
  }

  private async writeRun(status: string): Promise<void> {
    this.runInfo = {
      ...this.runInfo,
      status,
      end: status === 'running' ? null : new Date().toISOString(),
      heartbeat: new Date().toISOString(),
      epochsMeasured: this.records.length,
      // monitor: all measurement time; duringTraining: what the budget governs; final: end-of-training analysis.
      seconds: { training: this.trainSeconds, monitor: this.monitorSeconds, duringTraining: this.budgetSpent, final: this.finalSeconds },
    };
    await this.persistRun();
  }

  /** Queues a write of run.json as it is now. */
  private persistRun(): Promise<void> {
    const run = this.run;
    if (run === null) return Promise.resolve();
    const info = this.runInfo;
    this.runWrites = this.runWrites.catch(() => {}).then(() => run.writeRun(info));
    return this.runWrites;
  }

  /**
   * Measures after `epoch` (−1: before training): the measurements on this thread now, within the
   * budget; the worker's from a copy of the weights, handed over without waiting for them. The
   * epoch's record is written once both parts are in (records are written in epoch order).
   */
  private async measureEpoch(epoch: number, logs: tf.Logs, trained: number | null): Promise<void> {
    const context = this.context;
    if (context === null) return;
    const started = performance.now();
    const model = context.model;
    const record: Record<string, unknown> = {};
    const skipped: string[] = [];
    const added: Record<string, number> = {};
    const budget = this.budget;
    // Without a budget nothing is skipped: training waits for the worker's previous epoch.
    if (budget === null && this.offThread !== null) await this.offThread.drain(Infinity);
    const toWorker = this.measurements.filter((m) => this.onWorker(m));
    const here = this.measurements.filter((m) => !toWorker.includes(m));
    // The optimizer as this epoch left it, for the Hessian's edge of stability.
    const optimizer = this.measurements.some((m) => m.name === 'hessian') ? await this.optimizerNow(model) : null;
    if (optimizer !== null) record['optimizer'] = optimizer.state;
    const epochContext: MeasureContext = { ...context, optimizer };
    // Measuring on the training thread changes the weights: they are put back bit for bit.
    const before = here.some((m) => m.essential !== true) ? readModelWeights(model) : null;
    try {
      for (const m of here) {
        const spent = this.budgetSpent + (performance.now() - started) / 1000;
        const cost = this.lastCost.get(m.name);
        if (m.essential !== true && budget !== null && trained !== null && cost !== undefined && spent + cost > budget * this.trainSeconds) {
          skipped.push(m.name);
          record[m.name] = { skipped: 'budget', estimatedSeconds: cost };
          continue;
        }
        await this.begin(m);
        const t0 = performance.now();
        let result: MeasureResult;
        try {
          result = await m.measure(epochContext, epoch);
        } catch (e) {
          if (this.options.strict === true) throw e;
          const message = (e as Error)?.message ?? String(e);
          this.warn(`${this.name}: ${m.name} failed at epoch ${epoch}: ${message} (recorded as an error; training goes on)`);
          record[m.name] = { error: message };
          continue;
        } finally {
          this.lastCost.set(m.name, (performance.now() - t0) / 1000);
          if (before !== null && m.essential !== true) writeModelWeights(model, before);
        }
        record[m.name] = { ...result.record, seconds: (performance.now() - t0) / 1000 };
        Object.assign(added, result.logs);
      }
    } finally {
      before?.dispose();
    }
    if (trained !== null) this.lastEpoch = epoch;
    Object.assign(logs, added);
    // fit's own logs may still be scalar tensors here (BaseLogger resolves them later).
    const numericLogs: Record<string, number> = {};
    for (const [key, v] of Object.entries(logs as Record<string, unknown>)) {
      if (typeof v === 'number') numericLogs[key] = v;
      else if (v instanceof tf.Tensor && v.size === 1) numericLogs[key] = (await v.data())[0] as number;
    }
    const pending: PendingRecord = { line: { epoch, time: new Date().toISOString(), trainSeconds: trained, monitorSeconds: 0, logs: numericLogs, skipped, ...record }, waiting: toWorker.length > 0 };
    this.unwritten.push(pending);
    if (toWorker.length > 0) this.offThread?.submit({ epoch, weights: await allWeights(model), optimizer, record: pending, measurements: toWorker });
    // A later epoch's logs carry the worker's newest values, with the epoch they were measured at.
    for (const [key, { value, epoch: at }] of this.latest) {
      if (key in added) continue;
      (logs as Record<string, number>)[key] = value;
      (logs as Record<string, number>)[`${key}_epoch`] = at;
    }
    const monitorSeconds = (performance.now() - started) / 1000;
    pending.line['monitorSeconds'] = monitorSeconds;
    this.monitorSeconds += monitorSeconds;
    await this.flush();
  }

  /** The optimizer's state and preconditioner, or null (with a warning) when they cannot be read. */
  private async optimizerNow(model: tf.LayersModel): Promise<OptimizerSnapshot | null> {
    try {
      return await optimizerSnapshot(model, true);
    } catch (e) {
      if (this.options.strict === true) throw e;
      this.warn(`${this.name}: the optimizer's state could not be read: ${(e as Error)?.message ?? String(e)} (no edge of stability this epoch)`);
      return null;
    }
  }

  /** Writes the records that are complete, in epoch order (metrics.jsonl, MLflow, onRecord). */
  private flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      while (this.unwritten.length > 0 && !(this.unwritten[0] as PendingRecord).waiting) {
        const line = (this.unwritten.shift() as PendingRecord).line as EpochRecord;
        this.records.push(line);
        await this.run?.appendMetrics(line as unknown as Record<string, unknown>);
        this.sink?.logMetrics(line.epoch + 1, line.logs);
        try {
          await this.options.onRecord?.(line);
        } catch (e) {
          if (this.options.strict === true) this.deferredError ??= e;
          else this.warn(`${this.name}: onRecord failed at epoch ${line.epoch}: ${(e as Error)?.message ?? String(e)}`);
        }
      }
    });
    return this.writing;
  }

  /** The worker measured an epoch: its values join the epoch's record. */
  private workerDone(job: PendingJob, outcomes: Record<string, WorkerOutcome>): void {
    const line = job.record.line;
    const logs = line['logs'] as Record<string, number>;
    let seconds = 0;
    for (const m of job.measurements) {
      const outcome = outcomes[m.name];
      if (outcome === undefined) continue;
      seconds += outcome.seconds;
      if ('error' in outcome) {
        this.measurementFailed(m.name, job.epoch, new Error(outcome.error));
        line[m.name] = { error: outcome.error, seconds: outcome.seconds, worker: true };
        continue;
      }
      line[m.name] = { ...outcome.record, seconds: outcome.seconds, worker: true };
      Object.assign(logs, outcome.logs);
      for (const [key, value] of Object.entries(outcome.logs)) {
        const had = this.latest.get(key);
        if (had === undefined || had.epoch <= job.epoch) this.latest.set(key, { value, epoch: job.epoch });
      }
    }
    line['workerSeconds'] = seconds;
    job.record.waiting = false;
    this.sayCosts(job, outcomes, seconds);
    void this.flush();
  }

  /**
   * Once, when the worker has measured the first epoch of training: what each measurement costs
   * against the epoch it measured, and whether the worker keeps up with training.
   */
  private sayCosts(job: PendingJob, outcomes: Record<string, WorkerOutcome>, seconds: number): void {
    const trained = job.record.line['trainSeconds'];
    if (this.costsSaid || job.epoch < 0 || typeof trained !== 'number' || !(trained > 0)) return;
    this.costsSaid = true;
    const parts = job.measurements.filter((m) => outcomes[m.name] !== undefined).map((m) => `${m.name} ${(outcomes[m.name] as WorkerOutcome).seconds.toFixed(2)} s`);
    const every = this.options.every ?? 1;
    const ratio = seconds / (trained * every);
    this.progress(
      `measurement costs on the worker: ${parts.join(', ')} per epoch, against ${trained.toFixed(2)} s of training per epoch: ` +
        (ratio <= 1
          ? 'it keeps up, every epoch is measured'
          : this.budget === null
            ? `it is ${ratio.toFixed(1)}× slower, and with budget: null training waits for it: every epoch is measured, each epoch taking about ${ratio.toFixed(1)}× as long`
            : `it is ${ratio.toFixed(1)}× slower, so it will measure about 1 epoch in ${Math.ceil(ratio)}, each time the newest (the others recorded as skipped: 'behind')`),
    );
  }

  /** The worker stopped while measuring an epoch: its measurements are errors; training goes on. */
  private workerFailed(job: PendingJob, error: Error): void {
    for (const m of job.measurements) {
      this.measurementFailed(m.name, job.epoch, error);
      job.record.line[m.name] = { error: error.message, worker: true };
    }
    job.record.waiting = false;
    if (this.offThread !== null && !this.offThread.available) {
      this.warn(`${this.name}: ${error.message}; measuring ${job.measurements.map((m) => m.name).join(' and ')} on the training thread from now on`);
    }
    void this.flush();
  }

  /** An epoch the worker did not measure: recorded as skipped, with why. */
  private workerSkipped(job: PendingJob, why: 'behind' | 'budget' | 'failed'): void {
    for (const m of job.measurements) {
      (job.record.line['skipped'] as string[]).push(m.name);
      job.record.line[m.name] = { skipped: why };
    }
    job.record.waiting = false;
    void this.flush();
  }

  private measurementFailed(name: string, epoch: number, error: Error): void {
    if (this.options.strict === true) this.deferredError ??= error;
    else this.warn(`${this.name}: ${name} failed at epoch ${epoch}: ${error.message} (recorded as an error; training goes on)`);
  }
}

/** An epoch's record until every part of it is in. */
interface PendingRecord {
  readonly line: Record<string, unknown> & { epoch: number };
  /** True while the worker's part is missing. */
  waiting: boolean;
}

/** An epoch handed to the worker. */
interface PendingJob extends OffThreadJob {
  readonly record: PendingRecord;
  readonly measurements: readonly Measurement[];
}

/** Every weight of the model (`model.weights` order), concatenated into one new buffer. */
async function allWeights(model: tf.LayersModel): Promise<Float32Array> {
  const weights = modelWeights(model);
  const flat = new Float32Array(weights.reduce((n, w) => n + w.variable.size, 0));
  let offset = 0;
  for (const w of weights) {
    flat.set((await w.variable.data()) as Float32Array, offset);
    offset += w.variable.size;
  }
  return flat;
}

function validateOptions(options: MeasurementCallbackOptions, name: string): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${name}: options must be an object with at least { probe: { x, y } }`);
  const probe = options.probe;
  if (probe === undefined || !(probe.x instanceof tf.Tensor) || !(probe.y instanceof tf.Tensor)) {
    throw new TypeError(`${name}: probe must be { x: tf.Tensor, y: tf.Tensor }, got ${probe === undefined ? 'undefined' : `{ x: ${typeof probe.x}, y: ${typeof probe.y} }`}`);
  }
  if (probe.x.rank === 0 || probe.x.shape[0] === 0) throw new RangeError(`${name}: probe.x has shape [${probe.x.shape}]: the probe set is empty`);
  if (probe.y.shape[0] !== probe.x.shape[0]) throw new RangeError(`${name}: probe.y has ${probe.y.shape[0]} rows, probe.x has ${probe.x.shape[0]}`);
  const every = options.every ?? 1;
  if (!(Number.isInteger(every) && every >= 1)) throw new RangeError(`${name}: every = ${every} is not a positive integer`);
  for (const key of ['budget', 'finalBudget'] as const) {
    const v = options[key];
    if (v !== undefined && v !== null && !(typeof v === 'number' && v > 0)) throw new RangeError(`${name}: ${key} = ${v} is not a positive fraction of training time (or null for no limit)`);
  }
  if (options.worker !== undefined && typeof options.worker !== 'boolean') throw new TypeError(`${name}: worker = ${String(options.worker)} is not true or false`);
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`${name}: batchSize = ${batchSize} is not a positive integer`);
  const seed = options.seed ?? 1;
  if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 31 - 1)) throw new RangeError(`${name}: seed = ${seed} is not an integer from 0 to 2147483646`);
  if (options.runDir !== undefined && options.runDir !== null && typeof options.runDir !== 'string') throw new TypeError(`${name}: runDir must be a folder path or null`);
  checkServeSetting(options.serve, name);
  if (options.serve !== undefined && options.serve !== false && options.runDir === null) throw new RangeError(`${name}: serve shows the run folders: it needs a runDir (got runDir: null)`);
}

function checkProbeFits(model: tf.LayersModel, probe: { x: tf.Tensor; y: tf.Tensor }, name: string): void {
  const input = model.inputs[0]?.shape ?? [];
  if (probe.x.rank !== input.length || input.some((d, i) => i > 0 && d !== null && d !== probe.x.shape[i])) {
    throw new LandscopeError('DATA_SHAPE', `${name}: probe.x has shape [${probe.x.shape}], the model's input is [${input.map((d) => d ?? 'N')}]`);
  }
  const output = model.outputs[0]?.shape ?? [];
  const ids = probe.y.rank === 1 || (probe.y.rank === 2 && probe.y.shape[1] === 1);
  if (!ids && (probe.y.rank !== output.length || output.some((d, i) => i > 0 && d !== null && d !== probe.y.shape[i]))) {
    throw new LandscopeError('LABEL_SHAPE', `${name}: probe.y has shape [${probe.y.shape}], the model's output is [${output.map((d) => d ?? 'N')}]`);
  }
}

/**
 * Class ids `[N]` or `[N, 1]` given for a categorical cross-entropy would broadcast against the
 * `[N, C]` output into a wrong loss: they become one-hot labels (null when no conversion is needed).
 * @throws {LandscopeError} `LABEL_SHAPE` for ids that are not integers from 0 to C − 1
 */
async function oneHotProbeLabels(model: tf.LayersModel, y: tf.Tensor, loss: string | undefined, name: string): Promise<tf.Tensor | null> {
  const classes = model.outputs[0]?.shape.at(-1) ?? 1;
  const ids = y.rank === 1 || (y.rank === 2 && y.shape[1] === 1);
  if (!ids || loss !== 'categoricalCrossentropy' || classes === null || classes < 2) return null;
  const values = await y.data();
  const bad = Array.from(values).findIndex((v) => !(Number.isInteger(v) && v >= 0 && v < classes));
  if (bad >= 0) {
    throw new LandscopeError('LABEL_SHAPE', `${name}: probe.y has shape [${y.shape}] (class ids) but row ${bad} is ${values[bad]}: class ids must be integers from 0 to ${classes - 1} (or give one-hot labels [N, ${classes}])`);
  }
  return tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(values), 'int32'), classes).toFloat());
}

function describeOptions(options: MeasurementCallbackOptions): Record<string, unknown> {
  const { probe, onRecord, warn, mlflow, log, ...rest } = options;
  void probe;
  void onRecord;
  void warn;
  void mlflow;
  void log;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}

/** Nested options as flat MLflow params: `{ hessian: { tol } }` → `hessian.tol`. */
function flattenParams(value: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flattenParams(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}
