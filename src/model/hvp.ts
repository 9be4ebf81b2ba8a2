/**
 * Exact Hessian-vector products of a model's mean loss over a dataset (Pearlmutter 1994, "Fast
 * exact multiplication by the Hessian"; PyHessian `hessian_vector_product`): H·v = ∇θ (∇θ L · v),
 * by double backpropagation through the model in inference mode, batch by batch:
 * H v = Σ_b (n_b / N) · H_b v. The second-order-correct gradients of
 * `second-order-gradients.ts` are installed for the duration of each product.
 */
import * as tf from '@tensorflow/tfjs';
import { LandscopeError } from '../errors.js';
import { ParamList } from '../core/param-list.js';
import type { LossFn } from './losses.js';
import { resolveLoss } from './model-loss.js';
import { modelWeights, type ModelWeight } from './model-weights.js';
import type { Dataset } from './prepare-data.js';
import { denseBatchHvp, denseHvpPlan, type DensePlan } from './dense-hvp.js';
import { SECOND_ORDER_UNSUPPORTED, withSecondOrderGradients } from './second-order-gradients.js';

/** Which parameters the Hessian covers. */
export type ParamSelection = 'all' | 'kernels';

/** The accepted ParamSelection values. */
export const PARAM_SELECTIONS: readonly ParamSelection[] = ['all', 'kernels'];

/** Options of `hvp`. */
export interface HvpOptions {
  /**
   * `all`: every trainable weight; `kernels`: trainable weights of rank ≥ 2 (the principal
   * submatrix the paper's reference code uses, biases and batch-norm parameters excluded).
   * @default 'all'
   */
  readonly params?: ParamSelection;
  /** Samples per double-backward pass. @default 256 */
  readonly batchSize?: number;
  /** Loss name or function. @default the model's compiled loss */
  readonly loss?: string | LossFn;
  /**
   * `auto`: chains of Dense layers go through the R-operator engine (src/model/dense-hvp.ts),
   * everything else through double backpropagation; `reference`: always double backpropagation.
   * @default 'auto'
   */
  readonly engine?: 'auto' | 'reference';
}

/** `v ↦ H v` over a model's selected parameters, with what it needs to know about them. */
export interface HvpOperator {
  /** Computes H·v (v in `layout` order); returns a new list the caller owns. */
  (v: ParamList): Promise<ParamList>;
  /** The covered parameters: names and shapes, in manifest order. */
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  /** The number of scalar parameters covered. */
  readonly size: number;
  /** How many products have been computed. */
  readonly count: () => number;
  /** A copy of the covered parameters' current values (e.g. as a template). */
  readonly current: () => ParamList;
  /** Frees the batch slices. */
  readonly dispose: () => void;
  /** How products are computed: the Dense R-operator engine or double backpropagation. */
  readonly engine: 'dense' | 'reference';
}

/**
 * Builds the Hessian-vector product operator of a model's loss on a dataset.
 * @param model a model (compiled, or pass `loss`)
 * @param data inputs and labels that fit it
 * @param options which parameters, batch size and loss
 * @returns the operator; call `dispose()` when done
 * @throws {LandscopeError} `UNSUPPORTED_MODEL` when the model has no trainable weights (of the
 * selection) or uses a kernel whose second-order gradient landscope cannot provide
 * @throws {RangeError} for a bad option
 * @example
 * const H = hvp(model, data);
 * const Hv = await H(v); // v: a ParamList in H.names order
 */
