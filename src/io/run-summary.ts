/**
 * A run's final numbers for the CI gate: each metric's value over the last k measured epochs (the
 * final one by default) with its per-direction values where the metric is an average over seeded
 * directions, and whether it can be trusted; plus the run's fingerprint (architecture, seed,
 * sharpness settings), without which two runs' directions would not be the same. A baseline is
 * such a summary saved as a small JSON file.
 */
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { LandscopeError } from '../errors.js';
import { PER_LAYER_METRIC, type MetricValue } from '../core/gate-rules.js';
import type { RunContents } from './run-folder.js';
import { writeAtomic } from './write-atomic.js';

/** The schema version of baseline files. */
export const BASELINE_SCHEMA_VERSION = 1;

/** Every metric a run summary can hold. */
export const GATE_METRICS: readonly string[] = [
  'fn_sharpness',
  'fn_curvature',
  'hessian_max',
  'hessian_min',
  'hessian_ratio',
  'hessian_trace',
  'hessian_max_x_lr',
  'stability_ratio',
  'adaptive_sharpness',
  'adaptive_sharpness_avg',
  'hessian_negative_mass',
  'weight_norm',
  'pca_evr1',
  'pca_evr2',
  'loss',
  'acc',
  'val_loss',
  'val_acc',
  'generalization_gap',
];

/** What must be equal for two runs to be compared. */
export interface RunFingerprint {
  readonly weights: readonly { name: string; shape: readonly number[] }[];
  readonly seed: number | null;
  readonly sharpness: { directions: number | null; radius: number | null };
  /** Adaptive sharpness's settings, when it was measured (baselines from before it lack the key). */
  readonly adaptiveSharpness?: { radius: number; steps: number; directions: number } | null;
}

/** A run's final numbers. */
export interface RunSummary {
  readonly schemaVersion: number;
  readonly kind: 'landscope-run-summary';
  readonly run: { id: string | null; name: string | null; dir: string };
  /** The last epoch measured, and how many measured epochs were averaged. */
  readonly epoch: number;
  readonly last: number;
  readonly fingerprint: RunFingerprint;
  readonly metrics: Record<string, MetricValue>;
  /** A baseline of several replicate runs: each of them (`run` is the first). */
  readonly replicates?: readonly { id: string | null; name: string | null; dir: string }[];
}

type Rec = Record<string, any>;

