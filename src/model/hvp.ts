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
import { layerGraphGradient, layerGraphPlan, layerGraphPrimal, layerGraphQuadratics, layerGraphTangent, nodeWeights, type GraphPlan, type GraphPrimal, type NodeDirection } from './layer-graph-hvp.js';
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
   * `auto`: graphs of Dense, Conv2D, BatchNormalization, activation, pooling, Add and
   * Concatenate layers go through the R-operator engine (src/model/layer-graph-hvp.ts),
   * everything else through double backpropagation; `reference`:
   * always double backpropagation.
   * @default 'auto'
   */
  readonly engine?: 'auto' | 'reference';
  /**
   * The R-operator engine keeps each batch's forward and backward pass (everything in H v that
   * does not depend on v) between products at the same weights — Lanczos's tens of products —
   * within this many bytes; batches beyond it recompute theirs. 0: keep nothing.
   * @default PRIMAL_CACHE_BYTES (512 MiB)
   */
  readonly primalCacheBytes?: number;
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
  /**
   * vᵀ H_s v for each of `shards` contiguous parts of the data (sizes differing by at most one),
   * H_s the Hessian of shard s's mean loss: at an eigenvector, the eigenvalue as each part of the
   * data sees it (their mean over equal shards is vᵀ H v). Costs about one product; counted as one.
   * @throws {RangeError} for a shard count that is not an integer from 1 to the sample count
   */
  readonly shardQuadratics: (v: ParamList, shards: number) => Promise<number[]>;
  /**
   * ∇ of the mean loss at the current weights, over the selected parameters (the caller owns it).
   * With the R-operator engine it comes from the primal pass the products keep: one pass for both.
   */
  readonly gradient: () => Promise<ParamList>;
  /** How products are computed: the R-operator engine for layer graphs, or double backpropagation. */
  readonly engine: 'graph' | 'reference';
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
  const cacheBytes = options.primalCacheBytes ?? PRIMAL_CACHE_BYTES;
  if (!(cacheBytes >= 0)) throw new RangeError(`hvp: primalCacheBytes ${cacheBytes} is not a non-negative number of bytes`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`hvp: batchSize ${batchSize} is not a positive integer`);
  const loss = resolveLoss(model, options.loss);
  const selected: ModelWeight[] = modelWeights(model).filter((w) => w.trainable && (params === 'all' || w.variable.rank >= 2));
  if (selected.length === 0) {
    throw new LandscopeError('UNSUPPORTED_MODEL', `hvp: the model has no trainable weights${params === 'kernels' ? ' of rank ≥ 2 (params: kernels)' : ''}`);
  }
  const total = data.x.shape[0] as number;
  const batches: { x: tf.Tensor; y: tf.Tensor; weight: number }[] = [];
  for (let start = 0; start < total; start += batchSize) {
    const n = Math.min(batchSize, total - start);
    batches.push({ x: data.x.slice(start, n), y: data.y.slice(start, n), weight: n / total });
  }
  const plan = options.engine === 'reference' ? null : layerGraphPlan(model, loss.name);
  const graph = plan === null ? null : graphEngine(plan, selected, classesOf(model), cacheBytes);
  return operator(graph ?? referenceEngine(model, loss.fn, selected), selected, batches);
}

