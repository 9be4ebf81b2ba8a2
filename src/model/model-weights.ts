/**
 * How a TF.js LayersModel stores its weights — the one place in landscope that knows it.
 *
 * A model's weights, in `model.weights` order (trainable first, then non-trainable: the order
 * `model.save()` writes the manifest in), named by each variable's `originalName` (the name in the
 * saved manifest, e.g. `dense1/kernel`; the live variable's `name` may carry a `_1` suffix when
 * several models share a process). Kernels follow TF.js layouts, where the output unit (the
 * *filter*) indexes the LAST axis, unlike PyTorch's first:
 *
 * | layer (weight)                                   | shape                         | filter axes        |
 * |--------------------------------------------------|-------------------------------|--------------------|
 * | Dense (kernel)                                   | [in, out]                     | last               |
 * | Conv1D / Conv2D / Conv3D (kernel)                | [k…, in, out]                 | last               |
 * | Conv2DTranspose / Conv3DTranspose (kernel)       | [k…, out, in]                 | second to last     |
 * | DepthwiseConv2D, SeparableConv (depthwise_kernel)| [k…, in, multiplier]          | last two (one per output channel in·m) |
 * | SeparableConv (pointwise_kernel)                 | [1…, in·m, out]               | last               |
 * | ConvLSTM2D (kernel, recurrent_kernel)            | [kh, kw, in, 4·filters]       | last               |
 * | LSTM / GRU / SimpleRNN (kernel, recurrent_kernel)| [in, k·units]                 | last               |
 * | Embedding (embeddings)                           | [vocabulary, dim]             | first (one row per token, as the reference code's dim-0 filters) |
 * | anything else with rank ≥ 2                      |                               | last               |
 *
 * Tensors of rank ≤ 1 (biases, batch-norm γ/β/moving statistics) have no filters.
 */
import * as tf from '@tensorflow/tfjs';
import { LandscopeError } from '../errors.js';
import { ParamList } from '../core/param-list.js';
import type { ParamLayout } from '../core/random-direction.js';

/** What landscope knows of one model weight. */
export interface ModelWeight {
  /** The saved name (`originalName`), e.g. `dense1/kernel`. */
  readonly name: string;
  /** The live variable. */
  readonly variable: tf.Variable;
  /** Whether training updates it. */
  readonly trainable: boolean;
  /** The class of the layer that owns it, e.g. `Dense`. */
  readonly layerClass: string;
  /** The axes whose index names a filter (see the table above). */
  readonly filterAxes: readonly number[];
}

interface LayerLike {
  getClassName(): string;
  weights: tf.LayerVariable[];
  layers?: LayerLike[];
}

/**
 * The model's weights, in manifest order.
 * @param model a built LayersModel
 */
export function modelWeights(model: tf.LayersModel): ModelWeight[] {
  const owner = new Map<tf.LayerVariable, string>();
  const visit = (layer: LayerLike) => {
    if (Array.isArray(layer.layers)) layer.layers.forEach(visit);
    else for (const w of layer.weights) if (!owner.has(w)) owner.set(w, layer.getClassName());
  };
  (model.layers as unknown as LayerLike[]).forEach(visit);
  // A frozen layer keeps variables flagged trainable: what counts is the model's trainable list.
  const trainable = new Set(model.trainableWeights);
  return model.weights.map((w) => {
    const variable = w.read() as tf.Variable;
    const layerClass = owner.get(w) ?? 'unknown';
    return {
      name: w.originalName,
      variable,
      trainable: trainable.has(w),
      layerClass,
      filterAxes: filterAxes(layerClass, w.originalName, variable.rank),
    };
  });
}

/**
 * The filter axes of a weight, from its layer class and name (see the table at the top).
 * @param layerClass the owning layer's class name
 * @param name the weight's name (`layer/kernel`)
 * @param rank the weight's rank
 */
