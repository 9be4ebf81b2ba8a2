/**
 * The CI gate's rules: parsed from text like `fn_sharpness <= +10%`, judged against two run
 * summaries. A rule bounds a metric's value by
 * - a relative change from the baseline: `<= +10%` (the current value may be at most 10% above);
 * - an absolute change: `<= +0.05`, `>= -0.02` (a signed number);
 * - an absolute bound: `<= 0.1` (an unsigned number).
 * Changes are judged paired and noise-aware wherever the summaries allow: a regression needs the
 * one-sided 95% bound of the change (Fieller's interval for relative rules, `paired-ratio.ts`;
 * Student's t on the differences for absolute ones, `paired-difference.ts`) beyond the threshold,
 * i.e. the increase beyond the threshold must be significant, not only the point estimate. The
 * pairs are, in this order of preference:
 * - the last K measured epochs of each run (K ≥ 2, the default 3): any metric; the epoch-to-epoch
 *   spread of a run stands for the spread between reruns, which a single epoch cannot show (near
 *   the edge of stability λmax swings by a factor of two from one epoch to the next);
 * - with K = 1, sharpness per seeded direction and λmax/λmin per probe shard;
 * - otherwise the bare numbers. A value that was
 * not measured, errored, skipped by the budget or did not converge "cannot be judged", and the rule
 * says whether that fails (`unknown=fail`, the default) or passes (`unknown=pass`).
 */
import { pairedDifference } from './paired-difference.js';
import { pairedRelativeChange } from './paired-ratio.js';
import { replicateLimit } from './replicate-limit.js';

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
  /**
   * Values measured the same way in every run, for paired comparison: sharpness per seeded
   * direction, λmax/λmin per probe shard (the eigenvector's Rayleigh quotient on each shard).
   */
  readonly paired?: readonly number[];
  /** What `paired` is indexed by. */
  readonly pairedBy?: 'direction' | 'shard';
  /** The values of the last K measured epochs (oldest first) when K ≥ 2 were averaged. */
  readonly epochs?: readonly number[];
  /** A baseline saved from several replicate runs: each run's value (`value` is their mean). */
  readonly replicates?: readonly number[];
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
  /** What the comparison paired: the last epochs, seeded directions, probe shards, or nothing (bare numbers). */
  readonly pairedBy: 'replicates' | 'epochs' | 'direction' | 'shard' | null;
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

/** Per-layer curvature metrics (`hessian: { perLayer: true }`): any layer's name after the slash. */
export const PER_LAYER_METRIC = /^layer_hessian_(max|trace)\/[A-Za-z0-9_./-]+$/;

const RULE = /^\s*([A-Za-z_][A-Za-z0-9_./-]*)\s*(<=|>=)\s*([+-]?)(\d+(?:\.\d+)?(?:e[+-]?\d+)?)(%?)\s*(?:unknown=(fail|pass))?\s*$/;

/**
 * Parses a rule.
 * @param text e.g. `fn_sharpness <= +10%`, `hessian_max <= +15% unknown=pass`, `hessian_ratio <= 0.1`
 * @param known the metric names that exist
 * @throws {RuleSyntaxError} for malformed text (with a caret at the problem) or an unknown metric
 */