/** One way of computing a batch's share of H v: the R-operator engine or double backpropagation. */
interface Engine {
  readonly kind: 'graph' | 'reference';
  /** The batch's labels as the engine reads them (the caller disposes them if they differ from y). */
  readonly labels: (y: tf.Tensor) => tf.Tensor;
  /**
   * weight · H_b v for one batch, in the selection's order (the caller owns the tensors); called
   * inside `run`. `batch`: the operator's batch index, for an engine that keeps per-batch work
   * between products at the same weights (undefined: a one-off slice).
   */
  readonly part: (x: tf.Tensor, y: tf.Tensor, v: ParamList, weight: number, batch?: number) => Promise<tf.Tensor[]>;
  /** vᵀ H_i v of each sample of an operator's batch, when the engine can split them (`batch` as in `part`). */
  readonly sampleQuadratics?: (x: tf.Tensor, y: tf.Tensor, v: ParamList, batch: number) => Promise<Float32Array>;
  /** weight · ∇ of batch `batch`'s mean loss, in the selection's order (the caller owns the tensors); called inside `run`. */
  readonly gradientPart: (x: tf.Tensor, y: tf.Tensor, weight: number, batch: number) => Promise<tf.Tensor[]>;
  /** Frees what the engine keeps between products. */
  readonly dispose: () => void;
  /** Runs a product's batches (the reference engine installs its gradients for them). */
  readonly run: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** The operator over a dataset's batches, whichever engine computes the parts. */
function operator(engine: Engine, selected: readonly ModelWeight[], batches: readonly { x: tf.Tensor; y: tf.Tensor; weight: number }[]): HvpOperator {
  const names = selected.map((w) => w.name);
  const shapes = selected.map((w) => w.variable.shape);
  const labels = batches.map((b) => engine.labels(b.y));
  let count = 0;
  const total = batches.reduce((n, b) => n + (b.x.shape[0] as number), 0);

  const product = async (v: ParamList): Promise<ParamList> => {
    checkDirection(v, names, shapes);
    const sum = await engine.run(async () => {
      let sum: tf.Tensor[] | undefined;
      for (const [k, b] of batches.entries()) sum = accumulate(sum, await engine.part(b.x, labels[k] as tf.Tensor, v, b.weight, k));
      return sum as tf.Tensor[];
    });
    count++;
    return new ParamList(names.map((name, i) => ({ name, tensor: sum[i] as tf.Tensor })));
  };

  const shardQuadratics = async (v: ParamList, shards: number): Promise<number[]> => {
    checkDirection(v, names, shapes);
    if (!(Number.isInteger(shards) && shards >= 1 && shards <= total)) {
      throw new RangeError(`hvp: shards = ${shards} is not an integer from 1 to the ${total} samples`);
    }
    // Shard s holds samples [from, to): contiguous, sizes differing by at most one.
    const quadratic = async (from: number, to: number): Promise<number> => {
      let sum: tf.Tensor[] | undefined;
      let offset = 0;
      for (const [k, b] of batches.entries()) {
        const n = b.x.shape[0] as number;
        const [lo, hi] = [Math.max(from, offset), Math.min(to, offset + n)];
        if (lo < hi) {
          const whole = hi - lo === n;
          const x = whole ? b.x : b.x.slice(lo - offset, hi - lo);
          const y = whole ? (labels[k] as tf.Tensor) : (labels[k] as tf.Tensor).slice(lo - offset, hi - lo);
          try {
            sum = accumulate(sum, await engine.part(x, y, v, (hi - lo) / (to - from)));
          } finally {
            if (!whole) tf.dispose([x, y]);
          }
        }
        offset += n;
      }
      const parts = sum as tf.Tensor[];
      const q = tf.tidy(() => tf.addN(parts.map((t, i) => tf.sum(tf.mul(t, v.tensors[i] as tf.Tensor)))));
      const value = (await q.data())[0] as number;
      tf.dispose([q, ...parts]);
      return value;
    };
    const bounds = Array.from({ length: shards + 1 }, (_, s) => Math.floor((s * total) / shards));
    const sampleQuadratics = engine.sampleQuadratics;
    const out = await engine.run(async () => {
      if (sampleQuadratics !== undefined) {
        // Every sample's vᵀ H_i v from one pass per batch; a shard's value is their mean (in float64).
        const perSample: number[] = [];
        for (const [k, b] of batches.entries()) perSample.push(...(await sampleQuadratics(b.x, labels[k] as tf.Tensor, v, k)));
        return bounds.slice(0, -1).map((from, s) => {
          const to = bounds[s + 1] as number;
          let sum = 0;
          for (let i = from; i < to; i++) sum += perSample[i] as number;
          return sum / (to - from);
        });
      }
      const values: number[] = [];
      for (let s = 0; s < shards; s++) values.push(await quadratic(bounds[s] as number, bounds[s + 1] as number));
      return values;
    });
    count++;
    return out;
  };

  const gradient = async (): Promise<ParamList> => {
    const sum = await engine.run(async () => {
      let sum: tf.Tensor[] | undefined;
      for (const [k, b] of batches.entries()) sum = accumulate(sum, await engine.gradientPart(b.x, labels[k] as tf.Tensor, b.weight, k));
      return sum as tf.Tensor[];
    });
    return new ParamList(names.map((name, i) => ({ name, tensor: sum[i] as tf.Tensor })));
  };

  return Object.assign(product, {
    gradient,
    names,
    shapes,
    size: selected.reduce((n, w) => n + w.variable.size, 0),
    count: () => count,
    current: () => new ParamList(selected.map((w) => ({ name: w.name, tensor: w.variable.clone() }))),
    shardQuadratics,
    dispose: () => {
      engine.dispose();
      for (const [k, b] of batches.entries()) tf.dispose(labels[k] === b.y ? [b.x, b.y] : [b.x, b.y, labels[k] as tf.Tensor]);
    },
    engine: engine.kind,
  });
}

/** Double backpropagation through the model, with landscope's second-order-correct gradients. */
function referenceEngine(model: tf.LayersModel, lossFn: LossFn, selected: readonly ModelWeight[]): Engine {
  const variables = selected.map((w) => w.variable);
  const batchLoss = (x: tf.Tensor, y: tf.Tensor) => tf.mean(lossFn(y, model.apply(x, { training: false }) as tf.Tensor)) as tf.Scalar;
  let checked = false;
  return {
    kind: 'reference',
    labels: (y) => y,
    run: withSecondOrderGradients,
    dispose: () => {},
    gradientPart: async (x, y, weight) =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => batchLoss(x, y), variables);
        return variables.map((w) => tf.mul(grads[w.name] ?? tf.zerosLike(w), weight));
      }),
    part: async (x, y, v, weight) => {
      if (!checked) {
        const { kernelNames } = await tf.profile(() => tf.tidy(() => {
          batchLoss(x, y);
        }));
        const bad = kernelNames.find((k) => SECOND_ORDER_UNSUPPORTED.includes(k));
        if (bad !== undefined) throw unsupported(bad);
        checked = true;
      }
      try {
        return tf.tidy(() => {
          const { grads } = tf.variableGrads(() => {
            const inner = tf.variableGrads(() => batchLoss(x, y), variables).grads;
            return tf.addN(variables.map((w, i) => tf.sum(tf.mul(inner[w.name] ?? tf.zerosLike(w), v.tensors[i] as tf.Tensor)))) as tf.Scalar;
          }, variables);
          return variables.map((w) => tf.mul(grads[w.name] ?? tf.zerosLike(w), weight));
        });
      } catch (e) {
        const kernel = /gradient function not found for (\w+)/.exec((e as Error).message)?.[1];
        if (kernel !== undefined) throw unsupported(kernel);
        const missing = /Kernel '(\w+)' not registered for backend '(\w+)'/.exec((e as Error).message);
        if (missing !== null) throw new LandscopeError('UNSUPPORTED_MODEL', `hvp: the model uses the TF.js kernel '${missing[1]}', which the ${missing[2]} backend does not have`);
        throw e;
      }
    },
  };
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
 * The R-operator engine, or null when a layer's kernel is not among the selected parameters (a
 * frozen layer: the engine assumes every kernel moves). Biases and batch-norm γ, β outside the
 * selection (params: 'kernels', a frozen batch norm) are held fixed: zero in v, left out of H v.
 */