export function hvp(model: tf.LayersModel, data: Dataset, options: HvpOptions = {}): HvpOperator {
  const params = options.params ?? 'all';
  if (!PARAM_SELECTIONS.includes(params)) {
    throw new RangeError(`hvp: params '${params}' is not one of ${PARAM_SELECTIONS.join(', ')}`);
  }
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`hvp: batchSize ${batchSize} is not a positive integer`);
  const loss = resolveLoss(model, options.loss);
  const selected: ModelWeight[] = modelWeights(model).filter((w) => w.trainable && (params === 'all' || w.variable.rank >= 2));
  if (selected.length === 0) {
    throw new LandscopeError('UNSUPPORTED_MODEL', `hvp: the model has no trainable weights${params === 'kernels' ? ' of rank ≥ 2 (params: kernels)' : ''}`);
  }
  const variables = selected.map((w) => w.variable);
  const total = data.x.shape[0] as number;
  const batches: { x: tf.Tensor; y: tf.Tensor; weight: number }[] = [];
  for (let start = 0; start < total; start += batchSize) {
    const n = Math.min(batchSize, total - start);
    batches.push({ x: data.x.slice(start, n), y: data.y.slice(start, n), weight: n / total });
  }
  const plan = options.engine === 'reference' ? null : denseHvpPlan(model, loss.name);
  const engine = plan === null ? null : denseOperator(plan, selected, batches, classesOf(model));
  if (engine !== null) return engine;
  const batchLoss = (b: { x: tf.Tensor; y: tf.Tensor }) => tf.mean(loss.fn(b.y, model.apply(b.x, { training: false }) as tf.Tensor)) as tf.Scalar;
  const names = selected.map((w) => w.name);
  const shapes = variables.map((v) => v.shape);
  let count = 0;
  let checked = false;

  const product = async (v: ParamList): Promise<ParamList> => {
    checkDirection(v, names, shapes);
    return withSecondOrderGradients(async () => {
      if (!checked) {
        const { kernelNames } = await tf.profile(() => tf.tidy(() => {
          batchLoss(batches[0] as (typeof batches)[number]);
        }));
        const bad = kernelNames.find((k) => SECOND_ORDER_UNSUPPORTED.includes(k));
        if (bad !== undefined) throw unsupported(bad);
        checked = true;
      }
      let sum: tf.Tensor[] | undefined;
      for (const b of batches) {
        let part: tf.Tensor[];
        try {
          part = tf.tidy(() => {
            const { grads } = tf.variableGrads(() => {
              const inner = tf.variableGrads(() => batchLoss(b), variables).grads;
              return tf.addN(variables.map((w, i) => tf.sum(tf.mul(inner[w.name] ?? tf.zerosLike(w), v.tensors[i] as tf.Tensor)))) as tf.Scalar;
            }, variables);
            return variables.map((w) => tf.mul(grads[w.name] ?? tf.zerosLike(w), b.weight));
          });
        } catch (e) {
          const kernel = /gradient function not found for (\w+)/.exec((e as Error).message)?.[1];
          if (kernel !== undefined) throw unsupported(kernel);
          const missing = /Kernel '(\w+)' not registered for backend '(\w+)'/.exec((e as Error).message);
          if (missing !== null) throw new LandscopeError('UNSUPPORTED_MODEL', `hvp: the model uses the TF.js kernel '${missing[1]}', which the ${missing[2]} backend does not have`);
          throw e;
        }
        sum = accumulate(sum, part);
      }
      count++;
      return new ParamList(names.map((name, i) => ({ name, tensor: (sum as tf.Tensor[])[i] as tf.Tensor })));
    });
  };

  return Object.assign(product, {
    names,
    shapes,
    size: variables.reduce((n, v) => n + v.size, 0),
    count: () => count,
    current: () => new ParamList(selected.map((w) => ({ name: w.name, tensor: w.variable.clone() }))),
    dispose: () => {
      for (const b of batches) tf.dispose([b.x, b.y]);
    },
    engine: 'reference' as const,
  });
}

function unsupported(kernel: string): LandscopeError {
  return new LandscopeError(
    'UNSUPPORTED_MODEL',
    `hvp: the model uses the TF.js kernel '${kernel}', whose second-order gradient landscope does not provide; ` +
      'supported layers: Dense, Conv1D/2D (no dilation), MaxPooling/AveragePooling 1D/2D, GlobalAveragePooling, GlobalMaxPooling, BatchNormalization (inference), ' +
      'Dropout, Flatten/Reshape, Add/Concatenate, Embedding; activations relu, relu6, elu, selu, tanh, sigmoid, hardSigmoid, softmax, softplus, softsign, gelu, swish, mish, linear',
  );
}

function classesOf(model: tf.LayersModel): number {
  return (model.outputs[0]?.shape.at(-1) ?? 1) as number;
}

