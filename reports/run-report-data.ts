/**
 * The data a run report shows, taken from a parsed run folder: per-epoch series (loss, accuracy,
 * sharpness with its standard error, curvature, Hessian extremes, weight norm, learning rate), the
 * latest trajectory PCA, the configuration, timings, what the budget skipped and what errored —
 * and what is missing, said plainly.
 */
import type { RunContents } from '../src/io/run-folder.js';
import { contourLevels, contourLines, type ContourLevel } from './contour-lines.js';

type Rec = Record<string, any>;

/** Everything a run report draws. */
export interface RunReportData {
  readonly title: string;
  readonly run: { id: string | null; name: string | null; status: string; backend: string | null; start: string | null; end: string | null };
  /** Epochs measured after training started (−1, before training, is `initial`). */
  readonly epochs: number[];
  readonly series: Record<string, (number | null)[]>;
  readonly sharpness: { radius: number | null; directions: number | null; probeSize: number | null };
  /** The radius ρ of adaptive sharpness, when it was measured. */
  readonly adaptiveRadius: number | null;
  readonly trajectory: { epochs: number[]; x: number[]; y: number[]; explainedVarianceRatio: number[]; lrDrops: number[] } | null;
  readonly config: [string, string][];
  readonly timings: { training: number | null; monitor: number | null; final: number | null; perEpoch: { epoch: number; train: number | null; monitor: number | null }[] };
  readonly skipped: { epoch: number; what: string }[];
  readonly errors: { epoch: number; what: string; message: string }[];
  /** The end-of-training surfaces, their contour lines traced (null when not computed). */
  readonly surfaces: {
    readonly slice: { x: number[]; loss: (number | null)[]; accuracy: (number | null)[] | null } | null;
    readonly contour: { levels: ContourLevel[]; min: [number, number] | null; range: number } | null;
    readonly pca: { levels: ContourLevel[] } | null;
    readonly ratio: { x: number[]; y: number[]; ratio: (number | null)[][] } | null;
    readonly probeSize: number | null;
  } | null;
  /** Per-layer curvature per measured epoch (null when not measured): [layer][epoch index], null where absent. */
  readonly layers: { names: string[]; lambdaMax: (number | null)[][]; trace: (number | null)[][] } | null;
  /** The Hessian's spectral density at the end of training (null when not computed). */
  readonly density: { x: number[]; density: number[]; negativeMass: number; negativeMassStderr: number | null; vectors: number; steps: number; n: number | null; probeSize: number | null } | null;
  /** Sentences about what this run lacks (a crash, a measurement that never ran). */
  readonly missing: string[];
  readonly truncatedLines: number;
}

function flatten(value: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Rec)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix, typeof value === 'string' ? value : JSON.stringify(value)]);
  return out;
}

const ok = (m: Rec | undefined) => m !== undefined && m['error'] === undefined && m['skipped'] === undefined;

/**
 * Extracts the report's data from a run folder's contents.
 * @param contents what `readRunFolder` returned
 */
