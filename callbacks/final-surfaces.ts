/**
 * The paper's figures at the end of training, on the probe set: a 1-D filter-normalized slice
 * (loss and accuracy), a 2-D filter-normalized surface, and the loss over the plane of the
 * trajectory's first two principal directions around the final weights, where the trajectory is
 * drawn (Li et al. 2018, figures 1, 5 and 9). Written to `surfaces.json` in the run folder.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { linspace } from '../src/core/grid.js';
import { ParamList } from '../src/core/param-list.js';
import { randomDirection } from '../src/core/random-direction.js';
import { subSeed } from '../src/core/sub-seed.js';
import { toNested } from '../src/core/sample-grid.js';
import { trajectoryPca } from '../src/core/trajectory-pca.js';
import type { RunFolder } from '../src/io/run-folder.js';
import { writeAtomic } from '../src/io/write-atomic.js';
import { normalizeForModel } from '../src/landscape/directions.js';
import { hessianMap } from '../src/landscape/hessian.js';
import { sampleAround } from '../src/landscape/sample-around.js';
import { ModelEvaluator } from '../src/model/evaluator.js';
import { resolveLoss } from '../src/model/model-loss.js';
import { modelLayout, modelWeights } from '../src/model/model-weights.js';
import type { MeasureContext } from './measurement.js';
import type { TrajectoryState } from './trajectory-callback.js';

/** Settings of the end-of-training surfaces. */
export interface FinalSurfaceSettings {
  /** Points per axis of the 2-D grids. @default 21 */
  readonly resolution?: number;
  /** Points of the 1-D slice. @default 41 */
  readonly sliceResolution?: number;
  /** The filter-normalized grids span [−range, range]. @default 1 */
  readonly range?: number;
  /** Also the loss over the trajectory's PCA plane (needs the trajectory). @default true */
  readonly pca?: boolean;
  /**
   * Also λmax, λmin and |λmin/λmax| over the 2-D plane (Lanczos at every point: costly), at this
   * resolution per axis; 0 for none. @default 0
   */
  readonly ratioMap?: number;
}

/** Checks the settings. @throws {RangeError} naming the bad one */
export function checkFinalSurfaceSettings(s: FinalSurfaceSettings, what: string): void {
  for (const [name, v, min] of [['resolution', s.resolution ?? 21, 3], ['sliceResolution', s.sliceResolution ?? 41, 3]] as const) {
    if (!(Number.isInteger(v) && v >= min && v <= 501)) throw new RangeError(`${what}: ${name} = ${v} is not an integer from ${min} to 501`);
  }
  if (!((s.range ?? 1) > 0)) throw new RangeError(`${what}: range = ${s.range} is not positive`);
  const ratio = s.ratioMap ?? 0;
  if (!(Number.isInteger(ratio) && (ratio === 0 || (ratio >= 2 && ratio <= 101)))) throw new RangeError(`${what}: ratioMap = ${ratio} is not 0 or an integer from 2 to 101`);
}

/** Forward passes a point of the |λmin/λmax| map costs, roughly (Lanczos HVPs of ~2.5 passes each). */
const RATIO_POINT_PASSES = 60;

/** The resolutions asked for and those used to fit a time limit. */
export interface SurfaceResolution {
  readonly resolution: number;
  readonly sliceResolution: number;
  readonly ratioMap: number;
}

/**
 * The largest resolutions (odd point counts, so the center is a grid point; at least 5) whose
 * estimated cost fits `limitSeconds`, given the cost of one evaluation on the probe.
 * @returns the resolutions to use and their estimated seconds
 */
export function fitResolution(asked: SurfaceResolution, pca: boolean, secondsPerPoint: number, limitSeconds: number): { used: SurfaceResolution; estimatedSeconds: number } {
  const cost = (r: SurfaceResolution) => secondsPerPoint * (r.sliceResolution + r.resolution ** 2 * (pca ? 2 : 1) + r.ratioMap ** 2 * RATIO_POINT_PASSES);
  const full = cost(asked);
  if (!(full > limitSeconds)) return { used: asked, estimatedSeconds: full };
  const odd = (n: number, min: number, max: number) => Math.min(max, Math.max(min, 2 * Math.floor((Math.floor(n) - 1) / 2) + 1));
  let scale = limitSeconds > 0 ? Math.sqrt(limitSeconds / full) : 0;
  let used = asked;
  for (let k = 0; k < 40; k++) {
    used = {
      resolution: odd(asked.resolution * scale, Math.min(5, asked.resolution), asked.resolution),
      sliceResolution: odd(asked.sliceResolution * scale, Math.min(5, asked.sliceResolution), asked.sliceResolution),
      ratioMap: asked.ratioMap === 0 ? 0 : Math.max(2, Math.min(asked.ratioMap, Math.floor(asked.ratioMap * scale))),
    };
    if (cost(used) <= limitSeconds) break;
    scale *= 0.9;
  }
  return { used, estimatedSeconds: cost(used) };
}

