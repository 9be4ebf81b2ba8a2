import { describe, expect, it } from 'vitest';
import type { RunContents } from '../../src/io/run-folder.js';
import { writeFileSync, mkdirSync } from 'node:fs';
import { fingerprintMismatch, loadBaseline, summarizeRun, summarizeRuns } from '../../src/io/run-summary.js';
import { tmpPath } from '../helpers/fixture.js';

/** An epoch record as the monitor writes it; `hessian` and `sharpness` measured or budget-skipped. */
function epoch(e: number, lambda: number | null, sharp: number[] | null): Record<string, unknown> {
  return {
    epoch: e,
    logs: { loss: 1 / (e + 1) },
    skipped: [...(lambda === null ? ['hessian'] : []), ...(sharp === null ? ['sharpness'] : [])],
    hessian: lambda === null ? { skipped: 'budget', estimatedSeconds: 1 } : { lambdaMax: lambda, lambdaMin: -0.1, ratio: 0.1 / lambda, converged: true },
    sharpness: sharp === null ? { skipped: 'budget' } : { directions: sharp.length, radii: [{ radius: 0.1, mean: sharp.reduce((a, b) => a + b, 0) / sharp.length, curvature: 1, values: sharp }] },
  };
}

const run = (metrics: Record<string, unknown>[]): RunContents => ({ dir: 'runs/x', run: { status: 'finished', seeds: { directions: 1 }, model: { weights: [] } }, metrics, truncatedLines: 0, snapshots: null });

describe('summarizeRun', () => {
  it('--last K averages the last K epochs where each metric was measured, passing over budget-skipped ones', () => {
    const contents = run([epoch(-1, 9, [9, 9]), epoch(0, 1, [0.1, 0.3]), epoch(1, null, null), epoch(2, 2, null), epoch(3, null, [0.3, 0.5]), epoch(4, 3, [0.5, 0.7])]);
    const s = summarizeRun(contents, 3);
    expect(s.metrics['hessian_max']).toEqual({ value: 2, status: 'ok', epochs: [1, 2, 3] }); // epochs 0, 2, 4, oldest first
    expect(s.metrics['fn_sharpness']).toMatchObject({ value: expect.closeTo(0.4, 12), status: 'ok', paired: [expect.closeTo(0.3, 12), expect.closeTo(0.5, 12)] }); // epochs 0, 3, 4
    expect(s.metrics['loss']?.value).toBeCloseTo((1 / 3 + 1 / 4 + 1 / 5) / 3, 12);
    expect(s.epoch).toBe(4);
  });

  it('too few measurements, or an unconverged one among them, cannot be judged', () => {
    const few = summarizeRun(run([epoch(0, null, [1, 2]), epoch(1, null, [1, 2]), epoch(2, 3, [1, 2])]), 2);
    expect(few.metrics['hessian_max']).toEqual({ value: null, status: 'skipped' });
    const unconverged = run([epoch(0, 1, [1, 2]), epoch(1, 2, [1, 2])]);
    (unconverged.metrics[0] as { hessian: { converged: boolean } }).hessian.converged = false;
    expect(summarizeRun(unconverged, 2).metrics['hessian_max']).toEqual({ value: null, status: 'not-converged' });
    expect(summarizeRun(unconverged, 1).metrics['hessian_max']).toEqual({ value: 2, status: 'ok' });
    // By default an early unconverged epoch is passed over; an unconverged last one is not.
    expect(summarizeRun(unconverged).metrics['hessian_max']).toEqual({ value: 2, status: 'ok' });
    (unconverged.metrics[1] as { hessian: { converged: boolean } }).hessian.converged = false;
    expect(summarizeRun(unconverged).metrics['hessian_max']).toEqual({ value: null, status: 'not-converged' });
  });

  it('by default the last 3 measured epochs (as many as a short run has), with λmax and λmin paired per probe shard', () => {
    const records = [epoch(0, 1, [1, 2]), epoch(1, 2, [1, 2]), epoch(2, 3, [1, 2]), epoch(3, 4, [1, 2])];
    for (const [i, r] of records.entries()) (r as { hessian: Record<string, unknown> }).hessian['shards'] = { count: 2, top: [i, i + 2], bottom: [-1, -1] };
    const s = summarizeRun(run(records));
    expect(s.last).toBe(3);
    expect(s.metrics['hessian_max']).toEqual({ value: 3, status: 'ok', epochs: [2, 3, 4], paired: [2, 4], pairedBy: 'shard' });
    expect(summarizeRun(run(records.slice(0, 2))).last).toBe(2);
    expect(summarizeRun(run(records), 1).metrics['hessian_max']).toEqual({ value: 4, status: 'ok', paired: [3, 5], pairedBy: 'shard' });
  });

  it('summarizeRuns keeps the value of each replicate run and their mean; a metric one run lacks is unjudged', () => {
    const a = run([epoch(0, 1, [1, 2]), epoch(1, 2, [1, 2])]);
    const b = run([epoch(0, 3, [1, 2]), epoch(1, null, [3, 4])]);
    const s = summarizeRuns([a, b]);
    expect(s.metrics['fn_sharpness']).toEqual({ value: 2, status: 'ok', replicates: [1.5, 2.5] });
    expect(s.metrics['hessian_max']).toEqual({ value: 2.25, status: 'ok', replicates: [1.5, 3] });
    expect(summarizeRuns([a, b], 2).metrics['hessian_max']).toEqual({ value: null, status: 'skipped' });
    expect(s.replicates).toHaveLength(2);
  });

  it('a baseline written before shards were paired (perDirection) still loads, its values as paired', async () => {
    const dir = tmpPath('old-baseline');
    mkdirSync(dir, { recursive: true });
    const fingerprint = { weights: [], seed: 1, sharpness: { directions: 2, radius: 0.1 } };
    writeFileSync(`${dir}/b.json`, JSON.stringify({ kind: 'landscope-baseline', schemaVersion: 1, last: 1, fingerprint, metrics: { fn_sharpness: { value: 0.2, status: 'ok', perDirection: [0.1, 0.3] } } }));
    expect((await loadBaseline(`${dir}/b.json`)).metrics['fn_sharpness']).toEqual({ value: 0.2, status: 'ok', paired: [0.1, 0.3] });
  });
});

describe('fingerprintMismatch and adaptive sharpness', () => {
  const base = { weights: [{ name: 'w', shape: [2, 2] }], seed: 1, sharpness: { directions: 8, radius: 0.1 } };
  it('refuses runs whose adaptive sharpness radius, steps or directions differ; a baseline from before it is not refused', () => {
    const a = { ...base, adaptiveSharpness: { radius: 0.5, steps: 3, directions: 8 } };
    expect(fingerprintMismatch(a, a)).toBeNull();
    expect(fingerprintMismatch(a, { ...base, adaptiveSharpness: { radius: 0.3, steps: 3, directions: 8 } })).toMatch(/adaptive sharpness settings differ \(baseline ρ = 0.5, 3 steps, 8 directions; run ρ = 0.3/);
    expect(fingerprintMismatch(a, { ...base, adaptiveSharpness: { radius: 0.5, steps: 5, directions: 8 } })).toMatch(/5 steps/);
    expect(fingerprintMismatch(base, a)).toBeNull();
  });
});
