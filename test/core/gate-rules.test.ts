import { describe, expect, it } from 'vitest';
import { judgeRule, parseRule, RuleSyntaxError } from '../../src/core/gate-rules.js';
import { pairedDifference } from '../../src/core/paired-difference.js';
import { pairedRelativeChange } from '../../src/core/paired-ratio.js';
import { replicateLimit } from '../../src/core/replicate-limit.js';
import { studentTCdf, studentTQuantile } from '../../src/core/student-t.js';

const KNOWN = ['fn_sharpness', 'hessian_max', 'hessian_ratio', 'loss'];
const ok = (value: number, paired?: number[]) => ({ value, status: 'ok' as const, ...(paired ? { paired } : {}) });

describe('parseRule', () => {
  it('parseRule reads relative changes, absolute changes, bounds and the unknown= policy', () => {
    expect(parseRule('fn_sharpness <= +10%', KNOWN)).toMatchObject({ metric: 'fn_sharpness', op: '<=', kind: 'relative', value: 0.1, unknown: 'fail' });
    expect(parseRule('  hessian_max<=+0.5 unknown=pass', KNOWN)).toMatchObject({ kind: 'absolute-change', value: 0.5, unknown: 'pass' });
    expect(parseRule('hessian_ratio <= 0.1', KNOWN)).toMatchObject({ kind: 'bound', value: 0.1 });
    expect(parseRule('loss >= -5%', KNOWN)).toMatchObject({ op: '>=', kind: 'relative', value: -0.05 });
  });

  it('parseRule shows where a malformed rule goes wrong, and lists the known metrics', () => {
    const caret = (text: string) => {
      try {
        parseRule(text, KNOWN);
      } catch (e) {
        return e as RuleSyntaxError;
      }
      throw new Error('no error');
    };
    expect(caret('fn_sharpness < +10%').message).toBe("rule 'fn_sharpness < +10%': expected '<=' or '>=' after the metric\n  fn_sharpness < +10%\n               ^");
    expect(caret('fn_sharpness <= ten').column).toBe(16);
    expect(caret('fn_sharpness <= 10%').message).toMatch(/a relative change needs a sign: \+10% or -10%/);
    expect(caret('sharpness <= +10%').message).toMatch(/unknown metric 'sharpness'; known: fn_sharpness, hessian_max, hessian_ratio, loss/);
    expect(caret('<= 1').message).toMatch(/expected a metric name first/);
  });
});

