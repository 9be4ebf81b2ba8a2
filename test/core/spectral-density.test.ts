import { describe, expect, it } from 'vitest';
import { gaussQuadrature, spectralDensity, stochasticLanczosQuadrature } from '../../src/core/spectral-density.js';
import { float64Space } from '../../src/core/vector-space.js';
import { rng, withSpectrum } from '../helpers/spectrum.js';

const rademacher = (n: number, r: () => number) => Float64Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1));

describe('stochastic Lanczos quadrature', () => {
  const spectrum = [-2, -0.5, -0.1, 0.05, 0.2, 0.4, 0.8, 1, 1.5, 2, 3, 4.5, 6, 8, 10, 14];
  const n = spectrum.length;
  const op = withSpectrum(spectrum, 9);
  const r = rng(4);

  it('with n steps the nodes are the eigenvalues, the weights (vᵀqᵢ)²/‖v‖² summing to 1', async () => {
    const v = rademacher(n, r);
    const { rules, hvps } = await stochasticLanczosQuadrature(op.hvp, n, { space: float64Space, starts: [v], steps: n });
    const rule = rules[0]!;
    expect(hvps).toBe(n);
    rule.nodes.forEach((x, i) => expect(x).toBeCloseTo(spectrum[i] as number, 9));
    const vv = float64Space.dot(v, v);
    rule.weights.forEach((w, i) => expect(w).toBeCloseTo(float64Space.dot(v, op.eigenvector(i)) ** 2 / vv, 9));
    expect(rule.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('m steps integrate every polynomial of degree < 2m exactly: Σ τ θᵖ = vᵀHᵖv/vᵀv', async () => {
    const v = rademacher(n, r);
    const m = 4;
    const { rules } = await stochasticLanczosQuadrature(op.hvp, n, { space: float64Space, starts: [v], steps: m });
    const vv = float64Space.dot(v, v);
    let w = v;
    for (let p = 1; p < 2 * m; p++) {
      w = await op.hvp(w);
      const want = float64Space.dot(v, w) / vv;
      const got = rules[0]!.nodes.reduce((s, x, k) => s + rules[0]!.weights[k]! * x ** p, 0);
      expect(Math.abs(got - want) / Math.abs(want)).toBeLessThan(1e-9);
    }
  });

  it('averaged over start vectors, the negative mass estimates the share of negative eigenvalues, and the density integrates to 1', async () => {
    const starts = Array.from({ length: 200 }, () => rademacher(n, r));
    const { rules } = await stochasticLanczosQuadrature(op.hvp, n, { space: float64Space, starts, steps: n });
    const d = spectralDensity(rules, { points: 2001 });
    const want = spectrum.filter((l) => l < 0).length / n;
    expect(Math.abs(d.negativeMass - want)).toBeLessThan(4 * d.negativeMassStderr);
    expect(d.negativeMassStderr).toBeLessThan(0.02);
    const dx = (d.x[1] as number) - (d.x[0] as number);
    expect(d.density.reduce((s, v) => s + v, 0) * dx).toBeCloseTo(1, 2);
    expect(d.density.every((v) => v >= 0)).toBe(true);
    expect(d.range[0]).toBeCloseTo(-2, 9);
    expect(d.range[1]).toBeCloseTo(14, 9);
    // The density peaks at an eigenvalue, not between two far apart.
    const at = (t: number) => d.density[Math.round((t - (d.x[0] as number)) / dx)] as number;
    expect(at(10)).toBeGreaterThan(20 * at(12));
  });

  it('gaussQuadrature of a 1×1 tridiagonal is its one node; bad arguments are named', async () => {
    expect(gaussQuadrature([3], [])).toEqual({ nodes: [3], weights: [1] });
    await expect(stochasticLanczosQuadrature(op.hvp, n, { space: float64Space, starts: [], steps: 3 })).rejects.toThrow(/no start vectors/);
    await expect(stochasticLanczosQuadrature(op.hvp, n, { space: float64Space, starts: [rademacher(n, r)], steps: n + 1 })).rejects.toThrow(/steps = 17 is not an integer from 1 to the dimension 16/);
    expect(() => spectralDensity([])).toThrow(/no quadrature rules/);
    expect(() => spectralDensity([{ nodes: [1], weights: [1] }], { relativeSigma: 0 })).toThrow(/relativeSigma = 0/);
  });
});
