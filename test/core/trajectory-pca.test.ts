import { describe, expect, it } from 'vitest';
import { sharpness } from '../../src/core/sharpness.js';
import { symmetricEigen } from '../../src/core/symmetric-eigen.js';
import { trajectoryPca } from '../../src/core/trajectory-pca.js';
import { explicitPca } from '../helpers/explicit-pca.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('symmetricEigen', () => {
  it('symmetricEigen reconstructs A = V diag(λ) Vᵀ with orthonormal V, eigenvalues descending', () => {
    const r = rng(1);
    const n = 9;
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = r() - 0.5;
    const { values, vectors } = symmetricEigen(A, n);
    for (let i = 1; i < n; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1] as number);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      let o = 0;
      for (let k = 0; k < n; k++) {
        s += (vectors[i * n + k] as number) * (values[k] as number) * (vectors[j * n + k] as number);
        o += (vectors[k * n + i] as number) * (vectors[k * n + j] as number);
      }
      expect(s).toBeCloseTo(A[i * n + j] as number, 12);
      expect(o).toBeCloseTo(i === j ? 1 : 0, 12);
    }
  });
});

describe('trajectoryPca', () => {
  it('trajectoryPca(gram) matches an explicit PCA of the centered differences (ratios 1e-9, |coords| 1e-7)', () => {
    const r = rng(2);
    const n = 40;
    const m = 12;
    // A curved path: a drift, a slower rotation, noise.
    const rows = Array.from({ length: m }, (_, e) => Array.from({ length: n }, (_, j) => 3 + Math.cos(j) * e * 0.5 + Math.sin(j * 0.3) * Math.sqrt(e) + (r() - 0.5) * 0.05));
    const ref0 = rows[0] as number[];
    const gram = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) gram[i * m + j] = (rows[i] as number[]).reduce((s, v, k) => s + (v - (ref0[k] as number)) * ((rows[j] as number[])[k] as number - (ref0[k] as number)), 0);
    const pca = trajectoryPca(gram, m, 2);
    const want = explicitPca(rows, 2);
    expect(pca.explainedVarianceRatio.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    want.evr.forEach((v, k) => expect(pca.explainedVarianceRatio[k]).toBeCloseTo(v, 9));
    want.coords.forEach((c, k) => c.forEach((v, e) => expect(Math.abs((pca.coords[k] as number[])[e] as number)).toBeCloseTo(Math.abs(v), 7)));
    expect(pca.coords[0]?.[m - 1]).toBeCloseTo(0, 9); // the last snapshot is the origin
    expect(pca.coords[0]?.[0]).toBeGreaterThanOrEqual(0); // orientation convention
  });

  it('trajectoryPca returns empty results for one snapshot or a trajectory that never moved', () => {
    expect(trajectoryPca([5], 1)).toEqual({ explainedVarianceRatio: [], coords: [], weights: [] });
    expect(trajectoryPca(new Float64Array(9), 3)).toEqual({ explainedVarianceRatio: [], coords: [], weights: [] });
    expect(() => trajectoryPca([1, 2, 3], 2)).toThrow('trajectoryPca: 3 entries for 2 snapshots');
  });
});

describe('sharpness', () => {
  it('sharpness of a quadratic L = ½ a x² along unit directions gives a r²/2 and curvature a', () => {
    const a = [2, 4, 6];
    const r = 0.1;
    const s = sharpness(0, a.map((ai) => 0.5 * ai * r * r), a.map((ai) => 0.5 * ai * r * r), r);
    expect(s.mean).toBeCloseTo((4 * r * r) / 2, 12);
    expect(s.curvature).toBeCloseTo(4, 10);
    expect(s.stderr).toBeCloseTo(Math.sqrt(((0.01 ** 2 + 0 + 0.01 ** 2) / 2) / 3), 12);
    expect(s.values.map((v) => +(v as number).toFixed(12))).toEqual([0.01, 0.02, 0.03]);
  });

  it('sharpness marks non-finite values null and rejects bad input', () => {
    expect(sharpness(1, [Infinity, 2], [1, 2], 0.5).values).toEqual([null, 1]);
    expect(() => sharpness(0, [1], [1], 0)).toThrow('sharpness: radius 0 is not positive');
    expect(() => sharpness(0, [1, 2], [1], 1)).toThrow('sharpness: 2 losses at +r and 1 at −r');
  });
});
