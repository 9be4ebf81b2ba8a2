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
    expect(lines.at(-1)).toBe('surface: 60/100 points, 2.0 points/s, 20s left\n');
  });

  it('formatDuration writes hours, minutes and seconds', () => {
    expect([formatDuration(7), formatDuration(125), formatDuration(3725), formatDuration(Infinity)]).toEqual(['7s', '2m05s', '1h02m', '?']);
  });
});
