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
import type { MetricValue } from '../core/gate-rules.js';
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
      return { value: metric === 'fn_curvature' ? primary.curvature : primary.mean, status: 'ok', perDirection: (primary.values as number[]).map((v) => v * scale) };
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
      return typeof value === 'number' ? { value, status: 'ok' } : { value: null, status: 'missing' };
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
 * lack it) are passed over, so `--last 3` averages three real measurements. An error or an
 * unconverged value among them makes the whole untrustworthy; fewer than `last` measurements in
 * the whole run leave it unjudged (`skipped`, or the status of the last epoch).
 */
function lastMeasured(epochs: readonly Rec[], name: string, last: number): MetricValue {
  const values: MetricValue[] = [];
  for (let i = epochs.length - 1; i >= 0 && values.length < last; i--) {
    const v = fromRecord(epochs[i] as Rec, name);
    if (v.status !== 'skipped' && v.status !== 'missing') values.push(v);
  }
  if (values.length < last) {
    const final = fromRecord(epochs.at(-1) as Rec, name);
    return { value: null, status: final.status === 'ok' ? 'skipped' : final.status };
  }
  const bad = values.find((v) => v.status !== 'ok');
  if (bad !== undefined) return { value: null, status: bad.status };
  const mean = values.reduce((s, v) => s + (v.value as number), 0) / values.length;
  const per = values[0]?.perDirection;
  if (per === undefined) return { value: mean, status: 'ok' };
  return { value: mean, status: 'ok', perDirection: per.map((_, i) => values.reduce((s, v) => s + (v.perDirection?.[i] as number), 0) / values.length) };
}

/**
 * Summarizes a finished run.
 * @param contents the parsed run folder
 * @param last how many of the last epochs where each metric was measured to average (1: the final value)
 * @throws {LandscopeError} `BAD_ARTIFACT` for a run that did not finish, has a truncated metrics
 * file, or has fewer measured epochs than `last`
 */
export function summarizeRun(contents: RunContents, last = 1): RunSummary {
  const { run, dir } = contents;
  if (run['status'] !== 'finished') {
    throw new LandscopeError('BAD_ARTIFACT', `run ${dir}: status is '${String(run['status'])}', not 'finished': the run was interrupted, so its final values are not final`);
  }
  if (contents.truncatedLines > 0) throw new LandscopeError('BAD_ARTIFACT', `run ${dir}: metrics.jsonl has ${contents.truncatedLines} truncated line(s)`);
  const epochs = contents.metrics.filter((m) => typeof m['epoch'] === 'number' && (m['epoch'] as number) >= 0);
  if (!(Number.isInteger(last) && last >= 1)) throw new RangeError(`summarizeRun: last = ${last} is not a positive integer`);
  if (epochs.length < last) throw new LandscopeError('BAD_ARTIFACT', `run ${dir}: ${epochs.length} measured epoch(s), fewer than the ${last} to average`);
  const window = epochs.slice(-last);
  const metrics: Record<string, MetricValue> = {};
  for (const name of GATE_METRICS) metrics[name] = lastMeasured(epochs, name, last);
  const model = run['model'] as { weights?: { name: string; shape: number[] }[] } | undefined;
  const options = (run['options'] ?? {}) as { sharpness?: { directions?: number; radii?: number[] } | false };
  const firstSharpness = window[0]?.['sharpness'] as Rec | undefined;
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
    },
    metrics,
  };
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
  return null;
}

/** Writes a baseline file. */
export async function saveBaseline(path: string, summary: RunSummary): Promise<void> {
  // The file is meant to be committed: the run's folder is stored relative to it, not as this machine's absolute path.
  const run = { ...summary.run, dir: relative(dirname(resolve(path)), resolve(summary.run.dir)).split(sep).join('/') || '.' };
  await writeAtomic(path, `${JSON.stringify({ ...summary, run, kind: 'landscope-baseline', createdAt: new Date().toISOString() }, null, 1)}\n`);
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
  if (parsed['kind'] !== 'landscope-baseline' || typeof parsed['metrics'] !== 'object') {
    throw new LandscopeError('BAD_ARTIFACT', `--baseline: ${path} is not a landscope baseline (make one with 'landscope baseline save runs/<id> --out ${path}')`);
  }
  if (!((parsed['schemaVersion'] as number) <= BASELINE_SCHEMA_VERSION)) {
    throw new LandscopeError('BAD_ARTIFACT', `--baseline: ${path} has schema version ${parsed['schemaVersion']}; this landscope reads up to ${BASELINE_SCHEMA_VERSION}`);
  }
  return parsed as unknown as RunSummary;
}
