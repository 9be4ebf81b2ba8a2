/**
 * A real HTTP server on loopback implementing the MLflow REST endpoints landscope uses, as MLflow's
 * REST API reference documents them: paths, JSON fields, `{ error_code, message }` error bodies with
 * their HTTP statuses, LogBatch's limits, param immutability, the artifacts proxy. It can be told
 * to fail, stall, or demand authentication.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRun {
  info: { run_id: string; run_uuid: string; experiment_id: string; run_name: string; status: string; start_time: number; end_time?: number; artifact_uri: string; lifecycle_stage: string };
  tags: Record<string, string>;
  params: Record<string, string>;
  metrics: { key: string; value: number; timestamp: number; step: number }[];
}

export class FakeMlflow {
  readonly experiments = new Map<string, { experiment_id: string; name: string }>();
  readonly runs = new Map<string, FakeRun>();
  readonly artifacts = new Map<string, Buffer>();
  readonly requests: { method: string; path: string; authorization?: string }[] = [];
  /** Fail the next n requests with this status (503 → retryable). */
  failNext = { count: 0, status: 503 };
  /** Paths whose every request fails with this status (until removed). */
  readonly failAlways = new Map<string, number>();
  /** Paths whose next request fails with this status (once). */
  readonly failOn = new Map<string, number>();
  /** Paths whose requests are carried out but answered 200 with an HTML page (a proxy in between). */
  readonly htmlReplies = new Set<string>();
  /** Paths whose next request is carried out but answered only after this many ms (a reply lost to a client timeout). */
  readonly slowReplies = new Map<string, number>();
  /** Hold every response this long. */
  stallMs = 0;
  /** When set, requests without this Authorization header get 401. */
  requireAuth: string | undefined;
  private server: Server | null = null;
  private ids = 0;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    if (status < 300 && (res as ServerResponse & { html?: boolean }).html === true) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>OK</body></html>');
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private error(res: ServerResponse, status: number, code: string, message: string): void {
    this.send(res, status, { error_code: code, message });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? '', path: url.pathname, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    if (this.stallMs > 0) await new Promise((r) => setTimeout(r, this.stallMs));
    if (this.failNext.count > 0) {
      this.failNext.count--;
      return this.error(res, this.failNext.status, 'INTERNAL_ERROR', 'injected failure');
    }
    if (this.requireAuth !== undefined && req.headers.authorization !== this.requireAuth) {
      return this.error(res, 401, 'UNAUTHENTICATED', 'credentials are missing or wrong');
    }
    const path = url.pathname;
    const always = this.failAlways.get(path);
    if (always !== undefined) return this.error(res, always, 'TEMPORARILY_UNAVAILABLE', 'injected failure');
    const failStatus = this.failOn.get(path);
    if (failStatus !== undefined) {
      this.failOn.delete(path);
      return this.error(res, failStatus, 'INVALID_PARAMETER_VALUE', 'injected failure');
    }
    const slow = this.slowReplies.get(path);
    if (slow !== undefined) {
      this.slowReplies.delete(path);
      const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
      res.end = ((...a: unknown[]) => {
        setTimeout(() => end(...a), slow);
        return res;
      }) as typeof res.end;
    }
    (res as ServerResponse & { html?: boolean }).html = this.htmlReplies.has(path);
    if (req.method === 'PUT' && path.startsWith('/api/2.0/mlflow-artifacts/artifacts/')) {
      this.artifacts.set(decodeURIComponent(path.slice('/api/2.0/mlflow-artifacts/artifacts/'.length)), raw);
      return this.send(res, 200, {});
    }
    let body: Record<string, any> = {};
    if (req.method === 'POST') {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return this.error(res, 400, 'MALFORMED_REQUEST', 'body is not JSON');
      }
    }
    if (req.method === 'GET' && path === '/api/2.0/mlflow/experiments/get-by-name') {
      const name = url.searchParams.get('experiment_name');
      const e = name === null ? undefined : this.experiments.get(name);
      if (e === undefined) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name '${name}'`);
      return this.send(res, 200, { experiment: { ...e, artifact_location: `mlflow-artifacts:/${e.experiment_id}`, lifecycle_stage: 'active' } });
    }
    if (req.method === 'POST' && path === '/api/2.0/mlflow/experiments/create') {
      if (typeof body['name'] !== 'string' || body['name'] === '') return this.error(res, 400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'name'.");
      if (this.experiments.has(body['name'])) return this.error(res, 400, 'RESOURCE_ALREADY_EXISTS', `Experiment '${body['name']}' already exists.`);
      const id = String(++this.ids);
      this.experiments.set(body['name'], { experiment_id: id, name: body['name'] });
      return this.send(res, 200, { experiment_id: id });
    }
    if (req.method === 'POST' && path === '/api/2.0/mlflow/runs/create') {
      const exp = [...this.experiments.values()].find((e) => e.experiment_id === body['experiment_id']);
      if (exp === undefined) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${body['experiment_id']} exists`);
      const runId = `run${++this.ids}`;
      const tags = Object.fromEntries(((body['tags'] ?? []) as { key: string; value: string }[]).map((t) => [t.key, t.value]));
      const info = { run_id: runId, run_uuid: runId, experiment_id: exp.experiment_id, run_name: body['run_name'] ?? runId, status: 'RUNNING', start_time: body['start_time'], artifact_uri: `mlflow-artifacts:/${exp.experiment_id}/${runId}/artifacts`, lifecycle_stage: 'active' };
      this.runs.set(runId, { info, tags, params: {}, metrics: [] });
      return this.send(res, 200, { run: { info, data: { tags: body['tags'] ?? [] } } });
    }
    if (req.method === 'GET' && path === '/api/2.0/mlflow/runs/get') {
      const run = this.runs.get(url.searchParams.get('run_id') ?? '');
      if (run === undefined) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', `Run '${url.searchParams.get('run_id')}' not found`);
      return this.send(res, 200, { run: { info: run.info, data: { tags: Object.entries(run.tags).map(([key, value]) => ({ key, value })) } } });
    }
    if (req.method === 'POST' && path === '/api/2.0/mlflow/runs/search') {
      // Only the filter form landscope sends: tags.`key` = 'value'.
      const ids = (body['experiment_ids'] ?? []) as string[];
      const filter = String(body['filter'] ?? '');
      const m = /^tags\.`([^`]+)` = '((?:[^'\\]|\\.)*)'$/.exec(filter);
      if (filter !== '' && m === null) return this.error(res, 400, 'INVALID_PARAMETER_VALUE', `Invalid filter '${filter}'`);
      const found = [...this.runs.values()].filter((r) => ids.includes(r.info.experiment_id) && r.info.lifecycle_stage === 'active' && (m === null || r.tags[m[1] as string] === (m[2] as string).replace(/\\(.)/g, '$1')));
      const max = Number(body['max_results'] ?? 1000);
      return this.send(res, 200, found.length === 0 ? {} : { runs: found.slice(0, max).map((r) => ({ info: r.info, data: { tags: Object.entries(r.tags).map(([key, value]) => ({ key, value })) } })) });
    }
    if (req.method === 'POST' && path === '/api/2.0/mlflow/runs/log-batch') {
      const run = this.runs.get(body['run_id']);
      if (run === undefined) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', `Run '${body['run_id']}' not found`);
      const metrics = (body['metrics'] ?? []) as FakeRun['metrics'];
      const params = (body['params'] ?? []) as { key: string; value: string }[];
      const tags = (body['tags'] ?? []) as { key: string; value: string }[];
      if (metrics.length > 1000) return this.error(res, 400, 'INVALID_PARAMETER_VALUE', `A batch logging request can contain at most 1000 metrics. Got ${metrics.length} metrics.`);
      if (params.length > 100) return this.error(res, 400, 'INVALID_PARAMETER_VALUE', `A batch logging request can contain at most 100 params. Got ${params.length} params.`);
      if (tags.length > 100) return this.error(res, 400, 'INVALID_PARAMETER_VALUE', `A batch logging request can contain at most 100 tags. Got ${tags.length} tags.`);
      if (metrics.length + params.length + tags.length > 1000) return this.error(res, 400, 'INVALID_PARAMETER_VALUE', 'A batch logging request can contain at most 1000 metrics, params, and tags in total.');
      for (const m of metrics) {
        if (typeof m.key !== 'string' || typeof m.value !== 'number' || !Number.isInteger(m.timestamp) || !Number.isInteger(m.step)) {
          return this.error(res, 400, 'INVALID_PARAMETER_VALUE', `Invalid metric ${JSON.stringify(m)}`);
        }
      }
      for (const p of params) {
        if (typeof p.value !== 'string') return this.error(res, 400, 'INVALID_PARAMETER_VALUE', `Invalid param value for ${p.key}`);
        if (run.params[p.key] !== undefined && run.params[p.key] !== p.value) return this.error(res, 400, 'INVALID_PARAMETER_VALUE', `Changing param values is not allowed. Param with key='${p.key}' was already logged.`);
      }
      for (const p of params) run.params[p.key] = p.value;
      for (const t of tags) run.tags[t.key] = t.value;
      run.metrics.push(...metrics);
      return this.send(res, 200, {});
    }
    if (req.method === 'POST' && path === '/api/2.0/mlflow/runs/update') {
      const run = this.runs.get(body['run_id']);
      if (run === undefined) return this.error(res, 404, 'RESOURCE_DOES_NOT_EXIST', `Run '${body['run_id']}' not found`);
      if (!['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'].includes(body['status'])) return this.error(res, 400, 'INVALID_PARAMETER_VALUE', `Invalid status ${body['status']}`);
      run.info.status = body['status'];
      run.info.end_time = body['end_time'];
      return this.send(res, 200, { run_info: run.info });
    }
    return this.error(res, 404, 'ENDPOINT_NOT_FOUND', `${req.method} ${path} is not an endpoint`);
  }
}
