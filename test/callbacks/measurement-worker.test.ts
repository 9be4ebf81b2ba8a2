import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import type { EpochRecord } from '../../callbacks/measurement-callback.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { readModelWeights } from '../../src/model/model-weights.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';

function classifier(seed: number): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [6], kernelInitializer: tf.initializers.glorotNormal({ seed }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 1 }) }),
    ],
  });
  m.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  return m;
}

function data(n: number, seed: number) {
  const x = tf.randomNormal([n, 6], 0, 1, 'float32', seed);
  const y = tf.oneHot(tf.argMax(tf.matMul(x, tf.randomNormal([6, 3], 0, 1, 'float32', seed + 1)), 1), 3).toFloat();
  return { x, y };
}

const values = (records: EpochRecord[]) =>
  records.map((r) => {
    const s = r['sharpness'] as { radii: { mean: number }[] };
    const h = r['hessian'] as { lambdaMax: number; lambdaMin: number };
    return { epoch: r.epoch, sharpness: s.radii[0]?.mean as number, lambdaMax: h.lambdaMax, lambdaMin: h.lambdaMin };
  });

/** A fit of 3 epochs from the same start, with the given monitor options (budget null: every epoch measured). */
async function fitWith(worker: boolean | null, root: string) {
  const model = classifier(1);
  const train = data(64, 2);
  const monitor = worker === null ? null : landscapeMonitor({ probe: data(32, 3), runDir: root, budget: null, worker, hessian: { maxIter: 20, tol: 1e-4 }, finalSurfaces: false, report: false });
  await model.fit(train.x, train.y, { epochs: 3, batchSize: 16, shuffle: false, verbose: 0, callbacks: monitor ? [monitor] : [] });
  const weights = await readModelWeights(model).toFlat();
  return { monitor, weights, model };
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`the measurement worker, training on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('gives the in-thread numbers for the same weights, and training is bit-identical with and without it', async () => {
      const root = tmpPath('worker-same', backend);
      await rm(root, { recursive: true, force: true });
      const bare = await fitWith(null, root);
      const inThread = await fitWith(false, root);
      const off = await fitWith(true, root);
      // Training never sees the worker: the same weights bit for bit, as without a monitor.
      expect(Array.from(off.weights)).toEqual(Array.from(bare.weights));
      expect(Array.from(inThread.weights)).toEqual(Array.from(bare.weights));
      const a = values(inThread.monitor?.records ?? []);
      const b = values(off.monitor?.records ?? []);
      expect(b.map((r) => r.epoch)).toEqual([-1, 0, 1, 2]);
      // The worker measures on wasm; in-thread on the training backend: float32 tolerance.
      for (const [i, r] of b.entries()) {
        const t = a[i] as (typeof a)[number];
        expect(Math.abs(r.sharpness - t.sharpness)).toBeLessThan(1e-4 * Math.abs(t.sharpness) + 1e-6);
        expect(Math.abs(r.lambdaMax - t.lambdaMax) / t.lambdaMax).toBeLessThan(1e-4);
        expect(Math.abs(r.lambdaMin - t.lambdaMin)).toBeLessThan(1e-3 * t.lambdaMax);
      }
      const run = await readRunFolder(`${root}/${off.monitor?.run?.id}`);
      expect(run.run['worker']).toMatchObject({ measures: ['sharpness', 'hessian'], backend: 'wasm' });
      expect((run.metrics[1] as Record<string, any>)['hessian'].worker).toBe(true);
    });
  });
}

describe('a new user on the pure-JS cpu backend', () => {
  beforeAll(() => useBackend('cpu'));

  it('gets one warning at onTrainBegin naming the faster backends, a line saying what is measured where, and the measurements run on a wasm worker', async () => {
    const warnings: string[] = [];
    const lines: string[] = [];
    const monitor = landscapeMonitor({ probe: data(16, 3), runDir: tmpPath('cpu-warning'), budget: null, worker: true, hessian: { maxIter: 8 }, finalSurfaces: false, warn: (w) => warnings.push(w), log: (l) => lines.push(l) });
    await classifier(5).fit(data(32, 2).x, data(32, 2).y, { epochs: 3, verbose: 0, callbacks: [monitor] });
    const cpu = warnings.filter((w) => /pure-JavaScript cpu backend/.test(w));
    expect(cpu).toHaveLength(1);
    expect(cpu[0]).toMatch(/@tensorflow\/tfjs-node .*@tensorflow\/tfjs-backend-wasm with `await tf.setBackend\('wasm'\)`/);
    expect(monitor.run && (await readRunFolder(monitor.run.dir)).run['worker']).toMatchObject({ backend: 'wasm' });
    expect(lines[0]).toMatch(/^landscapeMonitor: measuring every epoch: weights, trajectory on the training thread, sharpness, hessian on a wasm worker; budget none, end of training ≤ 25%; run folder .*cpu-warning/);
    expect(lines.at(-1)).toBe(`landscapeMonitor: report: ${monitor.run?.dir}/report.html`);
    // Once the first epoch is measured, what it cost and whether the worker keeps up.
    const costs = lines.filter((l) => /measurement costs on the worker/.test(l));
    expect(costs).toHaveLength(1);
    expect(costs[0]).toMatch(/^landscapeMonitor: measurement costs on the worker: sharpness \d+\.\d\d s, hessian \d+\.\d\d s per epoch, against \d+\.\d\d s of training per epoch: (it keeps up, every epoch is measured|it is \d+\.\d× slower, and with budget: null training waits for it: every epoch is measured)/);
  });
});

describe('the measurement worker, failures and bookkeeping', () => {
  beforeAll(() => useBackend('wasm'));

  it('later epochs’ logs carry the newest worker values with the epoch they were measured at', async () => {
    const seen: Record<string, number>[] = [];
    const logger = new (class extends tf.Callback {
      override async onEpochEnd(_epoch: number, logs?: tf.Logs) {
        seen.push({ ...(logs as Record<string, number>) });
      }
    })();
    const monitor = landscapeMonitor({ probe: data(32, 3), runDir: tmpPath('worker-logs'), budget: null, worker: true, hessian: { maxIter: 10 }, finalSurfaces: false, report: false });
    await classifier(2).fit(data(64, 2).x, data(64, 2).y, { epochs: 3, verbose: 0, callbacks: [monitor, logger] });
    // With no budget, training waits for the previous epoch: epoch e's logs have epoch e − 1's values.
    expect(seen.map((l) => l['hessian_max_epoch'])).toEqual([-1, 0, 1]);
    expect(seen.map((l) => l['fn_sharpness_epoch'])).toEqual([-1, 0, 1]);
    seen.forEach((l, e) => expect(l['hessian_max']).toBe((monitor.records[e]?.logs as Record<string, number>)['hessian_max']));
  });

  it('a worker that is killed becomes an errored measurement, a fresh worker takes the next epochs, and training goes on', async () => {
    const warnings: string[] = [];
    const monitor = landscapeMonitor({ probe: data(32, 3), runDir: tmpPath('worker-killed'), budget: null, worker: true, hessian: { maxIter: 10 }, finalSurfaces: false, report: false, warn: (w) => warnings.push(w) });
    const killer = new (class extends tf.Callback {
      override async onEpochEnd(epoch: number) {
        // The monitor has just handed epoch 1 to the worker: kill it mid-measurement.
        if (epoch === 1) await monitor.terminateWorker();
      }
    })();
    const history = await classifier(3).fit(data(64, 2).x, data(64, 2).y, { epochs: 4, verbose: 0, callbacks: [monitor, killer] });
    expect(history.epoch).toEqual([0, 1, 2, 3]);
    const byEpoch = new Map(monitor.records.map((r) => [r.epoch, r as Record<string, any>]));
    expect(byEpoch.get(1)?.['hessian']).toMatchObject({ error: expect.stringMatching(/measurement worker was terminated/) });
    expect(warnings.some((w) => /hessian failed at epoch 1: the measurement worker was terminated/.test(w))).toBe(true);
    for (const e of [0, 2, 3]) expect(byEpoch.get(e)?.['hessian'].lambdaMax, `epoch ${e}`).toBeGreaterThan(0);
  });

  it('a model the worker cannot rebuild (a custom layer registered only here) is measured on the training thread instead', async () => {
    class Doubler extends tf.layers.Layer {
      static className = 'LandscopeTestDoubler';
      override call(inputs: tf.Tensor | tf.Tensor[]) {
        return tf.mul(Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs, 2);
      }
    }
    tf.serialization.registerClass(Doubler);
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 3, activation: 'softmax', inputShape: [6] }), new Doubler({})] });
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const warnings: string[] = [];
    const monitor = landscapeMonitor({ probe: data(16, 3), runDir: tmpPath('worker-custom'), budget: null, worker: true, hessian: { maxIter: 8 }, finalSurfaces: false, report: false, warn: (w) => warnings.push(w) });
    await model.fit(data(32, 2).x, data(32, 2).y, { epochs: 4, verbose: 0, callbacks: [monitor] });
    expect(warnings.some((w) => /could not start: .*LandscopeTestDoubler/.test(w))).toBe(true);
    // Once the worker has failed to start three times, the epochs are measured in-thread.
    const last = monitor.records.at(-1) as Record<string, any>;
    expect(last['hessian'].lambdaMax).toEqual(expect.any(Number));
    expect(last['hessian'].worker).toBeUndefined();
  });

  it('a strict run whose worker measurement fails stops training and is closed as failed', async () => {
    await useBackend('cpu'); // training a depthwise conv needs a kernel wasm lacks; the worker's HVP fails on it either way
    const model = tf.sequential({ layers: [tf.layers.depthwiseConv2d({ kernelSize: 2, inputShape: [4, 4, 1] }), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const x = tf.randomNormal([8, 4, 4, 1]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 0, 1, 0, 1], 'int32'), 2).toFloat();
    const root = tmpPath('worker-strict');
    await rm(root, { recursive: true, force: true });
    const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId: 'strict', budget: null, strict: true, worker: true, finalSurfaces: false });
    const error = await model.fit(x, y, { epochs: 3, callbacks: [monitor], verbose: 0 }).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(/DepthwiseConv2dNative/);
    expect((await readRunFolder(`${root}/strict`)).run).toMatchObject({ status: 'failed', error: expect.stringMatching(/DepthwiseConv2dNative/) });
    expect(monitor.measurementWorker).toBeNull();
    await useBackend('wasm');
  });

  it('leaves no tensor and no worker behind: a script that trains with the monitor exits by itself', async () => {
    const probe = data(32, 3);
    const train = data(64, 2);
    const before = tf.memory().numTensors;
    const monitor = landscapeMonitor({ probe, runDir: tmpPath('worker-leak'), worker: true, hessian: { maxIter: 10 }, finalSurfaces: { resolution: 3, sliceResolution: 3 } });
    const model = classifier(4);
    await model.fit(train.x, train.y, { epochs: 2, verbose: 0, callbacks: [monitor] });
    expect(monitor.measurementWorker).toBeNull();
    model.optimizer.dispose(); // Adam's slots are training's, not the monitor's
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // In a process of its own: Node exits once fit() returns (no thread or timer keeps it alive).
    const root = tmpPath('worker-exit');
    const script = join(root, 'train.mjs');
    await rm(root, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(root, { recursive: true });
    writeFileSync(
      script,
      `import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { landscapeMonitor } from ${JSON.stringify(join(process.cwd(), 'dist/callbacks/landscape-monitor.js'))};
await tf.setBackend('wasm');
const x = tf.randomNormal([64, 6], 0, 1, 'float32', 1);
const y = tf.oneHot(tf.tensor1d(Array.from({ length: 64 }, (_, i) => i % 3), 'int32'), 3).toFloat();
const model = tf.sequential({ layers: [tf.layers.dense({ units: 3, activation: 'softmax', inputShape: [6] })] });
model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
const monitor = landscapeMonitor({ probe: { x, y }, runDir: ${JSON.stringify(root)}, worker: true, finalSurfaces: false, report: false });
await model.fit(x, y, { epochs: 3, verbose: 0, callbacks: [monitor] });
console.log('measured', monitor.records.length);
`,
    );
    const child = spawnSync(process.execPath, [script], { cwd: process.cwd(), encoding: 'utf8', timeout: 120_000 });
    expect(child.error, 'the process did not exit by itself').toBeUndefined();
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout).toMatch(/measured 4/);
  });
});