function fromRecord(record: Rec, metric: string): MetricValue {
  const logs = (record['logs'] ?? {}) as Record<string, number>;
  const state = (m: Rec | undefined): MetricValue['status'] | null =>
    m === undefined ? 'missing' : m['skipped'] !== undefined ? 'skipped' : m['error'] !== undefined ? 'error' : null;
  switch (metric) {
    case 'fn_sharpness':
    case 'fn_curvature': {
      const s = record['sharpness'] as Rec | undefined;
      const bad = state(s);
      if (bad !== null) return { value: null, status: bad };
      const primary = (s as Rec)['radii'][0] as { radius: number; mean: number; curvature: number; values: (number | null)[] };
      if (primary.values.some((v) => v === null)) return { value: null, status: 'error' };
      const scale = metric === 'fn_curvature' ? 2 / (primary.radius * primary.radius) : 1;
      return { value: metric === 'fn_curvature' ? primary.curvature : primary.mean, status: 'ok', paired: (primary.values as number[]).map((v) => v * scale), pairedBy: 'direction' };
    }
    case 'hessian_max':
    case 'hessian_min':
    case 'hessian_ratio':
    case 'hessian_trace': {
      const h = record['hessian'] as Rec | undefined;
      const bad = state(h);
      if (bad !== null) return { value: null, status: bad };
      if ((h as Rec)['converged'] !== true && metric !== 'hessian_trace') return { value: null, status: 'not-converged' };
      const value = metric === 'hessian_max' ? h!['lambdaMax'] : metric === 'hessian_min' ? h!['lambdaMin'] : metric === 'hessian_ratio' ? h!['ratio'] : h!['trace']?.value;
      if (typeof value !== 'number') return { value: null, status: 'missing' };
      // λmax and λmin as each probe shard sees them, when recorded: compared shard by shard.
      const byShard = (h as Rec)['shards']?.[metric === 'hessian_max' ? 'top' : 'bottom'] as number[] | undefined;
      const paired = (metric === 'hessian_max' || metric === 'hessian_min') && Array.isArray(byShard) && byShard.every((v) => typeof v === 'number' && Number.isFinite(v));
      return paired ? { value, status: 'ok', paired: byShard, pairedBy: 'shard' } : { value, status: 'ok' };
    }
    case 'hessian_max_x_lr':
    case 'stability_ratio': {
      // The edge of stability: λmax·η/2 (SGD, momentum) and λmax/threshold (λmax(P⁻¹H) for Adam, RMSprop).
      const h = record['hessian'] as Rec | undefined;
      const bad = state(h);
      if (bad !== null) return { value: null, status: bad };
      const e = (h as Rec)['stability'] as Rec | undefined;
      const value = metric === 'hessian_max_x_lr' ? e?.['maxTimesLr'] : e?.['ratio'];
      if (e === undefined || e['skipped'] !== undefined || typeof value !== 'number') return { value: null, status: e?.['skipped'] !== undefined ? 'skipped' : 'missing' };
      const converged = e['preconditioned'] === true ? e['converged'] : (h as Rec)['converged'];
      return converged === true ? { value, status: 'ok' } : { value: null, status: 'not-converged' };
    }
    case 'adaptive_sharpness':
    case 'adaptive_sharpness_avg': {
      // The average case pairs by direction (the same seeded directions each run), as fn_sharpness.
      const a = record['adaptiveSharpness'] as Rec | undefined;
      const bad = state(a);
      if (bad !== null) return { value: null, status: bad };
      const value = metric === 'adaptive_sharpness' ? a!['worst'] : a!['average'];
      if (typeof value !== 'number' || !Number.isFinite(value)) return { value: null, status: 'error' };
      const values = a!['values'] as (number | null)[];
      return metric === 'adaptive_sharpness_avg' && values.every((v) => v !== null) ? { value, status: 'ok', paired: values as number[], pairedBy: 'direction' } : { value, status: 'ok' };
    }
    case 'weight_norm': {
      const w = record['weights'] as Rec | undefined;
      const bad = state(w);
      return bad !== null ? { value: null, status: bad } : { value: w!['norm'], status: 'ok' };
    }
    case 'pca_evr1':
    case 'pca_evr2': {
      const t = record['trajectory'] as Rec | undefined;
      const bad = state(t);
      if (bad !== null) return { value: null, status: bad };
      const v = (t!['explainedVarianceRatio'] as number[])[metric === 'pca_evr1' ? 0 : 1];
      return v === undefined ? { value: null, status: 'missing' } : { value: v, status: 'ok' };
    }
    case 'generalization_gap':
      return typeof logs['val_loss'] === 'number' && typeof logs['loss'] === 'number' ? { value: logs['val_loss'] - logs['loss'], status: 'ok' } : { value: null, status: 'missing' };
    case 'acc':
    case 'val_acc': {
      const v = logs[metric] ?? logs[metric === 'acc' ? 'accuracy' : 'val_accuracy'];
      return typeof v === 'number' ? { value: v, status: 'ok' } : { value: null, status: 'missing' };
    }
    default:
      return typeof logs[metric] === 'number' ? { value: logs[metric], status: 'ok' } : { value: null, status: 'missing' };
  }
}

/**
 * A metric over the last `last` epochs where it was measured: epochs the budget skipped (or that
 * lack it) are passed over, so `--last 3` averages three real measurements. With `required` (an
 * explicit `--last`), an error or an unconverged value among them makes the whole untrustworthy,
 * and fewer than `last` measurements in the whole run leave it unjudged (`skipped`, or the status
 * of the last epoch); otherwise the last measurement must be trustworthy and the trustworthy ones
 * just before it serve, up to `last`. Two or more keep their per-epoch values (`epochs`), which
 * the gate pairs.
 */
