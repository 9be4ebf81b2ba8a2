import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { MeasurementCallback } from '../../callbacks/measurement-callback.js';
import type { Measurement } from '../../callbacks/measurement.js';
import { MlflowSink } from '../../src/io/mlflow-sink.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { readModelWeights } from '../../src/model/model-weights.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';
import { FakeMlflow } from '../helpers/mlflow-server.js';

function classifier(seed = 1) {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [6], kernelInitializer: tf.initializers.glorotNormal({ seed }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: seed + 1 }) }),
    ],
  });
  m.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return m;
}

async function weightsKey(model: tf.LayersModel): Promise<string> {
  const w = readModelWeights(model);
  const flat = await w.toFlat();
  w.dispose();
  return Buffer.from(flat.buffer).toString('base64');
}

function data(n: number, seed: number) {
  const x = tf.randomNormal([n, 6], 0, 1, 'float32', seed);
  const y = tf.oneHot(tf.argMax(tf.matMul(x, tf.randomNormal([6, 3], 0, 1, 'float32', seed + 1)), 1), 3).toFloat();
  return { x, y };
}

for (const backend of BACKENDS) {
  describe(`landscapeMonitor on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('landscapeMonitor in a real fit() writes run.json, metrics.jsonl and snapshots, and fills the logs', async () => {
      const root = tmpPath('monitor', backend);
      await rm(root, { recursive: true, force: true });
      const model = classifier();
      const train = data(200, 3);
      const probe = data(64, 9);
      const monitor = landscapeMonitor({ probe, runDir: root, runId: 'run-a', name: 'unit', budget: null, hessian: { maxIter: 30 } });
      const history = await model.fit(train.x, train.y, { epochs: 4, batchSize: 32, callbacks: [monitor], verbose: 0 });
      for (const key of ['fn_sharpness', 'fn_curvature', 'hessian_max', 'hessian_min', 'hessian_ratio', 'weight_norm', 'lr', 'pca_evr1']) {
        expect(history.history[key], key).toHaveLength(4);
      }
      const run = await readRunFolder(`${root}/run-a`);
      expect(run.run).toMatchObject({ schemaVersion: 1, id: 'run-a', name: 'unit', status: 'finished', backend, epochsMeasured: 5 });
      expect(run.metrics.map((m) => m['epoch'])).toEqual([-1, 0, 1, 2, 3]);
      expect(run.snapshots?.snapshots.map((s) => s.label)).toEqual(['init', 'epoch-0000', 'epoch-0001', 'epoch-0002', 'epoch-0003']);
      const last = run.metrics.at(-1) as Record<string, any>;
      expect(last['sharpness'].radii[0]).toMatchObject({ radius: 0.1 });
      expect(last['sharpness'].radii[0].values).toHaveLength(8);
      expect(last['hessian']).toMatchObject({ converged: true, warmStart: true, probeSize: 64 });
      expect(last['trajectory'].coords.x).toHaveLength(5);
      expect(Math.abs(last['trajectory'].coords.x[4])).toBeLessThan(1e-9); // the latest weights are the origin
      const evr = last['trajectory'].explainedVarianceRatio as number[];
      expect(evr.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-9);
      // The snapshot on disk is the model's final weights, float32 bit for bit.
      const snap = new Float32Array(new Uint8Array(readFileSync(`${root}/run-a/snapshots/epoch-0003.f32`)).buffer);
      expect(Array.from(snap)).toEqual(Array.from(Float32Array.from(await readModelWeights(model).toFlat())));
    });

    it('landscapeMonitor leaks no tensor across epochs and leaves the weights bit for bit as training left them', async () => {
      const model = classifier(5);
      const probe = data(32, 11);
      const counts: number[] = [];
      const weightsSeen: string[] = [];
      const monitor = landscapeMonitor({ probe, runDir: tmpPath('monitor-leak', backend), budget: null, hessian: { maxIter: 20 } });
      const spy = new (class extends tf.Callback {
        override async onEpochEnd() {
          counts.push(tf.memory().numTensors);
          weightsSeen.push(await weightsKey(model));
        }
      })();
      const train = data(64, 12);
      // The spy runs before the monitor at each epoch end; the monitor must not move the weights.
      const after: string[] = [];
      const tail = new (class extends tf.Callback {
        override async onEpochEnd() {
          after.push(await weightsKey(model));
        }
      })();
      await model.fit(train.x, train.y, { epochs: 5, batchSize: 16, callbacks: [spy, monitor, tail], verbose: 0 });
      expect(after).toEqual(weightsSeen);
      // fit() itself keeps 2 more tensors per epoch (its epoch logs); the monitor adds none.
      const plain: number[] = [];
      const plainSpy = new (class extends tf.Callback {
        override async onEpochEnd() {
          plain.push(tf.memory().numTensors);
        }
      })();
      await classifier(5).fit(train.x, train.y, { epochs: 5, batchSize: 16, callbacks: [plainSpy], verbose: 0 });
      const growth = (c: number[]) => c.slice(2).map((v, i) => v - (c[i + 1] as number));
      expect(growth(counts), `tensors at each epoch end: ${counts}`).toEqual(growth(plain));
    });
  });
}

describe('landscapeMonitor options and failures', () => {
  beforeAll(() => useBackend('cpu'));

  it('landscapeMonitor rejects bad options in the constructor, naming the option and the value', () => {
    const probe = data(8, 1);
    expect(() => landscapeMonitor({} as never)).toThrow('landscapeMonitor: probe must be { x: tf.Tensor, y: tf.Tensor }, got undefined');
    expect(() => landscapeMonitor({ probe: { x: tf.zeros([0, 6]), y: tf.zeros([0, 3]) } })).toThrow('landscapeMonitor: probe.x has shape [0,6]: the probe set is empty');
    expect(() => landscapeMonitor({ probe, every: 0 })).toThrow('landscapeMonitor: every = 0 is not a positive integer');
    expect(() => landscapeMonitor({ probe, budget: -1 })).toThrow('landscapeMonitor: budget = -1 is not a positive fraction');
    expect(() => landscapeMonitor({ probe, sharpness: { directions: 1 } })).toThrow('landscapeMonitor: sharpness: directions = 1 is not an integer ≥ 2');
    expect(() => landscapeMonitor({ probe, sharpness: { radii: [0] } })).toThrow('landscapeMonitor: sharpness: radii [0] must be positive numbers');
    expect(() => landscapeMonitor({ probe, runDir: null })).toThrow('landscapeMonitor: trajectory needs a runDir for its snapshots');
    expect(() => landscapeMonitor({ probe, hessian: { params: 'biases' as never } })).toThrow("landscapeMonitor: hessian: params 'biases' is not one of all, kernels");
  });

  it('landscapeMonitor rejects a probe of the wrong shape and an uncompiled model at onTrainBegin', async () => {
    const model = classifier();
    const bad = landscapeMonitor({ probe: { x: tf.zeros([4, 5]), y: tf.zeros([4, 3]) }, runDir: tmpPath('monitor-bad') });
    const train = data(16, 2);
    await expect(model.fit(train.x, train.y, { epochs: 1, callbacks: [bad], verbose: 0 })).rejects.toThrow("landscapeMonitor: probe.x has shape [4,5], the model's input is [N,6]");
    const uncompiled = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [6] })] });
    const monitor = landscapeMonitor({ probe: data(4, 3), runDir: tmpPath('monitor-bad') });
    monitor.setModel(uncompiled);
    await expect(monitor.onTrainBegin()).rejects.toThrow('landscapeMonitor: the model is not compiled and no loss was given');
  });

  it('a failing measurement becomes an errored value and a warning; training goes on (and stops in strict mode)', async () => {
    const warnings: string[] = [];
    const model = tf.sequential({ layers: [tf.layers.depthwiseConv2d({ kernelSize: 2, inputShape: [4, 4, 1] }), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const x = tf.randomNormal([8, 4, 4, 1]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1, 0, 1, 0, 1], 'int32'), 2).toFloat();
    const root = tmpPath('monitor-errors');
    await rm(root, { recursive: true, force: true });
    const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId: 'r', budget: null, warn: (m) => warnings.push(m) });
    const history = await model.fit(x, y, { epochs: 2, callbacks: [monitor], verbose: 0 });
    expect(history.epoch).toEqual([0, 1]);
    expect(warnings.some((w) => /landscapeMonitor: hessian failed at epoch 0: hvp: the model uses the TF\.js kernel 'DepthwiseConv2dNative/.test(w))).toBe(true);
    const run = await readRunFolder(`${root}/r`);
    expect((run.metrics[1] as any).hessian.error).toMatch(/DepthwiseConv2dNative/);
    expect((run.metrics[1] as any).sharpness.radii).toBeDefined();
    const mlflow = new FakeMlflow();
    const uri = await mlflow.start();
    try {
      const strict = landscapeMonitor({ probe: { x, y }, runDir: root, runId: 'strict', budget: null, strict: true, mlflow: new MlflowSink({ trackingUri: uri, backoffMs: 5 }) });
      await expect(model.fit(x, y, { epochs: 1, callbacks: [strict], verbose: 0 })).rejects.toThrow(/DepthwiseConv2dNative/);
      // fit() threw, so TF.js never called onTrainEnd: the monitor closed the run itself.
      const failed = await readRunFolder(`${root}/strict`);
      expect(failed.run).toMatchObject({ status: 'failed', error: expect.stringMatching(/DepthwiseConv2dNative/) });
      expect([...mlflow.runs.values()].map((r) => r.info.status)).toEqual(['FAILED']);
      // Closing twice (the user's catch calling fail() too) changes nothing.
      await strict.fail(new Error('again'));
      expect((await readRunFolder(`${root}/strict`)).run['error']).toMatch(/DepthwiseConv2dNative/);
    } finally {
      await mlflow.stop();
    }
  });

  it('a probe of class ids for a categorical cross-entropy gives the same numbers as its one-hot labels; bad ids are refused', async () => {
    const train = data(32, 13);
    const probe = data(16, 14);
    const ids = tf.argMax(probe.y, 1);
    const run = async (y: tf.Tensor) => {
      const model = classifier(4);
      const monitor = landscapeMonitor({ probe: { x: probe.x, y }, runDir: null, trajectory: false, budget: null, hessian: { maxIter: 10 }, finalSurfaces: false });
      await model.fit(train.x, train.y, { epochs: 1, callbacks: [monitor], verbose: 0, shuffle: false });
      return monitor.records.map((r) => [(r as any).sharpness.radii[0].mean, (r as any).hessian.lambdaMax]);
    };
    expect(await run(ids)).toEqual(await run(probe.y));
    const bad = landscapeMonitor({ probe: { x: probe.x, y: tf.fill([16], 7) }, runDir: null, trajectory: false });
    await expect(classifier(4).fit(train.x, train.y, { epochs: 1, callbacks: [bad], verbose: 0 })).rejects.toThrow('landscapeMonitor: probe.y has shape [16] (class ids) but row 0 is 7: class ids must be integers from 0 to 2');
  });

  it('the largest allowed seed works (sub-seeds of directions do not overflow)', async () => {
    const model = classifier(2);
    const train = data(32, 8);
    const monitor = landscapeMonitor({ probe: data(16, 9), runDir: null, trajectory: false, seed: 2 ** 31 - 2, budget: null, hessian: false, finalSurfaces: { resolution: 3, sliceResolution: 3 } });
    await model.fit(train.x, train.y, { epochs: 1, callbacks: [monitor], verbose: 0 });
    expect((monitor.records.at(-1) as any).sharpness.radii[0].mean).toEqual(expect.any(Number));
  });

  it('the budget skips measurements that would exceed it, the last epoch too, and records what it skipped', async () => {
    const model = classifier(7);
    const train = data(64, 4);
    const monitor = landscapeMonitor({ probe: data(256, 5), runDir: tmpPath('monitor-budget'), budget: 1e-4, worker: false });
    await model.fit(train.x, train.y, { epochs: 3, batchSize: 64, callbacks: [monitor], verbose: 0 });
    const records = monitor.records;
    expect(records[0]?.skipped).toEqual([]); // before training: nothing is known of the costs yet
    expect(records.slice(1).every((r) => r.skipped.includes('hessian'))).toBe(true);
    expect((records[1] as any).hessian).toMatchObject({ skipped: 'budget' });
    expect((records[1] as any).weights.norm).toBeGreaterThan(0);
    // Everything on the training thread is charged: the measurement before training too.
    const { training, duringTraining } = monitor.seconds;
    expect(duringTraining).toBeGreaterThanOrEqual(records.reduce((t, r) => t + r.monitorSeconds, 0));
    expect(training).toBeGreaterThan(0);
  });

  it('unused budget carries over: a measurement dearer than one epoch’s share still runs every few epochs, and the total stays within the budget', async () => {
    // A measurement of 40 ms against epochs of at least 100 ms with a budget of 0.2: one epoch's
    // share (20 ms) never pays for it, the carried-over shares of two or three epochs do.
    const busy = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const slow: Measurement = { name: 'slow', measure: async () => (busy(40), { record: {}, logs: { slow: 1 } }) };
    const monitor = new MeasurementCallback({ probe: data(8, 5), runDir: null, budget: 0.2, worker: false, report: false }, [slow], 'test');
    const sleeper = new (class extends tf.Callback {
      override async onEpochBegin() {
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await classifier(3).fit(data(16, 4).x, data(16, 4).y, { epochs: 12, callbacks: [monitor, sleeper], verbose: 0 });
    const measured = monitor.records.filter((r) => r.epoch >= 0 && !r.skipped.includes('slow')).length;
    expect(measured).toBeGreaterThanOrEqual(3);
    expect(measured).toBeLessThan(12);
    const { training, duringTraining } = monitor.seconds;
    // Within the budget, give or take the one measurement that may overrun by its own cost estimate's error.
    expect(duringTraining).toBeLessThanOrEqual(0.2 * training + 0.04);
  });
});

describe('snapshotCallback', () => {
  beforeAll(() => useBackend('cpu'));

  it('snapshotCallback keeps init and the last keepLast snapshots on disk', async () => {
    const { snapshotCallback } = await import('../../callbacks/snapshot-callback.js');
    const root = tmpPath('snapshots');
    await rm(root, { recursive: true, force: true });
    const model = classifier(9);
    const train = data(32, 1);
    await model.fit(train.x, train.y, { epochs: 5, callbacks: [snapshotCallback({ probe: data(8, 2), runDir: root, runId: 's', keepLast: 2 })], verbose: 0 });
    const run = await readRunFolder(`${root}/s`);
    expect(run.snapshots?.snapshots.map((s) => s.label)).toEqual(['init', 'epoch-0003', 'epoch-0004']);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(`${root}/s/snapshots`)).sort()).toEqual(['epoch-0003.f32', 'epoch-0004.f32', 'init.f32', 'manifest.json']);
    expect(() => landscapeMonitor({ probe: data(8, 2), snapshots: { keepLast: 2 } })).toThrow('landscapeMonitor: snapshots (pruning) go with trajectory: false');
  });
});

describe('landscapeMonitor and early stopping', () => {
  beforeAll(() => useBackend('cpu'));

  it('an epoch where a callback before the monitor stops training is the last one: measured although off the `every` grid', async () => {
    const model = classifier(11);
    const train = data(64, 6);
    const stopper = new (class extends tf.Callback {
      override async onEpochEnd(epoch: number) {
        if (epoch === 1) (this.model as unknown as { stopTraining: boolean }).stopTraining = true;
      }
    })();
    const monitor = landscapeMonitor({ probe: data(64, 7), runDir: tmpPath('monitor-stop'), budget: null, every: 5, finalSurfaces: false, report: false });
    await model.fit(train.x, train.y, { epochs: 10, batchSize: 16, callbacks: [stopper, monitor], verbose: 0 });
    const records = monitor.records;
    expect(records.map((r) => r.epoch)).toEqual([-1, 1]);
    expect(records[1]?.skipped).toEqual([]);
    expect((records[1] as any).hessian.lambdaMax).toBeGreaterThan(0);
    const run = await readRunFolder(`${tmpPath('monitor-stop')}/${monitor.run?.id}`);
    expect(run.run['status']).toBe('finished');
  });
});
