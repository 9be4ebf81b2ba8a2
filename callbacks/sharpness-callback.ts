/**
 * Filter-normalized sharpness during training (Li et al. 2018, section 5): k seeded Gaussian
 * directions, drawn once per run and normalized filter-wise (biases and batch-norm ignored) against
 * the current weights each epoch — the same raw directions every epoch and in every run with the
 * same architecture and seed, so epochs and runs compare pairwise. At each radius r (filter-
 * normalized units), s_i = (L(θ + r d_i) + L(θ − r d_i))/2 − L(θ) on the probe set.
 */
import { subSeed } from '../src/core/sub-seed.js';
import { sharpness, type Sharpness } from '../src/core/sharpness.js';
import type { ParamList } from '../src/core/param-list.js';
import { randomDirection } from '../src/core/random-direction.js';
import { normalizeForModel } from '../src/landscape/directions.js';
import { sampleAround } from '../src/landscape/sample-around.js';
import { ModelEvaluator } from '../src/model/evaluator.js';
import { resolveLoss } from '../src/model/model-loss.js';
import { modelLayout } from '../src/model/model-weights.js';
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
    const layout = modelLayout(context.model);
    this.raw = Array.from({ length: this.count }, (_, i) => randomDirection(layout, subSeed(context.seed, i)));
    const loss = resolveLoss(context.model, context.loss);
    this.evaluator = new ModelEvaluator(context.model, context.probe, { loss: loss.fn, lossName: loss.name, batchSize: context.batchSize });
  }

  async measure(context: MeasureContext): Promise<MeasureResult> {
    const { model } = context;
    const evaluator = this.evaluator as ModelEvaluator;
    const directions = this.raw.map((d) => normalizeForModel(model, d, { norm: 'filter', ignore: 'biasbn' }));
    try {
      const center = (await evaluator.evaluate()).loss;
      const offsets = this.radii.flatMap((r) => [-r, r]);
      const results: Sharpness[] = this.radii.map(() => ({}) as Sharpness);
      const plus: number[][] = this.radii.map(() => []);
      const minus: number[][] = this.radii.map(() => []);
      for (const d of directions) {
        const values = await sampleAround(model, [d], [offsets], async () => ({ loss: (await evaluator.evaluate()).loss }));
        const losses = values.values['loss'] as Float64Array;
        this.radii.forEach((_, k) => {
          minus[k]?.push(losses[2 * k] as number);
          plus[k]?.push(losses[2 * k + 1] as number);
        });
      }
      this.radii.forEach((r, k) => {
        results[k] = sharpness(center, plus[k] as number[], minus[k] as number[], r);
      });
      const primary = results[0] as Sharpness;
      return {
        record: { loss: center, radii: results, directions: this.count, probeSize: evaluator.size, norm: 'filter', ignore: 'biasbn', seed: context.seed },
        logs: { fn_sharpness: primary.mean, fn_sharpness_stderr: primary.stderr, fn_curvature: primary.curvature },
      };
    } finally {
      for (const d of directions) d.dispose();
    }
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

