import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdaptiveSharpnessMeasurement } from '../../callbacks/adaptive-sharpness-callback.js';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import type { MeasureContext } from '../../callbacks/measurement.js';
import { adaptiveSharpness } from '../../src/core/adaptive-sharpness.js';
import { randomDirection } from '../../src/core/random-direction.js';
import { subSeed } from '../../src/core/sub-seed.js';
import { float64Space, paramListSpace } from '../../src/core/vector-space.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { runCharts } from '../../reports/run-charts.js';
import { runReportData } from '../../reports/run-report-data.js';
import { summarizeRun } from '../../src/io/run-summary.js';
import { ModelEvaluator } from '../../src/model/evaluator.js';
import { hvp } from '../../src/model/hvp.js';
import { resolveLoss } from '../../src/model/model-loss.js';
import { readModelWeights, writeModelWeights } from '../../src/model/model-weights.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';
import { mlpLossAndGrad } from '../helpers/reference-mlp.js';

const SIZES = [6, 7, 3];

function classifier(activation: 'tanh' | 'relu', sizes = SIZES): tf.LayersModel {
  const m = tf.sequential();
  sizes.slice(1).forEach((units, i) =>
    m.add(tf.layers.dense({ units, activation: i === sizes.length - 2 ? 'softmax' : activation, ...(i === 0 ? { inputShape: [sizes[0] as number] } : {}), kernelInitializer: tf.initializers.glorotNormal({ seed: 10 + i }), biasInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.3, seed: 20 + i }) })),
  );
  m.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  return m;
}

function data(n: number, inputs: number, classes: number) {
  const x = tf.randomNormal([n, inputs], 0, 1, 'float32', 5);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 7) % classes), 'int32'), classes).toFloat();
  return { x, y };
}

const context = (model: tf.LayersModel, probe: { x: tf.Tensor; y: tf.Tensor }): MeasureContext => ({ model, probe, loss: undefined, batchSize: 16, run: null, seed: 3 });

async function measure(model: tf.LayersModel, probe: { x: tf.Tensor; y: tf.Tensor }, settings = {}) {
  const m = new AdaptiveSharpnessMeasurement({ radius: 0.3, ...settings });
  await m.begin(context(model, probe));
  try {
    return await m.measure(context(model, probe));
  } finally {
    m.end();
  }
}

