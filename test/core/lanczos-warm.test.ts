import { describe, expect, it } from 'vitest';
import { lanczos } from '../../src/core/lanczos.js';
import { float64Space } from '../../src/core/vector-space.js';
import { withSpectrum } from '../helpers/spectrum.js';

/**
 * Last epoch's top eigenvector is this epoch's second: the warm start points almost exactly at an
 * eigenvector that is not the largest. Lanczos must not stop on it and call it λmax.
 */
describe('lanczos warm start on a clustered spectrum with a swapped top pair', () => {
  const bulk = Array.from({ length: 291 }, (_, i) => -0.3 + (i / 290) * 1.3);
  const outliers = [10, 9.6, 9.3, 9.1, 8.8, 8.5, 8.1, 7.7, 7.2];
  const spectrum = [...outliers, ...bulk];

  it('never reports converged with a λmax that misses the largest eigenvalue', async () => {
    const { hvp, n, start, eigenvector } = withSpectrum(spectrum, 11);
    // Last epoch's top vector is now the eigenvector of 9.6, with a little drift; its bottom one still the bottom.
    const drift = (v: Float64Array, k: number) => float64Space.axpy(0.02, eigenvector(k), v);
    const warm = [drift(eigenvector(1), 3), eigenvector(9)];
    const cold = await lanczos(hvp, n, { space: float64Space, start, tol: 1e-3 });
    expect(cold.top[0]?.value).toBeCloseTo(10, 3);
    const r = await lanczos(hvp, n, { space: float64Space, start, warmStart: warm, tol: 1e-3 });
    expect(r.converged).toBe(true);
    expect(r.top[0]?.value).toBeCloseTo(10, 3);
    expect(r.bottom[0]?.value).toBeCloseTo(-0.3, 2);
  });

  it('the same holds for many seeds of the random component', async () => {
    const misses: number[] = [];
    for (let seed = 20; seed < 28; seed++) {
      const { hvp, n, start, eigenvector } = withSpectrum(spectrum, seed);
      const r = await lanczos(hvp, n, { space: float64Space, start, warmStart: [eigenvector(1), eigenvector(9)], tol: 1e-3 });
      if (r.converged && Math.abs((r.top[0]?.value as number) - 10) > 1e-2) misses.push(seed);
    }
    expect(misses).toEqual([]);
  });

  it('a warm start that is still right costs fewer products than a cold start', async () => {
    const { hvp, n, start, eigenvector } = withSpectrum(spectrum, 12);
    const cold = await lanczos(hvp, n, { space: float64Space, start, tol: 1e-3 });
    const warm = await lanczos(hvp, n, { space: float64Space, start, warmStart: [eigenvector(0), eigenvector(9)], tol: 1e-3 });
    expect(warm.top[0]?.value).toBeCloseTo(10, 3);
    expect(warm.hvps).toBeLessThan(cold.hvps);
  });

  it('rejects a warm vector of zero norm and a minimum Krylov dimension that is not a positive integer', async () => {
    const { hvp, n, start } = withSpectrum([1, 2, 3], 6);
    await expect(lanczos(hvp, n, { space: float64Space, start, warmStart: [new Float64Array(3)] })).rejects.toThrow('lanczos: warmStart[0] has norm 0');
    await expect(lanczos(hvp, n, { space: float64Space, start, minIter: 0 })).rejects.toThrow('lanczos: minIter = 0 is not a positive integer');
  });
});