function lastMeasured(epochs: readonly Rec[], name: string, last: number, required: boolean): MetricValue {
  const values: MetricValue[] = [];
  for (let i = epochs.length - 1; i >= 0 && values.length < last; i--) {
    const v = fromRecord(epochs[i] as Rec, name);
    if (v.status === 'skipped' || v.status === 'missing') continue;
    // By default only the trailing trustworthy values serve (an early epoch's unconverged
    // Lanczos does not spoil the last ones); the final measurement itself must be trustworthy.
    if (!required && v.status !== 'ok' && values.length > 0) break;
    values.push(v);
  }
  if (values.length === 0 || (required && values.length < last)) {
    const final = fromRecord(epochs.at(-1) as Rec, name);
    return { value: null, status: final.status === 'ok' ? 'skipped' : final.status };
  }
  const bad = values.find((v) => v.status !== 'ok');
  if (bad !== undefined) return { value: null, status: bad.status };
  values.reverse();
  const mean = values.reduce((s, v) => s + (v.value as number), 0) / values.length;
  const perEpoch = values.length >= 2 ? { epochs: values.map((v) => v.value as number) } : {};
  const per = values[0]?.paired;
  if (per === undefined || values.some((v) => v.paired?.length !== per.length)) return { value: mean, status: 'ok', ...perEpoch };
  const paired = per.map((_, i) => values.reduce((s, v) => s + (v.paired?.[i] as number), 0) / values.length);
  return { value: mean, status: 'ok', paired, ...(values[0]?.pairedBy !== undefined ? { pairedBy: values[0].pairedBy } : {}), ...perEpoch };
}

/** How many of the last measured epochs a summary averages by default: enough for the gate to see each run's spread. */
export const DEFAULT_LAST = 3;

/**
 * Summarizes a finished run.
 * @param contents the parsed run folder
 * @param last how many of the last epochs where each metric was measured to average (1: the final
 * value); required of every metric when given. By default up to `DEFAULT_LAST`, as many as the run has.
 * @throws {LandscopeError} `BAD_ARTIFACT` for a run that did not finish, has a truncated metrics
 * file, or has fewer measured epochs than `last`
 */
export function summarizeRun(contents: RunContents, given?: number): RunSummary {
  const { run, dir } = contents;
  if (run['status'] !== 'finished') {
    throw new LandscopeError('BAD_ARTIFACT', `run ${dir}: status is '${String(run['status'])}', not 'finished': the run was interrupted, so its final values are not final`);
  }
  if (contents.truncatedLines > 0) throw new LandscopeError('BAD_ARTIFACT', `run ${dir}: metrics.jsonl has ${contents.truncatedLines} truncated line(s)`);
  const epochs = contents.metrics.filter((m) => typeof m['epoch'] === 'number' && (m['epoch'] as number) >= 0);
  if (given !== undefined && !(Number.isInteger(given) && given >= 1)) throw new RangeError(`summarizeRun: last = ${given} is not a positive integer`);
  if (epochs.length === 0) throw new LandscopeError('BAD_ARTIFACT', `run ${dir}: no epoch was recorded`);
  if (given !== undefined && epochs.length < given) throw new LandscopeError('BAD_ARTIFACT', `run ${dir}: ${epochs.length} measured epoch(s), fewer than the ${given} to average`);
  const last = given ?? Math.min(DEFAULT_LAST, epochs.length);
  const window = epochs.slice(-last);
  const metrics: Record<string, MetricValue> = {};
  // Per-layer curvature, under the names its logs use (one per layer the run measured).
  const perLayer = [...new Set(epochs.flatMap((r) => Object.keys((r['logs'] ?? {}) as Rec).filter((k) => PER_LAYER_METRIC.test(k))))];
  for (const name of [...GATE_METRICS, ...perLayer]) metrics[name] = lastMeasured(epochs, name, last, given !== undefined);
  const model = run['model'] as { weights?: { name: string; shape: number[] }[] } | undefined;
  const options = (run['options'] ?? {}) as { sharpness?: { directions?: number; radii?: number[] } | false };
  const firstSharpness = window[0]?.['sharpness'] as Rec | undefined;
  const adaptive = window.find((r) => typeof (r['adaptiveSharpness'] as Rec | undefined)?.['radius'] === 'number')?.['adaptiveSharpness'] as Rec | undefined;
  return {
    schemaVersion: BASELINE_SCHEMA_VERSION,
    kind: 'landscope-run-summary',
    run: { id: (run['id'] as string) ?? null, name: (run['name'] as string) ?? null, dir },
    epoch: window.at(-1)?.['epoch'] as number,
    last,
    fingerprint: {
      weights: (model?.weights ?? []).map((w) => ({ name: w.name, shape: w.shape })),
      seed: ((run['seeds'] as { directions?: number } | undefined)?.directions ?? null) as number | null,
      sharpness: {
        directions: (firstSharpness?.['directions'] as number | undefined) ?? (options.sharpness ? options.sharpness.directions ?? null : null),
        radius: (firstSharpness?.['radii']?.[0]?.radius as number | undefined) ?? null,
      },
      adaptiveSharpness: adaptive === undefined ? null : { radius: adaptive['radius'], steps: adaptive['steps'], directions: adaptive['directions'] },
    },
    metrics,
  };
}

