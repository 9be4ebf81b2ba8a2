/** `landscope hessian`: extreme Hessian eigenvalues at a checkpoint, or their ratio over a plane. */
import type { ParamList } from '../../core/param-list.js';
import { hessianEigen, hessianMap, TRACE_METHODS, type TraceMethod } from '../../landscape/hessian.js';
import { PARAM_SELECTIONS, type ParamSelection } from '../../model/hvp.js';
import { modelWeights } from '../../model/model-weights.js';
import { LANDSCOPE_VERSION } from '../../version.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { disposeInputs, loadDirection, loadModelInputs, MODEL_DATA_FLAGS, NORMALIZATION_HELP, normalizationFlags, PLANE_FLAGS } from '../inputs.js';
import { emitJson } from '../output.js';
import { progressReporter } from '../progress.js';

const usage = `landscope hessian --model M --x X.npy --y Y.npy [--params all|kernels] [--top 1] [--bottom 1]
    [--trace] [--trace-method auto|exact|hutchinson] [--trace-samples 100] [--tol 1e-3] [--max-iter 80]
    [--lanczos-seed 0] [--batch-size 256] [--loss NAME] [--out hessian.json]
landscope hessian --model M --x X.npy --y Y.npy --xrange=MIN:MAX:NUM --yrange=MIN:MAX:NUM
    [--dir-x D1] [--dir-y D2] [--seed S] ${NORMALIZATION_HELP} [same options] [--out ratio-map.json]

  Exact Hessian-vector products (double backpropagation with second-order-correct gradients, in
  inference mode, over the whole data set) and Lanczos with full reorthogonalization: the
  algebraic λmax and λmin from one Krylov space, |λmin/λmax|, optional top-k/bottom-k, each with its
  residual ‖Hy − λy‖; pairs are converged when the residual is at most tol·max|λ|. --params kernels
  covers only weights of rank ≥ 2 (the reference code's choice). --trace adds tr(H): exact (n
  products of unit vectors) up to 2,048 parameters with 'auto', else Hutchinson with Rademacher
  probes and its standard error. With --xrange/--yrange: λmax, λmin and |λmin/λmax| at every point
  θ + a·d1 + b·d2 (directions as in 'landscope surface'), [i][j] at (x[i], y[j]).`;

const spec = {
  ...MODEL_DATA_FLAGS,
  ...PLANE_FLAGS,
  params: { type: 'string' },
  top: { type: 'string' },
  bottom: { type: 'string' },
  trace: { type: 'boolean' },
  'trace-method': { type: 'string' },
  'trace-samples': { type: 'string' },
  tol: { type: 'string' },
  'max-iter': { type: 'string' },
  'lanczos-seed': { type: 'string' },
} as const;

function positiveNumber(flags: Flags, name: string, fallback: number): number {
  const text = flags.string(name);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!(text.trim() !== '' && v > 0 && Number.isFinite(v))) throw new UsageError(`--${name}: '${text}' is not a positive number`);
  return v;
}

