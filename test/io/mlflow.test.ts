import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { LOG_BATCH_LIMITS, splitLogBatch } from '../../src/io/mlflow-client.js';
import { MlflowSink, mlflowSinkFromEnv } from '../../src/io/mlflow-sink.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';
import { FakeMlflow } from '../helpers/mlflow-server.js';

let server: FakeMlflow;
let uri: string;

beforeEach(async () => {
  server = new FakeMlflow();
  uri = await server.start();
});
afterEach(() => server.stop());

describe('splitLogBatch', () => {
  it('splitLogBatch keeps every entity, in order, within MLflow LogBatch limits', () => {
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: `m${i % 7}`, value: i, timestamp: 1, step: i }));
    const params = Array.from({ length: 150 }, (_, i) => ({ key: `p${i}`, value: String(i) }));
    const batches = splitLogBatch(metrics, params);
    for (const b of batches) {
      expect(b.metrics.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.metrics);
      expect(b.params.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.params);
      expect(b.metrics.length + b.params.length + b.tags.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.total);
    }
    expect(batches.flatMap((b) => b.metrics)).toEqual(metrics);
    expect(batches.flatMap((b) => b.params)).toEqual(params);
  });
});

describe('MlflowSink against a real HTTP server on loopback', () => {
  it('MlflowSink creates the experiment and run, logs params and metrics, uploads artifacts, and finishes the run', async () => {
    const sink = new MlflowSink({ trackingUri: uri, experimentName: 'exp', runName: 'r1', token: 'tok' });
    server.requireAuth = 'Bearer tok';
    sink.start({ 'hessian.tol': 0.001, every: 1 }, { 'landscope.run_id': 'abc' });
    sink.logMetrics(0, { loss: 2.3, fn_sharpness: 0.01, bad: NaN });
    sink.logMetrics(1, { loss: 1.1, fn_sharpness: 0.02 });
    sink.uploadArtifact('metrics.jsonl', new TextEncoder().encode('{"epoch":0}\n'));
    const report = await sink.close('FINISHED', 5000);
    expect(report.failed).toEqual([]);
    expect(report.unsent).toEqual([]);
    const run = server.runs.get(report.runId as string);
    expect(run?.info).toMatchObject({ status: 'FINISHED', run_name: 'r1' });
    expect(run?.params).toEqual({ 'hessian.tol': '0.001', every: '1' });
    expect(run?.tags['landscope.run_id']).toBe('abc');
    expect(run?.metrics.filter((m) => m.key === 'loss').map((m) => [m.step, m.value])).toEqual([[0, 2.3], [1, 1.1]]);
    expect(run?.metrics.some((m) => m.key === 'bad')).toBe(false);
    expect(server.artifacts.get(`${report.experimentId}/${report.runId}/artifacts/metrics.jsonl`)?.toString()).toBe('{"epoch":0}\n');
  });

  it('a 2xx answer whose body is not JSON is never retried: a log-batch is sent once, a run is created once', async () => {
    server.htmlReplies.add('/api/2.0/mlflow/runs/log-batch');
    const sink = new MlflowSink({ trackingUri: uri, backoffMs: 5, maxAttempts: 6 });
    sink.start({}, {});
    sink.logMetrics(0, { loss: 1 });
    const report = await sink.close('FINISHED', 5000);
    expect(report.failed).toEqual([]);
    const run = server.runs.get(report.runId as string);
    // Every log-batch request was carried out once: no metric appears twice.
    expect(run?.metrics.filter((m) => m.key === 'loss')).toHaveLength(1);
    server.htmlReplies.clear();
    server.htmlReplies.add('/api/2.0/mlflow/runs/create');
    const before = server.runs.size;
    const second = new MlflowSink({ trackingUri: uri, backoffMs: 5, maxAttempts: 6 });
    second.start({}, {});
    const r2 = await second.close('FINISHED', 5000);
    expect(server.runs.size - before).toBe(1);
    expect(r2.failed[0]?.error).toMatch(/HTTP 200 with a body that is not JSON .*is the tracking URI an MLflow server\?/);
  });

  it('a run creation whose reply is lost to a timeout is looked up by its token before another is created: one run, with everything in it', async () => {
    // undici's timers tick coarsely (about a second): the reply comes well after the 250 ms timeout.
    server.slowReplies.set('/api/2.0/mlflow/runs/create', 3000);
    const sink = new MlflowSink({ trackingUri: uri, backoffMs: 5, maxAttempts: 6, timeoutMs: 250 });
    sink.start({ lr: 0.1 }, { 'landscope.run_id': 'r-timeout' });
    sink.logMetrics(1, { loss: 0.5 });
    const report = await sink.close('FINISHED', 10_000);
    expect(server.runs.size).toBe(1);
    const run = [...server.runs.values()][0]!;
    expect(report.runId).toBe(run.info.run_id);
    expect(run.tags['landscope.run_id']).toBe('r-timeout');
    expect(run.metrics.map((m) => m.key)).toEqual(['loss']);
    expect(run.info.status).toBe('FINISHED');
    expect(server.requests.filter((r) => r.path === '/api/2.0/mlflow/runs/search')).toHaveLength(1);
  });

  it('metrics given up on after retries are kept with the status, and the run is not marked FINISHED without them', async () => {
    server.failAlways.set('/api/2.0/mlflow/runs/log-batch', 503);
    const sink = new MlflowSink({ trackingUri: uri, backoffMs: 1, maxAttempts: 2 });
    sink.start({ lr: 0.1 }, {});
    sink.logMetrics(1, { loss: 0.5 });
    const report = await sink.close('FINISHED', 5000);
    server.failAlways.clear();
    expect(report.unsent.map((u) => u.what)).toEqual(['log params', 'log metrics step 1', 'set status FINISHED']);
    expect(report.failed.map((f) => f.what)).toEqual(['log params', 'log metrics step 1']);
    expect(server.runs.get(report.runId as string)?.info.status).toBe('RUNNING');
  });

  it('MlflowSink retries 5xx answers with backoff and gets everything through', async () => {
    server.failNext = { count: 4, status: 503 };
    const sink = new MlflowSink({ trackingUri: uri, backoffMs: 5, maxAttempts: 6 });
    sink.start({}, {});
    sink.logMetrics(0, { loss: 1 });
    const report = await sink.close('FINISHED', 5000);
    expect(report.failed).toEqual([]);
    expect(server.runs.get(report.runId as string)?.metrics).toHaveLength(1);
    expect(server.requests.length).toBeGreaterThan(4);
  });

  it('MlflowSink does not retry a 401 and keeps what it could not send', async () => {
    server.requireAuth = 'Bearer right';
    const sink = new MlflowSink({ trackingUri: uri, token: 'wrong', backoffMs: 5 });
    sink.start({ a: 1 }, {});
    sink.logMetrics(0, { loss: 1 });
    const report = await sink.close('FINISHED', 2000);
    expect(report.runId).toBeNull();
    expect(report.failed[0]?.error).toMatch(/HTTP 401 UNAUTHENTICATED/);
    expect(report.unsent.map((u) => u.what)).toEqual(['create run', 'log params', 'log metrics step 0', 'set status FINISHED']);
    expect(server.requests).toHaveLength(1);
  });

  it('mlflowSinkFromEnv reads MLFLOW_TRACKING_URI and its credentials, and rejects non-http URIs', () => {
    expect(mlflowSinkFromEnv({})).toBeNull();
    expect(mlflowSinkFromEnv({ MLFLOW_TRACKING_URI: 'file:./mlruns' })).toBeNull();
    expect(mlflowSinkFromEnv({ MLFLOW_TRACKING_URI: uri, MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' })).toBeInstanceOf(MlflowSink);
    expect(() => new MlflowSink({ trackingUri: 'databricks' })).toThrow("mlflow: trackingUri 'databricks' is not an http(s) URL");
  });
});

describe('landscapeMonitor with MLflow', () => {
  beforeAll(() => useBackend('cpu'));

  const model = () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ units: 6, activation: 'tanh', inputShape: [4] }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    return m;
  };
  const data = () => ({ x: tf.randomNormal([32, 4], 0, 1, 'float32', 1), y: tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 3), 'int32'), 3).toFloat() });

  it('a fit() with the monitor logs every epoch to MLflow with params, artifacts and a FINISHED status', async () => {
    const root = tmpPath('mlflow-ok');
    await rm(root, { recursive: true, force: true });
    const d = data();
    const sink = new MlflowSink({ trackingUri: uri, experimentName: 'landscope-test' });
    const monitor = landscapeMonitor({ probe: d, runDir: root, runId: 'r', name: 'ok', budget: null, hessian: { maxIter: 10 }, mlflow: sink });
    await model().fit(d.x, d.y, { epochs: 3, batchSize: 8, callbacks: [monitor], verbose: 0 });
    const run = [...server.runs.values()][0] as NonNullable<ReturnType<typeof server.runs.get>>;
    expect(run.info.status).toBe('FINISHED');
    expect(run.params['hessian.maxIter']).toBe('10');
    expect(run.tags['landscope.run_id']).toBe('r');
    expect(run.metrics.filter((m) => m.key === 'fn_sharpness').map((m) => m.step)).toEqual([0, 1, 2, 3]); // step 0: before training
    expect(run.metrics.filter((m) => m.key === 'loss').map((m) => m.step)).toEqual([1, 2, 3]);
    expect(run.metrics.filter((m) => m.key === 'hessian_max').map((m) => m.step)).toEqual([0, 1, 2, 3]);
    const metricsFile = server.artifacts.get(`${run.info.experiment_id}/${run.info.run_id}/artifacts/metrics.jsonl`)?.toString();
    expect(metricsFile).toBe(readFileSync(`${root}/r/metrics.jsonl`, 'utf8'));
    const local = await readRunFolder(`${root}/r`);
    expect(local.run['mlflow']).toMatchObject({ runId: run.info.run_id, unsent: 0, failed: [] });
  });

  it('a server that is down or stalls never stops or waits training; what was not sent stays in the run folder', async () => {
    const root = tmpPath('mlflow-down');
    await rm(root, { recursive: true, force: true });
    server.stallMs = 2000;
    const d = data();
    const warnings: string[] = [];
    const sink = new MlflowSink({ trackingUri: uri, backoffMs: 5, timeoutMs: 500 });
    const pendingAtEpochEnd: number[] = [];
    const after = new (class extends tf.Callback {
      override async onEpochEnd() {
        pendingAtEpochEnd.push(sink.pending);
      }
    })();
    const monitor = landscapeMonitor({ probe: d, runDir: root, runId: 'r', budget: null, hessian: false, mlflow: sink, mlflowCloseTimeoutMs: 300, warn: (w) => warnings.push(w) });
    const history = await model().fit(d.x, d.y, { epochs: 3, batchSize: 8, callbacks: [monitor, after], verbose: 0 });
    expect(history.epoch).toEqual([0, 1, 2]);
    // Each epoch ended while the stalled server still held the run's creation: nothing waited on it.
    expect(pendingAtEpochEnd.every((p) => p > 0)).toBe(true);
    const unsent = readFileSync(`${root}/r/mlflow-unsent.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(unsent.some((u) => u.what === 'log metrics step 3')).toBe(true);
    expect(warnings.some((w) => /MLflow: 0 calls sent, \d+ not sent \(kept in .*mlflow-unsent\.jsonl\); timeout: the server did not answer within 0\.3 s of the end of training/.test(w)), warnings.join('\n')).toBe(true);
    const local = await readRunFolder(`${root}/r`);
    expect(local.run['status']).toBe('finished');
    expect((local.run['mlflow'] as { unsent: number }).unsent).toBeGreaterThan(3);

    await server.stop();
    const down = new MlflowSink({ trackingUri: uri, backoffMs: 5 });
    const m2 = landscapeMonitor({ probe: d, runDir: root, runId: 'r2', budget: null, hessian: false, mlflow: down, mlflowCloseTimeoutMs: 500, warn: () => {} });
    await model().fit(d.x, d.y, { epochs: 2, batchSize: 8, callbacks: [m2], verbose: 0 });
    expect(readFileSync(`${root}/r2/mlflow-unsent.jsonl`, 'utf8')).toMatch(/log metrics step 2/);
  });

  it('a process whose MLflow server never answers exits right after training, not when the request times out', async () => {
    server.stallMs = 30_000;
    const script = `
      import * as tf from '@tensorflow/tfjs';
      import { landscapeMonitor, MlflowSink } from '${pathToFileURL(resolve('dist/src/index.js')).href}';
      const x = tf.randomNormal([16, 4], 0, 1, 'float32', 1);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0], 'int32'), 3).toFloat();
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })] });
      model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
      const sink = new MlflowSink({ trackingUri: '${uri}', timeoutMs: 20000 });
      const monitor = landscapeMonitor({ probe: { x, y }, runDir: process.argv[1], runId: 'r', budget: null, hessian: false, sharpness: false, worker: false, finalSurfaces: false, report: false, mlflow: sink, mlflowCloseTimeoutMs: 500 });
      await model.fit(x, y, { epochs: 2, batchSize: 8, callbacks: [monitor], verbose: 0 });
      console.log('fit done ' + Date.now());
    `;
    const root = tmpPath('mlflow-exit');
    await rm(root, { recursive: true, force: true });
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    const exitedAt = Date.now();
    expect(code, err).toBe(0);
    const fitDone = Number(/fit done (\d+)/.exec(out)?.[1]);
    expect(exitedAt - fitDone, err).toBeLessThan(3000); // before: held until the 20 s request timeout
    expect(err).toMatch(/timeout: the server did not answer within 0\.5 s of the end of training/);
    expect(readFileSync(`${root}/r/mlflow-unsent.jsonl`, 'utf8')).toMatch(/create run/);
  }, 60_000);

  it('MLFLOW_TRACKING_URI=file://… is said not to work, once, instead of being ignored', async () => {
    const d = data();
    const warnings: string[] = [];
    await rm(tmpPath('mlflow-file'), { recursive: true, force: true });
    const saved = process.env['MLFLOW_TRACKING_URI'];
    process.env['MLFLOW_TRACKING_URI'] = 'file:///tmp/mlruns';
    try {
      const monitor = landscapeMonitor({ probe: d, runDir: tmpPath('mlflow-file'), runId: 'f', budget: null, hessian: false, sharpness: false, worker: false, finalSurfaces: false, report: false, warn: (w) => warnings.push(w) });
      await model().fit(d.x, d.y, { epochs: 2, batchSize: 8, callbacks: [monitor], verbose: 0 });
    } finally {
      if (saved === undefined) delete process.env['MLFLOW_TRACKING_URI'];
      else process.env['MLFLOW_TRACKING_URI'] = saved;
    }
    const said = warnings.filter((w) => /MLFLOW_TRACKING_URI=file:\/\/\/tmp\/mlruns is not an http\(s\) server.*nothing is sent for this run.*MLFLOW_TRACKING_URI=http:\/\/127\.0\.0\.1:5000/.test(w));
    expect(said, warnings.join('\n')).toHaveLength(1);
  });
});
