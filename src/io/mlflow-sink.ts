/**
 * Sends a training run to MLflow without ever slowing or stopping training: calls are queued and
 * sent by a background worker, retried with exponential backoff (network errors, timeouts, 429,
 * 5xx), and whatever could not be sent by `close()` is handed back to be kept in the run folder.
 */
import { randomUUID } from 'node:crypto';
import { LOG_BATCH_LIMITS, MlflowClient, MlflowError, splitLogBatch, type MlflowConnection, type MlflowKeyValue, type MlflowMetric } from './mlflow-client.js';

/** Options of `MlflowSink`. */
export interface MlflowSinkOptions extends MlflowConnection {
  /** The experiment (created when missing). @default 'landscope' */
  readonly experimentName?: string;
  /** The MLflow run name. */
  readonly runName?: string;
  /** Attempts per call before giving up on it. @default 6 */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles each retry, with jitter. @default 250 */
  readonly backoffMs?: number;
  /** The longest backoff delay. @default 8000 */
  readonly maxBackoffMs?: number;
}

/** What happened to everything the sink was given. */
export interface SinkReport {
  /** The MLflow run id, when the run could be created. */
  readonly runId: string | null;
  readonly experimentId: string | null;
  /** Calls that succeeded. */
  readonly sent: number;
  /** Calls given up on, with the last error. */
  readonly failed: { what: string; error: string }[];
  /** Calls MLflow did not get — given up on (also in `failed`), not reached before the deadline, or after a failed run creation — in order, with their payloads. */
  readonly unsent: { what: string; payload: unknown }[];
  /** Why calls were left unsent when none failed: the server did not answer before the close deadline. */
  readonly timedOut: { readonly afterMs: number } | null;
}

interface Task {
  readonly what: string;
  readonly payload: unknown;
  readonly run: (client: MlflowClient) => Promise<void>;
}

const MAX_PARAM_LENGTH = 6000;
/** The tag that makes run creation idempotent across retries (see `MlflowSink.start`). */
export const CREATE_TOKEN_TAG = 'landscope.create_token';

/**
 * Makes a sink from MLFLOW_TRACKING_URI (and MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME /
 * MLFLOW_TRACKING_PASSWORD, MLFLOW_EXPERIMENT_NAME), or null when no tracking URI is set — or
 * when it is not an http(s) server (a `file://` store, a bare path), which `warn` is told.
 */
export function mlflowSinkFromEnv(env: Readonly<Record<string, string | undefined>>, overrides: Partial<MlflowSinkOptions> = {}, warn?: (message: string) => void): MlflowSink | null {
  const trackingUri = overrides.trackingUri ?? env['MLFLOW_TRACKING_URI'];
  if (trackingUri === undefined || trackingUri === '') return null;
  if (!/^https?:\/\//.test(trackingUri)) {
    warn?.(
      `MLflow: MLFLOW_TRACKING_URI=${trackingUri} is not an http(s) server, and landscope talks to MLflow over its REST API only (a file store cannot be reached that way): nothing is sent for this run. ` +
        'Start a server (`mlflow server --backend-store-uri <that folder>`) and set MLFLOW_TRACKING_URI=http://127.0.0.1:5000; the run folder keeps everything meanwhile.',
    );
    return null;
  }
  return new MlflowSink({
    token: env['MLFLOW_TRACKING_TOKEN'],
    username: env['MLFLOW_TRACKING_USERNAME'],
    password: env['MLFLOW_TRACKING_PASSWORD'],
    ...(env['MLFLOW_EXPERIMENT_NAME'] !== undefined ? { experimentName: env['MLFLOW_EXPERIMENT_NAME'] } : {}),
    ...overrides,
    trackingUri,
  });
}

/** A queue of MLflow calls sent in the background; see the file comment. */
export class MlflowSink {
  private readonly client: MlflowClient;
  private readonly queue: Task[] = [];
  private worker: Promise<void> | null = null;
  private closing = false;
  private deadline = Infinity;
  private runId: string | null = null;
  private experimentId: string | null = null;
  private artifactUri: string | null = null;
  private sent = 0;
  private readonly failed: { what: string; error: string }[] = [];
  private runFailed = false;
  /** Calls given up on (also listed in `failed`). */
  private readonly undelivered: Task[] = [];

  /** @throws {RangeError} for a tracking URI that is not http(s) */
  constructor(private readonly options: MlflowSinkOptions) {
    if (!/^https?:\/\//.test(options.trackingUri)) {
      throw new RangeError(`mlflow: trackingUri '${options.trackingUri}' is not an http(s) URL (file stores are not reachable over REST)`);
    }
    this.client = new MlflowClient(options);
  }