export function filterAxes(layerClass: string, name: string, rank: number): number[] {
  const short = name.slice(name.lastIndexOf('/') + 1).replace(/_\d+$/, '');
  if (rank <= 1) return [];
  if (/Transpose$/.test(layerClass) && short === 'kernel') return [rank - 2];
  if (short === 'depthwise_kernel') return [rank - 2, rank - 1];
  if (layerClass === 'Embedding' && short === 'embeddings') return [0];
  return [rank - 1];
}

/** The names and shapes of the model's weights, in manifest order. */
export function modelLayout(model: tf.LayersModel): ParamLayout {
  const weights = modelWeights(model);
  return { names: weights.map((w) => w.name), shapes: weights.map((w) => w.variable.shape) };
}

/**
 * A copy of the model's current weights as a parameter list, in manifest order.
 * @returns a new list the caller owns
 */
export function readModelWeights(model: tf.LayersModel): ParamList {
  return new ParamList(modelWeights(model).map((w) => ({ name: w.name, tensor: w.variable.clone() })));
}

/**
 * Sets the model's weights to the values of `list` (same names and shapes, manifest order), in
 * place. Values are assigned as they are: layer constraints (e.g. `maxNorm`) are not applied, so a
 * landscape is evaluated exactly at the point asked for, and restoring saved values is bit-exact.
 * @throws {RangeError} when the layout differs from the model's
 */
export function writeModelWeights(model: tf.LayersModel, list: ParamList): void {
  const weights = modelWeights(model);
  if (weights.length !== list.tensors.length) {
    throw new RangeError(`writeModelWeights: the model has ${weights.length} weights, the list ${list.tensors.length}`);
  }
  weights.forEach((w, i) => {
    const t = list.tensors[i] as tf.Tensor;
    if (w.name !== list.names[i] || !tf.util.arraysEqual(w.variable.shape, t.shape)) {
      throw new RangeError(
        `writeModelWeights: weight ${i} is '${w.name}' [${w.variable.shape}], the list has '${list.names[i]}' [${t.shape}]`,
      );
    }
    tf.tidy(() => w.variable.assign(t.dtype === w.variable.dtype ? t : tf.cast(t, w.variable.dtype)));
  });
}

/**
 * Arranges named tensors (e.g. a direction artifact's) in the model's manifest order, checking
 * names, shapes and dtypes.
 * @param model the model the tensors must fit
 * @param named the tensors (the list takes ownership; extra names are an error)
 * @param what what they are, for the error message (e.g. `--dir-x dirs/d1/model.json`)
 * @throws {LandscopeError} `DIRECTION_MISMATCH` naming the first missing, extra, misshapen or
 * mistyped weight
 */
export function matchModelLayout(
  model: tf.LayersModel,
  named: readonly { name: string; tensor: tf.Tensor }[],
  what: string,
): ParamList {
  const byName = new Map(named.map((n) => [n.name, n.tensor]));
  const weights = modelWeights(model);
  const fail = (message: string): never => {
    for (const n of named) n.tensor.dispose();
    throw new LandscopeError('DIRECTION_MISMATCH', `${what}: ${message}`);
  };
  for (const w of weights) {
    const t = byName.get(w.name);
    if (t === undefined) fail(`has no weight '${w.name}' (the model's weights: ${weights.map((x) => x.name).join(', ')})`);
    else if (!tf.util.arraysEqual(t.shape, w.variable.shape)) {
      fail(`weight '${w.name}' has shape [${t.shape}], the model's is [${w.variable.shape}]`);
    } else if (t.dtype !== w.variable.dtype) {
      fail(`weight '${w.name}' has dtype ${t.dtype}, the model's is ${w.variable.dtype}`);
    }
  }
  const known = new Set(weights.map((w) => w.name));
  const extra = named.find((n) => !known.has(n.name));
  if (extra !== undefined) fail(`has a weight '${extra.name}' that the model does not have`);
  return new ParamList(weights.map((w) => ({ name: w.name, tensor: byName.get(w.name) as tf.Tensor })));
}
