import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { parseRule } from '../../src/core/gate-rules.js';
import { readRunFolder } from '../../src/io/run-folder.js';
import { GATE_METRICS, summarizeRun } from '../../src/io/run-summary.js';
import { runCharts } from '../../reports/run-charts.js';
import { runReportData } from '../../reports/run-report-data.js';
import { useBackend } from '../helpers/backend.js';
import { tmpPath } from '../helpers/fixture.js';

function setup() {
  const x = tf.randomNormal([48, 6], 0, 1, 'float32', 2);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 48 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ name: 'hidden', units: 8, activation: 'tanh', inputShape: [6], kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
      tf.layers.dense({ name: 'logits', units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  return { x, y, model };
}

describe('per-layer curvature in the monitor', () => {
  beforeAll(() => useBackend('wasm'));
  const root = tmpPath('layer-curvature');
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('logs each layer’s block λmax and trace every k epochs, the worker as in-thread, and the report draws the heat strip', async () => {
    await rm(root, { recursive: true, force: true });
    const got: Record<string, number | undefined>[][] = [];
    for (const worker of [false, true]) {
      const { x, y, model } = setup();
      const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId: `layers-${worker}`, worker, budget: null, finalSurfaces: false, finalDensity: false, report: false, sharpness: false, hessian: { perLayer: { every: 2, traceSamples: 6 }, shards: 0 }, log: () => {}, warn: () => {} });
      await model.fit(x, y, { epochs: 3, batchSize: 16, shuffle: false, verbose: 0, callbacks: [monitor] });
      const keys = ['layer_hessian_max/hidden', 'layer_hessian_max/logits', 'layer_hessian_trace/hidden', 'layer_hessian_trace/logits'];
      const logs = monitor.records.map((r) => Object.fromEntries(keys.map((k) => [k, r.logs[k]])));
      // Measurements 1 and 3 of 4 (epochs −1 and 1).
      expect(logs.map((l) => typeof l['layer_hessian_max/hidden'] === 'number')).toEqual([true, false, true, false]);
      for (const r of monitor.records.filter((_, i) => i % 2 === 0)) {
        const h = r['hessian'] as { lambdaMax: number; layers: { layer: string; params: number; lambdaMax: number; converged: boolean }[] };
        expect(h.layers.map((l) => [l.layer, l.params])).toEqual([['hidden', 56], ['logits', 27]]);
        // A diagonal block's λmax never exceeds the whole Hessian's (interlacing).
        for (const l of h.layers) expect(l.lambdaMax).toBeLessThanOrEqual(h.lambdaMax * (1 + 1e-3));
        expect(h.layers.every((l) => l.converged)).toBe(true);
      }
      got.push(logs);
      if (!worker) {
        const chart = runCharts(runReportData(await readRunFolder(monitor.run?.dir as string))).find((c) => c.id === 'layers');
        const cells = (chart?.config as { data: { datasets: { data: { x: string; y: string }[] }[] } }).data.datasets.flatMap((d) => d.data);
        expect(cells.map((c) => `${c.y}@${c.x}`).sort()).toEqual(['hidden@2', 'hidden@init', 'logits@2', 'logits@init']);
        // The gate reads each layer under its logs name, from the last epoch that measured it.
        const summary = summarizeRun(await readRunFolder(monitor.run?.dir as string), 1);
        expect(summary.metrics['layer_hessian_max/hidden']).toEqual({ value: logs[2]?.['layer_hessian_max/hidden'], status: 'ok' });
        expect(parseRule('layer_hessian_max/hidden <= +10%', GATE_METRICS)).toMatchObject({ metric: 'layer_hessian_max/hidden', kind: 'relative' });
        expect(() => parseRule('layer_hessian_min/hidden <= +10%', GATE_METRICS)).toThrow(/unknown metric 'layer_hessian_min\/hidden'.*per layer layer_hessian_max\/<layer>/);
      }
      model.dispose();
      tf.dispose([x, y]);
    }
    got[0]?.forEach((l, e) => Object.entries(l).forEach(([k, v]) => (v === undefined ? expect(got[1]?.[e]?.[k]).toBeUndefined() : expect(Math.abs((got[1]?.[e]?.[k] as number) - v) / Math.abs(v), `${k} at ${e - 1}`).toBeLessThan(1e-3))));
  });

  it('refuses bad per-layer settings, naming them', () => {
    const probe = { x: tf.zeros([4, 6]), y: tf.zeros([4, 3]) };
    expect(() => landscapeMonitor({ probe, runDir: null, trajectory: false, hessian: { perLayer: { every: 0 } } })).toThrow(/perLayer.every = 0 is not an integer ≥ 1/);
    expect(() => landscapeMonitor({ probe, runDir: null, trajectory: false, hessian: { perLayer: 'all' as never } })).toThrow(/perLayer = "all" is not true, false or/);
    tf.dispose([probe.x, probe.y]);
  });
});