/**
 * Computes the end-of-training surfaces and writes `surfaces.json`.
 * @param log progress lines (e.g. to stderr)
 * @param trajectory the running PCA's state, for the PCA plane (null: no PCA plane)
 * @param limitSeconds how long they may take: the resolutions are lowered to fit (and the file
 * and the report say so); Infinity for no limit
 * @returns null when written; why not, when even the smallest grids would not fit
 */
export async function writeFinalSurfaces(
  context: MeasureContext,
  settings: FinalSurfaceSettings,
  log: (line: string) => void,
  trajectory: TrajectoryState | null = null,
  limitSeconds = Infinity,
): Promise<{ skipped: 'finalBudget'; estimatedSeconds: number; limitSeconds: number } | null> {
  const run = context.run as RunFolder;
  const { model } = context;
  const started = performance.now();
  const range = settings.range ?? 1;
  const loss = resolveLoss(model, context.loss);
  const evaluator = new ModelEvaluator(model, context.probe, { loss: loss.fn, lossName: loss.name, batchSize: context.batchSize });
  const layout = modelLayout(model);
  const seeds = [subSeed(context.seed, 500), subSeed(context.seed, 501)];
  const directions = seeds.map((seed) => {
    const raw = randomDirection(layout, seed);
    const d = normalizeForModel(model, raw, { norm: 'filter', ignore: 'biasbn' });
    raw.dispose();
    return d;
  });
  const pcaPlane = settings.pca === false || trajectory === null ? null : await pcaDirections(model, run, trajectory);
  const asked: SurfaceResolution = { resolution: settings.resolution ?? 21, sliceResolution: settings.sliceResolution ?? 41, ratioMap: settings.ratioMap ?? 0 };
  // One point's cost: the faster of two evaluations at the final weights (the first warms up).
  let secondsPerPoint = Infinity;
  for (let k = 0; k < 2; k++) {
    const t0 = performance.now();
    await evaluator.evaluate();
    secondsPerPoint = Math.min(secondsPerPoint, (performance.now() - t0) / 1000);
  }
  const left = limitSeconds - (performance.now() - started) / 1000;
  // Sized for 90% of what is left: the per-point estimate leaves out the weight moves between points
  // (seen: 3.3 s spent against a 3.0 s limit without the margin).
  const { used, estimatedSeconds } = fitResolution(asked, pcaPlane !== null, secondsPerPoint, 0.9 * left);
  if (estimatedSeconds > left) {
    // Even the smallest grids would overrun the limit: nothing is computed, and that is said.
    log(`final surfaces: skipped: about ${estimatedSeconds.toFixed(1)} s even at ${used.resolution}×${used.resolution}, over the end-of-training limit of ${Math.max(0, left).toFixed(1)} s (finalBudget)`);
    for (const d of directions) d.dispose();
    for (const d of pcaPlane?.directions ?? []) d.dispose();
    evaluator.dispose();
    return { skipped: 'finalBudget', estimatedSeconds, limitSeconds: Math.max(0, left) };
  }
  const lowered = used.resolution !== asked.resolution || used.sliceResolution !== asked.sliceResolution || used.ratioMap !== asked.ratioMap;
  const n2 = used.resolution;
  const n1 = used.sliceResolution;
  const nr = used.ratioMap;
  const total = n1 + n2 * n2 + (pcaPlane === null ? 0 : n2 * n2) + nr * nr;
  log(
    `final surfaces: ${total} points, about ${estimatedSeconds.toFixed(1)} s${Number.isFinite(limitSeconds) ? ` (limit ${Math.max(0, left).toFixed(1)} s)` : ''}` +
      (lowered ? `; resolution lowered to fit: ${asked.resolution}×${asked.resolution} → ${n2}×${n2}, slice ${asked.sliceResolution} → ${n1}${asked.ratioMap > 0 ? `, ratio map ${asked.ratioMap} → ${nr}` : ''}` : ''),
  );
  let done = 0;
  let lastDecile = -1;
  const progress = () => {
    done++;
    const decile = Math.floor((10 * done) / total);
    if (decile > lastDecile) {
      lastDecile = decile;
      log(`final surfaces: ${done}/${total} points`);
    }
  };
  const evaluate = async () => ({ ...(await evaluator.evaluate()) });
  try {
    const axis = linspace({ min: -range, max: range, num: n1 });
    const slice = await sampleAround(model, [directions[0] as ParamList], [axis], evaluate, progress);
    const grid = linspace({ min: -range, max: range, num: n2 });
    const surface = await sampleAround(model, directions, [grid, grid], evaluate, progress);
    let pca: Record<string, unknown> | null = null;
    if (pcaPlane !== null) {
      const extent = Math.max(1e-6, ...pcaPlane.coords.x.map(Math.abs), ...pcaPlane.coords.y.map(Math.abs)) * 1.25;
      const gx = linspace({ min: -extent, max: extent, num: n2 });
      const values = await sampleAround(model, pcaPlane.directions, [gx, gx], evaluate, progress);
      pca = {
        x: gx,
        y: gx,
        loss: toNested(values.values['loss'] as Float64Array, values.shape),
        accuracy: evaluator.accuracyKind === 'none' ? null : toNested(values.values['accuracy'] as Float64Array, values.shape),
        explainedVarianceRatio: pcaPlane.explainedVarianceRatio,
        coords: pcaPlane.coords,
        epochs: pcaPlane.epochs,
      };
      for (const d of pcaPlane.directions) d.dispose();
    }
    let ratio: Record<string, unknown> | null = null;
    if (nr > 0) {
      const map = await hessianMap(model, context.probe, {
        directions: [directions[0] as ParamList, directions[1] as ParamList],
        xRange: { min: -range, max: range, num: nr },
        yRange: { min: -range, max: range, num: nr },
        batchSize: context.batchSize,
        ...(context.loss !== undefined ? { loss: context.loss } : {}),
        onProgress: progress,
      });
      ratio = { x: map.x, y: map.y, ratio: map.ratio, lambdaMax: map.lambdaMax, lambdaMin: map.lambdaMin, converged: map.converged, hvps: map.hvps };
    }
    const accuracy = (v: Record<string, Float64Array>, shape: readonly number[]) => (evaluator.accuracyKind === 'none' ? null : toNested(v['accuracy'] as Float64Array, shape));
    await writeAtomic(
      join(run.dir, 'surfaces.json'),
      JSON.stringify({
        schemaVersion: 1,
        probeSize: evaluator.size,
        norm: 'filter',
        ignore: 'biasbn',
        seeds,
        slice: { x: axis, loss: toNested(slice.values['loss'] as Float64Array, slice.shape), accuracy: accuracy(slice.values, slice.shape) },
        surface: { x: grid, y: grid, loss: toNested(surface.values['loss'] as Float64Array, surface.shape), accuracy: accuracy(surface.values, surface.shape) },
        pca,
        ratio,
        resolution: { requested: asked, used, lowered, limitSeconds: Number.isFinite(limitSeconds) ? limitSeconds : null, estimatedSeconds },
        seconds: (performance.now() - started) / 1000,
      }),
    );
  } finally {
    for (const d of directions) d.dispose();
    evaluator.dispose();
  }
  return null;
}

