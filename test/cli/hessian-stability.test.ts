import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { folderSaveHandler } from '../../src/io/artifact.js';
import { writeNpyFile } from '../../src/io/npy.js';
import { edgeOfStability } from '../../src/landscape/edge-of-stability.js';
import { hessianEigen } from '../../src/landscape/hessian.js';
import { hvp } from '../../src/model/hvp.js';
import { optimizerSnapshot } from '../../src/model/optimizer-state.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';
import { regressor } from '../helpers/regressor.js';

const root = tmpPath('cli-stability');


describe('landscope hessian --stability', () => {
  const x = () => tf.randomNormal([24, 4], 0, 1, 'float32', 7);
  const y = () => tf.randomNormal([24, 2], 0, 1, 'float32', 8);
  beforeAll(async () => {
    await useBackend('wasm');
    await rm(root, { recursive: true, force: true });
    const [xs, ys] = [x(), y()];
    await writeNpyFile(`${root}/x.npy`, { dtype: 'float32', shape: [24, 4], data: (await xs.data()) as Float32Array });
    await writeNpyFile(`${root}/y.npy`, { dtype: 'float32', shape: [24, 2], data: (await ys.data()) as Float32Array });
    tf.dispose([xs, ys]);
  });

  it('reads the optimizer saved with the checkpoint (includeOptimizer): SGD’s rate, Adam’s preconditioner', async () => {
    const cases = [
      { name: 'sgd', optimizer: () => tf.train.sgd(0.05), include: true },
      { name: 'adam', optimizer: () => tf.train.adam(0.01, 0.9, 0.99), include: true },
    ];
    for (const c of cases) {
      const model = regressor(c.optimizer());
      const [xs, ys] = [x(), y()];
      await model.fit(xs, ys, { epochs: 3, batchSize: 24, shuffle: false, verbose: 0 });
      await model.save(folderSaveHandler(`${root}/${c.name}`), { includeOptimizer: c.include });
      const r = await runCli(['hessian', '--model', `${root}/${c.name}/model.json`, '--x', `${root}/x.npy`, '--y', `${root}/y.npy`, '--stability', '--tol', '1e-5', '--out', `${root}/${c.name}.json`]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(readFileSync(`${root}/${c.name}.json`, 'utf8'));
      // The same numbers from the live model and its optimizer.
      const data = { x: xs, y: ys };
      const h = await hessianEigen(model, data, { tol: 1e-5 });
      const H = hvp(model, data);
      const want = await edgeOfStability(H, (await optimizerSnapshot(model, true))!, h.lambdaMax, { tol: 1e-5 });
      H.dispose();
      for (const v of want?.vectors ?? []) v.dispose();
      if (c.name === 'sgd') {
        expect(out.stability).toMatchObject({ optimizer: 'SGD', learningRate: 0.05, preconditioned: false });
        expect(out.stability.threshold).toBeCloseTo(40, 10);
        expect(out.stability.hessian_max_x_lr).toBeCloseTo((out.lambdaMax * 0.05) / 2, 10);
        expect(Math.abs(out.stability.maxTimesLr - (want?.record['maxTimesLr'] as number)) / out.stability.maxTimesLr).toBeLessThan(1e-4);
        expect(r.stdout).toMatch(/SGD η 0\.05: threshold 40\.00, λmax·η\/2/);
      } else {
        expect(out.stability).toMatchObject({ optimizer: 'Adam', step: 3, preconditioned: true, converged: true });
        expect(Math.abs(out.stability.lambdaMax - (want?.record['lambdaMax'] as number)) / out.stability.lambdaMax).toBeLessThan(1e-4);
        expect(out.stability.preconditioned_hessian_max).toBe(out.stability.lambdaMax);
      }
      model.dispose();
      tf.dispose([xs, ys]);
    }
  });

  it('a checkpoint saved without its optimizer gets one line saying how to save it', async () => {
    const model = regressor(tf.train.adam(0.01));
    const [xs, ys] = [x(), y()];
    await model.fit(xs, ys, { epochs: 1, batchSize: 24, verbose: 0 });
    await model.save(folderSaveHandler(`${root}/adam-bare`));
    const r = await runCli(['hessian', '--model', `${root}/adam-bare/model.json`, '--x', `${root}/x.npy`, '--y', `${root}/y.npy`, '--loss', 'meanSquaredError', '--stability']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--stability: .*adam-bare\/model\.json has no optimizer: TF\.js saves it .* only with model\.save\(…, \{ includeOptimizer: true \}\)/);
    const kernels = await runCli(['hessian', '--model', `${root}/adam-bare/model.json`, '--x', `${root}/x.npy`, '--y', `${root}/y.npy`, '--stability', '--params', 'kernels']);
    expect(kernels.code).toBe(2);
    expect(kernels.stderr).toMatch(/--stability needs --params all/);
    model.dispose();
    tf.dispose([xs, ys]);
  });
});