function graphEngine(plan: GraphPlan, selected: readonly ModelWeight[], classes: number, cacheBytes: number): Engine | null {
  // ModelWeight.variable is the LayerVariable's own tf.Variable (`read()`).
  const index = new Map(selected.map((w, i) => [w.variable as unknown, i]));
  // Per node, per weight in nodeWeights order: its index in the selection (undefined: held fixed; null: no such weight).
  const nodeParts = plan.nodes.map((node) => nodeWeights(node).map((w) => (w === null ? null : index.get(w.read()))));
  const covered = nodeParts.flat().filter((i) => i !== null && i !== undefined).length;
  const kernelsIn = plan.nodes.every((node, k) => node.kind !== 'dense' && node.kind !== 'conv2d' ? true : nodeParts[k]?.[0] !== undefined);
  if (!kernelsIn || covered !== index.size) return null;
  const primals = primalCache(plan, cacheBytes);
  // The engine's parts come node by node (each node's weights in order): put them in the
  // selection's order, dropping those held fixed.
  const inSelectionOrder = (parts: tf.Tensor[]): tf.Tensor[] => {
    const out: tf.Tensor[] = new Array(selected.length);
    let j = 0;
    for (const slots of nodeParts) {
      for (const slot of slots) {
        if (slot === null) continue;
        const t = parts[j++] as tf.Tensor;
        if (slot !== undefined) out[slot] = t;
        else t.dispose();
      }
    }
    return out;
  };
  const directionsOf = (v: ParamList): NodeDirection[] => nodeParts.map((slots) => slots.map((slot) => (slot === null || slot === undefined ? null : (v.tensors[slot] as tf.Tensor))));
  return {
    dispose: primals.dispose,
    kind: 'graph',
    // Labels as the loss sees them: class ids become one-hot rows.
    labels: (y) => (y.rank === 2 && y.shape[1] === classes ? y : tf.tidy(() => tf.oneHot(tf.cast(tf.reshape(y, [-1]), 'int32'), classes).toFloat())),
    // No tape, so no gradient registry to swap: the engine calls its kernels (src/kernels) itself.
    run: (fn) => fn(),
    sampleQuadratics: async (x, y, v, batch) => {
      const { primal, release } = primals.use(x, y, batch);
      try {
        const q = layerGraphQuadratics(plan, primal, directionsOf(v));
        const values = (await q.data()) as Float32Array;
        q.dispose();
        return values;
      } finally {
        release();
      }
    },
    gradientPart: async (x, y, weight, batch) => {
      const { primal, release } = primals.use(x, y, batch);
      try {
        return inSelectionOrder(layerGraphGradient(plan, primal, weight));
      } finally {
        release();
      }
    },
    part: async (x, y, v, weight, batch) => {
      const directions = directionsOf(v);
      const { primal, release } = primals.use(x, y, batch);
      let parts: tf.Tensor[];
      try {
        parts = layerGraphTangent(plan, primal, directions, weight);
      } finally {
        release();
      }
      return inSelectionOrder(parts);
    },
  };
}