export function parseRule(text: string, known: readonly string[]): Rule {
  const m = RULE.exec(text);
  if (m === null) {
    const metric = /^\s*[A-Za-z_][A-Za-z0-9_./-]*/.exec(text);
    if (metric === null) throw new RuleSyntaxError(text, 0, 'expected a metric name first');
    const rest = text.slice(metric[0].length);
    const op = /^\s*(<=|>=)/.exec(rest);
    if (op === null) throw new RuleSyntaxError(text, metric[0].length + (rest.length - rest.trimStart().length), "expected '<=' or '>=' after the metric");
    const afterOp = metric[0].length + op[0].length;
    throw new RuleSyntaxError(text, afterOp + (text.slice(afterOp).length - text.slice(afterOp).trimStart().length), "expected a threshold: +10% (relative change), +0.05 (absolute change) or 0.1 (bound), then optionally unknown=fail|pass");
  }
  const [, metric, op, sign, number, percent, unknown] = m as unknown as [string, string, '<=' | '>=', string, string, string, string | undefined];
  if (!known.includes(metric) && !PER_LAYER_METRIC.test(metric)) {
    throw new RuleSyntaxError(text, text.indexOf(metric), `unknown metric '${metric}'; known: ${known.join(', ')}, and per layer layer_hessian_max/<layer>, layer_hessian_trace/<layer>`);
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
    pairedBy: null,
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
    return { rule, baseline: baseline?.value ?? null, current: c, change: null, interval: null, pairedBy: null, verdict: ok ? 'pass' : 'regression', fails: !ok, reason: `${c} ${ok ? 'is' : 'is not'} ${rule.op} ${rule.value}` };
  }
  if (baseline === undefined || baseline.status !== 'ok' || baseline.value === null || !Number.isFinite(baseline.value)) {
    return cannot(`the baseline's ${rule.metric} is ${baseline?.status ?? 'missing'}`);
  }
  const b = baseline.value;
  const pairs = pairsOf(baseline, current);
  const beyond = (lower: number, upper: number) => (rule.op === '<=' ? lower > rule.value : upper < rule.value);
  const show = rule.kind === 'relative' ? pct : fmt;
  const judged = (change: number, interval: readonly [number, number] | null, bad: boolean, reason: string, pairedBy: Verdict['pairedBy'] = pairs?.by ?? null): Verdict => ({
    rule,
    baseline: b,
    current: c,
    change,
    interval,
    pairedBy,
    verdict: bad ? 'regression' : 'pass',
    fails: bad,
    reason,
  });
  const significance = (change: number, interval: readonly [number, number], bad: boolean) =>
    `change ${show(change)} (90% interval ${show(interval[0])}..${show(interval[1])}, paired by ${pairs?.by}) is ${bad ? 'significantly' : 'not significantly'} beyond ${rule.op} ${show(rule.value)}`;
  const replicates = baseline.replicates;
  if (replicates !== undefined && replicates.length >= 2 && replicates.every(Number.isFinite) && (rule.kind === 'absolute-change' || b > 0)) {
    const r = replicateLimit(replicates, { kind: rule.kind, op: rule.op, threshold: rule.value });
    const change = rule.kind === 'relative' ? c / r.mean - 1 : c - r.mean;
    const bad = rule.op === '<=' ? c > r.limit : c < r.limit;
    const interval: [number, number] = [change + r.interval[0], change + r.interval[1]];
    const reason = `change ${show(change)} from the mean of ${r.replicates} baseline runs (sd ${fmt(r.sd).replace('+', '')}): ${rule.metric} ${bad ? 'is' : 'is not'} ${rule.op === '<=' ? 'above' : 'below'} ${Number(r.limit.toPrecision(5))}, the threshold widened by the runs' spread (one-sided 95%)`;
    return judged(change, interval, bad, reason, 'replicates');
  }
  if (rule.kind === 'absolute-change') {
    if (pairs !== null) {
      const p = pairedDifference(pairs.baseline, pairs.current);
      const bad = beyond(p.interval[0], p.interval[1]);
      return judged(p.change, p.interval, bad, significance(p.change, p.interval, bad));
    }
    const change = c - b;
    const ok = within(change, rule.value);
    return judged(change, null, !ok, `change ${fmt(change)} ${ok ? 'within' : 'beyond'} ${rule.op} ${fmt(rule.value)}`);
  }
  if (b === 0) return cannot(`the baseline's ${rule.metric} is 0: a relative change is undefined`);
  // Fieller's interval needs a positive baseline mean; a negative one (λmin) is compared bare.
  if (pairs !== null && pairs.baseline.reduce((s, x) => s + x, 0) > 0) {
    const p = pairedRelativeChange(pairs.baseline, pairs.current);
    const bad = beyond(p.lower, p.interval[1]);
    return judged(p.change, p.interval, bad, significance(p.change, p.interval, bad));
  }
  const change = c / Math.abs(b) - Math.sign(b);
  const ok = within(change, rule.value);
  return judged(change, null, !ok, `change ${pct(change)} ${ok ? 'within' : 'beyond'} ${rule.op} ${pct(rule.value)}`, null);
}

/** The values two summaries pair for a metric (see the file comment), or null when they pair nothing. */
function pairsOf(baseline: MetricValue, current: MetricValue): { by: 'epochs' | 'direction' | 'shard'; baseline: number[]; current: number[] } | null {
  const same = (a: readonly number[] | undefined, b: readonly number[] | undefined) => a !== undefined && b !== undefined && a.length === b.length && a.length >= 2 && [...a, ...b].every(Number.isFinite);
  if (same(baseline.epochs, current.epochs)) return { by: 'epochs', baseline: [...(baseline.epochs as number[])], current: [...(current.epochs as number[])] };
  if (same(baseline.paired, current.paired) && baseline.pairedBy === current.pairedBy) {
    return { by: baseline.pairedBy ?? 'direction', baseline: [...(baseline.paired as number[])], current: [...(current.paired as number[])] };
  }
  return null;
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
}

function fmt(x: number): string {
  return `${x >= 0 ? '+' : ''}${Number(x.toPrecision(4))}`;
}
