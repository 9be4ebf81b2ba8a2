import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRange } from '../../src/core/grid.js';
import type { ParamList } from '../../src/core/param-list.js';
import { artifactWeights, loadModel, readArtifact } from '../../src/io/artifact.js';
import { normalizeForModel } from '../../src/landscape/directions.js';
import { hessianEigen, hessianMap } from '../../src/landscape/hessian.js';
import { resolveLoss } from '../../src/model/model-loss.js';
import { matchModelLayout, readModelWeights } from '../../src/model/model-weights.js';
import { prepareData, type Dataset } from '../../src/model/prepare-data.js';
import { readNpyFile } from '../../src/io/npy.js';
import { BACKENDS, useBackend } from '../helpers/backend.js';
import { expected, fixturePath } from '../helpers/fixture.js';

const ref = expected().hessian;

for (const backend of BACKENDS) {
  describe(`Hessian of the mlp-deep fixture on ${backend}`, () => {
    let model: tf.LayersModel;
    let data: Dataset;
    beforeAll(async () => {
      await useBackend(backend);
      model = await loadModel(fixturePath('model'));
      data = prepareData(model, await readNpyFile(fixturePath('data/x.npy')), await readNpyFile(fixturePath('data/y.npy')), resolveLoss(model).name);
    });
    afterAll(() => model.dispose());

    for (const [params, key] of [['all', 'all_params'], ['kernels', 'kernels_only']] as const) {
      it(`hessianEigen(params: ${params}) reproduces λmax, λmin, top-5, bottom-5, ratio and trace`, async () => {
        const want = ref.center[key];
        const h = await hessianEigen(model, data, { params, top: 5, bottom: 5, trace: true, tol: 1e-4, maxIter: 200 });
        expect(h.n).toBe(want.n);
        expect(h.converged).toBe(true);
        const lmax = want.lambda_max;
        expect(Math.abs(h.lambdaMax - lmax) / lmax).toBeLessThan(1e-3);
        h.top.forEach((v, i) => expect(Math.abs(v - want.top5_desc[i]) / Math.abs(want.top5_desc[i])).toBeLessThan(1e-3));
        expect(Math.abs(h.lambdaMin - want.lambda_min)).toBeLessThan(2e-3 * lmax);
        h.bottom.forEach((v, i) => expect(Math.abs(v - want.bottom5_asc[i])).toBeLessThan(2e-3 * lmax));
        expect(Math.abs((h.ratio as number) - want.abs_ratio_min_over_max)).toBeLessThan(2e-3);
        expect(h.trace?.method).toBe('exact');
        expect(Math.abs((h.trace?.value as number) - want.trace) / want.trace).toBeLessThan(1e-3);
      });
    }

    it('bottom: 0 converges λmax alone: the fixture value in no more products, λmin NaN, no ratio', async () => {
      const both = await hessianEigen(model, data, { tol: 1e-4, maxIter: 200 });
      const topOnly = await hessianEigen(model, data, { bottom: 0, tol: 1e-4, maxIter: 200, shards: 2 });
      const lmax = ref.center.all_params.lambda_max;
      expect(topOnly.converged).toBe(true);
      expect(Math.abs(topOnly.lambdaMax - lmax) / lmax).toBeLessThan(1e-3);
      expect(topOnly.hvps).toBeLessThanOrEqual(both.hvps);
      expect(topOnly.lambdaMin).toBeNaN();
      expect(topOnly.ratio).toBeNull();
      expect(topOnly.bottom).toEqual([]);
      expect(topOnly.shards?.bottom).toEqual([]);
      expect(topOnly.shards?.top).toHaveLength(2);
      await expect(hessianEigen(model, data, { bottom: -1 })).rejects.toThrow(/bottom = -1 is not an integer from 0/);
    });

    it('hessianMap reproduces the fixture 5×5 λmax, λmin and |λmin/λmax| grid, and restores the weights', async () => {
      const dirs: ParamList[] = [];
      for (const d of ['d1', 'd2']) {
        const raw = matchModelLayout(model, artifactWeights(await readArtifact(fixturePath('dirs', d))), d);
        dirs.push(normalizeForModel(model, raw, { norm: 'filter' }));
      }
      const before = await readModelWeights(model).toFlat();
      const map = await hessianMap(model, data, { directions: [dirs[0] as ParamList, dirs[1] as ParamList], xRange: parseRange('-1:1:5'), yRange: parseRange('-1:1:5'), tol: 1e-4, maxIter: 200 });
      expect(map.x).toEqual(ref.grid.a);
      for (let i = 0; i < 5; i++) {
        for (let j = 0; j < 5; j++) {
          const lmax = ref.grid.all_params.lambda_max[i][j];
          expect(Math.abs((map.lambdaMax[i]![j] as number) - lmax) / lmax).toBeLessThan(1e-3);
          expect(Math.abs((map.lambdaMin[i]![j] as number) - ref.grid.all_params.lambda_min[i][j])).toBeLessThan(2e-3 * lmax);
          expect(Math.abs((map.ratio[i]![j] as number) - ref.grid.all_params.abs_ratio[i][j])).toBeLessThan(2e-3);
          expect(map.converged[i]![j]).toBe(1);
        }
      }
      expect(Array.from(await readModelWeights(model).toFlat())).toEqual(Array.from(before));
    });
  });
}