describe('judgeRule', () => {
  it('judgeRule passes within the threshold and fails beyond it, for each kind', () => {
    expect(judgeRule(parseRule('hessian_max <= +15%', KNOWN), ok(2), ok(2.2)).verdict).toBe('pass');
    expect(judgeRule(parseRule('hessian_max <= +15%', KNOWN), ok(2), ok(2.4))).toMatchObject({ verdict: 'regression', fails: true, change: expect.closeTo(0.2, 12) });
    expect(judgeRule(parseRule('loss <= +0.05', KNOWN), ok(0.3), ok(0.36)).verdict).toBe('regression');
    expect(judgeRule(parseRule('hessian_ratio <= 0.1', KNOWN), undefined, ok(0.05)).verdict).toBe('pass');
    expect(judgeRule(parseRule('loss >= -10%', KNOWN), ok(1), ok(0.85)).verdict).toBe('regression');
  });

  it('judgeRule compares per-direction sharpness paired: a noisy increase beyond the threshold is not a regression', () => {
    const base = [1, 2, 3, 4, 5, 6, 7, 8].map((v) => v / 100);
    const rule = parseRule('fn_sharpness <= +10%', KNOWN);
    // Every direction 30% sharper: significant.
    const sharper = base.map((v) => v * 1.3);
    const r = judgeRule(rule, ok(0.045, base), ok(0.0585, sharper));
    expect(r.verdict).toBe('regression');
    expect(r.interval?.[0]).toBeGreaterThan(0.1);
    // 15% up on average, but all of it from one direction: not significant.
    const noisy = base.map((v, i) => (i === 7 ? v + 0.054 : v));
    const n = judgeRule(rule, ok(0.045, base), ok(0.05175, noisy));
    expect(n.change).toBeCloseTo(0.15, 10);
    expect(n.verdict).toBe('pass');
    expect(n.reason).toMatch(/not significantly beyond <= \+10\.0%/);
  });

  it('judgeRule says "cannot judge" for missing, skipped, errored, NaN values and a zero baseline, and the rule decides', () => {
    const rule = parseRule('hessian_max <= +15%', KNOWN);
    const lenient = parseRule('hessian_max <= +15% unknown=pass', KNOWN);
    for (const current of [undefined, { value: null, status: 'skipped' as const }, { value: null, status: 'not-converged' as const }, ok(NaN)]) {
      expect(judgeRule(rule, ok(1), current)).toMatchObject({ verdict: 'cannot judge', fails: true });
      expect(judgeRule(lenient, ok(1), current)).toMatchObject({ verdict: 'cannot judge', fails: false });
    }
    expect(judgeRule(rule, { value: null, status: 'error' }, ok(1)).reason).toBe("the baseline's hessian_max is error");
    expect(judgeRule(rule, ok(0), ok(1)).reason).toMatch(/the baseline's hessian_max is 0: a relative change is undefined/);
  });
});

describe('pairedRelativeChange', () => {
  it('pairedRelativeChange is centred on the observed change, exact for a constant ratio, and rejects bad input', () => {
    const b = [1, 2, 3, 4];
    const c = [1.1, 2.2, 3.3, 4.4];
    const a = pairedRelativeChange(b, c);
    expect(a.change).toBeCloseTo(0.1, 12);
    expect(a.lower).toBeCloseTo(0.1, 12); // a constant ratio has no spread
    expect(a.interval[1]).toBeCloseTo(0.1, 12);
    const noisy = pairedRelativeChange(b, [1, 2, 3, 8]);
    expect(noisy.interval[0]).toBeLessThan(noisy.change);
    expect(noisy.interval[1]).toBeGreaterThan(noisy.change);
    expect(pairedRelativeChange([0.01, -0.001, 0.02], [0.012, 0.0, 0.03]).pairs).toBe(3); // negative values are fine
    expect(() => pairedRelativeChange([1], [1])).toThrow('pairedRelativeChange: 1 pairs; at least 2 are needed');
    expect(() => pairedRelativeChange([1, -1], [1, 1])).toThrow('the baseline mean 0 is not positive');
    expect(() => pairedRelativeChange(b, c, { alpha: 0.7 })).toThrow('pairedRelativeChange: alpha = 0.7 is not in (0, 0.5)');
  });

  it('pairedRelativeChange keeps its level under the null at 8 directions: replicates pass at least 95% of the time', () => {
    // Replicate runs: each direction has its own sharpness (lognormal across directions), each run
    // measures it with independent noise. The true change is 0; the rule is `<= +0%`.
    let state = 12345;
    const uniform = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
    const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    const trials = 4000;
    let falseRegressions = 0;
    for (let t = 0; t < trials; t++) {
      const truth = Array.from({ length: 8 }, () => 0.01 * Math.exp(0.6 * normal()));
      const run = () => truth.map((s) => s * (1 + 0.1 * normal()));
      if (pairedRelativeChange(run(), run()).lower > 0) falseRegressions++;
    }
    const rate = falseRegressions / trials;
    expect(rate).toBeLessThanOrEqual(0.05 + 2 * Math.sqrt((0.05 * 0.95) / trials));
    expect(rate).toBeGreaterThan(0.02); // not conservative to uselessness either
  });

  it('pairedRelativeChange finds a real 30% increase on 8 noisy directions', () => {
    const b = [0.011, 0.008, 0.015, 0.02, 0.009, 0.013, 0.017, 0.01];
    const c = b.map((v, i) => v * 1.3 * (1 + 0.05 * Math.sin(i * 2.1)));
    expect(pairedRelativeChange(b, c).lower).toBeGreaterThan(0.1);
  });
});

describe('studentTQuantile', () => {
  it('studentTQuantile matches tables of the t distribution', () => {
    expect(studentTQuantile(0.95, 7)).toBeCloseTo(1.894579, 5);
    expect(studentTQuantile(0.95, 1)).toBeCloseTo(6.313752, 5);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.228139, 5);
    expect(studentTQuantile(0.05, 7)).toBeCloseTo(-1.894579, 5);
    expect(studentTQuantile(0.5, 3)).toBeCloseTo(0, 6);
    expect(studentTCdf(2.228139, 10)).toBeCloseTo(0.975, 6);
    expect(() => studentTQuantile(1, 3)).toThrow('studentTQuantile: p = 1 is not in (0, 1)');
  });
});