/**
 * One summary of several replicate runs of one script (a baseline that knows the noise between
 * reruns): each metric's value is the mean of the runs' values, which it keeps as `replicates`;
 * a metric any run could not provide is unjudged in the whole. Every run is summarized over the
 * same number of last measured epochs (`last`; by default up to `DEFAULT_LAST`, as many as each has).
 * @throws {LandscopeError} `BAD_ARTIFACT` as `summarizeRun`; `BASELINE_MISMATCH` when the runs'
 * fingerprints differ (they are not replicates of one script)
 */
export function summarizeRuns(runs: readonly RunContents[], given?: number): RunSummary {
  if (runs.length === 0) throw new RangeError('summarizeRuns: no runs');
  const first = summarizeRun(runs[0] as RunContents, given);
  if (runs.length === 1) return first;
  const rest = runs.slice(1).map((r) => summarizeRun(r, given));
  for (const other of rest) {
    const mismatch = fingerprintMismatch(first.fingerprint, other.fingerprint);
    if (mismatch !== null) throw new LandscopeError('BASELINE_MISMATCH', `runs ${first.run.dir} and ${other.run.dir} are not replicates of one script: ${mismatch}`);
  }
  const all = [first, ...rest];
  const metrics: Record<string, MetricValue> = {};
  const names = [...new Set(all.flatMap((s) => Object.keys(s.metrics)))];
  for (const name of names) {
    const values = all.map((s) => s.metrics[name] ?? { value: null, status: 'missing' as const });
    const bad = values.find((v) => v.status !== 'ok' || v.value === null);
    metrics[name] = bad !== undefined ? { value: null, status: bad.status === 'ok' ? 'missing' : bad.status } : { value: values.reduce((a, v) => a + (v.value as number), 0) / values.length, status: 'ok', replicates: values.map((v) => v.value as number) };
  }
  return { ...first, metrics, replicates: all.map((s) => s.run) };
}

/**
 * Why two runs cannot be compared, or null when they can: their seeded directions must be the
 * same, so the architecture (the weights' shapes, in order — directions are drawn per tensor
 * index and shape; auto-generated layer names may differ), the seed and the sharpness settings must match.
 */
export function fingerprintMismatch(baseline: RunFingerprint, current: RunFingerprint): string | null {
  const arch = (f: RunFingerprint) => f.weights.map((w) => `[${w.shape}]`).join(',');
  if (arch(baseline) !== arch(current)) {
    const i = Math.max(0, baseline.weights.findIndex((w, k) => `${w.shape}` !== `${current.weights[k]?.shape}`));
    const b = baseline.weights[i];
    const c = current.weights[i];
    return `the architectures differ (weight ${i}: baseline ${b ? `${b.name} [${b.shape}]` : 'none'}, run ${c ? `${c.name} [${c.shape}]` : 'none'}): the seeded directions would not be the same, so sharpness values are not comparable`;
  }
  if (baseline.seed !== current.seed) return `the direction seeds differ (baseline ${baseline.seed}, run ${current.seed}): sharpness was measured along different directions`;
  if (baseline.sharpness.directions !== current.sharpness.directions || baseline.sharpness.radius !== current.sharpness.radius) {
    return `the sharpness settings differ (baseline ${baseline.sharpness.directions} directions at r = ${baseline.sharpness.radius}, run ${current.sharpness.directions} at r = ${current.sharpness.radius})`;
  }
  const [a, b] = [baseline.adaptiveSharpness, current.adaptiveSharpness];
  if (a && b && (a.radius !== b.radius || a.steps !== b.steps || a.directions !== b.directions)) {
    return `the adaptive sharpness settings differ (baseline ρ = ${a.radius}, ${a.steps} steps, ${a.directions} directions; run ρ = ${b.radius}, ${b.steps} steps, ${b.directions} directions)`;
  }
  return null;
}

