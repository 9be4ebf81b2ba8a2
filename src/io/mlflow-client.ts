/**
 * A small client for the MLflow tracking server's REST API 2.0 (mlflow.org/docs/latest/rest-api),
 * over undici: the endpoints landscope uses, their JSON fields, the error body
 * `{ error_code, message }`, LogBatch's limits, and uploads through the artifacts proxy
 * (`PUT /api/2.0/mlflow-artifacts/artifacts/<path>` for runs whose artifact URI is
 * `mlflow-artifacts:/<path>`).
 */
import { request } from 'undici';

/** LogBatch limits (MLflow's MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH, MAX_ENTITIES_PER_BATCH). */
export const LOG_BATCH_LIMITS = { metrics: 1000, params: 100, tags: 100, total: 1000 } as const;

/** A metric as LogBatch takes it. */
export interface MlflowMetric {
  readonly key: string;
  readonly value: number;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly step: number;
}

/** A param or tag. */
export interface MlflowKeyValue {
  readonly key: string;
  readonly value: string;
}

/** Connection settings. */
export interface MlflowConnection {
  /** The tracking server, e.g. `http://localhost:5000`. */
  readonly trackingUri: string;
  /** Bearer token (MLFLOW_TRACKING_TOKEN). */
  readonly token?: string | undefined;
  /** Basic auth (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). */
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  /** Per-request timeout. @default 10000 */
  readonly timeoutMs?: number;
}

/** An error answered by the server (or the network), with whether retrying may help. */
export class MlflowError extends Error {
  constructor(
    message: string,
    /** HTTP status, or 0 for a network error or timeout. */
    readonly status: number,
    /** MLflow's error_code, when the server sent one. */
    readonly errorCode: string | undefined,
  ) {
    super(message);
    this.name = 'MlflowError';
  }

  /** Network errors, timeouts, 429 and 5xx may succeed later; other 4xx will not. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** The REST calls landscope makes. */
export class MlflowClient {
  private readonly base: string;
  private readonly aborter = new AbortController();

  constructor(private readonly connection: MlflowConnection) {
    this.base = connection.trackingUri.replace(/\/+$/, '');
  }

  private headers(contentType: string): Record<string, string> {
    const h: Record<string, string> = { 'content-type': contentType };
    if (this.connection.token !== undefined) h['authorization'] = `Bearer ${this.connection.token}`;
    else if (this.connection.username !== undefined) {
      h['authorization'] = `Basic ${Buffer.from(`${this.connection.username}:${this.connection.password ?? ''}`).toString('base64')}`;
    }
    return h;
  }