/** A seeded normal generator (mulberry32 + Box–Muller), for the calibration tests. */
function seededNormal(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

describe('judgeRule over epochs and replicates', () => {
  it('pairs the last K epochs of both runs for any metric: a noisy epoch-to-epoch swing is not a regression, a steady rise is', () => {
    const rule = parseRule('hessian_max <= +15%', KNOWN);
    // Near the edge of stability λmax swings from epoch to epoch.
    const base = { value: 3, status: 'ok' as const, epochs: [2, 4, 3] };
    const swing = judgeRule(rule, base, { value: 3.67, status: 'ok', epochs: [4.2, 2.6, 4.2] });
    expect(swing).toMatchObject({ verdict: 'pass', pairedBy: 'epochs' });
    expect(swing.change).toBeCloseTo(0.2222, 3); // the bare numbers would have failed
    expect(judgeRule(rule, { value: 3, status: 'ok' }, { value: 3.67, status: 'ok' }).verdict).toBe('regression');
    const steady = judgeRule(rule, base, { value: 6, status: 'ok', epochs: [4, 8, 6] });
    expect(steady).toMatchObject({ verdict: 'regression', pairedBy: 'epochs' });
    // Epochs take precedence over shards; unequal lengths fall back to shards.
    const shards = { paired: [1, 2, 3, 4], pairedBy: 'shard' as const };
    expect(judgeRule(rule, { ...base, ...shards }, { value: 3.1, status: 'ok', epochs: [3.1, 3.1], ...shards }).pairedBy).toBe('shard');
  });

  it('absolute-change rules use a t interval on the paired differences', () => {
    const rule = parseRule('loss <= +0.05', KNOWN);
    const noisy = judgeRule(rule, { value: 0.3, status: 'ok', epochs: [0.3, 0.2, 0.4] }, { value: 0.37, status: 'ok', epochs: [0.45, 0.2, 0.46] });
    expect(noisy).toMatchObject({ verdict: 'pass', pairedBy: 'epochs', change: expect.closeTo(0.07, 12) });
    expect(noisy.reason).toMatch(/change \+0\.07 \(90% interval -?[\d.]+\.\.\+[\d.]+, paired by epochs\) is not significantly beyond <= \+0\.05/);
    const steady = judgeRule(rule, { value: 0.3, status: 'ok', epochs: [0.3, 0.2, 0.4] }, { value: 0.4, status: 'ok', epochs: [0.4, 0.3, 0.5] });
    expect(steady.verdict).toBe('regression');
    expect(pairedDifference([1, 2, 3], [2, 3, 4])).toMatchObject({ change: 1, lower: 1, interval: [1, 1], pairs: 3 });
    expect(() => pairedDifference([1], [2])).toThrow('pairedDifference: 1 pairs; at least 2 are needed');
  });

  it('a baseline of replicate runs widens the threshold by their spread; identical replicates leave it as it is', () => {
    const rule = parseRule('hessian_max <= +15%', KNOWN);
    const base = { value: 3, status: 'ok' as const, replicates: [2.4, 3.6, 3] };
    const limit = replicateLimit([2.4, 3.6, 3], { kind: 'relative', op: '<=', threshold: 0.15 });
    expect(limit.sd).toBeCloseTo(0.6, 12);
    expect(limit.limit).toBeCloseTo(1.15 * 3 + studentTQuantile(0.95, 2) * 0.6 * Math.sqrt(1 + 1.15 ** 2 / 3), 12);
    expect(judgeRule(rule, base, ok(limit.limit - 1e-9))).toMatchObject({ verdict: 'pass', pairedBy: 'replicates' });
    const over = judgeRule(rule, base, ok(limit.limit + 1e-9));
    expect(over).toMatchObject({ verdict: 'regression', pairedBy: 'replicates' });
    expect(over.reason).toMatch(/from the mean of 3 baseline runs \(sd 0\.6\): hessian_max is above 5\.55\d, the threshold widened by the runs' spread/);
    expect(replicateLimit([3, 3], { kind: 'relative', op: '<=', threshold: 0.15 }).limit).toBeCloseTo(3.45, 12);
    expect(replicateLimit([1, 2], { kind: 'absolute-change', op: '>=', threshold: -0.5 }).limit).toBeLessThan(1);
    expect(() => replicateLimit([1], { kind: 'relative', op: '<=', threshold: 0 })).toThrow(/at least 2 are needed/);
  });

  it('against replicate baselines, one more replicate run is a false regression at most 5% of the time (threshold 0), whatever the number of replicates', () => {
    const normal = seededNormal(7);
    const trials = 4000;
    for (const k of [2, 3, 5]) {
      let false_ = 0;
      for (let t = 0; t < trials; t++) {
        const draw = () => 3 + 0.7 * normal();
        const reps = Array.from({ length: k }, draw);
        if (draw() > replicateLimit(reps, { kind: 'relative', op: '<=', threshold: 0 }).limit) false_++;
      }
      const rate = false_ / trials;
      expect(rate, `k = ${k}`).toBeLessThanOrEqual(0.05 + 2 * Math.sqrt((0.05 * 0.95) / trials));
      expect(rate, `k = ${k}`).toBeGreaterThan(0.03);
    }
  });
});
