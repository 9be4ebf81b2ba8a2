/**
 * Filter-normalized sharpness during training (Li et al. 2018, section 5): k seeded Gaussian
 * directions, drawn once per run and normalized filter-wise (biases and batch-norm ignored) against
 * the current weights each epoch — the same raw directions every epoch and in every run with the
 * same architecture and seed, so epochs and runs compare pairwise. At each radius r (filter-
 * normalized units), s_i = (L(θ + r d_i) + L(θ − r d_i))/2 − L(θ) on the probe set.
 */
import type { Sharpness } from '../src/core/sharpness.js';
import type { ParamList } from '../src/core/param-list.js';
import { modelFilterSharpness, sharpnessDirections } from '../src/landscape/filter-sharpness.js';
import { ModelEvaluator } from '../src/model/evaluator.js';
import { resolveLoss } from '../src/model/model-loss.js';
import { MeasurementCallback, type MeasurementCallbackOptions } from './measurement-callback.js';
import type { MeasureContext, Measurement, MeasureResult, PortableMeasurement } from './measurement.js';

/** Sharpness settings. */
export interface SharpnessSettings {
  /** Number of random directions. @default 8 */
  readonly directions?: number;
  /** Radii in filter-normalized units; the first goes into `logs.fn_sharpness`. @default [0.1] */
  readonly radii?: readonly number[];
}

/** The default radii: see the README's "Choosing the defaults". */
export const DEFAULT_RADII: readonly number[] = [0.1];

/** Measures filter-normalized sharpness; see the file comment. */
export class SharpnessMeasurement implements Measurement {
  readonly name = 'sharpness';
  readonly portable: PortableMeasurement;
  private raw: ParamList[] = [];
  /** Built once: it evaluates whatever weights the model holds. */
  private evaluator: ModelEvaluator | null = null;
  private readonly count: number;
  private readonly radii: readonly number[];

  /** @throws {RangeError} for a bad direction count or radius */
  constructor(settings: SharpnessSettings = {}, what = 'sharpness') {
    this.count = settings.directions ?? 8;
    this.radii = settings.radii ?? DEFAULT_RADII;
    if (!(Number.isInteger(this.count) && this.count >= 2)) throw new RangeError(`${what}: directions = ${this.count} is not an integer ≥ 2 (a standard error needs two)`);
    if (this.radii.length === 0 || this.radii.some((r) => !(r > 0))) throw new RangeError(`${what}: radii [${this.radii}] must be positive numbers, at least one`);
    this.portable = { kind: 'sharpness', settings: { directions: this.count, radii: [...this.radii] } };
  }

  async begin(context: MeasureContext): Promise<void> {
    this.raw = sharpnessDirections(context.model, this.count, context.seed);
    const loss = resolveLoss(context.model, context.loss);
    this.evaluator = new ModelEvaluator(context.model, context.probe, { loss: loss.fn, lossName: loss.name, batchSize: context.batchSize });
  }

  async measure(context: MeasureContext): Promise<MeasureResult> {
    const evaluator = this.evaluator as ModelEvaluator;
    const { center, radii } = await modelFilterSharpness(context.model, evaluator, this.raw, this.radii);
    const primary = radii[0] as Sharpness;
    return {
      record: { loss: center, radii, directions: this.count, probeSize: evaluator.size, norm: 'filter', ignore: 'biasbn', seed: context.seed },
      logs: { fn_sharpness: primary.mean, fn_sharpness_stderr: primary.stderr, fn_curvature: primary.curvature },
    };
  }

  end(): void {
    for (const d of this.raw) d.dispose();
    this.raw = [];
    this.evaluator?.dispose();
    this.evaluator = null;
  }
}

/** Options of `SharpnessCallback`. */
export interface SharpnessCallbackOptions extends MeasurementCallbackOptions, SharpnessSettings {}

/**
 * A callback that measures filter-normalized sharpness each epoch.
 * @example await model.fit(x, y, { epochs: 10, callbacks: [sharpnessCallback({ probe: { x: xp, y: yp } })] });
 */
export class SharpnessCallback extends MeasurementCallback {
  /** @throws {TypeError|RangeError} for bad options */
  constructor(options: SharpnessCallbackOptions) {
    super(options, [new SharpnessMeasurement(options, 'sharpnessCallback')], 'sharpnessCallback');
  }
}

/** Creates a SharpnessCallback. */
export function sharpnessCallback(options: SharpnessCallbackOptions): SharpnessCallback {
  return new SharpnessCallback(options);
}

