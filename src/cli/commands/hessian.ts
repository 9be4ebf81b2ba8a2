/** `landscope hessian`: extreme Hessian eigenvalues at a checkpoint, or their ratio over a plane. */
import { eigenOf, TRACE_METHODS, type HessianResult, type TraceMethod } from '../../landscape/hessian.js';
import { hessianDensity, type HessianDensity } from '../../landscape/hessian-density.js';
import { layerCurvature, type LayerCurvature } from '../../landscape/layer-curvature.js';
import type * as tf from '@tensorflow/tfjs';
import { edgeOfStability } from '../../landscape/edge-of-stability.js';
import { hvp, PARAM_SELECTIONS, type HvpOperator, type ParamSelection } from '../../model/hvp.js';
import { optimizerSnapshot } from '../../model/optimizer-state.js';
import { modelWeights } from '../../model/model-weights.js';
import { LANDSCOPE_VERSION } from '../../version.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { disposeInputs, loadModelInputs, MODEL_DATA_FLAGS, NORMALIZATION_HELP, normalizationFlags, PLANE_FLAGS } from '../inputs.js';
import { directionSource, finishGrid, GRID_FLAGS, gridColumn, jobComponents, runGrid } from '../grid-runner.js';
import { openHessianJob, type HessianJobSpec } from '../surface-job.js';
import { emitJson } from '../output.js';

const usage = `landscope hessian --model M --x X.npy --y Y.npy [--params all|kernels] [--top 1] [--bottom 1]
    [--trace] [--trace-method auto|exact|hutchinson] [--trace-samples 100] [--tol 1e-3] [--max-iter 80]
    [--lanczos-seed 0] [--density [--density-vectors 2] [--density-steps 40]] [--per-layer [--per-layer-samples 10]]
    [--stability]
    [--batch-size 256] [--loss NAME] [--out hessian.json]
landscope hessian --model M --x X.npy --y Y.npy --xrange=MIN:MAX:NUM --yrange=MIN:MAX:NUM
    [--dir-x D1] [--dir-y D2] [--seed S] ${NORMALIZATION_HELP} [same options] [--out ratio-map.json]
    [--workers N] [--shard i/n | --shard env [--shard-count n]]   (as for 'landscope surface': resumable, shardable)

  Exact Hessian-vector products (double backpropagation with second-order-correct gradients, in
  inference mode, over the whole data set) and Lanczos with full reorthogonalization: the
  algebraic λmax and λmin from one Krylov space, |λmin/λmax|, optional top-k/bottom-k, each with its
  residual ‖Hy − λy‖; pairs are converged when the residual is at most tol·max|λ|. --params kernels
  covers only weights of rank ≥ 2 (the reference code's choice). --trace adds tr(H): exact (n
  products of unit vectors) up to 2,048 parameters with 'auto', else Hutchinson with Rademacher
  probes and its standard error. With --xrange/--yrange: λmax, λmin and |λmin/λmax| at every point
  θ + a·d1 + b·d2 (directions as in 'landscope surface'), [i][j] at (x[i], y[j]). --density adds the
  eigenvalue spectral density by stochastic Lanczos quadrature (Ghorbani et al. 2019): --density-steps
  Lanczos steps from each of --density-vectors seeded Rademacher vectors (vectors × steps products);
  output 'density': { x, density (smoothed, ∫ = 1), negativeMass ± negativeMassStderr (the share of
  eigenvalues below 0), range, rules (nodes and weights) }. --per-layer adds 'layers': per layer (its
  kernel and bias together) λmax of its diagonal Hessian block by Lanczos and the block's trace by
  Hutchinson with --per-layer-samples probes, with its standard error. --stability adds the edge of
  stability of the optimizer saved with the checkpoint (TF.js saves it only with model.save(…,
  { includeOptimizer: true })): for SGD and momentum λmax·η/2 and λmax against 2/η ((2 + 2β)/η;
  Nesterov (2 + 2β)/(η(1 + 2β))); for Adam and RMSprop λmax(P⁻¹H) with its second moments.`;

