import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { MlflowSink } from '../../src/io/mlflow-sink.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';
import { FakeMlflow } from '../helpers/mlflow-server.js';

describe('landscope mlflow upload', () => {
  beforeAll(() => useBackend('cpu'));
  let server: FakeMlflow | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  it('sends what training could not, once: one run with every epoch, artifacts and the status; a second upload sends nothing', async () => {
    const root = tmpPath('mlflow-upload');
    await rm(root, { recursive: true, force: true });
    // A server that is down while training: everything stays in mlflow-unsent.jsonl.
    const down = new FakeMlflow();
    const downUri = await down.start();
    await down.stop();
    const x = tf.randomNormal([32, 4], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 2), 'int32'), 2).toFloat();
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, activation: 'softmax', inputShape: [4] })] });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId: 'r', name: 'later', budget: null, hessian: false, finalSurfaces: false, mlflow: new MlflowSink({ trackingUri: downUri, backoffMs: 1, maxAttempts: 2 }), mlflowCloseTimeoutMs: 2000, warn: () => {} });
    await model.fit(x, y, { epochs: 3, verbose: 0, callbacks: [monitor] });
    const kept = readFileSync(`${root}/r/mlflow-unsent.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what);
    expect(kept[0]).toBe('create run');
    expect(kept).toContain('log metrics step 3');

    server = new FakeMlflow();
    const uri = await server.start();
    // The final status is refused once: the upload stops there and keeps it.
    server.failOn.set('/api/2.0/mlflow/runs/update', 400);
    const first = await runCli(['mlflow', 'upload', `${root}/r`, '--tracking-uri', uri]);
    expect(first.code, first.stderr).toBe(3);
    expect(first.stderr).toMatch(/'set status FINISHED' failed: .*run the upload again/);
    expect(readFileSync(`${root}/r/mlflow-unsent.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l).what)).toEqual(['set status FINISHED']);
    const second = await runCli(['mlflow', 'upload', `${root}/r`], process.cwd(), { MLFLOW_TRACKING_URI: uri });
    expect(second.code, second.stderr).toBe(0);
    expect(existsSync(`${root}/r/mlflow-unsent.jsonl`)).toBe(false);

    expect(server.runs.size).toBe(1);
    const run = [...server.runs.values()][0]!;
    expect(run.info).toMatchObject({ status: 'FINISHED', run_name: 'later' });
    expect(run.tags['landscope.run_id']).toBe('r');
    // Every epoch's loss exactly once (steps 0–3: before training and three epochs).
    expect(run.metrics.filter((m) => m.key === 'loss').map((m) => m.step).sort()).toEqual([1, 2, 3]);
    expect(run.metrics.filter((m) => m.key === 'fn_sharpness').map((m) => m.step).sort()).toEqual([0, 1, 2, 3]);
    expect(run.params['trainable_parameters']).toBe('10');
    expect([...server.artifacts.keys()].some((k) => k.endsWith('/metrics.jsonl'))).toBe(true);
    expect(JSON.parse(readFileSync(`${root}/r/run.json`, 'utf8')).mlflow).toMatchObject({ runId: run.info.run_id, unsent: 0 });

    const requests = server.requests.length;
    const third = await runCli(['mlflow', 'upload', `${root}/r`, '--tracking-uri', uri]);
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(/nothing left to send/);
    expect(third.stderr).not.toMatch(/backend/); // file-only commands load and announce no TF.js backend
    expect(server.requests.length).toBe(requests);
  });

  it('a usage error prints one line and where to find help, not the whole help text', async () => {
    const r = await runCli(['mlflow', 'upload']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/landscope mlflow: give exactly one run folder\nsee `landscope mlflow --help`\n$/);
    expect(r.stderr).not.toMatch(/Sends the calls/);
    const none = await runCli(['mlflow', 'upload', 'runs/x']);
    expect(none.stderr).toMatch(/--tracking-uri is required \(or set MLFLOW_TRACKING_URI\)/);
  });
});

describe('flag mistakes', () => {
  it('an unknown flag gets the nearest known one, and a negative value without = says how to write it', async () => {
    const typo = await runCli(['surface', '--modle', 'm.json']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/landscope surface: unknown flag --modle; did you mean --model\?\nsee `landscope surface --help`/);
    const negative = await runCli(['surface', '--model', 'm.json', '--xrange', '-1:1:5']);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toMatch(/--xrange: a value starting with '-' must be written with '=': --xrange=-1:1:5/);
    const stray = await runCli(['hessian', '--model', 'm.json', 'extra.json']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/unexpected argument 'extra\.json'/);
  });
});