export function runReportData(contents: RunContents): RunReportData {
  const run = contents.run as Rec;
  const records = contents.metrics as Rec[];
  const measured = records.filter((r) => typeof r['epoch'] === 'number');
  const epochs = measured.map((r) => r['epoch'] as number);
  const log = (key: string, alt?: string) => measured.map((r) => (typeof r['logs']?.[key] === 'number' ? r['logs'][key] : typeof r['logs']?.[alt ?? ''] === 'number' ? r['logs'][alt as string] : null));
  const sharp = (f: (p: Rec) => number) => measured.map((r) => (ok(r['sharpness']) ? f(r['sharpness'].radii[0]) : null));
  const hess = (key: string) => measured.map((r) => (ok(r['hessian']) && typeof r['hessian'][key] === 'number' ? r['hessian'][key] : null));
  const series: Record<string, (number | null)[]> = {
    loss: log('loss'),
    val_loss: log('val_loss'),
    acc: log('acc', 'accuracy'),
    val_acc: log('val_acc', 'val_accuracy'),
    sharpness: sharp((p) => p['mean']),
    sharpness_stderr: sharp((p) => p['stderr']),
    curvature: sharp((p) => p['curvature']),
    lambda_max: hess('lambdaMax'),
    lambda_min: hess('lambdaMin'),
    ratio: hess('ratio'),
    // The edge of stability: the threshold of the optimizer's update, and the preconditioned sharpness of adaptive ones.
    stability_threshold: measured.map((r) => (ok(r['hessian']) && typeof r['hessian']['stability']?.threshold === 'number' && r['hessian']['stability'].preconditioned !== true ? r['hessian']['stability'].threshold : null)),
    preconditioned_max: measured.map((r) => (ok(r['hessian']) && r['hessian']['stability']?.preconditioned === true && typeof r['hessian']['stability'].lambdaMax === 'number' ? r['hessian']['stability'].lambdaMax : null)),
    preconditioned_threshold: measured.map((r) => (ok(r['hessian']) && r['hessian']['stability']?.preconditioned === true ? r['hessian']['stability'].threshold : null)),
    adaptive_worst: measured.map((r) => (ok(r['adaptiveSharpness']) && typeof r['adaptiveSharpness']['worst'] === 'number' ? r['adaptiveSharpness']['worst'] : null)),
    adaptive_avg: measured.map((r) => (ok(r['adaptiveSharpness']) && typeof r['adaptiveSharpness']['average'] === 'number' ? r['adaptiveSharpness']['average'] : null)),
    hessian_converged: measured.map((r) => (ok(r['hessian']) ? (r['hessian']['converged'] ? 1 : 0) : null)),
    weight_norm: measured.map((r) => (ok(r['weights']) ? r['weights']['norm'] : null)),
    lr: measured.map((r) => (ok(r['weights']) && typeof r['weights']['learningRate'] === 'number' ? r['weights']['learningRate'] : null)),
  };
  const firstSharp = measured.find((r) => ok(r['sharpness']))?.['sharpness'];
  const lastTrajectory = [...measured].reverse().find((r) => ok(r['trajectory']))?.['trajectory'];
  const lr = series['lr'] as (number | null)[];
  const trajectory =
    lastTrajectory === undefined || (lastTrajectory['coords']?.x?.length ?? 0) === 0
      ? null
      : {
          epochs: lastTrajectory['epochs'] as number[],
          x: lastTrajectory['coords'].x as number[],
          y: (lastTrajectory['coords'].y as number[]).length > 0 ? (lastTrajectory['coords'].y as number[]) : (lastTrajectory['coords'].x as number[]).map(() => 0),
          explainedVarianceRatio: lastTrajectory['explainedVarianceRatio'] as number[],
          lrDrops: epochs.filter((_, i) => i > 0 && lr[i] !== null && lr[i - 1] !== null && (lr[i] as number) < (lr[i - 1] as number)),
        };
  const skipped: RunReportData['skipped'] = [];
  const errors: RunReportData['errors'] = [];
  for (const r of measured) {
    for (const [what, value] of Object.entries(r)) {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        if ((value as Rec)['skipped'] !== undefined) skipped.push({ epoch: r['epoch'], what });
        if ((value as Rec)['error'] !== undefined) errors.push({ epoch: r['epoch'], what, message: String((value as Rec)['error']) });
      }
    }
  }
  const missing: string[] = [];
  const status = String(run['status'] ?? 'unknown');
  const planned = run['fit']?.epochs as number | undefined;
  const done = epochs.filter((e) => e >= 0).length;
  // 'running' is what run.json says while its process lives (a reader calls a gone one 'killed').
  if (status === 'running') missing.push(`Training is still running: ${done}${planned ? ` of ${planned}` : ''} epochs measured so far.`);
  else if (status !== 'finished') missing.push(`The run did not finish (status: ${status}); ${done}${planned ? ` of ${planned}` : ''} epochs were measured.`);
  if (contents.truncatedLines > 0) missing.push(`${contents.truncatedLines} line(s) of metrics.jsonl were cut short (a crash while writing) and are left out.`);
  const never = (key: string, label: string) => {
    if (!measured.some((r) => ok(r[key]))) missing.push(`${label} was ${measured.some((r) => r[key] !== undefined) ? 'never measured successfully' : 'not measured'} in this run.`);
  };
  never('sharpness', 'Sharpness');
  never('hessian', 'The Hessian');
  never('trajectory', 'The trajectory PCA');
  if (measured.length === 0) missing.push('metrics.jsonl has no epochs.');
  const surfaces = surfacesOf(contents.surfaces ?? null);
  const skippedFinal = run['finalSurfaces'] as Rec | undefined;
  if (surfaces === null && skippedFinal?.['skipped'] === 'finalBudget') {
    missing.push(`The end-of-training surfaces were skipped: about ${Number(skippedFinal['estimatedSeconds']).toFixed(1)} s even at the smallest grids, over the end-of-training limit of ${Number(skippedFinal['limitSeconds']).toFixed(1)} s (finalBudget; null for no limit).`);
  } else if (surfaces === null && status === 'running' && run['options']?.finalSurfaces !== false) {
    missing.push('The end-of-training surfaces (1-D slice, 2-D contours, PCA-plane contours) come when training ends.');
  } else if (surfaces === null) missing.push('The end-of-training surfaces (1-D slice, 2-D contours, PCA-plane contours) were not computed for this run.');
  const densityNote = run['finalDensity'] as Rec | undefined;
  if (densityNote?.['skipped'] === 'finalBudget') {
    missing.push(`The end-of-training Hessian spectral density was skipped: about ${Number(densityNote['estimatedSeconds']).toPrecision(2)} s even at 1 vector × 10 Lanczos steps, over the ${Number(densityNote['limitSeconds']).toPrecision(2)} s the end-of-training limit had left after the surfaces (finalBudget; null for no limit).`);
  } else if (typeof densityNote?.['error'] === 'string') {
    missing.push(`The end-of-training Hessian spectral density failed: ${densityNote['error']}`);
  }
  const densityFile = contents.density as Rec | null | undefined;
  if (densityFile?.['lowered'] === true) {
    const asked = densityFile['requested'] as Rec | undefined;
    missing.push(`The spectral density was computed with ${densityFile['vectors']} vector(s) × ${densityFile['steps']} Lanczos steps instead of ${asked?.['vectors']} × ${asked?.['steps']} to fit the end-of-training limit (finalBudget).`);
  }
  const resolution = (contents.surfaces as Rec | null | undefined)?.['resolution'] as Rec | undefined;
  if (resolution?.['lowered'] === true) {
    const [asked, used] = [resolution['requested'] as Rec, resolution['used'] as Rec];
    missing.push(
      `The end-of-training surfaces were computed at ${used['resolution']}×${used['resolution']} (slice ${used['sliceResolution']} points) instead of ${asked['resolution']}×${asked['resolution']} (${asked['sliceResolution']}) to fit the end-of-training limit (finalBudget: ${typeof resolution['limitSeconds'] === 'number' ? (resolution['limitSeconds'] as number).toFixed(1) : '?'} s).`,
    );
  }
  return {
    title: String(run['name'] ?? run['id'] ?? 'landscope run'),
    run: { id: (run['id'] as string) ?? null, name: (run['name'] as string) ?? null, status, backend: (run['backend'] as string) ?? null, start: (run['start'] as string) ?? null, end: (run['end'] as string) ?? null },
    epochs,
    series,
    sharpness: { radius: firstSharp?.radii?.[0]?.radius ?? null, directions: firstSharp?.directions ?? null, probeSize: firstSharp?.probeSize ?? null },
    adaptiveRadius: measured.find((r) => ok(r['adaptiveSharpness']))?.['adaptiveSharpness']?.radius ?? null,
    trajectory,
    config: flatten({ options: run['options'], loss: run['loss'], model: { name: run['model']?.name, trainableParameters: run['model']?.trainableParameters, layers: (run['model']?.layers ?? []).map((l: Rec) => `${l.name} (${l.class})`).join(', ') }, probe: run['probe'], fit: run['fit'], versions: { landscope: run['landscopeVersion'], tfjs: run['tfjsVersion'] } }),
    timings: {
      training: typeof run['seconds']?.training === 'number' ? run['seconds'].training : null,
      monitor: typeof run['seconds']?.duringTraining === 'number' ? run['seconds'].duringTraining : typeof run['seconds']?.monitor === 'number' ? run['seconds'].monitor : null,
      final: typeof run['seconds']?.final === 'number' ? run['seconds'].final : null,
      perEpoch: measured.map((r) => ({ epoch: r['epoch'], train: typeof r['trainSeconds'] === 'number' ? r['trainSeconds'] : null, monitor: typeof r['monitorSeconds'] === 'number' ? r['monitorSeconds'] : null })),
    },
    skipped,
    errors,
    surfaces,
    layers: layersOf(measured),
    density: densityOf(contents.density ?? null),
    missing,
    truncatedLines: contents.truncatedLines,
  };
}

