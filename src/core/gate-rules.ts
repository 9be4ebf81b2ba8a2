/**
 * The CI gate's rules: parsed from text like `fn_sharpness <= +10%`, judged against two run
 * summaries. A rule bounds a metric's value by
 * - a relative change from the baseline: `<= +10%` (the current value may be at most 10% above);
 * - an absolute change: `<= +0.05`, `>= -0.02` (a signed number);
 * - an absolute bound: `<= 0.1` (an unsigned number).
 * Per-direction sharpness metrics are judged paired and noise-aware: a regression needs the
 * one-sided 95% lower bound of the relative change (Fieller's interval on the paired values,
 * `paired-ratio.ts`) to exceed the threshold, i.e. the
 * increase beyond the threshold must be significant, not only the point estimate. A value that was
 * not measured, errored, skipped by the budget or did not converge "cannot be judged", and the rule
 * says whether that fails (`unknown=fail`, the default) or passes (`unknown=pass`).
 */
import { pairedRelativeChange } from './paired-ratio.js';

/** How a rule bounds its metric. */
export type RuleKind = 'relative' | 'absolute-change' | 'bound';

/** A parsed rule. */
export interface Rule {
  readonly text: string;
  readonly metric: string;
  readonly op: '<=' | '>=';
  readonly kind: RuleKind;
  /** The threshold: a fraction for relative rules (0.1 for +10%), else the number. */
  readonly value: number;
  readonly unknown: 'fail' | 'pass';
}

/** A metric's value in a run summary. */
export interface MetricValue {
  readonly value: number | null;
  /** `ok`, or why there is no trustworthy value. */
  readonly status: 'ok' | 'missing' | 'skipped' | 'error' | 'not-converged';
  /** Per-direction values (same seeded directions in every run), for paired comparison. */
  readonly perDirection?: readonly number[];
}

/** The verdict on one rule. */
export interface Verdict {
  readonly rule: Rule;
  readonly baseline: number | null;
  readonly current: number | null;
  /** current − baseline (absolute), or current/baseline − 1 (relative rules). */
  readonly change: number | null;
  /** A confidence interval for the change, when the comparison was paired. */
  readonly interval: readonly [number, number] | null;
  readonly verdict: 'pass' | 'regression' | 'cannot judge';
  /** Whether this verdict fails the gate. */
  readonly fails: boolean;
  readonly reason: string;
}

/** A rule text could not be parsed; `column` points at the problem. */
export class RuleSyntaxError extends Error {
  constructor(
    readonly text: string,
    readonly column: number,
    readonly why: string,
  ) {
    super(`rule '${text}': ${why}\n  ${text}\n  ${' '.repeat(column)}^`);
    this.name = 'RuleSyntaxError';
  }
}

const RULE = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=)\s*([+-]?)(\d+(?:\.\d+)?(?:e[+-]?\d+)?)(%?)\s*(?:unknown=(fail|pass))?\s*$/;

/**
 * Parses a rule.
 * @param text e.g. `fn_sharpness <= +10%`, `hessian_max <= +15% unknown=pass`, `hessian_ratio <= 0.1`
 * @param known the metric names that exist
 * @throws {RuleSyntaxError} for malformed text (with a caret at the problem) or an unknown metric
 */
export function parseRule(text: string, known: readonly string[]): Rule {
  const m = RULE.exec(text);
  if (m === null) {
    const metric = /^\s*[A-Za-z_][A-Za-z0-9_.]*/.exec(text);
    if (metric === null) throw new RuleSyntaxError(text, 0, 'expected a metric name first');
    const rest = text.slice(metric[0].length);
    const op = /^\s*(<=|>=)/.exec(rest);
    if (op === null) throw new RuleSyntaxError(text, metric[0].length + (rest.length - rest.trimStart().length), "expected '<=' or '>=' after the metric");
    const afterOp = metric[0].length + op[0].length;
    throw new RuleSyntaxError(text, afterOp + (text.slice(afterOp).length - text.slice(afterOp).trimStart().length), "expected a threshold: +10% (relative change), +0.05 (absolute change) or 0.1 (bound), then optionally unknown=fail|pass");
  }
  const [, metric, op, sign, number, percent, unknown] = m as unknown as [string, string, '<=' | '>=', string, string, string, string | undefined];
  if (!known.includes(metric)) {
    throw new RuleSyntaxError(text, text.indexOf(metric), `unknown metric '${metric}'; known: ${known.join(', ')}`);
  }
  if (percent === '%' && sign === '') throw new RuleSyntaxError(text, text.indexOf(number), 'a relative change needs a sign: +10% or -10%');
  const magnitude = Number(number) * (sign === '-' ? -1 : 1);
  return {
    text: text.trim(),
    metric,
    op,
    kind: percent === '%' ? 'relative' : sign !== '' ? 'absolute-change' : 'bound',
    value: percent === '%' ? magnitude / 100 : magnitude,
    unknown: unknown === 'pass' ? 'pass' : 'fail',
  };
}

