import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { hessianCallback } from '../../callbacks/hessian-callback.js';
import type { EpochRecord } from '../../callbacks/measurement-callback.js';
import { symmetricEigen } from '../../src/core/symmetric-eigen.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { summarizeRun } from '../../src/io/run-summary.js';
import { hvp } from '../../src/model/hvp.js';
import { optimizerSnapshot } from '../../src/model/optimizer-state.js';
import { useBackend } from '../helpers/backend.js';
import { denseHessian } from '../helpers/dense-hessian.js';
import { tmpPath } from '../helpers/fixture.js';
import { regressor } from '../helpers/regressor.js';


const x = () => tf.randomNormal([24, 4], 0, 1, 'float32', 7);
const y = () => tf.randomNormal([24, 2], 0, 1, 'float32', 8);

async function fitWith(optimizer: () => tf.Optimizer, worker: boolean, runDir: string | null = null) {
  const model = regressor(optimizer());
  const [xs, ys] = [x(), y()];
  const monitor = hessianCallback({ probe: { x: xs, y: ys }, probeSize: 24, batchSize: 24, budget: null, worker, shards: 0, tol: 1e-5, maxIter: 60, runDir, report: false, runId: `eos-${worker}` });
  await model.fit(xs, ys, { epochs: 3, batchSize: 24, shuffle: false, verbose: 0, callbacks: [monitor] });
  return { model, monitor, xs, ys };
}

/** λmax of D H D built column by column from the model's HVPs (D from the optimizer, float64 eigensolver). */
async function denseReference(model: tf.LayersModel, xs: tf.Tensor, ys: tf.Tensor): Promise<number> {
  const H = hvp(model, { x: xs, y: ys }, { batchSize: 24 });
  const scaling = (await optimizerSnapshot(model, true))?.scaling as Record<string, Float32Array>;
  const d = Float64Array.from(H.names.flatMap((n) => Array.from(scaling[n] as Float32Array)));
  const dense = await denseHessian(H, d);
  const n = H.size;
  H.dispose();
  return Math.max(...symmetricEigen(dense, n).values);
}

const logs = (records: EpochRecord[], key: string) => records.map((r) => r.logs[key]);

describe('the edge of stability in the Hessian measurement', () => {
  beforeAll(() => useBackend('wasm'));

  it('SGD and momentum: λmax·η/2, the threshold 2/η or (2 + 2β)/η, and the gate reads them', async () => {
    const root = tmpPath('eos-sgd');
    await rm(root, { recursive: true, force: true });
    const { monitor, model } = await fitWith(() => tf.train.sgd(0.05), false, root);
    for (const r of monitor.records) {
      const h = r['hessian'] as { lambdaMax: number };
      expect(r.logs['hessian_max_x_lr']).toBeCloseTo((h.lambdaMax * 0.05) / 2, 10);
      expect(r.logs['stability_threshold']).toBeCloseTo(40, 10);
      expect(r['optimizer']).toMatchObject({ name: 'SGD', learningRate: 0.05 });
    }
    const summary = summarizeRun(await readRunFolder(monitor.run?.dir as string), 1);
    expect(summary.metrics['hessian_max_x_lr']).toMatchObject({ status: 'ok', value: monitor.records.at(-1)?.logs['hessian_max_x_lr'] });
    model.dispose();
    const momentum = await fitWith(() => tf.train.momentum(0.05, 0.5), false);
    expect(logs(momentum.monitor.records, 'stability_threshold').every((t) => Math.abs((t as number) - 3 / 0.05) < 1e-9)).toBe(true);
    momentum.model.dispose();
  });

  it('Adam: λmax(P⁻¹H) agrees with the dense D H D, and the worker gives the in-thread numbers', async () => {
    const adam = () => tf.train.adam(0.01, 0.9, 0.99);
    const here = await fitWith(adam, false);
    const off = await fitWith(adam, true);
    const a = logs(here.monitor.records, 'preconditioned_hessian_max');
    const b = logs(off.monitor.records, 'preconditioned_hessian_max');
    // Before training Adam has no second moment yet: the threshold is known, not the sharpness.
    expect(a[0]).toBeUndefined();
    expect((here.monitor.records[0]?.['hessian'] as { stability: { skipped: string } }).stability.skipped).toMatch(/not taken a step/);
    expect(a.slice(1).every((v) => typeof v === 'number' && v > 0)).toBe(true);
    a.forEach((v, i) => (v === undefined ? expect(b[i]).toBeUndefined() : expect(Math.abs((b[i] as number) - v) / v, `epoch ${i - 1}`).toBeLessThan(1e-4)));
    expect(logs(here.monitor.records, 'stability_threshold').at(-1)).toBeCloseTo(3.8 / 0.1 / 0.01, 6);
    const reference = await denseReference(here.model, here.xs, here.ys);
    expect(Math.abs((a.at(-1) as number) - reference) / reference).toBeLessThan(1e-3);
    for (const r of [here, off]) {
      r.model.dispose();
      tf.dispose([r.xs, r.ys]);
    }
  });
});
