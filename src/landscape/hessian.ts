/**
 * The Hessian of a model's loss at its weights: λmax, λmin and |λmin/λmax| (with optional top-k
 * and bottom-k) by Lanczos on exact Hessian-vector products, the trace (exact or Hutchinson), and
 * the |λmin/λmax| map over a 2-D filter-normalized plane (Li et al. 2018, section 6, "the
 * eigenvalue ratio heatmap"; reference code plot_hessian_eigen.py).
 */
import * as tf from '@tensorflow/tfjs';
import { linspace, type AxisRange } from '../core/grid.js';
import { hutchinsonTrace, type TraceEstimate } from '../core/hutchinson.js';
import { flatParams, flatTensorSpace } from '../core/flat-params.js';
import { lanczos, type RitzPair } from '../core/lanczos.js';
import { ParamList } from '../core/param-list.js';
import { rademacherDirection, randomDirection } from '../core/random-direction.js';
import { toNested } from '../core/sample-grid.js';
import { paramListSpace } from '../core/vector-space.js';
import { hvp, type HvpOperator, type HvpOptions } from '../model/hvp.js';
import type { Dataset } from '../model/prepare-data.js';
import { sampleAround } from './sample-around.js';

/** How the trace is computed. */
export type TraceMethod = 'auto' | 'exact' | 'hutchinson';
/** The accepted TraceMethod values. */
export const TRACE_METHODS: readonly TraceMethod[] = ['auto', 'exact', 'hutchinson'];
/** `auto` computes the trace exactly (n products of unit vectors) up to this many parameters. */
export const EXACT_TRACE_LIMIT = 2048;

/** Options of `hessianEigen`. */
export interface HessianOptions extends HvpOptions {
  /** How many of the largest eigenvalues. @default 1 */
  readonly top?: number;
  /**
   * How many of the smallest eigenvalues; 0 converges the top alone (fewer products when only λmax
   * is wanted: λmin is then NaN and the ratio null). @default 1
   */
  readonly bottom?: number;
  /** Lanczos residual tolerance, relative to max|λ|. @default 1e-3 */
  readonly tol?: number;
  /** The most Hessian-vector products Lanczos may use. @default 80 */
  readonly maxIter?: number;
  /** Seed of the Lanczos start vector (and of Hutchinson's probes). @default 0 */
  readonly seed?: number;
  /**
   * Vectors to start from (e.g. last epoch's eigenvectors, in the operator's layout): the start
   * mixes their normalized sum with the seeded random vector at equal weight, and Lanczos runs at
   * least `WARM_MIN_KRYLOV` products (see `lanczos`), so a swapped top pair is not missed.
   */
  readonly warmStart?: readonly ParamList[];
  /** Also return the eigenvectors of the top and bottom pairs. @default false */
  readonly vectors?: boolean;
  /** Compute the trace. @default false */
  readonly trace?: boolean;
  /** `exact`: Σ eᵢᵀHeᵢ (n products); `hutchinson`: Rademacher probes; `auto`: exact up to 2,048 parameters. @default 'auto' */
  readonly traceMethod?: TraceMethod;
  /** Hutchinson probes. @default 100 */
  readonly traceSamples?: number;
  /**
   * Also split the data into this many contiguous shards and return, for the top and the bottom
   * eigenvector, its Rayleigh quotient on each shard (`shards` of the result): the eigenvalue as
   * each part of the data sees it, which the CI gate compares shard by shard (paired) to tell a
   * real change from the noise of the probe. Two products more. @default 0 (none)
   */
  readonly shards?: number;
}

/** The Hessian's extreme eigenvalues and how they were obtained. */
export interface HessianResult {
  readonly params: 'all' | 'kernels';
  /** The number of parameters covered. */
  readonly n: number;
  readonly lambdaMax: number;
  /** NaN with `bottom: 0`. */
  readonly lambdaMin: number;
  /** |λmin / λmax|, null when λmax = 0. */
  readonly ratio: number | null;
  /** Largest eigenvalues, descending. */
  readonly top: number[];
  /** Smallest eigenvalues, ascending. */
  readonly bottom: number[];
  /** ‖H y − λ y‖ of each reported pair. */
  readonly residuals: { readonly top: number[]; readonly bottom: number[] };
  /** Whether every requested pair met the tolerance. */
  readonly converged: boolean;
  /** Hessian-vector products used by Lanczos. */
  readonly hvps: number;
  readonly tol: number;
  readonly trace?: { readonly value: number; readonly stderr: number; readonly method: 'exact' | 'hutchinson'; readonly samples: number; readonly hvps: number };
  /**
   * With `shards`: vᵀ H_s v of the top (λmax) and bottom (λmin) eigenvector on each of `count`
   * contiguous shards of the data; their mean over equal shards is the Rayleigh quotient vᵀ H v.
   */
  readonly shards?: { readonly count: number; readonly top: number[]; readonly bottom: number[] };
  /** Eigenvectors when asked for (the caller owns them). */
  readonly vectors?: { readonly top: ParamList[]; readonly bottom: ParamList[] };
  readonly seconds: number;
}