/**
 * Judges one rule.
 * @param rule the rule
 * @param baseline the baseline's value of the metric (not needed for bounds)
 * @param current the current run's value
 */
export function judgeRule(rule: Rule, baseline: MetricValue | undefined, current: MetricValue | undefined): Verdict {
  const cannot = (reason: string): Verdict => ({
    rule,
    baseline: baseline?.value ?? null,
    current: current?.value ?? null,
    change: null,
    interval: null,
    verdict: 'cannot judge',
    fails: rule.unknown === 'fail',
    reason,
  });
  if (current === undefined || current.status !== 'ok' || current.value === null || !Number.isFinite(current.value)) {
    return cannot(`the current run's ${rule.metric} is ${current?.status ?? 'missing'}`);
  }
  const within = (x: number, limit: number) => (rule.op === '<=' ? x <= limit : x >= limit);
  const c = current.value;
  if (rule.kind === 'bound') {
    const ok = within(c, rule.value);
    return { rule, baseline: baseline?.value ?? null, current: c, change: null, interval: null, verdict: ok ? 'pass' : 'regression', fails: !ok, reason: `${c} ${ok ? 'is' : 'is not'} ${rule.op} ${rule.value}` };
  }
  if (baseline === undefined || baseline.status !== 'ok' || baseline.value === null || !Number.isFinite(baseline.value)) {
    return cannot(`the baseline's ${rule.metric} is ${baseline?.status ?? 'missing'}`);
  }
  const b = baseline.value;
  if (rule.kind === 'absolute-change') {
    const change = c - b;
    const ok = within(change, rule.value);
    return { rule, baseline: b, current: c, change, interval: null, verdict: ok ? 'pass' : 'regression', fails: !ok, reason: `change ${fmt(change)} ${ok ? 'within' : 'beyond'} ${rule.op} ${fmt(rule.value)}` };
  }
  if (b === 0) return cannot(`the baseline's ${rule.metric} is 0: a relative change is undefined`);
  const paired = baseline.perDirection !== undefined && current.perDirection !== undefined && baseline.perDirection.length === current.perDirection.length && baseline.perDirection.length >= 2 && b > 0;
  if (paired) {
    const p = pairedRelativeChange(baseline.perDirection as number[], current.perDirection as number[]);
    // A regression needs the whole one-sided 95% interval beyond the threshold.
    const bad = rule.op === '<=' ? p.lower > rule.value : p.interval[1] < rule.value;
    return {
      rule,
      baseline: b,
      current: c,
      change: p.change,
      interval: p.interval,
      verdict: bad ? 'regression' : 'pass',
      fails: bad,
      reason: bad
        ? `change ${pct(p.change)} (90% interval ${pct(p.interval[0])}..${pct(p.interval[1])}) is significantly beyond ${rule.op} ${pct(rule.value)}`
        : `change ${pct(p.change)} (90% interval ${pct(p.interval[0])}..${pct(p.interval[1])}) is not significantly beyond ${rule.op} ${pct(rule.value)}`,
    };
  }
  const change = c / Math.abs(b) - Math.sign(b);
  const ok = within(change, rule.value);
  return { rule, baseline: b, current: c, change, interval: null, verdict: ok ? 'pass' : 'regression', fails: !ok, reason: `change ${pct(change)} ${ok ? 'within' : 'beyond'} ${rule.op} ${pct(rule.value)}` };
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
}

function fmt(x: number): string {
  return `${x >= 0 ? '+' : ''}${Number(x.toPrecision(4))}`;
}
