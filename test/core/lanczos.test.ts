import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { hutchinsonTrace } from '../../src/core/hutchinson.js';
import { ParamList } from '../../src/core/param-list.js';
import { lanczos } from '../../src/core/lanczos.js';
import { tridiagonalEigen } from '../../src/core/tridiagonal-eigen.js';
import { float64Space, paramListSpace } from '../../src/core/vector-space.js';
import { useBackend } from '../helpers/backend.js';
import { rng, withSpectrum } from '../helpers/spectrum.js';

describe('tridiagonalEigen', () => {
  it('tridiagonalEigen(2, −1) gives 2 − 2cos(kπ/(n+1)) with orthonormal eigenvectors', () => {
    const n = 12;
    const { values, vectors } = tridiagonalEigen(Array(n).fill(2), Array(n - 1).fill(-1));
    const want = Array.from({ length: n }, (_, k) => 2 - 2 * Math.cos(((k + 1) * Math.PI) / (n + 1))).sort((a, b) => a - b);
    values.forEach((v, i) => expect(v).toBeCloseTo(want[i] as number, 12));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const d = Array.from({ length: n }, (_, r) => (vectors[r * n + i] as number) * (vectors[r * n + j] as number)).reduce((a, b) => a + b, 0);
      expect(d).toBeCloseTo(i === j ? 1 : 0, 12);
    }
  });

  it('tridiagonalEigen satisfies T v = λ v on a random matrix, and handles n = 1 and bad input', () => {
    const r = rng(5);
    const n = 30;
    const a = Array.from({ length: n }, () => r() * 4 - 2);
    const b = Array.from({ length: n - 1 }, () => r() * 2 - 1);
    const { values, vectors } = tridiagonalEigen(a, b);
    for (let i = 0; i < n; i++) {
      const v = (k: number) => vectors[k * n + i] as number;
      for (let k = 0; k < n; k++) {
        const tv = (a[k] as number) * v(k) + (k > 0 ? (b[k - 1] as number) * v(k - 1) : 0) + (k < n - 1 ? (b[k] as number) * v(k + 1) : 0);
        expect(tv).toBeCloseTo((values[i] as number) * v(k), 10);
      }
    }
    expect(Array.from(tridiagonalEigen([3], []).values)).toEqual([3]);
    expect(() => tridiagonalEigen([1, 2], [])).toThrow('tridiagonalEigen: 2 diagonal entries need 1 off-diagonal ones, got 0');
  });
});

