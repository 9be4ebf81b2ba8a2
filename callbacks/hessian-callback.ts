/**
 * Hessian λmax, λmin and |λmin/λmax| during training, on the probe set: exact Hessian-vector
 * products and Lanczos, warm-started from the previous epoch's extreme eigenvectors (consecutive
 * epochs' Hessians are close, so fewer products are needed), optionally with the trace; and the
 * edge of stability of the optimizer that trains the model (`src/core/edge-of-stability.ts`):
 * λmax against 2/η (momentum: (2 + 2β)/η), or for Adam and RMSprop the preconditioned sharpness
 * λmax(P⁻¹H) against theirs, by a second Lanczos run on P^{-1/2} H P^{-1/2}.
 */
import * as tf from '@tensorflow/tfjs';
import type { ParamList } from '../src/core/param-list.js';
import { edgeOfStability } from '../src/landscape/edge-of-stability.js';
import { eigenOf } from '../src/landscape/hessian.js';
import { checkDensityOptions, hessianDensity, type HessianDensity } from '../src/landscape/hessian-density.js';
import { layerCurvature } from '../src/landscape/layer-curvature.js';
import { hvp, type HvpOperator, type ParamSelection } from '../src/model/hvp.js';
import { MeasurementCallback, type MeasurementCallbackOptions } from './measurement-callback.js';
import type { MeasureContext, Measurement, MeasureResult, PortableMeasurement } from './measurement.js';

/** Hessian settings. */
export interface HessianSettings {
  /** @default 'all' */
  readonly params?: ParamSelection;
  /** Lanczos residual tolerance relative to max|λ|. @default 1e-3 */
  readonly tol?: number;
  /** The most HVPs per epoch. @default 40 */
  readonly maxIter?: number;
  /** Also estimate the trace (Hutchinson, `traceSamples` probes). @default false */
  readonly trace?: boolean;
  /** @default 20 */
  readonly traceSamples?: number;
  /** Warm-start from last epoch's eigenvectors. @default true */
  readonly warmStart?: boolean;
  /**
   * With warm starts, every `coldEvery`-th measurement starts cold (from the seeded random vector
   * alone), so an eigenvalue that overtook last epoch's top one is found even if the warm start
   * missed it. @default 5
   */
  readonly coldEvery?: number;
  /**
   * Samples of the probe set the Hessian is averaged over (the first ones): HVPs cost about twice
   * a gradient each, and Lanczos needs tens of them. @default 256
   */
  readonly probeSize?: number;
  /**
   * λmax and λmin are also recorded as each of this many shards of the probe sees them (the
   * Rayleigh quotient of the eigenvector on the shard; two products more), so the CI gate can
   * compare them shard by shard with an interval instead of as bare numbers; 0: not recorded.
   * @default 8
   */
  readonly shards?: number;
  /**
   * Every this many measurements (1: each epoch), also the eigenvalue spectral density by
   * stochastic Lanczos quadrature (`density` of the record, `hessian_negative_mass` in logs);
   * 0: only at the end of training (the monitor's `finalDensity`). @default 0
   */
  readonly densityEvery?: number;
  /** The per-epoch density's Lanczos vectors, steps and grid points. @default { vectors: 2, steps: 40, points: 200 } */
  readonly density?: { readonly vectors?: number; readonly steps?: number; readonly points?: number };
  /**
   * Per-layer curvature: λmax and the Hutchinson trace of each layer's diagonal Hessian block
   * (`layers` of the record; `layer_hessian_max/<layer>`, `layer_hessian_trace/<layer>` in logs),
   * every `every` measurements, with `traceSamples` probes per layer. Costs about
   * layers × (10 + traceSamples) products. @default false
   */
  readonly perLayer?: boolean | { readonly every?: number; readonly traceSamples?: number };
}

/** The probe samples the Hessian is averaged over by default (`HessianSettings.probeSize`). */
export const DEFAULT_HESSIAN_PROBE_SIZE = 256;

/** Measures the Hessian's extreme eigenvalues; see the file comment. */
export class HessianMeasurement implements Measurement {
  readonly name = 'hessian';
  readonly portable: PortableMeasurement;
  private vectors: ParamList[] = [];
  /** Built once: the operator reads the model's live weights, so it serves every epoch. */
  private H: HvpOperator | null = null;
  private probe: { x: tf.Tensor; y: tf.Tensor } | null = null;
  private size = 0;
  /** Why the operator could not be built: reported by each measurement, so training goes on. */
  private beginError: unknown = null;
  /** `settings.shards` with its default. */
  private readonly shards: number;
  /** Measurements taken, to schedule the periodic cold start. */
  private taken = 0;
  /** Last epoch's extreme eigenvectors of the preconditioned Hessian (its warm start). */
  private preconditionedVectors: ParamList[] = [];

