import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { folderSaveHandler, loadModel } from '../../src/io/artifact.js';
import { readNpyFile } from '../../src/io/npy.js';
import { layerCurvature } from '../../src/landscape/layer-curvature.js';
import { hvp } from '../../src/model/hvp.js';
import { resolveLoss } from '../../src/model/model-loss.js';
import { prepareData } from '../../src/model/prepare-data.js';
import { runCli } from '../helpers/cli.js';
import { expected, fixturePath, tmpPath } from '../helpers/fixture.js';

const ref = expected().hessian;
const M = fixturePath('model/model.json');
const data = ['--x', fixturePath('data/x.npy'), '--y', fixturePath('data/y.npy')];
const out = (name: string) => tmpPath('cli-hessian', name);
const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('landscope hessian', () => {
  beforeAll(async () => {
    await mkdir(tmpPath('cli-hessian'), { recursive: true });
  });

  it('landscope hessian --top 5 --bottom 5 --trace reproduces the fixture center (kernels only)', async () => {
    const r = await runCli(['hessian', '--model', M, ...data, '--params', 'kernels', '--top', '5', '--bottom', '5', '--trace', '--tol', '1e-4', '--max-iter', '200', '--out', out('center.json')]);
    expect(r.code, r.stderr).toBe(0);
    const h = read(out('center.json'));
    const want = ref.center.kernels_only;
    expect(h.n).toBe(410);
    expect(h.converged).toBe(true);
    expect(Math.abs(h.lambdaMax - want.lambda_max) / want.lambda_max).toBeLessThan(1e-3);
    expect(Math.abs(h.lambdaMin - want.lambda_min)).toBeLessThan(2e-3 * want.lambda_max);
    h.top.forEach((v: number, i: number) => expect(Math.abs(v - want.top5_desc[i]) / want.top5_desc[i]).toBeLessThan(1e-3));
    h.bottom.forEach((v: number, i: number) => expect(Math.abs(v - want.bottom5_asc[i])).toBeLessThan(2e-3 * want.lambda_max));
    expect(Math.abs(h.ratio - want.abs_ratio_min_over_max)).toBeLessThan(2e-3);
    expect(Math.abs(h.trace.value - want.trace) / want.trace).toBeLessThan(1e-3);
    expect(h.residuals.top).toHaveLength(5);
    expect(h.meta).toMatchObject({ kind: 'hessian', options: { params: 'kernels', top: 5 } });
    expect(r.stdout).toMatch(/hessian: λmax 2\.54\d+, λmin -0\.120\d+/);
  });

  it('landscope hessian --density adds the spectral density: its extremes are the fixture λmax, λmin; its mean tr(H)/n', async () => {
    const r = await runCli(['hessian', '--model', M, ...data, '--density', '--density-vectors', '6', '--density-steps', '40', '--out', out('density.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/density: negative mass 0\.\d+ ± \d/);
    const d = read(out('density.json')).density;
    const want = ref.center.all_params;
    expect(d).toMatchObject({ vectors: 6, steps: 40, hvps: 240 });
    expect(Math.abs(d.range[1] - want.lambda_max) / want.lambda_max).toBeLessThan(1e-3);
    expect(Math.abs(d.range[0] - want.lambda_min)).toBeLessThan(2e-2 * want.lambda_max);
    const means = d.rules.map((q: { nodes: number[]; weights: number[] }) => q.nodes.reduce((s, v, k) => s + v * (q.weights[k] as number), 0));
    const mean = means.reduce((a: number, b: number) => a + b, 0) / means.length;
    const se = Math.sqrt(means.reduce((a: number, v: number) => a + (v - mean) ** 2, 0) / (means.length - 1) / means.length);
    expect(Math.abs(mean - want.trace / want.n)).toBeLessThan(4 * se);
    expect(d.negativeMass).toBeGreaterThan(0);
    expect(d.negativeMass).toBeLessThan(1);
    for (const [argv, message] of [
      [['--density-steps', '10'], /--density-steps goes with --density/],
      [['--density', '--xrange=-1:1:3', '--yrange=-1:1:3'], /--density is computed at the checkpoint, not over a ratio map/],
    ] as const) {
      const bad = await runCli(['hessian', '--model', M, ...data, ...argv]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
  });

  it('landscope hessian --per-layer: each layer’s block λmax (at most the fixture λmax) and trace, as layerCurvature gives them', async () => {
    const r = await runCli(['hessian', '--model', M, ...data, '--per-layer', '--per-layer-samples', '4', '--lanczos-seed', '3', '--out', out('layers.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/per layer λmax \w+ \d/);
    const layers = read(out('layers.json')).layers as { layer: string; params: number; lambdaMax: number; trace: number; converged: boolean }[];
    const want = ref.center.all_params;
    expect(layers.reduce((a, l) => a + l.params, 0)).toBe(want.n);
    expect(layers.every((l) => l.converged && l.lambdaMax <= want.lambda_max * (1 + 1e-3))).toBe(true);
    // The same numbers in-process, on the backend the command left selected.
    const m = await loadModel(fixturePath('model'));
    const d = prepareData(m, await readNpyFile(fixturePath('data/x.npy')), await readNpyFile(fixturePath('data/y.npy')), resolveLoss(m).name);
    const H = hvp(m, d);
    const again = (await layerCurvature(H, { seed: 3, traceSamples: 4 })).layers;
    again.forEach((l, i) => {
      expect(layers[i]?.layer).toBe(l.layer);
      expect(Math.abs((layers[i]?.lambdaMax as number) - l.lambdaMax) / l.lambdaMax).toBeLessThan(1e-4);
      expect(Math.abs((layers[i]?.trace as number) - l.trace)).toBeLessThan(1e-4 * Math.abs(l.trace) + 1e-6);
    });
    H.dispose();
    m.dispose();
    const bad = await runCli(['hessian', '--model', M, ...data, '--per-layer-samples', '4']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--per-layer-samples goes with --per-layer/);
  });

  it('landscope hessian --xrange --yrange writes the fixture ratio map', async () => {
    const r = await runCli(['hessian', '--model', M, ...data, '--dir-x', fixturePath('dirs/d1/model.json'), '--dir-y', fixturePath('dirs/d2/model.json'), '--norm', 'filter', '--xrange=-1:1:5', '--yrange=-1:1:5', '--tol', '1e-4', '--max-iter', '200', '--out', out('map.json')]);
    expect(r.code, r.stderr).toBe(0);
    const map = read(out('map.json'));
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        expect(Math.abs(map.ratio[i][j] - ref.grid.all_params.abs_ratio[i][j])).toBeLessThan(2e-3);
        expect(Math.abs(map.lambdaMax[i][j] - ref.grid.all_params.lambda_max[i][j]) / ref.grid.all_params.lambda_max[i][j]).toBeLessThan(1e-3);
      }
    }
    expect(map.meta).toMatchObject({ kind: 'hessian-map', notConverged: 0 });
  });

  it('landscope hessian reports a non-converged run with its residual instead of hiding it', async () => {
    const r = await runCli(['hessian', '--model', M, ...data, '--max-iter', '4', '--tol', '1e-6', '--out', out('capped.json')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: Lanczos did NOT converge within --max-iter 4: largest residual [\d.e-]+ > tol·max\|λ\|/);
    const h = read(out('capped.json'));
    expect(h.converged).toBe(false);
    expect(h.hvps).toBe(4);
    expect(Math.max(...h.residuals.top, ...h.residuals.bottom)).toBeGreaterThan(1e-6 * Math.abs(h.lambdaMax));
  });

  it('landscope hessian refuses --top beyond the parameter count, a model without trainable weights, and half a grid', async () => {
    const top = await runCli(['hessian', '--model', M, ...data, '--top', '500', '--out', out('bad.json')]);
    expect(top.code).toBe(2);
    expect(top.stderr).toMatch(/--top: 500 is larger than the parameter count 453 \(--params all\)/);
    const half = await runCli(['hessian', '--model', M, ...data, '--xrange=-1:1:3', '--out', out('bad.json')]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/a ratio map needs both --xrange and --yrange/);
    const frozen = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [8], activation: 'softmax', trainable: false })] });
    frozen.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    await frozen.save(folderSaveHandler(out('frozen')), { includeOptimizer: true });
    const none = await runCli(['hessian', '--model', out('frozen/model.json'), ...data, '--out', out('bad.json')]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/error: hvp: the model has no trainable weights/);
    const tol = await runCli(['hessian', '--model', M, ...data, '--tol=0', '--out', out('bad.json')]);
    expect(tol.code).toBe(2);
    expect(tol.stderr).toMatch(/--tol: '0' is not a positive number/);
  });
});