describe('lanczos', () => {
  it('lanczos(hvp, n) returns λmax and λmin of a quadratic with a known indefinite spectrum', async () => {
    const spectrum = [-0.8, -0.5, -0.1, ...Array.from({ length: 57 }, (_, i) => i * 0.05), 4, 5.5, 7];
    const { hvp, n, start } = withSpectrum(spectrum, 1);
    const r = await lanczos(hvp, n, { space: float64Space, start, top: 3, bottom: 3, tol: 1e-6 });
    expect(r.converged).toBe(true);
    expect(r.top.map((p) => p.value)).toEqual([expect.closeTo(7, 9), expect.closeTo(5.5, 9), expect.closeTo(4, 9)]);
    expect(r.bottom.map((p) => p.value)).toEqual([expect.closeTo(-0.8, 9), expect.closeTo(-0.5, 9), expect.closeTo(-0.1, 9)]);
    expect(r.hvps).toBeLessThan(n);
    expect(r.maxResidual).toBeLessThanOrEqual(1e-6 * 7);
  });

  it('lanczos on parameter lists keeps its basis orthogonal in float32 over many steps (a second pass only when one is not enough): the spectrum, no ghost eigenvalues', async () => {
    await useBackend('cpu');
    // A diagonal operator over two tensors (a 30×20 kernel and a 40-vector), eigenvalues known.
    const outliers: Record<number, number> = { 5: 7, 100: 6, 333: 5, 17: -4, 420: -3, 621: -2 };
    const values = Float32Array.from({ length: 640 }, (_, i) => outliers[i] ?? -1 + (3 * ((i * 37) % 640)) / 640);
    const diag = [tf.tensor2d(values.subarray(0, 600), [30, 20]), tf.tensor1d(values.subarray(600))];
    const H = async (v: ParamList) => v.map((t, i) => tf.mul(t, diag[i] as tf.Tensor));
    const start = new ParamList([{ name: 'k', tensor: tf.randomNormal([30, 20], 0, 1, 'float32', 1) }, { name: 'b', tensor: tf.randomNormal([40], 0, 1, 'float32', 2) }]);
    const sorted = Array.from(values).sort((a, b) => a - b);
    const r = await lanczos(H, 640, { space: paramListSpace, start, top: 3, bottom: 3, tol: 1e-5, maxIter: 120, minIter: 60 });
    expect(r.converged).toBe(true);
    expect(r.hvps).toBeGreaterThanOrEqual(60);
    expect(r.top.map((p) => p.value)).toEqual(sorted.slice(-3).reverse().map((v) => expect.closeTo(v, 4)));
    expect(r.bottom.map((p) => p.value)).toEqual(sorted.slice(0, 3).map((v) => expect.closeTo(v, 4)));
    // Lost orthogonality would show as ghost copies of the converged extremes in the tridiagonal.
    const ritz = tridiagonalEigen(r.tridiagonal.alpha, r.tridiagonal.beta).values;
    for (const extreme of [7, 6, -4, -3]) expect(ritz.filter((v) => Math.abs(v - extreme) < 1e-3), String(extreme)).toHaveLength(1);
    tf.dispose([...diag]);
    start.dispose();
  });

  it('lanczos finds λmin even when it is far above −0.02·λmax (where the shift trick fails)', async () => {
    const { hvp, n, start } = withSpectrum([-3, ...Array.from({ length: 38 }, (_, i) => i / 10), 10], 2);
    const r = await lanczos(hvp, n, { space: float64Space, start, tol: 1e-8 });
    expect(r.top[0]?.value).toBeCloseTo(10, 8);
    expect(r.bottom[0]?.value).toBeCloseTo(-3, 8);
  });

  it('lanczos returns unit Ritz vectors whose residual it reports, and a warm start converges sooner', async () => {
    const spectrum = Array.from({ length: 80 }, (_, i) => Math.sin(i * 1.7) * 3 + (i === 5 ? 9 : 0));
    const { hvp, n, start } = withSpectrum(spectrum, 3);
    const cold = await lanczos(hvp, n, { space: float64Space, start, tol: 1e-5, vectors: true });
    const y = cold.top[0]?.vector as Float64Array;
    expect(float64Space.dot(y, y)).toBeCloseTo(1, 10);
    const hy = await hvp(y);
    const residual = Math.sqrt(float64Space.dot(float64Space.axpy(-(cold.top[0]?.value as number), y, hy), float64Space.axpy(-(cold.top[0]?.value as number), y, hy)));
    expect(residual).toBeCloseTo(cold.top[0]?.residual as number, 6);
    const warmStart = float64Space.axpy(1, cold.top[0]?.vector as Float64Array, cold.bottom[0]?.vector as Float64Array);
    const warm = await lanczos(hvp, n, { space: float64Space, start: warmStart, tol: 1e-5 });
    expect(warm.top[0]?.value).toBeCloseTo(cold.top[0]?.value as number, 8);
    expect(warm.hvps).toBeLessThan(cold.hvps);
  });

  it('lanczos stops at an invariant subspace and reports non-convergence with its residual', async () => {
    const { hvp, n, start } = withSpectrum([1, 1, 1, 2, 2, 2], 4);
    const exact = await lanczos(hvp, n, { space: float64Space, start });
    expect(exact.converged).toBe(true);
    expect(exact.hvps).toBeLessThanOrEqual(3);
    const hard = withSpectrum(Array.from({ length: 200 }, (_, i) => i / 200), 5);
    const capped = await lanczos(hard.hvp, hard.n, { space: float64Space, start: hard.start, top: 5, bottom: 5, tol: 1e-12, maxIter: 10 });
    expect(capped.converged).toBe(false);
    expect(capped.hvps).toBe(10);
    expect(capped.maxResidual).toBeGreaterThan(1e-12);
  });

  it('lanczos rejects counts larger than the dimension, a zero start and a bad tolerance', async () => {
    const { hvp, n, start } = withSpectrum([1, 2, 3], 6);
    await expect(lanczos(hvp, n, { space: float64Space, start, top: 5 })).rejects.toThrow('lanczos: top = 5 is not an integer from 0 to the dimension 3');
    await expect(lanczos(hvp, n, { space: float64Space, start: new Float64Array(3) })).rejects.toThrow('lanczos: the start vector has norm 0');
    await expect(lanczos(hvp, n, { space: float64Space, start, tol: 0 })).rejects.toThrow('lanczos: tol = 0 is not positive');
  });
});

describe('hutchinsonTrace', () => {
  it('hutchinsonTrace estimates tr(H) within a few standard errors, and is exact for a diagonal H', async () => {
    const spectrum = Array.from({ length: 50 }, (_, i) => (i % 7) - 1.5);
    const { hvp, n } = withSpectrum(spectrum, 7);
    const r = rng(8);
    const probe = () => Float64Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1));
    const est = await hutchinsonTrace(hvp, { space: float64Space, probe, samples: 400 });
    const trace = spectrum.reduce((a, b) => a + b, 0);
    expect(Math.abs(est.trace - trace)).toBeLessThan(4 * est.stderr);
    expect(est.stderr).toBeGreaterThan(0);
    const diag = await hutchinsonTrace(async (v: Float64Array) => v.map((x, i) => x * i), { space: float64Space, probe, samples: 3 });
    expect(diag.trace).toBeCloseTo((49 * 50) / 2, 10);
    expect(diag.stderr).toBeCloseTo(0, 10);
    await expect(hutchinsonTrace(hvp, { space: float64Space, probe, samples: 0 })).rejects.toThrow('hutchinsonTrace: samples = 0 is not a positive integer');
  });
});