/** How many bytes of primal passes an operator keeps between products (beyond it, batches recompute theirs). */
export const PRIMAL_CACHE_BYTES = 512 * 2 ** 20;

/**
 * Each batch's primal pass (`layerGraphPrimal`), kept while the weights stay the same: a weight's
 * tensor data changes identity whenever it is assigned (training steps, `setWeights`, a surface's
 * points), so the kept pass is checked against the weights' current data before each use. Within
 * `limit` bytes; batches beyond it (and one-off slices) compute theirs for each product. The patch
 * columns of convolutions whose input is the data (`convColumns`) are kept per batch at every point.
 */
function primalCache(plan: GraphPlan, limit: number) {
  const kept = new Map<number, { key: readonly object[]; primal: GraphPrimal }>();
  const columns = new Map<number, Map<number, tf.Tensor | null>>();
  let bytes = 0;
  // Every value the pass reads: the weights, and batch norms' moving statistics (training moves them too).
  const weightsKey = () =>
    plan.nodes.flatMap((node) => [...nodeWeights(node), ...(node.kind === 'batchNorm' ? [node.mean, node.variance] : [])].flatMap((w) => (w === null ? [] : [w.read().dataId])));
  const drop = (batch: number) => {
    const entry = kept.get(batch);
    if (entry === undefined) return;
    bytes -= entry.primal.bytes;
    tf.dispose([...entry.primal.tensors]);
    kept.delete(batch);
  };
  /** The batch's columns (made by the primal pass where missing), or none beyond the limit. */
  const columnsOf = (batch: number | undefined): Map<number, tf.Tensor | null> | undefined => {
    if (batch === undefined) return undefined;
    const had = columns.get(batch);
    if (had !== undefined) return had;
    if (bytes >= limit) return undefined;
    const made = new Map<number, tf.Tensor | null>();
    columns.set(batch, made);
    return made;
  };
  const columnBytes = (batch: number | undefined) => [...(batch === undefined ? [] : (columns.get(batch)?.values() ?? []))].reduce((b, t) => b + (t === null ? 0 : t.size * 4), 0);
  return {
    /** The batch's primal pass; `release` after use (it frees a pass that is not kept). */
    use: (x: tf.Tensor, y: tf.Tensor, batch: number | undefined): { primal: GraphPrimal; release: () => void } => {
      const key = weightsKey();
      const entry = batch === undefined ? undefined : kept.get(batch);
      if (entry !== undefined && entry.key.every((id, i) => id === key[i])) return { primal: entry.primal, release: () => {} };
      if (batch !== undefined) drop(batch);
      const before = columnBytes(batch);
      const primal = layerGraphPrimal(plan, x, y, columnsOf(batch));
      bytes += columnBytes(batch) - before;
      if (batch === undefined || bytes + primal.bytes > limit) return { primal, release: () => tf.dispose([...primal.tensors]) };
      kept.set(batch, { key, primal });
      bytes += primal.bytes;
      return { primal, release: () => {} };
    },
    dispose: () => {
      for (const batch of [...kept.keys()]) drop(batch);
      for (const made of columns.values()) for (const t of made.values()) t?.dispose();
      columns.clear();
      bytes = 0;
    },
  };
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
