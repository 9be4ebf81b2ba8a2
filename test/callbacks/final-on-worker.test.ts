import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';

function setup() {
  const x = tf.randomNormal([96, 10], 0, 1, 'float32', 4);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 96 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 12, activation: 'relu', inputShape: [10], kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  return { x, y, model };
}

describe('the end-of-training analysis of a run trained on the cpu backend', () => {
  beforeAll(() => useBackend('cpu'));
  const root = tmpPath('final-on-worker');
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('runs on the wasm measurement worker, with the numbers the training thread gets on cpu', async () => {
    await rm(root, { recursive: true, force: true });
    const out: Record<string, { surfaces: any; density: any; run: any; lines: string[] }> = {};
    for (const worker of [true, false]) {
      const { x, y, model } = setup();
      const lines: string[] = [];
      const id = worker ? 'worker' : 'here';
      const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId: id, worker, budget: null, finalBudget: null, report: false, sharpness: false, finalSurfaces: { resolution: 7, sliceResolution: 9 }, finalDensity: { vectors: 2, steps: 12 }, log: (l) => lines.push(l), warn: () => {} });
      await model.fit(x, y, { epochs: 3, batchSize: 32, shuffle: false, verbose: 0, callbacks: [monitor] });
      expect(tf.getBackend()).toBe('cpu');
      const read = (f: string) => JSON.parse(readFileSync(`${root}/${id}/${f}`, 'utf8'));
      out[id] = { surfaces: read('surfaces.json'), density: read('density.json'), run: read('run.json'), lines };
      model.dispose();
      tf.dispose([x, y]);
    }
    const [w, h] = [out['worker']!, out['here']!];
    expect(w.run.finalAnalysis).toEqual({ on: 'measurement worker', backend: 'wasm' });
    expect(h.run.finalAnalysis).toBeUndefined();
    expect(w.lines.some((l) => /final surfaces: \d+\/\d+ points/.test(l))).toBe(true);
    // The same surfaces and density (cpu against wasm: float32 tolerance).
    const close = (a: number[][], b: number[][]) => a.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - (b[i]?.[j] as number)) / Math.abs(v), `[${i}][${j}]`).toBeLessThan(1e-4)));
    close(w.surfaces.surface.loss, h.surfaces.surface.loss);
    close(w.surfaces.pca.loss, h.surfaces.pca.loss);
    close([w.surfaces.slice.loss], [h.surfaces.slice.loss]);
    expect(Math.abs(w.density.range[1] - h.density.range[1]) / h.density.range[1]).toBeLessThan(1e-3);
    expect(w.density.hvps).toBe(h.density.hvps);
  });

  it('a worker killed during the analysis hands it to the training thread, which still writes every file', async () => {
    const { x, y, model } = setup();
    const lines: string[] = [];
    let killed = false;
    const monitor = landscapeMonitor({
      probe: { x, y }, runDir: root, runId: 'killed', budget: null, finalBudget: null, report: false, sharpness: false,
      finalSurfaces: { resolution: 7, sliceResolution: 9 }, finalDensity: { vectors: 1, steps: 8 },
      log: (l) => {
        lines.push(l);
        // The worker's first progress line: kill it mid-analysis.
        if (!killed && /final surfaces: \d+ points/.test(l)) {
          killed = true;
          void monitor.terminateWorker();
        }
      },
      warn: () => {},
    });
    await model.fit(x, y, { epochs: 2, batchSize: 32, shuffle: false, verbose: 0, callbacks: [monitor] });
    expect(killed).toBe(true);
    expect(lines.some((l) => /end-of-training analysis: the measurement worker was terminated; running it on the training thread/.test(l))).toBe(true);
    const run = JSON.parse(readFileSync(`${root}/killed/run.json`, 'utf8'));
    expect(run.status).toBe('finished');
    expect(run.finalAnalysis).toBeUndefined();
    expect(JSON.parse(readFileSync(`${root}/killed/surfaces.json`, 'utf8')).surface.loss).toHaveLength(7);
    expect(JSON.parse(readFileSync(`${root}/killed/density.json`, 'utf8')).steps).toBe(8);
    expect(monitor.measurementWorker).toBeNull();
    model.dispose();
    tf.dispose([x, y]);
  });
});
