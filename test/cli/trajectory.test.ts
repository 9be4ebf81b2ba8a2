import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, saveWeightsArtifact } from '../../src/io/artifact.js';
import { readModelWeights } from '../../src/model/model-weights.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { explicitPca } from '../helpers/explicit-pca.js';
import { fixturePath, tmpPath } from '../helpers/fixture.js';

describe('landscope trajectory', () => {
  beforeAll(() => useBackend('cpu'));

  it('landscope trajectory over checkpoints matches an explicit PCA of θ_e − θ_last (ratios 1e-6, |coords| 1e-5)', async () => {
    const root = tmpPath('cli-trajectory');
    await rm(root, { recursive: true, force: true });
    const model = await loadModel(fixturePath('model'));
    const theta = readModelWeights(model);
    const rows: number[][] = [];
    const paths: string[] = [];
    for (let e = 0; e < 6; e++) {
      // A curved path away from the fixture's weights.
      const moved = theta.map((t, i) => tf.add(t, tf.mul(tf.randomNormal(t.shape, 0, 1, 'float32', 100 + i), 0.05 * e + 0.01 * Math.sin(e) * i)));
      await saveWeightsArtifact(`${root}/ckpt${e}`, model.toJSON(null, false), moved.entries());
      rows.push(Array.from(await moved.toFlat()));
      paths.push(`${root}/ckpt${e}/model.json`);
      moved.dispose();
    }
    const r = await runCli(['trajectory', ...paths, '--out', `${root}/pca.json`]);
    expect(r.code, r.stderr).toBe(0);
    const pca = JSON.parse(readFileSync(`${root}/pca.json`, 'utf8'));
    const want = explicitPca(rows, 2);
    want.evr.forEach((v, k) => expect(Math.abs(pca.explainedVarianceRatio[k] - v)).toBeLessThan(1e-6));
    want.coords[0]?.forEach((v, e) => expect(Math.abs(Math.abs(pca.coords.x[e]) - Math.abs(v))).toBeLessThan(1e-5 * Math.max(1, Math.abs(v))));
    want.coords[1]?.forEach((v, e) => expect(Math.abs(Math.abs(pca.coords.y[e]) - Math.abs(v))).toBeLessThan(1e-5 * Math.max(1, Math.abs(v))));
    expect(pca.coords.x[5]).toBeCloseTo(0, 9);
    expect(pca.parameters).toBe(453);
    const biasbn = await runCli(['trajectory', ...paths, '--ignore', 'biasbn', '--out', `${root}/pca-biasbn.json`]);
    expect(biasbn.code).toBe(0);
    expect(JSON.parse(readFileSync(`${root}/pca-biasbn.json`, 'utf8')).parameters).toBe(410);
  });

  it('landscope trajectory refuses fewer than two checkpoints', async () => {
    const r = await runCli(['trajectory', fixturePath('model/model.json'), '--out', tmpPath('x.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/give at least two checkpoints \(model\.json paths\) or one run folder with snapshots, got 1 argument/);
  });
});
