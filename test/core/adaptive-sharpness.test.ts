import { describe, expect, it } from 'vitest';
import { adaptiveSharpness, type ScaledLoss } from '../../src/core/adaptive-sharpness.js';
import { symmetricEigen } from '../../src/core/symmetric-eigen.js';
import { float64Space } from '../../src/core/vector-space.js';
import { rng, withSpectrum } from '../helpers/spectrum.js';

/** A Gaussian vector (Box–Muller). */
function gaussian(n: number, r: () => number): Float64Array {
  return Float64Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

/**
 * L(x) = ½ xᵀ A x + bᵀ x, seen through θ and its scaling: L(θ + s ⊙ δ) and s ⊙ ∇L(θ + s ⊙ δ).
 */
function quadratic(A: Float64Array, b: Float64Array, theta: Float64Array) {
  const n = theta.length;
  const s = theta.map(Math.abs);
  const at = (delta: Float64Array) => theta.map((t, i) => t + (s[i] as number) * (delta[i] as number));
  const grad = (x: Float64Array) => Float64Array.from({ length: n }, (_, i) => {
    let g = b[i] as number;
    for (let j = 0; j < n; j++) g += (A[i * n + j] as number) * (x[j] as number);
    return g;
  });
  const value = (x: Float64Array) => {
    const g = grad(x);
    return x.reduce((acc, xi, i) => acc + 0.5 * xi * ((g[i] as number) + (b[i] as number)), 0);
  };
  const f: ScaledLoss<Float64Array> = {
    space: float64Space,
    loss: async (delta) => value(at(delta)),
    gradient: async (delta) => grad(at(delta)).map((g, i) => g * (s[i] as number)),
  };
  // M = S A S: the scaled problem's Hessian.
  const M = Float64Array.from({ length: n * n }, (_, k) => (s[Math.floor(k / n)] as number) * (A[k] as number) * (s[k % n] as number));
  return { f, M };
}

describe('adaptiveSharpness', () => {
  const n = 8;
  const r = rng(11);
  const theta = Float64Array.from({ length: n }, () => (r() - 0.5) * 4);
  const spectrum = [5, 2, 1, 0.5, 0.3, 0.2, -0.1, 0.05];
  const op = withSpectrum(spectrum, 3);
  const A = new Float64Array(n * n);
  spectrum.forEach((l, k) => {
    const q = op.eigenvector(k);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = (A[i * n + j] as number) + l * (q[i] as number) * (q[j] as number);
  });
  // b = −Aθ puts the minimum (a saddle, for the one negative eigenvalue) at θ: the gradient there is 0.
  const b = Float64Array.from({ length: n }, (_, i) => -Array.from({ length: n }, (_, j) => (A[i * n + j] as number) * (theta[j] as number)).reduce((p, q) => p + q, 0));
  const { f, M } = quadratic(A, b, theta);
  const radius = 0.3;

  it('the worst case reaches ½ρ²λmax(S A S), the maximum over the scaled ball, at a stationary point', async () => {
    const want = 0.5 * radius ** 2 * (symmetricEigen(M, n).values[0] as number);
    const directions = Array.from({ length: 4 }, () => gaussian(n, r));
    const s = await adaptiveSharpness(f, { radius, steps: 200, directions });
    expect(Math.abs(s.worst - want) / want).toBeLessThan(1e-6);
    expect(s.worstNorm).toBeCloseTo(radius, 12);
    // More steps never lower the estimate; each step's best is at least the last one's.
    s.ascent.forEach((v, i) => i > 0 && expect(v).toBeGreaterThanOrEqual(s.ascent[i - 1] as number));
    const few = await adaptiveSharpness(f, { radius, steps: 3, directions });
    expect(few.worst).toBeLessThanOrEqual(s.worst + 1e-15);
    expect(few.gradients).toBeLessThanOrEqual(4);
    expect(few.losses).toBeLessThanOrEqual(1 + 2 * 4 + 1 + 3);
  });

  it('the average case is ½ρ² tr(S A S)/n over the sphere, within its standard error, slope or not, and worst ≥ every value', async () => {
    const directions = Array.from({ length: 2000 }, () => gaussian(n, r));
    const s = await adaptiveSharpness(f, { radius, steps: 0, directions });
    let trace = 0;
    for (let i = 0; i < n; i++) trace += M[i * n + i] as number;
    const want = (0.5 * radius ** 2 * trace) / n;
    expect(Math.abs(s.average - want)).toBeLessThan(4 * s.averageStderr);
    expect(s.averageStderr).toBeLessThan(0.05 * want);
    expect(s.worst).toBeGreaterThanOrEqual(Math.max(...(s.values as number[])));
    expect(s.values).toHaveLength(2000);
    // Away from the stationary point the slope cancels in each ± pair: the same expectation.
    const shifted = quadratic(A, b.map((v, i) => v + (i % 2 === 0 ? 3 : -2)), theta);
    const t = await adaptiveSharpness(shifted.f, { radius, steps: 0, directions });
    expect(Math.abs(t.average - want)).toBeLessThan(4 * t.averageStderr);
    expect(t.worst).toBeGreaterThan(10 * t.average);
  });

  it('away from a stationary point it matches a brute-force search over the 2-D disk', async () => {
    // L(x) = sin(x₀)·cos(2x₁) + 0.3 x₀ x₁ at θ = (0.4, −0.7).
    const th = [0.4, -0.7];
    const sc = th.map(Math.abs);
    const L = (x0: number, x1: number) => Math.sin(x0) * Math.cos(2 * x1) + 0.3 * x0 * x1;
    const g: ScaledLoss<Float64Array> = {
      space: float64Space,
      loss: async (d) => L(th[0]! + sc[0]! * d[0]!, th[1]! + sc[1]! * d[1]!),
      gradient: async (d) => {
        const x0 = th[0]! + sc[0]! * d[0]!;
        const x1 = th[1]! + sc[1]! * d[1]!;
        return Float64Array.from([(Math.cos(x0) * Math.cos(2 * x1) + 0.3 * x1) * sc[0]!, (-2 * Math.sin(x0) * Math.sin(2 * x1) + 0.3 * x0) * sc[1]!]);
      },
    };
    const rho = 0.8;
    let brute = -Infinity;
    for (let i = 0; i <= 400; i++) for (let j = 0; j <= 400; j++) {
      const d0 = -rho + (2 * rho * i) / 400;
      const d1 = -rho + (2 * rho * j) / 400;
      if (d0 * d0 + d1 * d1 <= rho * rho) brute = Math.max(brute, L(th[0]! + sc[0]! * d0, th[1]! + sc[1]! * d1));
    }
    // The circle itself, finely (the grid misses it).
    for (let k = 0; k < 100000; k++) {
      const a = (2 * Math.PI * k) / 100000;
      brute = Math.max(brute, L(th[0]! + sc[0]! * rho * Math.cos(a), th[1]! + sc[1]! * rho * Math.sin(a)));
    }
    const s = await adaptiveSharpness(g, { radius: rho, steps: 60, directions: [Float64Array.from([1, 0]), Float64Array.from([0, 1])] });
    const center = L(th[0]!, th[1]!);
    expect(s.center).toBe(center);
    expect(s.worst).toBeLessThanOrEqual(brute - center + 1e-9);
    expect(s.worst).toBeGreaterThan(brute - center - 1e-6);
  });

  it('names the bad argument', async () => {
    const d = [gaussian(n, r), gaussian(n, r)];
    await expect(adaptiveSharpness(f, { radius: 0, steps: 3, directions: d })).rejects.toThrow(/radius = 0 is not a positive number/);
    await expect(adaptiveSharpness(f, { radius: 1, steps: 1.5, directions: d })).rejects.toThrow(/steps = 1.5 is not a non-negative integer/);
    await expect(adaptiveSharpness(f, { radius: 1, steps: 3, directions: [d[0]!] })).rejects.toThrow(/1 direction\(s\); at least 2/);
    await expect(adaptiveSharpness(f, { radius: 1, steps: 3, directions: [d[0]!, new Float64Array(n)] })).rejects.toThrow(/direction 1 has zero length/);
  });
});