  constructor(private readonly settings: HessianSettings = {}, what = 'hessian') {
    const tol = settings.tol ?? 1e-3;
    const maxIter = settings.maxIter ?? 40;
    if (!(tol > 0)) throw new RangeError(`${what}: tol = ${tol} is not positive`);
    if (!(Number.isInteger(maxIter) && maxIter >= 2)) throw new RangeError(`${what}: maxIter = ${maxIter} is not an integer ≥ 2`);
    const probeSize = settings.probeSize ?? DEFAULT_HESSIAN_PROBE_SIZE;
    if (!(Number.isInteger(probeSize) && probeSize >= 1)) throw new RangeError(`${what}: probeSize = ${probeSize} is not a positive integer`);
    const coldEvery = settings.coldEvery ?? 5;
    if (!(Number.isInteger(coldEvery) && coldEvery >= 1)) throw new RangeError(`${what}: coldEvery = ${coldEvery} is not a positive integer`);
    const shards = (this.shards = settings.shards ?? 8);
    if (!(Number.isInteger(shards) && shards >= 0 && (shards === 0 || shards <= probeSize))) {
      throw new RangeError(`${what}: shards = ${shards} is not 0 or an integer from 1 to probeSize (${probeSize})`);
    }
    const densityEvery = settings.densityEvery ?? 0;
    if (!(Number.isInteger(densityEvery) && densityEvery >= 0)) throw new RangeError(`${what}: densityEvery = ${densityEvery} is not a non-negative integer`);
    checkDensityOptions(settings.density ?? {}, `${what}: density`);
    const perLayer = settings.perLayer;
    if (perLayer !== undefined && typeof perLayer !== 'boolean' && (typeof perLayer !== 'object' || perLayer === null)) {
      throw new RangeError(`${what}: perLayer = ${JSON.stringify(perLayer)} is not true, false or { every, traceSamples }`);
    }
    if (typeof perLayer === 'object') {
      for (const [name, v, min] of [['every', perLayer.every ?? 1, 1], ['traceSamples', perLayer.traceSamples ?? 10, 2]] as const) {
        if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`${what}: perLayer.${name} = ${v} is not an integer ≥ ${min}`);
      }
    }
    if (settings.params !== undefined && settings.params !== 'all' && settings.params !== 'kernels') {
      throw new RangeError(`${what}: params '${settings.params}' is not one of all, kernels`);
    }
    const { params, tol: t, maxIter: mi, trace, traceSamples, warmStart, coldEvery: ce, probeSize: ps, shards: sh, densityEvery: de, density, perLayer: pl } = settings;
    this.portable = { kind: 'hessian', settings: JSON.parse(JSON.stringify({ params, tol: t, maxIter: mi, trace, traceSamples, warmStart, coldEvery: ce, probeSize: ps, shards: sh, densityEvery: de, density, perLayer: pl })) };
  }

  async begin(context: MeasureContext): Promise<void> {
    const available = context.probe.x.shape[0] as number;
    this.size = Math.min(available, this.settings.probeSize ?? DEFAULT_HESSIAN_PROBE_SIZE);
    this.probe = this.size === available ? null : { x: context.probe.x.slice(0, this.size), y: context.probe.y.slice(0, this.size) };
    try {
      this.H = hvp(context.model, this.probe ?? context.probe, { params: this.settings.params ?? 'all', batchSize: context.batchSize, ...(context.loss !== undefined ? { loss: context.loss } : {}) });
    } catch (e) {
      this.beginError = e;
    }
  }

  async measure(context: MeasureContext): Promise<MeasureResult> {
    if (this.beginError !== null) throw this.beginError;
    const H = this.H as HvpOperator;
    const coldCheck = this.taken > 0 && this.taken % (this.settings.coldEvery ?? 5) === 0;
    const warm = this.settings.warmStart !== false && this.vectors.length > 0 && !coldCheck;
    this.taken++;
    const result = await eigenOf(H, {
      tol: this.settings.tol ?? 1e-3,
      maxIter: this.settings.maxIter ?? 40,
      seed: context.seed,
      vectors: true,
      ...(warm ? { warmStart: this.vectors } : {}),
      trace: this.settings.trace === true,
      traceMethod: 'hutchinson',
      traceSamples: this.settings.traceSamples ?? 20,
      // A probe smaller than the shard count (a tiny test probe) gets one sample per shard.
      shards: Math.min(this.shards, this.size),
    });
    for (const v of this.vectors) v.dispose();
    this.vectors = [...(result.vectors?.top ?? []), ...(result.vectors?.bottom ?? [])];
    const { vectors, ...rest } = result;
    void vectors;
    const edge = await this.edgeOfStability(H, context, result.lambdaMax, warm);
    const every = this.settings.densityEvery ?? 0;
    const spectrum = every > 0 && (this.taken - 1) % every === 0 ? await this.density(H, context.seed) : null;
    const pl = this.settings.perLayer;
    const layerEvery = typeof pl === 'object' ? pl.every ?? 1 : 1;
    const byLayer = pl && (this.taken - 1) % layerEvery === 0 ? (await layerCurvature(H, { seed: context.seed, tol: this.settings.tol ?? 1e-3, traceSamples: typeof pl === 'object' ? pl.traceSamples ?? 10 : 10 })).layers : null;
    const layerLogs: Record<string, number> = {};
    for (const l of byLayer ?? []) {
      layerLogs[`layer_hessian_max/${l.layer}`] = l.lambdaMax;
      layerLogs[`layer_hessian_trace/${l.layer}`] = l.trace;
    }
    return {
      record: { ...rest, warmStart: warm, probeSize: this.size, seed: context.seed, ...(edge !== null ? { stability: edge.record } : {}), ...(spectrum !== null ? { density: spectrum } : {}), ...(byLayer !== null ? { layers: byLayer } : {}) },
      logs: {
        ...layerLogs,
        ...(spectrum !== null ? { hessian_negative_mass: spectrum.negativeMass } : {}),
        hessian_max: result.lambdaMax,
        hessian_min: result.lambdaMin,
        ...(result.ratio !== null ? { hessian_ratio: result.ratio } : {}),
        ...(result.trace !== undefined ? { hessian_trace: result.trace.value } : {}),
        ...(edge?.logs ?? {}),
      },
    };
  }

  /** The edge of stability (see `src/landscape/edge-of-stability.ts`), warm-started like λmax. */
  private async edgeOfStability(H: HvpOperator, context: MeasureContext, lambdaMax: number, warm: boolean): Promise<{ record: Record<string, unknown>; logs: Record<string, number> } | null> {
    const snapshot = context.optimizer;
    if (snapshot === undefined || snapshot === null) return null;
    const r = await edgeOfStability(H, snapshot, lambdaMax, { tol: this.settings.tol ?? 1e-3, maxIter: this.settings.maxIter ?? 40, seed: context.seed, ...(warm ? { warmStart: this.preconditionedVectors } : {}) });
    if (r === null) return null;
    if (r.vectors.length > 0) {
      for (const v of this.preconditionedVectors) v.dispose();
      this.preconditionedVectors = r.vectors;
    }
    return { record: r.record, logs: r.logs };
  }

  /** The spectral density, without its per-vector nodes (they would swell metrics.jsonl). */
  private async density(H: HvpOperator, seed: number): Promise<Omit<HessianDensity, 'rules'>> {
    const d = this.settings.density ?? {};
    const { rules, ...rest } = await hessianDensity(H, { vectors: d.vectors ?? 2, steps: d.steps ?? 40, points: d.points ?? 200, seed });
    void rules;
    return rest;
  }

  end(): void {
    for (const v of [...this.vectors, ...this.preconditionedVectors]) v.dispose();
    this.vectors = [];
    this.preconditionedVectors = [];
    this.H?.dispose();
    this.H = null;
    if (this.probe !== null) tf.dispose([this.probe.x, this.probe.y]);
    this.probe = null;
  }
}

/** Options of `HessianCallback`. */
export interface HessianCallbackOptions extends MeasurementCallbackOptions, HessianSettings {}

/**
 * A callback that measures the Hessian's extreme eigenvalues each epoch.
 * @example await model.fit(x, y, { epochs: 10, callbacks: [hessianCallback({ probe: { x: xp, y: yp } })] });
 */
export class HessianCallback extends MeasurementCallback {
  /** @throws {TypeError|RangeError} for bad options */
  constructor(options: HessianCallbackOptions) {
    super(options, [new HessianMeasurement(options, 'hessianCallback')], 'hessianCallback');
  }
}

/** Creates a HessianCallback. */
export function hessianCallback(options: HessianCallbackOptions): HessianCallback {
  return new HessianCallback(options);
}