function layersOf(measured: Rec[]): RunReportData['layers'] {
  const per = measured.map((r) => (ok(r['hessian']) && Array.isArray(r['hessian']['layers']) ? (r['hessian']['layers'] as Rec[]) : null));
  const names: string[] = [];
  for (const ls of per) for (const l of ls ?? []) if (typeof l['layer'] === 'string' && !names.includes(l['layer'])) names.push(l['layer']);
  if (names.length === 0) return null;
  const value = (key: string) => names.map((n) => per.map((ls) => {
    const v = ls?.find((l) => l['layer'] === n)?.[key];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  }));
  return { names, lambdaMax: value('lambdaMax'), trace: value('trace') };
}

function densityOf(raw: Rec | null): RunReportData['density'] {
  if (raw === null || !Array.isArray(raw['x']) || !Array.isArray(raw['density']) || typeof raw['negativeMass'] !== 'number') return null;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return { x: raw['x'], density: raw['density'], negativeMass: raw['negativeMass'], negativeMassStderr: num(raw['negativeMassStderr']), vectors: num(raw['vectors']) ?? 0, steps: num(raw['steps']) ?? 0, n: num(raw['n']), probeSize: num(raw['probeSize']) };
}

function surfacesOf(raw: Rec | null): RunReportData['surfaces'] {
  if (raw === null || typeof raw !== 'object') return null;
  const grid = (g: Rec | null | undefined) => {
    if (!g || !Array.isArray(g['loss']) || !Array.isArray(g['x']) || !Array.isArray(g['y'])) return null;
    const loss = g['loss'] as (number | null)[][];
    return { levels: contourLines(loss, g['x'], g['y'], contourLevels(loss)), loss, x: g['x'] as number[], y: g['y'] as number[] };
  };
  const surface = grid(raw['surface']);
  const pca = grid(raw['pca']);
  let min: [number, number] | null = null;
  if (surface !== null) {
    let best = Infinity;
    surface.loss.forEach((row, i) => row.forEach((v, j) => {
      if (v !== null && v < best) {
        best = v;
        min = [surface.x[i] as number, surface.y[j] as number];
      }
    }));
  }
  const slice = raw['slice'] as Rec | undefined;
  return {
    slice: slice && Array.isArray(slice['x']) ? { x: slice['x'], loss: slice['loss'], accuracy: slice['accuracy'] ?? null } : null,
    contour: surface === null ? null : { levels: surface.levels, min, range: Math.max(...surface.x.map(Math.abs)) },
    pca: pca === null ? null : { levels: pca.levels },
    ratio: raw['ratio'] && Array.isArray((raw['ratio'] as Rec)['ratio']) ? { x: (raw['ratio'] as Rec)['x'], y: (raw['ratio'] as Rec)['y'], ratio: (raw['ratio'] as Rec)['ratio'] } : null,
    probeSize: typeof raw['probeSize'] === 'number' ? raw['probeSize'] : null,
  };
}