/**
 * Extreme Hessian eigenvalues (and optionally the trace) of a model's loss at its weights.
 * @param model the model (compiled, or pass `loss`)
 * @param data the dataset the loss is averaged over
 * @param options which parameters, how many pairs, tolerance, start, trace
 * @throws {RangeError} for `top`/`bottom` larger than the parameter count and other bad options
 * @throws {LandscopeError} `UNSUPPORTED_MODEL` for models whose second derivatives landscope cannot compute
 * @example const h = await hessianEigen(model, data, { top: 5, bottom: 5, trace: true });
 */
export async function hessianEigen(model: tf.LayersModel, data: Dataset, options: HessianOptions = {}): Promise<HessianResult> {
  const H = hvp(model, data, options);
  try {
    return await eigenOf(H, options);
  } finally {
    H.dispose();
  }
}

/** Lanczos (and trace) on an operator built by `hvp`. */
export async function eigenOf(H: HvpOperator, options: HessianOptions): Promise<HessianResult> {
  const started = performance.now();
  const top = options.top ?? 1;
  const bottom = options.bottom ?? 1;
  const tol = options.tol ?? 1e-3;
  const seed = options.seed ?? 0;
  for (const [name, k, least] of [['top', top, 1], ['bottom', bottom, 0]] as const) {
    if (!(Number.isInteger(k) && k >= least && k <= H.size)) {
      throw new RangeError(`hessian: ${name} = ${k} is not an integer from ${least} to the parameter count ${H.size}`);
    }
  }
  const shards = options.shards ?? 0;
  if (!(Number.isInteger(shards) && shards >= 0)) throw new RangeError(`hessian: shards = ${shards} is not a non-negative integer`);
  const layout = { names: H.names, shapes: H.shapes };
  // Lanczos on flat vectors: its reorthogonalization costs one or two operations per basis vector, not two per layer.
  const flat = flatParams(layout);
  const start = tf.tidy(() => {
    const list = randomDirection(layout, seed);
    const vector = flat.flatten(list);
    list.dispose();
    return vector;
  });
  const warm = options.warmStart?.map((w) => flat.flatten(w));
  let flatResult;
  try {
    flatResult = await lanczos(flat.operator(H), H.size, {
      space: flatTensorSpace,
      start,
      top,
      bottom,
      tol,
      maxIter: options.maxIter ?? 80,
      vectors: options.vectors === true || shards > 0,
      ...(warm !== undefined ? { warmStart: warm } : {}),
    });
  } finally {
    tf.dispose([start, ...(warm ?? [])]);
  }
  const asList = (p: RitzPair<tf.Tensor1D>): RitzPair<ParamList> => {
    if (p.vector === undefined) return { value: p.value, residual: p.residual };
    const vector = flat.unflatten(p.vector);
    p.vector.dispose();
    return { value: p.value, residual: p.residual, vector };
  };
  const result = { ...flatResult, top: flatResult.top.map(asList), bottom: flatResult.bottom.map(asList) };
  const lambdaMax = result.top[0]?.value as number;
  const lambdaMin = result.bottom[0]?.value ?? NaN;
  const topVector = result.top[0]?.vector as ParamList | undefined;
  const bottomVector = result.bottom[0]?.vector as ParamList | undefined;
  let byShard: HessianResult['shards'];
  try {
    byShard = shards > 0 ? { count: shards, top: await H.shardQuadratics(topVector as ParamList, shards), bottom: bottomVector === undefined ? [] : await H.shardQuadratics(bottomVector, shards) } : undefined;
  } finally {
    if (options.vectors !== true) for (const p of [...result.top, ...result.bottom]) p.vector?.dispose();
  }
  const trace = options.trace === true ? await traceOf(H, options, seed) : undefined;
  return {
    params: options.params ?? 'all',
    n: H.size,
    lambdaMax,
    lambdaMin,
    ratio: lambdaMax === 0 || Number.isNaN(lambdaMin) ? null : Math.abs(lambdaMin / lambdaMax),
    top: result.top.map((p) => p.value),
    bottom: result.bottom.map((p) => p.value),
    residuals: { top: result.top.map((p) => p.residual), bottom: result.bottom.map((p) => p.residual) },
    converged: result.converged,
    hvps: result.hvps,
    tol,
    ...(trace !== undefined ? { trace } : {}),
    ...(byShard !== undefined ? { shards: byShard } : {}),
    ...(options.vectors === true
      ? { vectors: { top: result.top.map((p) => p.vector as ParamList), bottom: result.bottom.map((p) => p.vector as ParamList) } }
      : {}),
    seconds: (performance.now() - started) / 1000,
  };
}