/**
 * The trajectory's first two principal directions as model-layout parameter lists (zero outside
 * the entries the trajectory covers and on non-trainable weights), from the running PCA's Gram
 * matrix — so `trajectory.ignore` holds and nothing is recomputed — and the snapshots streamed from
 * disk one at a time: pc = Σ_e w_e (θ_e − θ_last) = Σ_e w_e θ_e − (Σ_e w_e) θ_last, in float64.
 */
async function pcaDirections(model: tf.LayersModel, run: RunFolder, trajectory: TrajectoryState) {
  const { gram, labels, mask } = trajectory;
  const m = labels.length;
  if (m < 3) return null;
  const pca = trajectoryPca(gram, m, 2);
  if (pca.weights.length < 2) return null;
  const w = pca.weights.slice(0, 2);
  const last = await run.readSnapshot(labels[m - 1] as string);
  const pcs = w.map(() => new Float64Array(last.length));
  for (let e = 0; e < m; e++) {
    const snap = e === m - 1 ? last : await run.readSnapshot(labels[e] as string);
    w.forEach((we, c) => {
      const k = we[e] as number;
      const pc = pcs[c] as Float64Array;
      if (k !== 0) for (let i = 0; i < pc.length; i++) pc[i] = (pc[i] as number) + k * (snap[i] as number);
    });
  }
  w.forEach((we, c) => {
    const total = we.reduce((a, b) => a + b, 0);
    const pc = pcs[c] as Float64Array;
    for (let i = 0; i < pc.length; i++) pc[i] = mask !== undefined && mask[i] === 0 ? 0 : (pc[i] as number) - total * (last[i] as number);
  });
  const weights = modelWeights(model);
  const directions = pcs.map((pc) => {
    let offset = 0;
    return new ParamList(
      weights.map((mw) => {
        if (!mw.trainable) return { name: mw.name, tensor: tf.zeros(mw.variable.shape) };
        const size = mw.variable.size;
        const tensor = tf.tensor(Float32Array.from(pc.subarray(offset, offset + size)), mw.variable.shape);
        offset += size;
        return { name: mw.name, tensor };
      }),
    );
  });
  return {
    directions,
    explainedVarianceRatio: pca.explainedVarianceRatio.slice(0, 5),
    coords: { x: pca.coords[0] as number[], y: pca.coords[1] as number[] },
    epochs: [...trajectory.epochs],
  };
}
