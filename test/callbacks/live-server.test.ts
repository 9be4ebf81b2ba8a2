import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';

const root = tmpPath('monitor-serve');

function data() {
  const x = tf.randomNormal([32, 4], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  return { x, y };
}

function model() {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 3, activation: 'softmax', inputShape: [4] })] });
  m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  return m;
}

const quiet = { budget: null, hessian: false, worker: false, finalSurfaces: false, report: false } as const;

describe('landscapeMonitor({ serve })', () => {
  beforeAll(async () => {
    await useBackend('cpu');
    await rm(root, { recursive: true, force: true });
  });

  it('starts the dashboard on the run folder root, prints its URL once for every run of the script, and serves the runs', async () => {
    const d = data();
    const lines: string[] = [];
    for (const runId of ['one', 'two']) {
      const monitor = landscapeMonitor({ probe: d, runDir: root, runId, serve: 0, ...quiet, log: (l) => lines.push(l), warn: () => {} });
      await model().fit(d.x, d.y, { epochs: 2, batchSize: 8, callbacks: [monitor], verbose: 0 });
    }
    const said = lines.filter((l) => l.includes('live dashboard'));
    expect(said).toHaveLength(1);
    const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(said[0] as string)?.[1] as string;
    expect(said[0]).toContain(`${url}run?id=one`);
    const runs = (await (await fetch(`${url}api/runs`)).json()) as { runs: { id: string; status: string; epochs: number }[] };
    expect(runs.runs.map((r) => [r.id, r.status, r.epochs]).sort()).toEqual([['one', 'finished', 2], ['two', 'finished', 2]]);
    expect((await fetch(`${url}run?id=two`)).status).toBe(200);
  });

  it('a port that is taken is a warning and training goes on', async () => {
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', () => done()));
    const port = (blocker.address() as { port: number }).port;
    const d = data();
    const warnings: string[] = [];
    const monitor = landscapeMonitor({ probe: d, runDir: root, runId: 'taken', serve: port, ...quiet, warn: (w) => warnings.push(w), log: () => {} });
    const history = await model().fit(d.x, d.y, { epochs: 2, batchSize: 8, callbacks: [monitor], verbose: 0 });
    expect(history.epoch).toHaveLength(2);
    expect(warnings.some((w) => /serve: the dashboard could not start: .*EADDRINUSE.*training goes on/.test(w))).toBe(true);
    blocker.close();
  });

  it('refuses a bad serve option up front, naming it', () => {
    const d = data();
    expect(() => landscapeMonitor({ probe: d, serve: 'yes' as never })).toThrow(/serve = "yes" is not a port, \{ port, host \}, true or false/);
    expect(() => landscapeMonitor({ probe: d, serve: 70000 })).toThrow(/serve port = 70000 is not an integer from 0 to 65535/);
    expect(() => landscapeMonitor({ probe: d, serve: { host: '' } })).toThrow(/serve host = "" is not an address/);
    expect(() => landscapeMonitor({ probe: d, serve: 6006, runDir: null, trajectory: false })).toThrow(/serve shows the run folders: it needs a runDir/);
  });
});
