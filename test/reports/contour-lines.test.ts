import { describe, expect, it } from 'vitest';
import { contourLevels, contourLines } from '../../reports/contour-lines.js';

describe('contourLines', () => {
  const xs = Array.from({ length: 41 }, (_, i) => -1 + i / 20);
  const ys = Array.from({ length: 31 }, (_, j) => -0.5 + j / 30);
  // A bowl L = x² + 4y² centered at (0.2, 0): level sets are ellipses.
  const values = xs.map((x) => ys.map((y) => (x - 0.2) ** 2 + 4 * y * y));

  it('contourLines traces closed level sets of a bowl in the surface coordinates (first index = x)', () => {
    const [c] = contourLines(values, xs, ys, [0.16]);
    expect(c?.level).toBe(0.16);
    expect(c?.lines).toHaveLength(1);
    const ring = c?.lines[0] as [number, number][];
    for (const [x, y] of ring) expect(Math.abs((x - 0.2) ** 2 + 4 * y * y - 0.16)).toBeLessThan(0.02);
    const xsOnRing = ring.map(([x]) => x);
    expect(Math.min(...xsOnRing)).toBeCloseTo(-0.2, 1);
    expect(Math.max(...xsOnRing)).toBeCloseTo(0.6, 1);
    // closed: first and last points coincide
    expect(ring[0]).toEqual(ring.at(-1));
  });

  it('contourLines cuts lines at the grid frame instead of drawing the frame', () => {
    const [c] = contourLines(values, xs, ys, [1.2]); // this ellipse leaves the grid at x = 1 and y = ±0.5
    for (const line of c?.lines ?? []) for (const [x, y] of line) {
      expect(x).toBeGreaterThanOrEqual(-1);
      expect(x).toBeLessThanOrEqual(1);
      expect(Math.abs(y)).toBeLessThanOrEqual(0.5);
      expect(Math.abs((x - 0.2) ** 2 + 4 * y * y - 1.2)).toBeLessThan(0.05);
    }
    expect(c?.lines.length).toBeGreaterThanOrEqual(2);
  });

  it('contourLevels spaces levels between the minimum and the 90th percentile, ignoring nulls', () => {
    const levels = contourLevels([[0, 1, null], [2, 3, 100]], 3, 0.9);
    expect(levels[0]).toBeGreaterThan(0);
    expect(levels.at(-1)).toBeLessThan(100);
    expect(contourLevels([[null]], 3)).toEqual([]);
  });
});