const spec = {
  ...MODEL_DATA_FLAGS,
  ...PLANE_FLAGS,
  ...GRID_FLAGS,
  params: { type: 'string' },
  top: { type: 'string' },
  bottom: { type: 'string' },
  trace: { type: 'boolean' },
  'trace-method': { type: 'string' },
  'trace-samples': { type: 'string' },
  tol: { type: 'string' },
  'max-iter': { type: 'string' },
  'lanczos-seed': { type: 'string' },
  density: { type: 'boolean' },
  'density-vectors': { type: 'string' },
  'density-steps': { type: 'string' },
  'per-layer': { type: 'boolean' },
  'per-layer-samples': { type: 'string' },
  stability: { type: 'boolean' },
} as const;


async function run(argv: readonly string[], io: CliIo, backend: string): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  flags.noPositionals();
  const out = flags.gridOut(io.cwd);
  const params = flags.choice<ParamSelection>('params', PARAM_SELECTIONS, 'all');
  const top = flags.integer('top', 1, 1) as number;
  const bottom = flags.integer('bottom', 1, 1) as number;
  const traceMethod = flags.choice<TraceMethod>('trace-method', TRACE_METHODS, 'auto');
  const traceSamples = flags.integer('trace-samples', 100, 1) as number;
  const tol = flags.positiveNumber('tol', 1e-3);
  const maxIter = flags.integer('max-iter', 80, 1) as number;
  const lanczosSeed = flags.integer('lanczos-seed', 0, 0, 2 ** 31 - 1) as number;
  const batchSize = flags.integer('batch-size', 256, 1) as number;
  const xRange = flags.range('xrange');
  const yRange = flags.range('yrange');
  if ((xRange === undefined) !== (yRange === undefined)) throw new UsageError('a ratio map needs both --xrange and --yrange');
  flags.checkGrid('xrange', 'yrange');
  const seed = flags.integer('seed', 1, 0, 2 ** 31 - 2) as number;
  const normalization = normalizationFlags(flags);
  const density = flags.boolean('density');
  const densityVectors = flags.integer('density-vectors', 2, 1, 99) as number;
  const densitySteps = flags.integer('density-steps', 40, 2, 1000) as number;
  if (!density) for (const name of ['density-vectors', 'density-steps']) if (flags.string(name) !== undefined) throw new UsageError(`--${name} goes with --density`);
  if (density && xRange !== undefined) throw new UsageError('--density is computed at the checkpoint, not over a ratio map: drop --xrange/--yrange or --density');
  const perLayer = flags.boolean('per-layer');
  const perLayerSamples = flags.integer('per-layer-samples', 10, 2) as number;
  if (!perLayer && flags.string('per-layer-samples') !== undefined) throw new UsageError('--per-layer-samples goes with --per-layer');
  if (perLayer && xRange !== undefined) throw new UsageError('--per-layer is computed at the checkpoint, not over a ratio map: drop --xrange/--yrange or --per-layer');
  const stability = flags.boolean('stability');
  if (stability && params !== 'all') throw new UsageError("--stability needs --params all: the optimizer's threshold is for the Hessian of every trainable weight");
  if (stability && xRange !== undefined) throw new UsageError('--stability is computed at the checkpoint, not over a ratio map: drop --xrange/--yrange or --stability');

  const inputs = await loadModelInputs(flags);
  const { model, data } = inputs;
  let mapJob: { dispose(): void } | undefined;
  try {
    const covered = modelWeights(model).filter((w) => w.trainable && (params === 'all' || w.variable.rank >= 2));
    const n = covered.reduce((s, w) => s + w.variable.size, 0);
    for (const [name, k] of [['top', top], ['bottom', bottom]] as const) {
      if (n > 0 && k > n) throw new UsageError(`--${name}: ${k} is larger than the parameter count ${n} (--params ${params})`);
    }
    const options = { params, top, bottom, tol, maxIter, seed: lanczosSeed, batchSize, loss: inputs.lossOption, trace: flags.boolean('trace'), traceMethod, traceSamples };
    const common = { model: inputs.modelPath, data: { x: inputs.xPath, y: inputs.yPath, size: data.x.shape[0] }, loss: inputs.loss.label, backend, landscopeVersion: LANDSCOPE_VERSION, createdAt: new Date().toISOString() };
    if (xRange === undefined || yRange === undefined) {
      // One operator for every number asked for: its kept primal pass serves them all.
      const H = hvp(model, data, options);
      let h: HessianResult;
      let spectrum: HessianDensity | undefined;
      let layers: LayerCurvature[] | undefined;
      let edge: Record<string, unknown> | undefined;
      try {
        h = await eigenOf(H, options);
        if (density) spectrum = await hessianDensity(H, { vectors: densityVectors, steps: densitySteps, seed: lanczosSeed });
        if (perLayer) layers = (await layerCurvature(H, { seed: lanczosSeed, tol, maxIter, traceSamples: perLayerSamples })).layers;
        if (stability) edge = await checkpointStability(H, model, h.lambdaMax, { tol, maxIter, seed: lanczosSeed }, inputs.modelPath);
      } finally {
        H.dispose();
      }
      const stabilityLine = edge === undefined ? '' : `; ${edge['optimizer']} η ${edge['learningRate']}: threshold ${Number(edge['threshold']).toPrecision(4)}, ${edge['preconditioned'] === true ? `λmax(P⁻¹H) ${Number(edge['lambdaMax']).toPrecision(4)}` : `λmax·η/2 ${Number(edge['maxTimesLr']).toPrecision(4)}`}, ratio ${Number(edge['ratio']).toPrecision(4)}`;
      const layerLine = stabilityLine + (layers === undefined ? '' : `; per layer λmax ${layers.map((l) => `${l.layer} ${l.lambdaMax.toPrecision(3)}`).join(', ')}`);
      const densityLine = layerLine + (spectrum === undefined ? '' : `; density: negative mass ${spectrum.negativeMass.toPrecision(3)}${spectrum.vectors > 1 ? ` ± ${spectrum.negativeMassStderr.toPrecision(2)}` : ''} (${spectrum.hvps} HVPs)`);
      const trace = h.trace === undefined ? '' : `, trace ${h.trace.value.toPrecision(6)}${h.trace.method === 'hutchinson' ? ` ± ${h.trace.stderr.toPrecision(2)}` : ''} (${h.trace.method})`;
      const result = { ...h, ...(spectrum !== undefined ? { density: spectrum } : {}), ...(layers !== undefined ? { layers } : {}), ...(edge !== undefined ? { stability: edge } : {}), meta: { ...common, kind: 'hessian', options: { ...options, loss: inputs.lossOption ?? null, ...(density ? { densityVectors, densitySteps } : {}), ...(perLayer ? { perLayerSamples } : {}) } } };
      await emitJson(io, out, result, (where) => `hessian: λmax ${h.lambdaMax.toPrecision(6)}, λmin ${h.lambdaMin.toPrecision(6)}, |λmin/λmax| ${h.ratio?.toPrecision(4) ?? 'n/a'}${trace}; n ${h.n}, ${h.hvps} HVPs, ${h.seconds.toFixed(2)} s${densityLine} on ${backend} -> ${where}`);
      if (!h.converged) {
        io.stderr(`landscope hessian: warning: Lanczos did NOT converge within --max-iter ${maxIter}: largest residual ${Math.max(...h.residuals.top, ...h.residuals.bottom).toPrecision(3)} > tol·max|λ| = ${(tol * Math.max(Math.abs(h.lambdaMax), Math.abs(h.lambdaMin))).toPrecision(3)}; the output says converged: false\n`);
      }
      return ExitCode.Ok;
    }
    const jobSpec: HessianJobSpec = { modelPath: inputs.modelPath, xPath: inputs.xPath, yPath: inputs.yPath, loss: inputs.lossOption, dirX: flags.string('dir-x'), dirY: flags.string('dir-y'), seed, normalization, xRange, yRange, batchSize, backend, params, top, bottom, tol, maxIter, lanczosSeed };
    const job = await openHessianJob(inputs, jobSpec);
    mapJob = job;
    const sources = { x: directionSource(flags.string('dir-x'), seed), y: directionSource(flags.string('dir-y'), seed + 1) };
    const total = xRange.num * yRange.num;
    const axes = { x: job.axes[0] as number[], y: job.axes[1] as number[] };
    const meta = { ...common, kind: 'hessian-map', directions: sources, norm: normalization.norm, ignore: normalization.ignore, options: { ...options, loss: inputs.lossOption ?? null } };
    const outcome = await runGrid(io, flags, out, {
      label: 'hessian map',
      total,
      axes,
      components: { ...(await jobComponents(inputs, flags, { dirX: sources.x, dirY: sources.y, normalization, xRange, yRange, batchSize, backend })), lanczos: JSON.stringify({ params, top, bottom, tol, maxIter, lanczosSeed }) },
      meta,
      worker: { kind: 'hessian', ...jobSpec },
      inProcess: async (subset) => void (await job.evaluate(subset.indices ?? [], subset.onValue)),
    });
    if (outcome.shard !== undefined) {
      io.stdout(`hessian map: shard ${outcome.shard.index}/${outcome.shard.count}: ${outcome.covered} of ${total} points (${outcome.resumed} resumed) -> ${outcome.partPath}\n`);
      return ExitCode.Ok;
    }
    const shape = [xRange.num, yRange.num];
    const column = (name: string) => gridColumn(outcome.values, shape, name) as (number | null)[][];
    const map = { ...axes, lambdaMax: column('lambdaMax'), lambdaMin: column('lambdaMin'), ratio: column('ratio'), residual: column('residual'), converged: column('converged'), seconds: outcome.seconds };
    const notConverged = map.converged.flat().filter((c) => c === 0).length;
    await emitJson(io, out, { ...map, meta: { ...meta, notConverged, workers: outcome.workers } }, (where) => `hessian map: ${map.x.length}x${map.y.length} points, ${outcome.seconds.toFixed(2)} s${outcome.workers > 1 ? ` on ${outcome.workers} workers` : ''} on ${backend} -> ${where}`);
    await finishGrid(outcome);
    if (notConverged > 0) io.stderr(`landscope hessian: warning: Lanczos did NOT converge at ${notConverged} points (see 'converged' and 'residual' in the output)\n`);
    return ExitCode.Ok;
  } finally {
    mapJob?.dispose();
    disposeInputs(inputs);
  }
}