async function traceOf(H: HvpOperator, options: HessianOptions, seed: number): Promise<NonNullable<HessianResult['trace']>> {
  const method = options.traceMethod ?? 'auto';
  if (!TRACE_METHODS.includes(method)) throw new RangeError(`hessian: traceMethod '${method}' is not one of ${TRACE_METHODS.join(', ')}`);
  const exact = method === 'exact' || (method === 'auto' && H.size <= EXACT_TRACE_LIMIT);
  const before = H.count();
  let estimate: TraceEstimate;
  if (exact) {
    let sum = 0;
    for (let t = 0; t < H.shapes.length; t++) {
      const size = (H.shapes[t] as number[]).reduce((a, b) => a * b, 1);
      for (let k = 0; k < size; k++) {
        // The unit vector e_k of tensor t (zeros elsewhere), built and read inside tidies.
        const e = new ParamList(
          H.names.map((name, i) => {
            const shape = [...(H.shapes[i] as number[])];
            const tensor = tf.tidy(() => (i === t ? tf.oneHot([k], size).reshape(shape).toFloat() : tf.zeros(shape)));
            return { name, tensor };
          }),
        );
        const he = await H(e);
        const entry = tf.tidy(() => (he.tensors[t] as tf.Tensor).reshape([-1]).slice(k, 1));
        sum += (await entry.data())[0] as number;
        tf.dispose(entry);
        e.dispose();
        he.dispose();
      }
    }
    estimate = { trace: sum, stderr: 0, samples: H.size, values: [] };
  } else {
    estimate = await hutchinsonTrace(H, {
      space: paramListSpace,
      probe: (k) => rademacherDirection({ names: H.names, shapes: H.shapes }, (seed + 1 + k) % 2147483647),
      samples: options.traceSamples ?? 100,
    });
  }
  return { value: estimate.trace, stderr: estimate.stderr, method: exact ? 'exact' : 'hutchinson', samples: estimate.samples, hvps: H.count() - before };
}

/** A ratio map's values at one point: λmax, λmin, |λmin/λmax|, the largest residual, converged (1) or not (0). */
export function hessianPoint(r: HessianResult): { lambdaMax: number; lambdaMin: number; ratio: number | null; residual: number; converged: number } {
  return { lambdaMax: r.lambdaMax, lambdaMin: r.lambdaMin, ratio: r.ratio, residual: Math.max(...r.residuals.top, ...r.residuals.bottom), converged: r.converged ? 1 : 0 };
}

/** Options of `hessianMap`. */
export interface HessianMapOptions extends HessianOptions {
  /** Two directions in the model's layout (e.g. filter-normalized). */
  readonly directions: readonly [ParamList, ParamList];
  readonly xRange: AxisRange;
  readonly yRange: AxisRange;
  readonly onProgress?: (done: number, total: number) => void;
}

/** λmax, λmin and |λmin/λmax| over a plane; `[i][j]` at `(x[i], y[j])`. */
export interface HessianMapResult {
  readonly x: number[];
  readonly y: number[];
  readonly lambdaMax: (number | null)[][];
  readonly lambdaMin: (number | null)[][];
  readonly ratio: (number | null)[][];
  /** The largest Lanczos residual at each point, and whether it converged (1) or not (0). */
  readonly residual: (number | null)[][];
  readonly converged: (number | null)[][];
  readonly hvps: number;
  readonly seconds: number;
}

/**
 * The eigenvalue-ratio map: λmax, λmin and |λmin/λmax| at every point `θ + a·d1 + b·d2` of a grid.
 * The model's weights are restored afterwards.
 * @throws {RangeError} for bad options or directions that do not fit the model
 */
export async function hessianMap(model: tf.LayersModel, data: Dataset, options: HessianMapOptions): Promise<HessianMapResult> {
  const started = performance.now();
  const axes = [linspace(options.xRange), linspace(options.yRange)];
  const H = hvp(model, data, options);
  try {
    const values = await sampleAround(
      model,
      options.directions,
      axes,
      async () => {
        return hessianPoint(await eigenOf(H, { ...options, trace: false, vectors: false }));
      },
      options.onProgress,
    );
    const nested = (name: string) => toNested(values.values[name] as Float64Array, values.shape) as (number | null)[][];
    return {
      x: axes[0] as number[],
      y: axes[1] as number[],
      lambdaMax: nested('lambdaMax'),
      lambdaMin: nested('lambdaMin'),
      ratio: nested('ratio'),
      residual: nested('residual'),
      converged: nested('converged'),
      hvps: H.count(),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    H.dispose();
  }
}
