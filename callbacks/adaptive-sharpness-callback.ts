/**
 * Adaptive (scale-invariant) sharpness during training, on the probe set (Kwon et al. 2021;
 * Andriushchenko et al. 2023; the numeric core is `src/core/adaptive-sharpness.ts`): over every
 * trainable weight, the worst-case loss increase in the elementwise-scaled ball
 * ‖ε ⊘ |θ|‖₂ ≤ ρ by a few normalized projected gradient-ascent steps (exact gradients of the probe
 * loss), and the average over seeded random directions on that ball's sphere. The directions are
 * drawn once per run, like sharpness's, so epochs and runs compare pairwise.
 */
import type { ParamList } from '../src/core/param-list.js';
import { adaptiveDirections, modelAdaptiveSharpness } from '../src/landscape/adaptive-sharpness.js';
import { ModelEvaluator } from '../src/model/evaluator.js';
import { hvp, type HvpOperator } from '../src/model/hvp.js';
import { resolveLoss } from '../src/model/model-loss.js';
import { MeasurementCallback, type MeasurementCallbackOptions } from './measurement-callback.js';
import type { MeasureContext, Measurement, MeasureResult, PortableMeasurement } from './measurement.js';

/** Adaptive sharpness settings. */
export interface AdaptiveSharpnessSettings {
  /** ρ, the radius of the ball ‖ε ⊘ |θ|‖₂ ≤ ρ. @default 0.5 */
  readonly radius?: number;
  /** Gradient-ascent steps of the worst case (each about one gradient and one loss). @default 3 */
  readonly steps?: number;
  /** Random directions of the average case (and ascent starts). @default 8 */
  readonly directions?: number;
}

/** The default radius: see the README's "Adaptive sharpness". */
export const DEFAULT_ADAPTIVE_RADIUS = 0.5;

/** Measures adaptive sharpness; see the file comment. */
export class AdaptiveSharpnessMeasurement implements Measurement {
  readonly name = 'adaptiveSharpness';
  readonly portable: PortableMeasurement;
  private readonly radius: number;
  private readonly steps: number;
  private readonly count: number;
  private raw: ParamList[] = [];
  private evaluator: ModelEvaluator | null = null;
  /** For its exact gradient of the probe loss (the R-operator engine's, where the model allows). */
  private H: HvpOperator | null = null;
  /** Why it could not be set up: reported by each measurement, so training goes on. */
  private beginError: unknown = null;

  /** @throws {RangeError} for a bad radius, step count or direction count */
  constructor(settings: AdaptiveSharpnessSettings = {}, what = 'adaptiveSharpness') {
    this.radius = settings.radius ?? DEFAULT_ADAPTIVE_RADIUS;
    this.steps = settings.steps ?? 3;
    this.count = settings.directions ?? 8;
    if (!(this.radius > 0 && Number.isFinite(this.radius))) throw new RangeError(`${what}: radius = ${this.radius} is not a positive number`);
    if (!(Number.isInteger(this.steps) && this.steps >= 0)) throw new RangeError(`${what}: steps = ${this.steps} is not a non-negative integer`);
    if (!(Number.isInteger(this.count) && this.count >= 2 && this.count <= 499)) throw new RangeError(`${what}: directions = ${this.count} is not an integer from 2 (a standard error needs two) to 499`);
    this.portable = { kind: 'adaptive-sharpness', settings: { radius: this.radius, steps: this.steps, directions: this.count } };
  }

  async begin(context: MeasureContext): Promise<void> {
    try {
      const loss = resolveLoss(context.model, context.loss);
      this.H = hvp(context.model, context.probe, { params: 'all', batchSize: context.batchSize, ...(context.loss !== undefined ? { loss: context.loss } : {}) });
      this.raw = adaptiveDirections(this.H, this.count, context.seed);
      this.evaluator = new ModelEvaluator(context.model, context.probe, { loss: loss.fn, lossName: loss.name, batchSize: context.batchSize });
    } catch (e) {
      this.beginError = e;
    }
  }

  async measure(context: MeasureContext): Promise<MeasureResult> {
    if (this.beginError !== null) throw this.beginError;
    const evaluator = this.evaluator as ModelEvaluator;
    const s = await modelAdaptiveSharpness(context.model, this.H as HvpOperator, evaluator, { radius: this.radius, steps: this.steps, directions: this.raw });
    return {
      record: { ...s, directions: this.count, steps: this.steps, probeSize: evaluator.size, seed: context.seed },
      logs: { adaptive_sharpness: s.worst, adaptive_sharpness_avg: s.average, adaptive_sharpness_avg_stderr: s.averageStderr },
    };
  }

  end(): void {
    for (const d of this.raw) d.dispose();
    this.raw = [];
    this.evaluator?.dispose();
    this.evaluator = null;
    this.H?.dispose();
    this.H = null;
  }
}

/** Options of `AdaptiveSharpnessCallback`. */
export interface AdaptiveSharpnessCallbackOptions extends MeasurementCallbackOptions, AdaptiveSharpnessSettings {}

/**
 * A callback that measures adaptive sharpness each epoch.
 * @example await model.fit(x, y, { epochs: 10, callbacks: [adaptiveSharpnessCallback({ probe: { x: xp, y: yp } })] });
 */
export class AdaptiveSharpnessCallback extends MeasurementCallback {
  /** @throws {TypeError|RangeError} for bad options */
  constructor(options: AdaptiveSharpnessCallbackOptions) {
    super(options, [new AdaptiveSharpnessMeasurement(options, 'adaptiveSharpnessCallback')], 'adaptiveSharpnessCallback');
  }
}

/** Creates an AdaptiveSharpnessCallback. */
export function adaptiveSharpnessCallback(options: AdaptiveSharpnessCallbackOptions): AdaptiveSharpnessCallback {
  return new AdaptiveSharpnessCallback(options);
}