/** Writes a baseline file. */
export async function saveBaseline(path: string, summary: RunSummary): Promise<void> {
  // The file is meant to be committed: the run's folder is stored relative to it, not as this machine's absolute path.
  const portable = (r: RunSummary['run']) => ({ ...r, dir: relative(dirname(resolve(path)), resolve(r.dir)).split(sep).join('/') || '.' });
  const replicates = summary.replicates === undefined ? {} : { replicates: summary.replicates.map(portable) };
  await writeAtomic(path, `${JSON.stringify({ ...summary, run: portable(summary.run), ...replicates, kind: 'landscope-baseline', createdAt: new Date().toISOString() }, null, 1)}\n`);
}

/**
 * Reads a baseline file.
 * @throws {LandscopeError} `FILE_NOT_FOUND` or `BAD_ARTIFACT` (not JSON, not a baseline, a newer schema)
 */
export async function loadBaseline(path: string): Promise<RunSummary> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new LandscopeError('FILE_NOT_FOUND', `--baseline: no file at ${path}`);
  }
  let parsed: Rec;
  try {
    parsed = JSON.parse(text) as Rec;
  } catch (e) {
    throw new LandscopeError('BAD_ARTIFACT', `--baseline: ${path} is not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || parsed['kind'] !== 'landscope-baseline' || parsed['metrics'] === null || typeof parsed['metrics'] !== 'object') {
    throw new LandscopeError('BAD_ARTIFACT', `--baseline: ${path} is not a landscope baseline (make one with 'landscope baseline save runs/<id> --out ${path}')`);
  }
  if (!((parsed['schemaVersion'] as number) <= BASELINE_SCHEMA_VERSION)) {
    throw new LandscopeError('BAD_ARTIFACT', `--baseline: ${path} has schema version ${parsed['schemaVersion']}; this landscope reads up to ${BASELINE_SCHEMA_VERSION}`);
  }
  const fingerprint = parsed['fingerprint'] as Rec | undefined;
  if (fingerprint === null || typeof fingerprint !== 'object' || !Array.isArray(fingerprint['weights']) || fingerprint['sharpness'] === null || typeof fingerprint['sharpness'] !== 'object') {
    throw new LandscopeError('BAD_ARTIFACT', `--baseline: ${path} has no valid fingerprint (weights, seed, sharpness): it cannot be matched to a run; save it again with 'landscope baseline save'`);
  }
  for (const [name, m] of Object.entries(parsed['metrics'] as Record<string, unknown>)) {
    const v = m as Rec | null;
    const valid = v !== null && typeof v === 'object' && (v['value'] === null || typeof v['value'] === 'number') && typeof v['status'] === 'string';
    if (!valid) throw new LandscopeError('BAD_ARTIFACT', `--baseline: ${path}: metric '${name}' is ${JSON.stringify(m)}; expected { "value": number or null, "status": ... }`);
  }
  // Baselines written before λmax was paired by probe shard called the paired values perDirection.
  for (const m of Object.values(parsed['metrics'] as Record<string, Rec | null>)) {
    if (m !== null && typeof m === 'object' && m['perDirection'] !== undefined && m['paired'] === undefined) {
      m['paired'] = m['perDirection'];
      delete m['perDirection'];
    }
  }
  return parsed as unknown as RunSummary;
}