  /**
   * One REST call. A 2xx answer means the server took the request: its body is parsed when the
   * caller needs it, and one that is not JSON (a proxy's HTML page) is a non-retryable error, so a
   * request that was taken is never sent twice.
   */
  private async call<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, raw?: Uint8Array, ignoreBody = false): Promise<T> {
    const timeout = this.connection.timeoutMs ?? 10_000;
    let res;
    try {
      res = await request(`${this.base}${path}`, {
        method,
        headers: this.headers(raw !== undefined ? 'application/octet-stream' : 'application/json'),
        ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: this.aborter.signal,
      });
    } catch (e) {
      throw new MlflowError(`${method} ${path}: ${(e as Error).message}`, 0, undefined);
    }
    const text = await res.body.text();
    if (res.statusCode >= 200 && res.statusCode < 300) {
      if (text === '' || ignoreBody) return {} as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new MlflowError(`${method} ${path}: HTTP ${res.statusCode} with a body that is not JSON (${JSON.stringify(text.slice(0, 60))}): is the tracking URI an MLflow server?`, res.statusCode, 'NOT_JSON');
      }
    }
    let errorCode: string | undefined;
    let message = text.slice(0, 300);
    try {
      const parsed = JSON.parse(text) as { error_code?: string; message?: string };
      errorCode = parsed.error_code;
      message = parsed.message ?? message;
    } catch {
      // not JSON: keep the text
    }
    throw new MlflowError(`${method} ${path}: HTTP ${res.statusCode}${errorCode ? ` ${errorCode}` : ''}: ${message}`, res.statusCode, errorCode);
  }

  /**
   * Aborts every request in flight and every later one (a closed sink must not keep the process
   * alive waiting for a server that does not answer).
   */
  abort(reason: string): void {
    this.aborter.abort(new Error(reason));
  }

  /** The id of the experiment with this name, creating it when it does not exist. */
  async getOrCreateExperiment(name: string): Promise<string> {
    try {
      const r = await this.call<{ experiment: { experiment_id: string } }>('GET', `/api/2.0/mlflow/experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`);
      return r.experiment.experiment_id;
    } catch (e) {
      if (!(e instanceof MlflowError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST')) throw e;
    }
    try {
      return (await this.call<{ experiment_id: string }>('POST', '/api/2.0/mlflow/experiments/create', { name })).experiment_id;
    } catch (e) {
      // Another process created it meanwhile.
      if (e instanceof MlflowError && e.errorCode === 'RESOURCE_ALREADY_EXISTS') return this.getOrCreateExperiment(name);
      throw e;
    }
  }

  /** Creates a run; returns its id and artifact URI. */
  async createRun(experimentId: string, runName: string | undefined, tags: readonly MlflowKeyValue[], startTime: number): Promise<{ runId: string; artifactUri: string }> {
    const r = await this.call<{ run: { info: { run_id: string; artifact_uri: string } } }>('POST', '/api/2.0/mlflow/runs/create', {
      experiment_id: experimentId,
      ...(runName !== undefined ? { run_name: runName } : {}),
      start_time: startTime,
      tags,
    });
    return { runId: r.run.info.run_id, artifactUri: r.run.info.artifact_uri };
  }

  /**
   * The first active run of an experiment whose tag `key` equals `value`, or null (RunsSearch).
   * @returns its id and artifact URI
   */
  async findRunByTag(experimentId: string, key: string, value: string): Promise<{ runId: string; artifactUri: string } | null> {
    const filter = `tags.\`${key}\` = '${value.replace(/'/g, "\\'")}'`;
    const r = await this.call<{ runs?: { info: { run_id: string; artifact_uri: string } }[] }>('POST', '/api/2.0/mlflow/runs/search', { experiment_ids: [experimentId], filter, max_results: 1, run_view_type: 'ACTIVE_ONLY' });
    const info = r.runs?.[0]?.info;
    return info === undefined ? null : { runId: info.run_id, artifactUri: info.artifact_uri };
  }

  /** A run's id and artifact URI (RunsGet). */
  async getRun(runId: string): Promise<{ runId: string; artifactUri: string }> {
    const r = await this.call<{ run: { info: { run_id: string; artifact_uri: string } } }>('GET', `/api/2.0/mlflow/runs/get?run_id=${encodeURIComponent(runId)}`);
    return { runId: r.run.info.run_id, artifactUri: r.run.info.artifact_uri };
  }

  /** One LogBatch call (the caller respects LOG_BATCH_LIMITS; see `splitLogBatch`). */
  async logBatch(runId: string, batch: { metrics?: readonly MlflowMetric[]; params?: readonly MlflowKeyValue[]; tags?: readonly MlflowKeyValue[] }): Promise<void> {
    await this.call('POST', '/api/2.0/mlflow/runs/log-batch', { run_id: runId, metrics: batch.metrics ?? [], params: batch.params ?? [], tags: batch.tags ?? [] }, undefined, true);
  }

  /** Sets a run's final status. */
  async updateRun(runId: string, status: 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED', endTime: number): Promise<void> {
    await this.call('POST', '/api/2.0/mlflow/runs/update', { run_id: runId, status, end_time: endTime }, undefined, true);
  }

  /**
   * Uploads one file through the artifacts proxy.
   * @param artifactUri the run's artifact URI (must be `mlflow-artifacts:`)
   * @param path the file's path inside the run's artifacts
   * @throws {MlflowError} status 0 when the run's artifacts are not served by the proxy
   */
  async uploadArtifact(artifactUri: string, path: string, content: Uint8Array): Promise<void> {
    const match = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
    if (match === null) {
      throw new MlflowError(`artifact upload: the run's artifact URI ${artifactUri} is not served by the artifacts proxy (start the server with --serve-artifacts)`, 400, 'UNSUPPORTED_ARTIFACT_URI');
    }
    const root = (match[1] as string).replace(/\/+$/, '');
    const encoded = `${root}/${path}`.split('/').map(encodeURIComponent).join('/');
    await this.call('PUT', `/api/2.0/mlflow-artifacts/artifacts/${encoded}`, undefined, content, true);
  }
}

/**
 * Splits metrics, params and tags into LogBatch requests within MLflow's limits.
 * @returns the requests, in order
 */
export function splitLogBatch(
  metrics: readonly MlflowMetric[],
  params: readonly MlflowKeyValue[] = [],
  tags: readonly MlflowKeyValue[] = [],
): { metrics: MlflowMetric[]; params: MlflowKeyValue[]; tags: MlflowKeyValue[] }[] {
  const out: { metrics: MlflowMetric[]; params: MlflowKeyValue[]; tags: MlflowKeyValue[] }[] = [];
  let p = 0;
  let t = 0;
  let m = 0;
  while (p < params.length || t < tags.length || m < metrics.length || out.length === 0) {
    const ps = params.slice(p, p + LOG_BATCH_LIMITS.params);
    const ts = tags.slice(t, t + LOG_BATCH_LIMITS.tags);
    const room = LOG_BATCH_LIMITS.total - ps.length - ts.length;
    const ms = metrics.slice(m, m + Math.min(LOG_BATCH_LIMITS.metrics, room));
    out.push({ metrics: ms, params: ps, tags: ts });
    p += ps.length;
    t += ts.length;
    m += ms.length;
    if (ps.length + ts.length + ms.length === 0) break;
  }
  return out;
}