/**
 * The edge of stability at a checkpoint, from the optimizer its training config (and, saved with
 * `includeOptimizer`, its state) restored.
 * @throws {UsageError} when the checkpoint has no optimizer, an unknown rule, or an adaptive
 * optimizer without its second moments
 */
async function checkpointStability(H: HvpOperator, model: tf.LayersModel, lambdaMax: number, options: { tol: number; maxIter: number; seed: number }, path: string): Promise<Record<string, unknown>> {
  const snapshot = await optimizerSnapshot(model, true);
  if (snapshot === null) throw new UsageError(`--stability: ${path} has no optimizer: TF.js saves it (its training config and state) only with model.save(…, { includeOptimizer: true })`);
  const r = await edgeOfStability(H, snapshot, lambdaMax, options);
  if (r === null) throw new UsageError(`--stability: no stability threshold is known for the ${snapshot.state.name} optimizer; known: SGD, Momentum (Nesterov), Adam, RMSprop`);
  for (const v of r.vectors) v.dispose();
  if (typeof r.record['skipped'] === 'string') {
    throw new UsageError(`--stability: ${path} carries no ${snapshot.state.name} second moments (${r.record['skipped']}): save the checkpoint with model.save(…, { includeOptimizer: true })`);
  }
  return { ...r.record, ...r.logs };
}

/** The `hessian` command. */
export const hessianCommand: Command = { name: 'hessian', summary: 'Hessian λmax, λmin, |λmin/λmax| and trace at a checkpoint, or the ratio map over a plane', usage, run };
