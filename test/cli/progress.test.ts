import { describe, expect, it } from 'vitest';
import { formatDuration, progressReporter } from '../../src/cli/progress.js';

describe('progressReporter', () => {
  it('counts points/s and the time left from the points this run computed, not the resumed ones', () => {
    let t = 0;
    const lines: string[] = [];
    const report = progressReporter('surface', (s) => lines.push(s), false, () => t, 90);
    t = 10_000;
    report(100, 100);
    // 10 new points in 10 s: 1 point/s, whatever the 90 resumed points.
    expect(lines.at(-1)).toBe('surface: 100/100 points, 1.0 points/s, 0s left\n');
    const fresh = progressReporter('surface', (s) => lines.push(s), false, () => t, 50);
    t = 15_000;
    fresh(60, 100);
    expect(lines.at(-1)).toBe('surface: 60/100 points, estimating time left\n');
    t = 20_000;
    fresh(70, 100);
    expect(lines.at(-1)).toBe('surface: 70/100 points, 2.0 points/s, 15s left\n');
  });

  it('the warm-up of the first point does not make the time left absurd: the rate is measured from it', () => {
    let t = 0;
    const lines: string[] = [];
    const report = progressReporter('surface', (s) => lines.push(s), false, () => t);
    t = 3_000; // the first point took 3 s (workers starting); the rest take 10 ms each
    report(1, 441);
    expect(lines.at(-1)).toBe('surface: 1/441 points, estimating time left\n');
    t = 3_000 + 10 * 44;
    report(45, 441);
    expect(lines.at(-1)).toBe('surface: 45/441 points, 100.0 points/s, 4s left\n'); // not "21m" from 1 point in 3 s
  });

  it('formatDuration writes hours, minutes and seconds', () => {
    expect([formatDuration(7), formatDuration(125), formatDuration(3725), formatDuration(Infinity)]).toEqual(['7s', '2m05s', '1h02m', '?']);
  });
});