  /** Calls waiting to be sent. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Queues the run's creation with its params and tags. The run carries a tag
   * `landscope.create_token` unique to this sink: a creation whose reply was lost (a timeout) may
   * have happened, so before trying again the sink looks the run up by that tag and creates a
   * second one only when there is none.
   */
  start(params: Record<string, unknown>, tags: Record<string, string>, startTime = Date.now()): void {
    const token = randomUUID();
    const keyValues: MlflowKeyValue[] = [...Object.entries(tags), [CREATE_TOKEN_TAG, token] as const].map(([key, value]) => ({ key, value: value.slice(0, MAX_PARAM_LENGTH) }));
    let tried = false;
    this.enqueue({
      what: 'create run',
      payload: { tags: keyValues, startTime },
      run: async (c) => {
        this.experimentId = await c.getOrCreateExperiment(this.options.experimentName ?? 'landscope');
        const found = tried ? await c.findRunByTag(this.experimentId, CREATE_TOKEN_TAG, token) : null;
        tried = true;
        const r = found ?? (await c.createRun(this.experimentId, this.options.runName, keyValues, startTime));
        this.runId = r.runId;
        this.artifactUri = r.artifactUri;
      },
    });
    const flat = Object.entries(params).map(([key, value]) => ({ key, value: (typeof value === 'string' ? value : JSON.stringify(value)).slice(0, MAX_PARAM_LENGTH) }));
    for (const batch of splitLogBatch([], flat)) {
      if (batch.params.length > 0) this.enqueue({ what: 'log params', payload: batch, run: (c) => c.logBatch(this.runId as string, batch) });
    }
  }

  /** Queues one step's metrics (non-finite values are left out: JSON cannot carry them). */
  logMetrics(step: number, values: Record<string, number>, timestamp = Date.now()): void {
    const metrics: MlflowMetric[] = Object.entries(values)
      .filter(([, v]) => Number.isFinite(v))
      .map(([key, value]) => ({ key, value, timestamp, step }));
    for (let i = 0; i < metrics.length; i += LOG_BATCH_LIMITS.metrics) {
      const batch = { metrics: metrics.slice(i, i + LOG_BATCH_LIMITS.metrics) };
      this.enqueue({ what: `log metrics step ${step}`, payload: batch, run: (c) => c.logBatch(this.runId as string, batch) });
    }
  }

  /** Queues one file's upload to the run's artifacts. */
  uploadArtifact(path: string, content: Uint8Array): void {
    this.enqueue({
      what: `upload ${path}`,
      payload: { path, bytes: content.length },
      run: (c) => c.uploadArtifact(this.artifactUri as string, path, content),
    });
  }

  /**
   * Queues the final status, then waits until everything is sent or the deadline passes.
   * @param status FINISHED, FAILED or KILLED
   * @param timeoutMs how long to wait for the queue to drain
   * @returns what was sent, what failed, and what is left (to be kept in the run folder)
   */
  async close(status: 'FINISHED' | 'FAILED' | 'KILLED', timeoutMs = 15_000): Promise<SinkReport> {
    const endTime = Date.now();
    this.enqueue({ what: `set status ${status}`, payload: { status, endTime }, run: (c) => c.updateRun(this.runId as string, status, endTime) });
    this.closing = true;
    this.deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    await Promise.race([this.worker, new Promise<void>((resolve) => (timer = setTimeout(() => ((timedOut = this.worker !== null), resolve()), timeoutMs)))]);
    clearTimeout(timer);
    // A request still waiting for its answer is abandoned, so it holds the process no longer;
    // whatever it carried stays unsent (a creation lost this way is found again by its token).
    if (timedOut) this.client.abort(`the MLflow server did not answer within the ${timeoutMs} ms close timeout`);
    const unsent = [...this.undelivered.splice(0), ...this.queue.splice(0)].map((t) => ({ what: t.what, payload: t.payload }));
    return { runId: this.runId, experimentId: this.experimentId, sent: this.sent, failed: [...this.failed], unsent, timedOut: timedOut ? { afterMs: timeoutMs } : null };
  }

  private enqueue(task: Task): void {
    this.queue.push(task);
    this.worker ??= this.drain().finally(() => {
      this.worker = null;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      if (Date.now() > this.deadline) return;
      const task = this.queue[0] as Task;
      if (this.runFailed) return; // without a run, nothing else can be sent: it stays unsent
      if (task.what.startsWith('set status ') && this.undelivered.length > 0) {
        // A run whose params or metrics did not all arrive is not marked finished: the status is
        // kept after them, for `landscope mlflow upload` to send once they are in.
        this.queue.shift();
        this.undelivered.push(task);
        continue;
      }
      const ok = await this.attempt(task);
      if (this.queue[0] === task) this.queue.shift();
      if (ok) this.sent++;
      else {
        // Kept with what was never sent, in order: `landscope mlflow upload` can send it later.
        this.undelivered.push(task);
        if (task.what === 'create run') this.runFailed = true;
      }
    }
  }

  private async attempt(task: Task): Promise<boolean> {
    const maxAttempts = this.options.maxAttempts ?? 6;
    let delay = this.options.backoffMs ?? 250;
    for (let attempt = 1; ; attempt++) {
      try {
        await task.run(this.client);
        return true;
      } catch (e) {
        const error = e instanceof MlflowError ? e : new MlflowError(String((e as Error)?.message ?? e), 0, undefined);
        const remaining = this.deadline - Date.now();
        if (!error.retryable || attempt >= maxAttempts || (this.closing && remaining < delay)) {
          this.failed.push({ what: task.what, error: error.message });
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())).unref());
        delay = Math.min(delay * 2, this.options.maxBackoffMs ?? 8000);
      }
    }
  }
}