/**
 * The operator through the Dense engine, or null when a layer's kernel is not among the selected
 * parameters (a frozen layer: the engine assumes every kernel moves).
 */
function denseOperator(plan: DensePlan, selected: readonly ModelWeight[], batches: readonly { x: tf.Tensor; y: tf.Tensor; weight: number }[], classes: number): HvpOperator | null {
  // ModelWeight.variable is the LayerVariable's own tf.Variable (`read()`).
  const index = new Map(selected.map((w, i) => [w.variable as unknown, i]));
  const stepParts = plan.steps.map((s) => ({ kernel: index.get(s.kernel.read()), bias: s.bias === null ? undefined : index.get(s.bias.read()) }));
  if (stepParts.some((p) => p.kernel === undefined) || index.size !== stepParts.reduce((n, p) => n + 1 + (p.bias === undefined ? 0 : 1), 0)) return null;
  // Labels as the loss sees them: class ids become one-hot rows.
  const labels = batches.map((b) => (b.y.rank === 2 && b.y.shape[1] === classes ? b.y : tf.tidy(() => tf.oneHot(tf.cast(tf.reshape(b.y, [-1]), 'int32'), classes).toFloat())));
  const names = selected.map((w) => w.name);
  const shapes = selected.map((w) => w.variable.shape);
  let count = 0;
  const product = async (v: ParamList): Promise<ParamList> => {
    checkDirection(v, names, shapes);
    const directions = stepParts.map((p) => ({ kernel: v.tensors[p.kernel as number] as tf.Tensor, bias: p.bias === undefined ? null : (v.tensors[p.bias] as tf.Tensor) }));
    let sum: tf.Tensor[] | undefined;
    for (const [k, b] of batches.entries()) {
      const part = denseBatchHvp(plan, b.x, labels[k] as tf.Tensor, directions, b.weight);
      sum = accumulate(sum, part);
    }
    // The engine's parts come step by step (kernel, then bias where the layer has one).
    const parts = sum as tf.Tensor[];
    const out: tf.Tensor[] = new Array(selected.length);
    let j = 0;
    plan.steps.forEach((s, l) => {
      const p = stepParts[l] as { kernel: number; bias: number | undefined };
      out[p.kernel] = parts[j++] as tf.Tensor;
      if (s.bias !== null) {
        const t = parts[j++] as tf.Tensor;
        if (p.bias !== undefined) out[p.bias] = t;
        else t.dispose();
      }
    });
    count++;
    return new ParamList(names.map((name, i) => ({ name, tensor: out[i] as tf.Tensor })));
  };
  return Object.assign(product, {
    names,
    shapes,
    size: selected.reduce((n, w) => n + w.variable.size, 0),
    count: () => count,
    current: () => new ParamList(selected.map((w) => ({ name: w.name, tensor: w.variable.clone() }))),
    dispose: () => {
      for (const [k, b] of batches.entries()) tf.dispose(labels[k] === b.y ? [b.x, b.y] : [b.x, b.y, labels[k] as tf.Tensor]);
    },
    engine: 'dense' as const,
  });
}

/** @throws {RangeError} when `v` does not have the operator's tensors (names and shapes listed) */
function checkDirection(v: ParamList, names: readonly string[], shapes: readonly (readonly number[])[]): void {
  if (v.tensors.length !== shapes.length || v.tensors.some((t, i) => !tf.util.arraysEqual(t.shape, [...(shapes[i] ?? [])]))) {
    const want = names.map((n, i) => `${n} [${shapes[i]}]`).join(', ');
    const got = v.names.map((n, i) => `${n} [${v.tensors[i]?.shape}]`).join(', ');
    throw new RangeError(`hvp: v has tensors ${got}; expected ${want}`);
  }
}

/** The running sum of per-batch products: `sum + part`, both disposed (the first part is the sum). */
function accumulate(sum: tf.Tensor[] | undefined, part: tf.Tensor[]): tf.Tensor[] {
  if (sum === undefined) return part;
  const next = sum.map((t, i) => tf.add(t, part[i] as tf.Tensor));
  tf.dispose([...sum, ...part]);
  return next;
}
