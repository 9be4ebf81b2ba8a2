/**
 * The one file that knows how TF.js optimizers keep their state: the update rule and its
 * hyperparameters at the current step (for the edge of stability), and the adaptive methods'
 * second-moment accumulators (for their preconditioner). TF.js names an accumulator after the
 * variable it serves: Adam's `<weight>/v`, RMSprop's `<weight>/rms` and `<weight>/mg`.
 */
import * as tf from '@tensorflow/tfjs';
import { inverseSqrtPreconditioner, type UpdateRule } from '../core/edge-of-stability.js';

/** An optimizer's class name and, when landscope knows its update, the rule. */
export interface OptimizerState {
  /** TF.js's class name: SGD, Momentum, Adam, RMSProp, Adagrad, … */
  readonly name: string;
  /** The current learning rate, when it can be read. */
  readonly learningRate: number | null;
  /** Steps taken so far. */
  readonly step: number;
  /** The update rule, for SGD, Momentum, Adam and RMSProp (null for the others). */
  readonly rule: UpdateRule | null;
}

type Fields = Record<string, unknown>;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The compiled model's optimizer state, or null when the model has no optimizer. */
export function optimizerState(model: tf.LayersModel): OptimizerState | null {
  const o = (model as unknown as { optimizer?: Fields & { getClassName?: () => string } }).optimizer;
  if (o === undefined || o === null || typeof o.getClassName !== 'function') return null;
  const name = o.getClassName();
  const learningRate = num(o['learningRate']);
  const step = num(o['iterations']) ?? 0;
  let rule: UpdateRule | null = null;
  if (learningRate !== null) {
    if (name === 'SGD') rule = { kind: 'sgd', learningRate };
    else if (name === 'Momentum' && num(o['momentum']) !== null) rule = { kind: 'momentum', learningRate, momentum: num(o['momentum']) as number, nesterov: o['useNesterov'] === true };
    else if (name === 'Adam' && num(o['beta1']) !== null && num(o['beta2']) !== null) {
      rule = { kind: 'adam', learningRate, beta1: num(o['beta1']) as number, beta2: num(o['beta2']) as number, epsilon: num(o['epsilon']) ?? 1e-7, step };
    } else if (name === 'RMSProp' && num(o['decay']) !== null) {
      rule = { kind: 'rmsprop', learningRate, decay: num(o['decay']) as number, momentum: num(o['momentum']) ?? 0, epsilon: num(o['epsilon']) ?? 1e-7, centered: o['centered'] === true };
    }
  }
  return { name, learningRate, step, rule };
}

/** The optimizer as one epoch left it: its state, and P^{-1/2} of an adaptive one. */
export interface OptimizerSnapshot {
  readonly state: OptimizerState;
  /**
   * P^{-1/2} of an adaptive optimizer (Adam, RMSprop) per trainable weight name, for λmax(P⁻¹H)
   * as the symmetric P^{-1/2} H P^{-1/2}; null when it does not precondition or has not stepped.
   */
  readonly scaling: Record<string, Float32Array> | null;
}

/**
 * The optimizer's state now, with its preconditioner when `preconditioner` is set.
 * @returns null when the model has no optimizer
 * @throws {RangeError} when P is not positive (see `inverseSqrtPreconditioner`)
 */
export async function optimizerSnapshot(model: tf.LayersModel, preconditioner: boolean): Promise<OptimizerSnapshot | null> {
  const state = optimizerState(model);
  if (state === null) return null;
  const rule = state.rule;
  if (!preconditioner || rule === null || (rule.kind !== 'adam' && rule.kind !== 'rmsprop') || state.step < 1) return { state, scaling: null };
  const o = (model as unknown as { optimizer: Fields }).optimizer;
  const accumulators = (field: string): Map<string, tf.Variable> => {
    const list = (o[field] ?? []) as ({ originalName: string; variable: tf.Variable } | undefined)[];
    return new Map(list.filter((a) => a !== undefined).map((a) => [a.originalName, a.variable]));
  };
  const second = accumulators(rule.kind === 'adam' ? 'accumulatedSecondMoment' : 'accumulatedMeanSquares');
  const suffix = rule.kind === 'adam' ? '/v' : '/rms';
  const meanGrads = rule.kind === 'rmsprop' && rule.centered ? accumulators('accumulatedMeanGrads') : null;
  const scaling: Record<string, Float32Array> = {};
  for (const [key, v] of second) {
    if (!key.endsWith(suffix)) continue;
    const name = key.slice(0, -suffix.length);
    const mg = meanGrads?.get(`${name}/mg`);
    scaling[name] = inverseSqrtPreconditioner(rule, (await v.data()) as Float32Array, mg !== undefined ? ((await mg.data()) as Float32Array) : undefined);
  }
  return { state, scaling };
}
