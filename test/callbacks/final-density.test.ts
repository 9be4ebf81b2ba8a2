import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { runCharts } from '../../reports/run-charts.js';
import { runReportData } from '../../reports/run-report-data.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';

function setup() {
  const x = tf.randomNormal([64, 6], 0, 1, 'float32', 2);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 64 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [6], kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  return { x, y, model };
}

describe('the Hessian spectral density in the monitor', () => {
  beforeAll(() => useBackend('cpu'));
  const root = tmpPath('final-density');
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('at the end of training: density.json (∫ = 1, negative mass in [0, 1]), its report chart, and a progress line', async () => {
    await rm(root, { recursive: true, force: true });
    const { x, y, model } = setup();
    const lines: string[] = [];
    const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId: 'end', worker: false, budget: null, finalBudget: null, finalSurfaces: false, report: false, sharpness: false, finalDensity: { vectors: 3, steps: 20 }, log: (l) => lines.push(l), warn: () => {} });
    await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0, callbacks: [monitor] });
    const density = JSON.parse(readFileSync(`${root}/end/density.json`, 'utf8'));
    expect(density).toMatchObject({ vectors: 3, steps: 20, n: 83, probeSize: 64, lowered: false, hvps: 60 });
    expect(density.negativeMass).toBeGreaterThanOrEqual(0);
    expect(density.negativeMass).toBeLessThanOrEqual(1);
    const dx = density.x[1] - density.x[0];
    expect(density.density.reduce((s: number, v: number) => s + v, 0) * dx).toBeCloseTo(1, 2);
    // Its extremes are the Hessian measurement's λmax and λmin at the last epoch.
    const last = monitor.records.at(-1)?.['hessian'] as { lambdaMax: number; lambdaMin: number };
    expect(Math.abs(density.range[1] - last.lambdaMax) / last.lambdaMax).toBeLessThan(1e-2);
    expect(lines.some((l) => /final density: 3 vector\(s\) × 20 Lanczos steps on 64 probe samples/.test(l))).toBe(true);
    const contents = await readRunFolder(`${root}/end`);
    const chart = runCharts(runReportData(contents)).find((c) => c.id === 'density');
    expect(JSON.stringify(chart?.config)).toContain(`negative mass ${(100 * density.negativeMass).toFixed(2)}%`);
    model.dispose();
    tf.dispose([x, y]);
  });

  it('every k epochs on request, on the worker as in-thread: hessian_negative_mass in logs and the density in the record', async () => {
    const got: (number | undefined)[][] = [];
    for (const worker of [false, true]) {
      const { x, y, model } = setup();
      const monitor = landscapeMonitor({ probe: { x, y }, runDir: null, trajectory: false, worker, budget: null, finalSurfaces: false, finalDensity: false, report: false, sharpness: false, hessian: { densityEvery: 2, density: { vectors: 2, steps: 30 }, shards: 0 }, log: () => {}, warn: () => {} });
      await model.fit(x, y, { epochs: 4, batchSize: 16, shuffle: false, verbose: 0, callbacks: [monitor] });
      const masses = monitor.records.map((r) => r.logs['hessian_negative_mass']);
      // Measurements 1, 3, 5 of 5 (epochs −1, 1, 3).
      expect(masses.map((m) => typeof m === 'number')).toEqual([true, false, true, false, true]);
      const record = monitor.records[0]?.['hessian'] as { density: { vectors: number; steps: number; x: number[]; rules?: unknown } };
      expect(record.density).toMatchObject({ vectors: 2, steps: 30 });
      expect(record.density.x).toHaveLength(200);
      expect(record.density.rules).toBeUndefined();
      got.push(masses);
      model.dispose();
      tf.dispose([x, y]);
    }
    got[0]?.forEach((m, i) => (m === undefined ? expect(got[1]?.[i]).toBeUndefined() : expect(Math.abs((got[1]?.[i] as number) - m)).toBeLessThan(2e-3)));
  });

  it('a limit too small for even one vector skips it and run.json says so; bad settings are named', async () => {
    const { x, y, model } = setup();
    const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId: 'tight', worker: false, budget: null, finalBudget: 1e-9, finalSurfaces: false, report: false, sharpness: false, hessian: { shards: 0 }, log: () => {}, warn: () => {} });
    await model.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0, callbacks: [monitor] });
    const run = JSON.parse(readFileSync(`${root}/tight/run.json`, 'utf8'));
    expect(run.finalDensity).toMatchObject({ skipped: 'finalBudget' });
    const contents = await readRunFolder(`${root}/tight`);
    expect(contents.density).toBeNull();
    expect(runReportData(contents).missing.some((m) => /spectral density was skipped: about .* over the .* s the end-of-training limit had left/.test(m))).toBe(true);
    expect(() => landscapeMonitor({ probe: { x, y }, runDir: root, finalDensity: { steps: 1 } })).toThrow(/finalDensity.steps = 1 is not an integer from 2/);
    expect(() => landscapeMonitor({ probe: { x, y }, runDir: root, hessian: { densityEvery: -1 } })).toThrow(/densityEvery = -1 is not a non-negative integer/);
    model.dispose();
    tf.dispose([x, y]);
  });
});
