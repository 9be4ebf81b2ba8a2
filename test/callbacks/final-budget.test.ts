import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitResolution } from '../../callbacks/final-surfaces.js';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { runReportData } from '../../reports/run-report-data.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';

describe('fitResolution', () => {
  it('keeps the asked resolutions when they fit, lowers them to odd counts that fit otherwise', () => {
    const asked = { resolution: 21, sliceResolution: 41, ratioMap: 0 };
    expect(fitResolution(asked, true, 0.01, 100)).toEqual({ used: asked, estimatedSeconds: 0.01 * (41 + 2 * 441) });
    const { used, estimatedSeconds } = fitResolution(asked, true, 0.01, 3);
    expect(estimatedSeconds).toBeLessThanOrEqual(3);
    expect(used.resolution % 2).toBe(1);
    expect(used.sliceResolution % 2).toBe(1);
    expect(used.resolution).toBeLessThan(21);
    expect(used.resolution).toBeGreaterThanOrEqual(5);
    // A limit nothing fits: the smallest grids, and an estimate that says it is over.
    expect(fitResolution(asked, true, 1, 0.001).used).toEqual({ resolution: 5, sliceResolution: 5, ratioMap: 0 });
  });
});

describe('the end-of-training limit', () => {
  beforeAll(() => useBackend('wasm'));

  it('final surfaces lower their resolution to fit finalBudget, and surfaces.json and the report say so', async () => {
    const root = tmpPath('final-budget');
    await rm(root, { recursive: true, force: true });
    const x = tf.randomNormal([256, 20], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 256 }, (_, i) => i % 4), 'int32'), 4).toFloat();
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 32, activation: 'relu', inputShape: [20] }), tf.layers.dense({ units: 4, activation: 'softmax' })] });
    model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
    const lines: string[] = [];
    // A limit of one training time (about a second) holds 5×5 grids but not 41 + 2 × 61² points.
    const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId: 'r', worker: false, budget: null, finalBudget: 1, hessian: false, sharpness: false, finalSurfaces: { resolution: 61 }, log: (l) => lines.push(l) });
    await model.fit(x, y, { epochs: 10, batchSize: 32, verbose: 0, callbacks: [monitor] });
    const surfaces = JSON.parse(readFileSync(`${root}/r/surfaces.json`, 'utf8'));
    expect(surfaces.resolution).toMatchObject({ requested: { resolution: 61, sliceResolution: 41 }, lowered: true });
    expect(surfaces.resolution.used.resolution).toBeLessThan(61);
    expect(surfaces.surface.x).toHaveLength(surfaces.resolution.used.resolution);
    expect(lines.find((l) => /final surfaces: \d+ points, about .* s \(limit .* s\); resolution lowered to fit: 61×61 →/.test(l))).toBeDefined();
    const report = runReportData(await readRunFolder(`${root}/r`));
    expect(report.missing.some((m) => /computed at \d+×\d+ .* instead of 61×61/.test(m))).toBe(true);

    // A limit not even the smallest grids fit: nothing is computed, and run.json and the report say why.
    const none = landscapeMonitor({ probe: { x, y }, runDir: root, runId: 'none', worker: false, budget: null, finalBudget: 1e-9, hessian: false, sharpness: false, log: () => {} });
    await model.fit(x, y, { epochs: 2, batchSize: 32, verbose: 0, callbacks: [none] });
    const run = await readRunFolder(`${root}/none`);
    expect(run.surfaces ?? null).toBeNull();
    expect(run.run['finalSurfaces']).toMatchObject({ skipped: 'finalBudget' });
    expect(runReportData(run).missing.some((m) => /surfaces were skipped: about .* over the end-of-training limit/.test(m))).toBe(true);
  });
});