for (const backend of BACKENDS) {
  describe(`adaptive sharpness of a model on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('agrees with the same ascent on an independent float64 MLP (loss and exact gradient), and puts the weights back bit for bit', async () => {
      const model = classifier('tanh');
      const probe = data(40, 6, 3);
      const before = await readModelWeights(model).toFlat();
      const r = await measure(model, probe, { steps: 4, directions: 6 });
      expect(await readModelWeights(model).toFlat()).toEqual(before);
      // The float64 reference: the same θ, directions and steps, in plain TypeScript.
      const theta = before;
      const scale = theta.map(Math.abs);
      const x = Float64Array.from(await probe.x.data());
      const y = Float64Array.from(await probe.y.data());
      const at = (d: Float64Array) => theta.map((t, i) => t + (scale[i] as number) * (d[i] as number));
      const layout = { names: model.trainableWeights.map((w) => w.originalName), shapes: model.trainableWeights.map((w) => w.shape as number[]) };
      const directions = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
        const d = randomDirection(layout, subSeed(3, 500 + i));
        const flat = await d.toFlat();
        d.dispose();
        return flat;
      }));
      const want = await adaptiveSharpness(
        {
          space: float64Space,
          loss: async (d) => mlpLossAndGrad({ sizes: SIZES }, at(d), x, y, 40).loss,
          gradient: async (d) => mlpLossAndGrad({ sizes: SIZES }, at(d), x, y, 40).grad.map((g, i) => g * (scale[i] as number)),
        },
        { radius: 0.3, steps: 4, directions },
      );
      const got = r.record as unknown as typeof want;
      expect(Math.abs(got.center - want.center)).toBeLessThan(1e-6);
      expect(Math.abs(got.worst - want.worst) / want.worst).toBeLessThan(1e-4);
      expect(Math.abs(got.average - want.average) / want.average).toBeLessThan(1e-3);
      got.values.forEach((v, i) => expect(Math.abs((v as number) - (want.values[i] as number))).toBeLessThan(2e-6));
      expect(r.logs['adaptive_sharpness']).toBe(got.worst);
      expect(r.logs['adaptive_sharpness_avg']).toBe(got.average);
      expect(got.worst).toBeGreaterThanOrEqual(Math.max(...(got.values as number[])));
      expect(got.worst).toBeGreaterThan(got.average);
      model.dispose();
      tf.dispose([probe.x, probe.y]);
    });

    it('is invariant under the ReLU rescaling θ₁·c, θ₂/c of two consecutive layers; plain ℓ2 sharpness is not', async () => {
      const sizes = [6, 8, 8, 3];
      const model = classifier('relu', sizes);
      const probe = data(48, 6, 3);
      const plain = async () => {
        // The same ascent in the unscaled ball ‖ε‖₂ ≤ ρ (|θ| replaced by 1).
        const H = hvp(model, probe, { batchSize: 16 });
        const loss = resolveLoss(model);
        const ev = new ModelEvaluator(model, probe, { loss: loss.fn, lossName: loss.name, batchSize: 16 });
        const theta = readModelWeights(model);
        const move = (d: typeof theta) => {
          const moved = theta.map((t, i) => t.add(d.tensors[i] as tf.Tensor));
          writeModelWeights(model, moved);
          moved.dispose();
        };
        const directions = [0, 1, 2, 3].map((i) => randomDirection({ names: H.names, shapes: H.shapes }, 40 + i));
        const s = await adaptiveSharpness({ space: paramListSpace, loss: async (d) => (move(d), (await ev.evaluate()).loss), gradient: async (d) => (move(d), H.gradient()) }, { radius: 0.3, steps: 3, directions });
        writeModelWeights(model, theta);
        [H, ev, theta, ...directions].forEach((o) => o.dispose());
        return s.worst;
      };
      const original = await measure(model, probe);
      const plainOriginal = await plain();
      const c = 4;
      const w = model.layers.map((l) => l.getWeights());
      model.layers[0]?.setWeights((w[0] as tf.Tensor[]).map((t) => t.mul(c)));
      model.layers[1]?.setWeights([(w[1] as tf.Tensor[])[0]!.div(c), (w[1] as tf.Tensor[])[1]!]);
      // The function is unchanged ...
      const rescaled = await measure(model, probe);
      const a = original.record as { center: number; worst: number; average: number };
      const b = rescaled.record as typeof a;
      expect(Math.abs(b.center - a.center)).toBeLessThan(1e-5);
      // ... and so are both adaptive numbers (float32 tolerance) ...
      expect(Math.abs(b.worst - a.worst) / a.worst).toBeLessThan(1e-3);
      expect(Math.abs(b.average - a.average) / a.average).toBeLessThan(1e-2);
      // ... while sharpness in the plain ball moves by far more.
      const plainRescaled = await plain();
      expect(Math.abs(plainRescaled - plainOriginal) / plainOriginal).toBeGreaterThan(0.2);
      expect(a.worst).toBeGreaterThanOrEqual(a.average);
      model.dispose();
      tf.dispose([probe.x, probe.y]);
    });
  });
}

describe('adaptive sharpness in the monitor', () => {
  beforeAll(() => useBackend('cpu'));
  const root = tmpPath('adaptive-monitor');
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('logs adaptive_sharpness and _avg each epoch, the worker gives the in-thread numbers, and the gate reads them', async () => {
    await rm(root, { recursive: true, force: true });
    const logs: Record<string, number[]>[] = [];
    for (const worker of [false, true]) {
      const model = classifier('tanh');
      const probe = data(40, 6, 3);
      const monitor = landscapeMonitor({ probe, runDir: root, runId: `adaptive-${worker}`, worker, budget: null, sharpness: false, hessian: false, trajectory: false, finalSurfaces: false, report: false, adaptiveSharpness: { radius: 0.3 }, log: () => {}, warn: () => {} });
      await model.fit(probe.x, probe.y, { epochs: 3, batchSize: 20, shuffle: false, verbose: 0, callbacks: [monitor] });
      const records = monitor.records;
      expect(records.map((r) => r.epoch)).toEqual([-1, 0, 1, 2]);
      for (const r of records) expect((r['adaptiveSharpness'] as { worker?: boolean }).worker === true).toBe(worker);
      logs.push({ worst: records.map((r) => r.logs['adaptive_sharpness'] as number), avg: records.map((r) => r.logs['adaptive_sharpness_avg'] as number) });
      const summary = summarizeRun(await readRunFolder(monitor.run?.dir as string), 1);
      expect(summary.metrics['adaptive_sharpness']).toMatchObject({ status: 'ok', value: records.at(-1)?.logs['adaptive_sharpness'] });
      expect(summary.metrics['adaptive_sharpness_avg']).toMatchObject({ status: 'ok', value: records.at(-1)?.logs['adaptive_sharpness_avg'] });
      // The report charts both, labelled with the radius.
      const chart = runCharts(runReportData(await readRunFolder(monitor.run?.dir as string))).find((c) => c.id === 'adaptive');
      const datasets = (chart?.config as { data: { datasets: { label: string; data: (number | null)[] }[] } }).data.datasets;
      expect(datasets.map((x) => x.label)).toEqual(['worst case (ρ = 0.3)', 'average case (right axis)']);
      expect(datasets[0]?.data).toEqual(records.map((r) => r.logs['adaptive_sharpness']));
      model.dispose();
      tf.dispose([probe.x, probe.y]);
    }
    const [here, off] = logs as [Record<string, number[]>, Record<string, number[]>];
    here['worst']?.forEach((v, i) => expect(Math.abs((off['worst']?.[i] as number) - v) / v, `epoch ${i - 1}`).toBeLessThan(1e-3));
    here['avg']?.forEach((v, i) => expect(Math.abs((off['avg']?.[i] as number) - v) / v, `epoch ${i - 1}`).toBeLessThan(1e-2));
    expect(here['worst']?.every((v, i) => v >= (here['avg']?.[i] as number))).toBe(true);
  });

  it('the gate takes adaptive_sharpness rules: a run passes its own baseline, and a rule it cannot meet fails naming it', async () => {
    const run = `${root}/adaptive-false`;
    const save = await runCli(['baseline', 'save', run, '--out', `${root}/baseline.json`, '--last', '1']);
    expect(save.code, save.stderr).toBe(0);
    const pass = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', run, '--last', '1', '--rule', 'adaptive_sharpness <= +10%', '--rule', 'adaptive_sharpness_avg <= +10%']);
    expect(pass.code, pass.stdout + pass.stderr).toBe(0);
    expect(pass.stdout).toMatch(/adaptive_sharpness <= \+10%.*pass/);
    const fail = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', run, '--last', '1', '--rule', 'adaptive_sharpness <= -50%']);
    expect(fail.code).toBe(1);
    expect(fail.stdout).toMatch(/adaptive_sharpness <= -50%.*regression/);
  });

  it('refuses bad settings, naming them', () => {
    const probe = { x: tf.zeros([4, 6]), y: tf.zeros([4, 3]) };
    expect(() => landscapeMonitor({ probe, runDir: null, trajectory: false, adaptiveSharpness: { radius: -1 } })).toThrow(/adaptiveSharpness: radius = -1 is not a positive number/);
    expect(() => landscapeMonitor({ probe, runDir: null, trajectory: false, adaptiveSharpness: { directions: 1 } })).toThrow(/directions = 1 is not an integer from 2/);
    expect(() => landscapeMonitor({ probe, runDir: null, trajectory: false, adaptiveSharpness: 'yes' as never })).toThrow(/adaptiveSharpness = "yes" is not true, false or a settings object/);
    tf.dispose([probe.x, probe.y]);
  });
});