async function run(argv: readonly string[], io: CliIo, backend: string): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const out = flags.string('out');
  const params = flags.choice<ParamSelection>('params', PARAM_SELECTIONS, 'all');
  const top = flags.integer('top', 1, 1) as number;
  const bottom = flags.integer('bottom', 1, 1) as number;
  const traceMethod = flags.choice<TraceMethod>('trace-method', TRACE_METHODS, 'auto');
  const traceSamples = flags.integer('trace-samples', 100, 1) as number;
  const tol = positiveNumber(flags, 'tol', 1e-3);
  const maxIter = flags.integer('max-iter', 80, 1) as number;
  const lanczosSeed = flags.integer('lanczos-seed', 0, 0, 2 ** 31 - 1) as number;
  const batchSize = flags.integer('batch-size', 256, 1) as number;
  const xRange = flags.range('xrange');
  const yRange = flags.range('yrange');
  if ((xRange === undefined) !== (yRange === undefined)) throw new UsageError('a ratio map needs both --xrange and --yrange');
  const seed = flags.integer('seed', 1, 0, 2 ** 31 - 2) as number;
  const normalization = normalizationFlags(flags);

  const inputs = await loadModelInputs(flags);
  const { model, data } = inputs;
  const owned: ParamList[] = [];
  try {
    const covered = modelWeights(model).filter((w) => w.trainable && (params === 'all' || w.variable.rank >= 2));
    const n = covered.reduce((s, w) => s + w.variable.size, 0);
    for (const [name, k] of [['top', top], ['bottom', bottom]] as const) {
      if (n > 0 && k > n) throw new UsageError(`--${name}: ${k} is larger than the parameter count ${n} (--params ${params})`);
    }
    const options = { params, top, bottom, tol, maxIter, seed: lanczosSeed, batchSize, loss: inputs.lossOption, trace: flags.boolean('trace'), traceMethod, traceSamples };
    const common = { model: inputs.modelPath, data: { x: inputs.xPath, y: inputs.yPath, size: data.x.shape[0] }, loss: inputs.loss.label, backend, landscopeVersion: LANDSCOPE_VERSION, createdAt: new Date().toISOString() };
    if (xRange === undefined || yRange === undefined) {
      const h = await hessianEigen(model, data, options);
      const trace = h.trace === undefined ? '' : `, trace ${h.trace.value.toPrecision(6)}${h.trace.method === 'hutchinson' ? ` ± ${h.trace.stderr.toPrecision(2)}` : ''} (${h.trace.method})`;
      await emitJson(io, out, { ...h, meta: { ...common, kind: 'hessian', options: { ...options, loss: inputs.lossOption ?? null } } }, (where) => `hessian: λmax ${h.lambdaMax.toPrecision(6)}, λmin ${h.lambdaMin.toPrecision(6)}, |λmin/λmax| ${h.ratio?.toPrecision(4) ?? 'n/a'}${trace}; n ${h.n}, ${h.hvps} HVPs, ${h.seconds.toFixed(2)} s on ${backend} -> ${where}`);
      if (!h.converged) {
        io.stderr(`landscope hessian: warning: Lanczos did NOT converge within --max-iter ${maxIter}: largest residual ${Math.max(...h.residuals.top, ...h.residuals.bottom).toPrecision(3)} > tol·max|λ| = ${(tol * Math.max(Math.abs(h.lambdaMax), Math.abs(h.lambdaMin))).toPrecision(3)}; the output says converged: false\n`);
      }
      return ExitCode.Ok;
    }
    const dirX = await loadDirection(model, flags.string('dir-x'), seed, '--dir-x', normalization);
    owned.push(dirX.direction);
    const dirY = await loadDirection(model, flags.string('dir-y'), seed + 1, '--dir-y', normalization);
    owned.push(dirY.direction);
    const map = await hessianMap(model, data, {
      ...options,
      trace: false,
      directions: [dirX.direction, dirY.direction],
      xRange,
      yRange,
      onProgress: progressReporter('hessian map', io.stderr, io.isTTY),
    });
    const notConverged = map.converged.flat().filter((c) => c === 0).length;
    await emitJson(io, out, { ...map, meta: { ...common, kind: 'hessian-map', directions: { x: dirX.source, y: dirY.source }, norm: normalization.norm, ignore: normalization.ignore, options: { ...options, loss: inputs.lossOption ?? null }, notConverged } }, (where) => `hessian map: ${map.x.length}x${map.y.length} points, ${map.hvps} HVPs, ${map.seconds.toFixed(2)} s on ${backend} -> ${where}`);
    if (notConverged > 0) io.stderr(`landscope hessian: warning: Lanczos did NOT converge at ${notConverged} points (see 'converged' and 'residual' in the output)\n`);
    return ExitCode.Ok;
  } finally {
    for (const d of owned) d.dispose();
    disposeInputs(inputs);
  }
}

/** The `hessian` command. */
export const hessianCommand: Command = { name: 'hessian', summary: 'Hessian λmax, λmin, |λmin/λmax| and trace at a checkpoint, or the ratio map over a plane', usage, run };
