/**
 * Exact Hessian-vector products for graphs of Dense, Conv2D, BatchNormalization (inference),
 * activation, pooling, Add and Concatenate layers, by forward-over-reverse differentiation written
 * out by hand (Pearlmutter 1994, the R-operator): one forward pass, its directional derivative R{·}
 * along v, one backward pass and its directional derivative — a few large ops per layer (matMuls,
 * convolutions and their two gradients) and no nested tapes, where double backpropagation through
 * the Layers API records hundreds of small ops. For a layer z = a ∗ W + b (∗ a matMul or a
 * convolution), a' = f(z), and g = ∂L/∂a':
 *
 *   R z  = R a ∗ W + a ∗ V + v_b                     R a' = f'(z) ⊙ R z
 *   δ    = g ⊙ f'(z)                                 R δ  = R g ⊙ f'(z) + g ⊙ f''(z) ⊙ R z
 *   ∇W   = a ⋆ δ   (aᵀδ, or the filter gradient)     R ∇W = R a ⋆ δ + a ⋆ R δ,   R ∇b = Σ R δ
 *   g_prev = δ ∗ᵀ W (δWᵀ, or the input gradient)     R g_prev = R δ ∗ᵀ W + δ ∗ᵀ V
 *
 * A batch normalization in inference is y = γ x̂ + β with x̂ = (x − μ) r, r = 1/√(σ² + ε) from the
 * moving statistics: R y = γ r R x + v_γ x̂ + v_β, ∇γ = Σ g x̂, R ∇γ = Σ (R g x̂ + g r R x),
 * ∇β = Σ g, g_prev = γ r g, R g_prev = γ r R g + v_γ r g. An activation layer is the f of the
 * first table alone; Add sends g to each input, Concatenate its slice; a value read by several
 * layers (a skip connection) sums their g. Pooling, Flatten and GlobalAveragePooling are linear
 * given which input each window takes (max pooling: the first maximum, as TF.js's own gradient
 * picks it), so R and the backward pass go through the same fixed map. Pools must not overlap
 * (strides = pool size, the usual 2×2), which lets one reshape gather every window.
 *
 * At the output, with TF.js's cross-entropy (probabilities clipped to [1e-7, 1 − 1e-7]; a clipped
 * term is constant, mask m) on a softmax: δ = −y ⊙ m + p Σ(y ⊙ m), R δ = R p · Σ(y ⊙ m) with
 * R p = p ⊙ (R z − Σ p ⊙ R z); with the mean squared error on a linear output: δ = 2(z − y)/C,
 * R δ = 2 R z / C. H v is R ∇ over the batch-weighted mean. `layerGraphPlan` says whether a model
 * fits; anything else goes through src/model/hvp.ts's reference path (double backpropagation).
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilter } from '../kernels/conv2d-backprop-filter.js';
import { matMulTransposed } from '../kernels/mat-mul-transposed.js';
import type { LossName } from './losses.js';

/** An activation the engine differentiates twice. */
type Activation = 'linear' | 'relu' | 'tanh' | 'sigmoid';

/** A Dense layer or a 2-D convolution (channels last, dilation 1). */
export interface LinearNode {
  readonly kind: 'dense' | 'conv2d';
  readonly inputs: readonly [number];
  readonly kernel: tf.LayerVariable;
  readonly bias: tf.LayerVariable | null;
  /** The activation (for the output layer, softmax with the cross-entropies). */
  readonly activation: Activation | 'softmax';
  readonly strides: [number, number];
  readonly padding: 'same' | 'valid';
}

/** A batch normalization over the last axis, in inference: its moving statistics are constants. */
export interface BatchNormNode {
  readonly kind: 'batchNorm';
  readonly inputs: readonly [number];
  readonly gamma: tf.LayerVariable | null;
  readonly beta: tf.LayerVariable | null;
  readonly mean: tf.LayerVariable;
  readonly variance: tf.LayerVariable;
  readonly epsilon: number;
}

/** A layer without weights. */
export type PlainNode =
  | { readonly kind: 'activation'; readonly inputs: readonly [number]; readonly activation: Activation }
  | { readonly kind: 'pool'; readonly inputs: readonly [number]; readonly mode: 'max' | 'avg'; readonly size: [number, number] }
  | { readonly kind: 'globalAvgPool'; readonly inputs: readonly [number] }
  | { readonly kind: 'flatten'; readonly inputs: readonly [number] }
  | { readonly kind: 'add'; readonly inputs: readonly number[] }
  | { readonly kind: 'concat'; readonly inputs: readonly number[]; readonly axis: number };

/** One layer of the graph. `inputs` index values: 0 is the model's input, k + 1 node k's output. */
export type GraphNode = LinearNode | BatchNormNode | PlainNode;

/** A model the engine can take: its layers in an order where every layer follows its inputs. */
export interface GraphPlan {
  readonly nodes: readonly GraphNode[];
  /** Per value (0: the input), whether it depends on the weights (R of it and its gradient are not zero). */
  readonly varies: readonly boolean[];
  readonly loss: 'crossentropy' | 'mse';
}

/** The weights of a node, in the order the engine lists a node's parts: kernel and bias, or γ and β. */
export function nodeWeights(node: GraphNode): (tf.LayerVariable | null)[] {
  if (node.kind === 'dense' || node.kind === 'conv2d') return [node.kernel, node.bias];
  if (node.kind === 'batchNorm') return [node.gamma, node.beta];
  return [];
}

const HIDDEN: readonly string[] = ['linear', 'relu', 'tanh', 'sigmoid'];
const PASSED: readonly string[] = ['InputLayer', 'Dropout'];

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0] as number, (v[1] ?? v[0]) as number] : [v as number, v as number]);

const isLinear = (node: GraphNode): node is LinearNode => node.kind === 'dense' || node.kind === 'conv2d';

/**
 * How to run the model through the engine, or null when it does not fit: other layers or
 * activations, dilated or channels-first convolutions, overlapping pools, a batch normalization
 * over another axis, a layer applied twice, a layer whose output does not reach the loss, several
 * inputs or outputs, a loss other than the cross-entropies on a softmax or the mean squared error
 * on a linear output (the output must be a Dense layer).
 * @param model the model
 * @param loss the loss's canonical name (undefined: a custom function)
 */
export function layerGraphPlan(model: tf.LayersModel, loss: LossName | undefined): GraphPlan | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const nodes: GraphNode[] = [];
  // The value each layer's output is: layers that pass their input on share its value.
  // (A Sequential model does not list its InputLayer among its layers.)
  const valueOf = new Map<unknown, number>([[model.inputs[0]?.sourceLayer, 0]]);
  for (const layer of model.layers) {
    const className = layer.getClassName();
    const inbound = (layer as unknown as { inboundNodes: { inboundLayers: unknown[]; nodeIndices: number[]; tensorIndices: number[] }[] }).inboundNodes;
    if (inbound.length !== 1) return null; // applied twice, or never
    const node = inbound[0] as { inboundLayers: unknown[]; nodeIndices: number[]; tensorIndices: number[] };
    if (className === 'InputLayer') {
      if (valueOf.get(layer) !== 0) return null;
      continue;
    }
    if (node.nodeIndices.some((i) => i !== 0) || node.tensorIndices.some((i) => i !== 0)) return null;
    const inputs = node.inboundLayers.map((l) => valueOf.get(l));
    if (inputs.length === 0 || inputs.some((i) => i === undefined)) return null; // not in topological order
    const from = inputs as number[];
    if (PASSED.includes(className)) {
      if (from.length !== 1) return null;
      valueOf.set(layer, from[0] as number);
      continue;
    }
    const made = planNode(layer, className, from);
    if (made === null) return null;
    nodes.push(made);
    valueOf.set(layer, nodes.length);
  }
  const outputLayer = model.outputs[0]?.sourceLayer;
  const last = nodes.at(-1);
  if (last === undefined || valueOf.get(outputLayer) !== nodes.length || last.kind !== 'dense') return null;
  // Every layer's output reaches the loss (else its weights' gradient would be left out).
  const used = new Set<number>([nodes.length]);
  for (let k = nodes.length - 1; k >= 0; k--) if (used.has(k + 1)) for (const i of (nodes[k] as GraphNode).inputs) used.add(i);
  if (nodes.some((_, k) => !used.has(k + 1))) return null;
  if (nodes.slice(0, -1).some((n) => isLinear(n) && !HIDDEN.includes(n.activation))) return null;
  const varies = [false];
  for (const n of nodes) varies.push(n.kind === 'dense' || n.kind === 'conv2d' || n.kind === 'batchNorm' || n.inputs.some((i) => varies[i]));
  if ((loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy') && last.activation === 'softmax') return { nodes, varies, loss: 'crossentropy' };
  if (loss === 'meanSquaredError' && last.activation === 'linear') return { nodes, varies, loss: 'mse' };
  return null;
}

/** One layer as a node, or null when the engine does not take it. */
function planNode(layer: tf.layers.Layer, className: string, inputs: number[]): GraphNode | null {
  const config = layer.getConfig() as Record<string, unknown>;
  const inShapes = (Array.isArray(layer.input) ? layer.input : [layer.input]).map((t) => (t as tf.SymbolicTensor).shape);
  const inShape = inShapes[0] as (number | null)[];
  const one = inputs.length === 1 ? ([inputs[0]] as [number]) : null;
  if (className === 'Add') return inputs.length >= 2 && inShapes.every((s) => tf.util.arraysEqual(s as number[], inShape as number[])) ? { kind: 'add', inputs } : null;
  if (className === 'Concatenate') {
    const rank = inShape.length;
    const axis = ((config['axis'] as number | undefined) ?? -1) < 0 ? rank + ((config['axis'] as number | undefined) ?? -1) : (config['axis'] as number);
    return inputs.length >= 2 && axis >= 1 && axis < rank ? { kind: 'concat', inputs, axis } : null;
  }
  if (one === null) return null;
  if (className === 'Flatten') return { kind: 'flatten', inputs: one };
  if (className === 'Activation' || className === 'ReLU') {
    const activation = className === 'ReLU' ? 'relu' : (config['activation'] as string);
    if (className === 'ReLU' && config['maxValue'] !== null && config['maxValue'] !== undefined) return null;
    return HIDDEN.includes(activation) ? { kind: 'activation', inputs: one, activation: activation as Activation } : null;
  }
  if (className === 'MaxPooling2D' || className === 'AveragePooling2D') {
    const size = pair(config['poolSize']);
    const strides = config['strides'] === null || config['strides'] === undefined ? size : pair(config['strides']);
    const [h, w] = [inShape[1], inShape[2]];
    // Non-overlapping windows; 'same' only where it pads nothing (then it equals 'valid').
    if (config['dataFormat'] === 'channelsFirst' || strides[0] !== size[0] || strides[1] !== size[1] || inShape.length !== 4) return null;
    if (config['padding'] === 'same' && (typeof h !== 'number' || typeof w !== 'number' || h % size[0] !== 0 || w % size[1] !== 0)) return null;
    return { kind: 'pool', inputs: one, mode: className === 'MaxPooling2D' ? 'max' : 'avg', size };
  }
  if (className === 'GlobalAveragePooling2D') return config['dataFormat'] === 'channelsFirst' || inShape.length !== 4 ? null : { kind: 'globalAvgPool', inputs: one };
  const weights = layer.weights as tf.LayerVariable[];
  const named = (suffix: string) => weights.find((w) => w.originalName.endsWith(`/${suffix}`)) ?? null;
  if (className === 'BatchNormalization') {
    const axis = (config['axis'] as number | undefined) ?? -1;
    const [gamma, beta, mean, variance] = [named('gamma'), named('beta'), named('moving_mean'), named('moving_variance')];
    if ((axis !== -1 && axis !== inShape.length - 1) || mean === null || variance === null) return null;
    return { kind: 'batchNorm', inputs: one, gamma, beta, mean, variance, epsilon: (config['epsilon'] as number | undefined) ?? 1e-3 };
  }
  if (className !== 'Dense' && className !== 'Conv2D') return null;
  if (className === 'Dense' && inShape.length !== 2) return null; // Dense on the last axis of a rank-3+ input
  if (className === 'Conv2D' && (config['dataFormat'] === 'channelsFirst' || pair(config['dilationRate'] ?? 1).some((d) => d !== 1))) return null;
  const kernel = named('kernel');
  const bias = named('bias');
  if (kernel === null || weights.length !== (bias === null ? 1 : 2)) return null;
  return {
    kind: className === 'Dense' ? 'dense' : 'conv2d',
    inputs: one,
    kernel,
    bias,
    activation: (config['activation'] ?? 'linear') as Activation | 'softmax',
    strides: className === 'Conv2D' ? pair(config['strides'] ?? 1) : [1, 1],
    padding: config['padding'] === 'same' ? 'same' : 'valid',
  };
}

const EPSILON = 1e-7;

/** f(z), f'(z) and f''(z) of a hidden activation. */
function derivatives(activation: Activation, z: tf.Tensor): { a: tf.Tensor; d1: tf.Tensor | null; d2: tf.Tensor | null } {
  switch (activation) {
    case 'linear':
      return { a: z, d1: null, d2: null };
    case 'relu':
      // step(z) is 1 where z > 0, else 0: the mask TF.js's own relu gradient uses (one kernel, where greater + cast are two slow ones on wasm).
      return { a: tf.relu(z), d1: tf.step(z), d2: null };
    case 'tanh': {
      const t = tf.tanh(z);
      const d1 = tf.sub(1, tf.square(t));
      return { a: t, d1, d2: tf.mul(-2, tf.mul(t, d1)) };
    }
    case 'sigmoid': {
      const s = tf.sigmoid(z);
      const d1 = tf.mul(s, tf.sub(1, s));
      return { a: s, d1, d2: tf.mul(d1, tf.sub(1, tf.mul(2, s))) };
    }
  }
}

/** A pool's windows as the last axis: [n, H, W, C] → [n, H/kh, W/kw, C, kh·kw] (rows beyond whole windows dropped). */
function windows(x: tf.Tensor, [kh, kw]: [number, number]): tf.Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const [ho, wo] = [Math.floor(h / kh), Math.floor(w / kw)];
  const cropped = ho * kh === h && wo * kw === w ? x : tf.slice(x, [0, 0, 0, 0], [n, ho * kh, wo * kw, c]);
  return tf.reshape(tf.transpose(tf.reshape(cropped, [n, ho, kh, wo, kw, c]), [0, 1, 3, 5, 2, 4]), [n, ho, wo, c, kh * kw]);
}

/**
 * A max pool's selection at each window's first maximum (the one TF.js's gradient takes), in two
 * layouts that let native kernels apply the pool's linear map M and its transpose:
 * - `scaled`, the input's layout: kh·kw at the selected inputs, 0 elsewhere and beyond whole
 *   windows, so M t = avgPool(t ⊙ scaled);
 * - `spread`, [n, Ho, kh, Wo, kw, C]: 1 at the selected inputs, so Mᵀ g is g broadcast over each
 *   window times `spread` (then padded with zeros beyond whole windows).
 * Gathering windows instead costs a 6-D transpose per use; wasm's AvgPoolGrad is 3× slower than the broadcast.
 */
function firstMaxMasks(x: tf.Tensor, [kh, kw]: [number, number]): { scaled: tf.Tensor; spread: tf.Tensor } {
  const [n, ho, wo, c] = [x.shape[0], Math.floor((x.shape[1] as number) / kh), Math.floor((x.shape[2] as number) / kw), x.shape[3]] as number[] as [number, number, number, number];
  const oneHot = tf.cast(tf.oneHot(tf.argMax(windows(x, [kh, kw]), -1), kh * kw), 'float32');
  const spread = tf.transpose(tf.reshape(oneHot, [n, ho, wo, c, kh, kw]), [0, 1, 4, 2, 5, 3]);
  return { scaled: padToInput(tf.reshape(tf.mul(spread, kh * kw), [n, ho * kh, wo * kw, c]), x.shape), spread };
}

/** Zeros after the last whole window: [n, Ho·kh, Wo·kw, C] → the input's [n, H, W, C]. */
function padToInput(t: tf.Tensor, inShape: readonly number[]): tf.Tensor {
  const [h, w] = [inShape[1] as number, inShape[2] as number];
  const [th, tw] = [t.shape[1] as number, t.shape[2] as number];
  return th === h && tw === w ? t : tf.pad(t, [[0, 0], [0, h - th], [0, w - tw], [0, 0]]);
}

/**
 * The transpose of a non-overlapping pool, Mᵀ g: g broadcast over each window, times `spread`
 * (max pools) or 1/(kh·kw) (average pools); 0 beyond whole windows.
 */
function poolTranspose(g: tf.Tensor, [kh, kw]: [number, number], spread: tf.Tensor | null, inShape: readonly number[]): tf.Tensor {
  const [n, ho, wo, c] = g.shape as [number, number, number, number];
  const g6 = tf.reshape(g, [n, ho, 1, wo, 1, c]);
  const each = spread === null ? tf.mul(g6, tf.fill([1, 1, kh, 1, kw, 1], 1 / (kh * kw))) : tf.mul(g6, spread);
  return padToInput(tf.reshape(each, [n, ho * kh, wo * kw, c]), inShape);
}

/** What one node keeps of a batch's pass at the current weights: nothing in it depends on v. */
interface PrimalNode {
  /** The shape of the node's (first) input. */
  readonly shape: readonly number[];
  /** Linear nodes: their input. */
  a?: tf.Tensor;
  /** Hidden linear and activation nodes: f'(z) (null: linear) and g ⊙ f''(z) (null where f'' = 0). */
  d1?: tf.Tensor | null;
  gd2?: tf.Tensor | null;
  /** Linear nodes: δ, the mean loss's gradient with respect to the pre-activation; batch norms: g. */
  delta?: tf.Tensor;
  /** A convolution whose input does not depend on the weights: its input's patch columns (the caller's). */
  columns?: tf.Tensor;
  /** Stride-1 convolutions whose input varies: `flippedFilter` of the kernel, δ as [Ho, Wo, N, Cout]. */
  flipped?: tf.Tensor;
  deltaAsFilter?: tf.Tensor;
  /** Batch norms: x̂, r = 1/√(σ² + ε), and γ r. */
  xhat?: tf.Tensor;
  r?: tf.Tensor;
  scale?: tf.Tensor;
  /** Max pools: `firstMaxMasks` (average pools: none). */
  mask?: tf.Tensor;
  spread?: tf.Tensor;
  /** Concatenations: each input's size along the axis. */
  sizes?: number[];
}

/**
 * A batch's forward and backward pass at the current weights: everything H v needs that does not
 * depend on v. Lanczos computes tens of products at one point; with this kept, each product is
 * only the R-passes (about 3/4 of the work of a product from scratch, and none of the pools'
 * window gathering). Dispose it when the weights change.
 */
export interface GraphPrimal {
  readonly n: number;
  readonly nodes: readonly PrimalNode[];
  /** Cross-entropy output: p and p · Σ(y ⊙ m) / n, for R δ = q ⊙ (R z − Σ p ⊙ R z). */
  readonly p: tf.Tensor | null;
  readonly q: tf.Tensor | null;
  /** The tensors it holds and their size in bytes. */
  readonly tensors: readonly tf.Tensor[];
  readonly bytes: number;
}

/** g of a value read by several nodes is the sum of what each sends back; constant values get none. */
function gradientSums(plan: GraphPlan) {
  const sums: (tf.Tensor | undefined)[] = new Array(plan.nodes.length + 1);
  return {
    add: (value: number, t: tf.Tensor | null) => {
      if (t === null || !plan.varies[value]) return;
      const had = sums[value];
      sums[value] = had === undefined ? t : tf.add(had, t);
    },
    of: (value: number): tf.Tensor | null => sums[value] ?? null,
  };
}

/** The sum of the terms that are there (null when none is). */
function sumOf(...terms: (tf.Tensor | null | undefined)[]): tf.Tensor | null {
  const present = terms.filter((t): t is tf.Tensor => t !== null && t !== undefined);
  return present.length === 0 ? null : present.length === 1 ? (present[0] as tf.Tensor) : tf.addN(present);
}

/** Σ over every axis but the last (channels): [C]. */
const channelSum = (t: tf.Tensor): tf.Tensor => tf.sum(tf.reshape(t, [-1, t.shape.at(-1) as number]), 0);

/**
 * The v-independent part of H v of the mean loss over one batch (see `GraphPrimal`).
 * @param x the batch's inputs
 * @param y one-hot labels (cross-entropy) or targets (MSE), [n, C]
 * @param columns patch columns of the convolutions whose input does not depend on the weights,
 * by node index, which the caller keeps for the batch (they depend on the data only): missing
 * entries are made and added (kept; the caller disposes them), null entries mean none
 * @returns the primal pass; the caller disposes `tensors`
 */
export function layerGraphPrimal(plan: GraphPlan, x: tf.Tensor, y: tf.Tensor, columns?: Map<number, tf.Tensor | null>): GraphPrimal {
  const n = x.shape[0] as number;
  const last = plan.nodes.length - 1;
  const saved: PrimalNode[] = [];
  let p: tf.Tensor | null = null;
  let q: tf.Tensor | null = null;
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor | null | undefined>(t: T): T => {
    // The batch's own input stays the caller's.
    if (t !== null && t !== undefined && t !== x && !kept.includes(t)) kept.push(tf.keep(t));
    return t;
  };
  tf.tidy(() => {
    const values: tf.Tensor[] = [x];
    const d2s: (tf.Tensor | null)[] = [];
    let z: tf.Tensor = x; // the output layer's pre-activation
    for (const [k, node] of plan.nodes.entries()) {
      const a = values[node.inputs[0]] as tf.Tensor;
      const s: PrimalNode = { shape: a.shape };
      saved.push(s);
      let out: tf.Tensor;
      switch (node.kind) {
        case 'dense':
        case 'conv2d': {
          s.a = keep(a);
          if (node.kind === 'conv2d' && columns !== undefined && !plan.varies[node.inputs[0]]) {
            if (!columns.has(k)) {
              const made = convColumns(node, a);
              columns.set(k, made === null ? null : tf.keep(made));
            }
            s.columns = columns.get(k) ?? undefined;
          }
          const bias = node.bias === null ? null : node.bias.read();
          if (k === last) {
            out = z = linearMap(node, a, node.kernel.read(), bias);
            break;
          }
          // relu inside the matMul or convolution kernel; its mask step(z) = step(relu(z)).
          const fusedRelu = node.activation === 'relu';
          const pre = linearMap(node, a, node.kernel.read(), bias, fusedRelu ? 'relu' : undefined);
          const f = fusedRelu ? { a: pre, d1: tf.step(pre), d2: null } : derivatives(node.activation as Activation, pre);
          s.d1 = keep(f.d1);
          d2s[k] = f.d2;
          out = f.a;
          break;
        }
        case 'activation': {
          const f = derivatives(node.activation, a);
          s.d1 = keep(f.d1);
          d2s[k] = f.d2;
          out = f.a;
          break;
        }
        case 'batchNorm': {
          const r = tf.rsqrt(tf.add(node.variance.read(), node.epsilon));
          const xhat = tf.mul(tf.sub(a, node.mean.read()), r);
          s.xhat = keep(xhat);
          s.r = keep(r);
          s.scale = keep(node.gamma === null ? r : tf.mul(node.gamma.read(), r));
          const scaled = node.gamma === null ? xhat : tf.mul(xhat, node.gamma.read());
          out = node.beta === null ? scaled : tf.add(scaled, node.beta.read());
          break;
        }
        case 'flatten':
          out = tf.reshape(a, [n, -1]);
          break;
        case 'globalAvgPool':
          out = tf.mean(a, [1, 2]);
          break;
        case 'pool':
          if (node.mode === 'max') {
            const { scaled, spread } = firstMaxMasks(a, node.size);
            s.mask = keep(scaled);
            s.spread = keep(spread);
          }
          out = node.mode === 'max' ? tf.maxPool(a as tf.Tensor4D, node.size, node.size, 'valid') : tf.avgPool(a as tf.Tensor4D, node.size, node.size, 'valid');
          break;
        case 'add':
          out = tf.addN(node.inputs.map((i) => values[i] as tf.Tensor));
          break;
        case 'concat':
          s.sizes = node.inputs.map((i) => (values[i] as tf.Tensor).shape[node.axis] as number);
          out = tf.concat(node.inputs.map((i) => values[i] as tf.Tensor), node.axis);
          break;
      }
      values.push(out);
    }
    // Output: δ of the last layer's pre-activation, per sample, over n.
    let outDelta: tf.Tensor;
    if (plan.loss === 'crossentropy') {
      const probabilities = tf.softmax(z);
      const mask = tf.cast(tf.logicalAnd(tf.greaterEqual(probabilities, EPSILON), tf.lessEqual(probabilities, 1 - EPSILON)), 'float32');
      const ym = tf.mul(y, mask);
      const sm = tf.sum(ym, -1, true);
      outDelta = tf.div(tf.sub(tf.mul(probabilities, sm), ym), n);
      p = keep(probabilities);
      q = keep(tf.div(tf.mul(probabilities, sm), n));
    } else {
      outDelta = tf.div(tf.mul(tf.sub(z, y), 2), n * (z.shape[1] as number));
    }
    // Backward, from the output: g of each value that depends on the weights.
    const g = gradientSums(plan);
    for (let k = last; k >= 0; k--) {
      const node = plan.nodes[k] as GraphNode;
      const s = saved[k] as PrimalNode;
      if (!plan.varies[k + 1]) continue;
      const gOut = g.of(k + 1);
      const input = node.inputs[0];
      switch (node.kind) {
        case 'dense':
        case 'conv2d': {
          const d2 = d2s[k] ?? null;
          const delta = k === last ? outDelta : s.d1 === null || s.d1 === undefined ? (gOut as tf.Tensor) : tf.mul(gOut as tf.Tensor, s.d1);
          s.delta = keep(delta);
          s.gd2 = k === last || d2 === null ? null : keep(tf.mul(gOut as tf.Tensor, d2));
          if (!plan.varies[input]) break;
          s.flipped = keep(flippedFilter(node, node.kernel.read()));
          // R a ⋆ δ takes δ as a filter at every product: keep it as one.
          if (node.kind === 'conv2d' && node.strides[0] === 1 && node.strides[1] === 1) s.deltaAsFilter = keep(tf.transpose(delta, [1, 2, 0, 3]));
          g.add(input, inputGradient(node, delta, node.kernel.read(), s.shape, s.flipped));
          break;
        }
        case 'activation': {
          const d2 = d2s[k] ?? null;
          s.gd2 = d2 === null ? null : keep(tf.mul(gOut as tf.Tensor, d2));
          g.add(input, s.d1 === null || s.d1 === undefined ? gOut : tf.mul(gOut as tf.Tensor, s.d1));
          break;
        }
        case 'batchNorm':
          s.delta = keep(gOut as tf.Tensor);
          g.add(input, tf.mul(gOut as tf.Tensor, s.scale as tf.Tensor));
          break;
        default:
          throughPlain(node, s, n, gOut, g.add);
      }
    }
  });
  return { n, nodes: saved, p, q, tensors: kept, bytes: kept.reduce((b, t) => b + t.size * 4, 0) };
}

/** A node without weights, backward: what it sends to each input from g of its output (null: none). */
function throughPlain(node: GraphNode, s: PrimalNode, n: number, gOut: tf.Tensor | null, send: (value: number, t: tf.Tensor | null) => void): void {
  if (gOut === null) return;
  const input = node.inputs[0] as number;
  switch (node.kind) {
    case 'flatten':
      return send(input, tf.reshape(gOut, [...s.shape]));
    case 'globalAvgPool': {
      const [, h, w] = s.shape as number[];
      return send(input, tf.mul(tf.broadcastTo(tf.reshape(gOut, [n, 1, 1, -1]), [...s.shape]), 1 / ((h as number) * (w as number))));
    }
    case 'pool':
      return send(input, poolTranspose(gOut, node.size, s.spread ?? null, s.shape));
    case 'add':
      return node.inputs.forEach((i) => send(i, gOut));
    case 'concat': {
      const parts = tf.split(gOut, s.sizes as number[], node.axis);
      return node.inputs.forEach((i, j) => send(i, parts[j] as tf.Tensor));
    }
    default:
      throw new Error(`throughPlain: ${node.kind} has weights`);
  }
}

/**
 * a ∗ W + b, the bias added by the matMul or convolution kernel itself (wasm's broadcast add of a
 * bias costs as much as the convolution).
 */
function linearMap(step: LinearNode, a: tf.Tensor, filter: tf.Tensor, bias: tf.Tensor | null, activation?: 'relu'): tf.Tensor {
  const b = bias ?? undefined;
  return step.kind === 'dense'
    ? tf.fused.matMul({ a: a as tf.Tensor2D, b: filter as tf.Tensor2D, bias: b, activation })
    : tf.fused.conv2d({ x: a as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: step.strides, pad: step.padding, bias: b, activation });
}

/**
 * A stride-1 convolution's filter flipped in space with its channel axes swapped: its input
 * gradient is then a plain convolution by it (`inputGradient`). Kept per point: on wasm a
 * convolution's filter is packed once per filter tensor, so a kept filter is packed once.
 */
function flippedFilter(step: LinearNode, filter: tf.Tensor): tf.Tensor | undefined {
  if (step.kind !== 'conv2d' || step.strides[0] !== 1 || step.strides[1] !== 1) return undefined;
  return tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
}

/**
 * A linear node's input gradient: δ Wᵀ, or the convolution's transpose — at stride 1 as the
 * 'full' convolution of δ by the flipped filter (`flipped`; on wasm up to 6× faster than its
 * Conv2DBackpropInput), the padding inside the convolution.
 */
function inputGradient(step: LinearNode, dz: tf.Tensor, filter: tf.Tensor, inShape: readonly number[], flipped?: tf.Tensor): tf.Tensor {
  if (step.kind === 'dense') return matMulTransposed(dz, filter, false, true);
  const shape = inShape as [number, number, number, number];
  const stride1 = step.strides[0] === 1 && step.strides[1] === 1;
  if (!stride1) return tf.conv2dTranspose(dz as tf.Tensor4D, filter as tf.Tensor4D, shape, step.strides, step.padding);
  const [kh, kw] = filter.shape as [number, number];
  const { padInfo } = tf.backend_util.computeConv2DInfo(shape, filter.shape as [number, number, number, number], 1, 1, step.padding);
  const [, h, w] = shape;
  const [, ho, wo] = dz.shape as [number, number, number];
  const [top, left] = [kh - 1 - padInfo.top, kw - 1 - padInfo.left];
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [top, h + kh - 1 - top - ho], [left, w + kw - 1 - left - wo], [0, 0]];
  return tf.conv2d(dz as tf.Tensor4D, (flipped ?? flippedFilter(step, filter)) as tf.Tensor4D, 1, pad);
}

/**
 * A linear node's kernel and bias gradients (bias: none when the layer has none):
 * - Dense: aᵀ δ and Σ δ;
 * - a convolution with its input's patch columns (`convColumns`, the ones column last when it
 *   has a bias): one matMul δᵀ · columns gives both, the columns as the kept operand;
 * - otherwise the filter gradient (`conv2dBackpropFilter`; at stride 1 a convolution whose
 *   filter is δ as [Ho, Wo, N, Cout], which the caller may pass kept as `deltaAsFilter`) and the
 *   bias as a sum over the rows of δ as a matrix (wasm reduces a 4-D tensor's leading axes ~3×
 *   slower).
 */
function paramGradients(step: LinearNode, input: tf.Tensor, dz: tf.Tensor, columns?: tf.Tensor, deltaAsFilter?: tf.Tensor): tf.Tensor[] {
  if (step.kind === 'dense') return [matMulTransposed(input, dz, true, false), ...(step.bias === null ? [] : [tf.sum(dz, 0)])];
  const filterShape = step.kernel.shape as [number, number, number, number];
  const [kh, kw, cin, cout] = filterShape;
  if (columns !== undefined) {
    const both = tf.matMul(tf.transpose(tf.reshape(dz, [-1, cout])), columns);
    const taps = kh * kw * cin;
    const kernel = tf.reshape(tf.transpose(step.bias === null ? both : tf.slice(both, [0, 0], [cout, taps])), filterShape);
    return step.bias === null ? [kernel] : [kernel, tf.reshape(tf.slice(both, [0, taps], [cout, 1]), [cout])];
  }
  const kernel = conv2dBackpropFilter(input as tf.Tensor4D, dz as tf.Tensor4D, { strides: step.strides, pad: step.padding, dataFormat: 'NHWC', filterShape }, deltaAsFilter as tf.Tensor4D | undefined);
  return step.bias === null ? [kernel] : [kernel, tf.sum(tf.reshape(dz, [-1, cout]), 0)];
}

/** The most bytes of patch columns `convColumns` makes for one batch (beyond it, the filter gradient convolves). */
export const COLUMNS_MAX_BYTES = 64 * 2 ** 20;

/**
 * The patch columns of a convolution's input: [N·Ho·Wo, kh·kw·Cin (+ 1)], column (i, j, c) the
 * input value that tap (i, j) of channel c sees at each output position, and a last column of
 * ones when the layer has a bias, so the kernel and bias gradients of any δ are one matMul
 * (`paramGradients`). Made by one convolution with the identity filter — it gathers every padding
 * and stride exactly as the layer does (0/1 weights: exact) — and the ones by its bias. Worth it
 * where one input meets many δ: the first layer's input is the data itself, the same at every point.
 * @returns the columns, or null for a Dense step or beyond COLUMNS_MAX_BYTES
 */
export function convColumns(step: LinearNode, input: tf.Tensor): tf.Tensor | null {
  if (step.kind !== 'conv2d') return null;
  const [kh, kw, cin] = step.kernel.shape as number[] as [number, number, number];
  const taps = kh * kw * cin;
  const width = taps + (step.bias === null ? 0 : 1);
  const shape = input.shape as [number, number, number, number];
  const { outHeight, outWidth } = tf.backend_util.computeConv2DInfo(shape, [kh, kw, cin, width], step.strides, 1, step.padding);
  if (shape[0] * outHeight * outWidth * width * 4 > COLUMNS_MAX_BYTES) return null;
  return tf.tidy(() => {
    // The identity filter, and for the bias an all-zero filter column whose bias is 1.
    const identity = tf.reshape(tf.eye(taps, width), [kh, kw, cin, width]) as tf.Tensor4D;
    const ones = step.bias === null ? undefined : tf.oneHot([taps], width).reshape([width]).toFloat();
    return tf.reshape(tf.fused.conv2d({ x: input as tf.Tensor4D, filter: identity, strides: step.strides, pad: step.padding, bias: ones }), [-1, width]);
  });
}

/**
 * ∇ of the mean loss over the batch, times `weight`, from its primal pass: a ⋆ δ per linear node
 * (and Σ δ for its bias), Σ g x̂ and Σ g per batch norm — the gradient without a tape.
 * @returns the parts, node by node, each node's present weights in `nodeWeights` order (the caller owns them)
 */
export function layerGraphGradient(plan: GraphPlan, primal: GraphPrimal, weight: number): tf.Tensor[] {
  return tf.tidy(() =>
    plan.nodes.flatMap((node, k) => {
      const s = primal.nodes[k] as PrimalNode;
      let parts: tf.Tensor[] = [];
      if (isLinear(node)) parts = paramGradients(node, s.a as tf.Tensor, s.delta as tf.Tensor, s.columns);
      else if (node.kind === 'batchNorm') {
        const g = s.delta as tf.Tensor;
        parts = [...(node.gamma === null ? [] : [channelSum(tf.mul(g, s.xhat as tf.Tensor))]), ...(node.beta === null ? [] : [channelSum(g)])];
      }
      return weight === 1 ? parts : parts.map((t) => tf.mul(t, weight));
    }),
  );
}

/** A direction's parts, per node, aligned with `nodeWeights(node)` (null: zero, or no such weight). */
export type NodeDirection = readonly (tf.Tensor | null)[];

/**
 * H v of the mean loss over one batch, times `weight`, from the batch's primal pass: the R
 * forward pass and the R backward pass only.
 * @param v the direction, per node (see `NodeDirection`); a linear node's kernel part must be there
 * @returns the product's parts, node by node as `layerGraphGradient` lists them (the caller owns them)
 */
export function layerGraphTangent(plan: GraphPlan, primal: GraphPrimal, v: readonly NodeDirection[], weight: number): tf.Tensor[] {
  return tf.tidy(() => tangentPass(plan, primal, v, weight, false).parts);
}

/**
 * vᵀ H_i v of each sample's loss ℓ_i in the batch, [n], from the batch's primal pass. With
 * δ = ∇ℓ/n and R δ its R, vᵀ (R ∇θ) splits by sample: for a linear node z = a ∗ W + b,
 * ⟨V, a ⋆ R δ + R a ⋆ δ⟩ + ⟨v_b, Σ R δ⟩ = Σ_i ⟨(a ∗ V + v_b)_i, R δ_i⟩ + ⟨R a_i, (δ ∗ᵀ V)_i⟩, and
 * for a batch norm Σ_i ⟨R g_i, v_γ x̂_i + v_β⟩ + ⟨g_i, v_γ r R x_i⟩ — terms the R-passes already
 * form, so no filter gradient is computed: cheaper than a product.
 * @returns the per-sample quadratics (the caller owns the tensor)
 */
export function layerGraphQuadratics(plan: GraphPlan, primal: GraphPrimal, v: readonly NodeDirection[]): tf.Tensor1D {
  return tf.tidy(() => tangentPass(plan, primal, v, 1, true).quadratics as tf.Tensor1D);
}

/** The R-passes: the product's parts, or (`quadratics`) only the per-sample vᵀ H_i v. */
function tangentPass(plan: GraphPlan, primal: GraphPrimal, v: readonly NodeDirection[], weight: number, quadratics: boolean): { parts: tf.Tensor[]; quadratics: tf.Tensor | null } {
  const n = primal.n;
  const last = plan.nodes.length - 1;
  const rowSum = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.reshape(tf.mul(a, b), [n, -1]), 1);
  // R of every value (null: it does not depend on the weights), and per node what the R backward pass reads.
  const rv: (tf.Tensor | null)[] = [null];
  const rzs: (tf.Tensor | null)[] = []; // linear nodes: R z; activation nodes: R of their input
  const owns: tf.Tensor[] = []; // linear nodes: a ∗ V + v_b
  for (const [k, node] of plan.nodes.entries()) {
    const s = primal.nodes[k] as PrimalNode;
    const ra = rv[node.inputs[0]] ?? null;
    const vk = v[k] as NodeDirection;
    switch (node.kind) {
      case 'dense':
      case 'conv2d': {
        const own = linearMap(node, s.a as tf.Tensor, vk[0] as tf.Tensor, vk[1] ?? null);
        const rz = ra === null ? own : tf.add(own, linearMap(node, ra, node.kernel.read(), null));
        owns[k] = own;
        rzs[k] = rz;
        rv.push(k === last || s.d1 === null || s.d1 === undefined ? rz : tf.mul(s.d1, rz));
        break;
      }
      case 'activation':
        rzs[k] = ra;
        rv.push(ra === null || s.d1 === null || s.d1 === undefined ? ra : tf.mul(s.d1, ra));
        break;
      case 'batchNorm':
        rv.push(sumOf(ra === null ? null : tf.mul(ra, s.scale as tf.Tensor), vk[0] ? tf.mul(vk[0], s.xhat as tf.Tensor) : null, vk[1] ? tf.add(tf.zerosLike(s.xhat as tf.Tensor), vk[1]) : null));
        break;
      case 'flatten':
        rv.push(ra === null ? null : tf.reshape(ra, [n, -1]));
        break;
      case 'globalAvgPool':
        rv.push(ra === null ? null : tf.mean(ra, [1, 2]));
        break;
      case 'pool': {
        const input = ra === null || s.mask === undefined ? ra : tf.mul(ra, s.mask);
        rv.push(input === null ? null : tf.avgPool(input as tf.Tensor4D, node.size, node.size, 'valid'));
        break;
      }
      case 'add':
        rv.push(sumOf(...node.inputs.map((i) => rv[i])));
        break;
      case 'concat': {
        const rs = node.inputs.map((i) => rv[i] ?? null);
        // Constant inputs' R is zero: their slice of the concatenation.
        rv.push(rs.every((r) => r === null) ? null : tf.concat(rs.map((r, j) => r ?? tf.zeros(zeroShape(s, node.axis, j))), node.axis));
        break;
      }
    }
  }
  // Output: R δ of the last layer's pre-activation.
  const z = rzs[last] as tf.Tensor;
  const rdeltaOut =
    plan.loss === 'crossentropy'
      ? tf.mul(primal.q as tf.Tensor, tf.sub(z, tf.sum(tf.mul(primal.p as tf.Tensor, z), -1, true)))
      : tf.div(tf.mul(z, 2), n * (z.shape[1] as number));
  // Backward: R g of every value.
  const rg = gradientSums(plan);
  const out: tf.Tensor[][] = new Array(plan.nodes.length);
  let q: tf.Tensor | null = null;
  const addQ = (t: tf.Tensor) => (q = q === null ? t : tf.add(q, t));
  for (let k = last; k >= 0; k--) {
    const node = plan.nodes[k] as GraphNode;
    const s = primal.nodes[k] as PrimalNode;
    const vk = v[k] as NodeDirection;
    const input = node.inputs[0];
    const ra = rv[input] ?? null;
    const rgOut = rg.of(k + 1);
    switch (node.kind) {
      case 'dense':
      case 'conv2d': {
        // A hidden layer: R δ = R g ⊙ f'(z) + g ⊙ f''(z) ⊙ R z.
        const rdelta =
          k === last ? rdeltaOut : (sumOf(rgOut === null || s.d1 === null || s.d1 === undefined ? rgOut : tf.mul(rgOut, s.d1), s.gd2 ? tf.mul(s.gd2, rzs[k] as tf.Tensor) : null) ?? tf.zerosLike(s.delta as tf.Tensor));
        const delta = s.delta as tf.Tensor;
        const throughV = ra !== null || plan.varies[input] ? inputGradient(node, delta, vk[0] as tf.Tensor, s.shape) : null;
        if (quadratics) {
          addQ(rowSum(owns[k] as tf.Tensor, rdelta));
          if (ra !== null) addQ(rowSum(ra, throughV as tf.Tensor));
        } else {
          // R ∇W = a ⋆ R δ + R a ⋆ δ; R ∇b = Σ R δ.
          const parts = paramGradients(node, s.a as tf.Tensor, rdelta, s.columns);
          if (ra !== null) parts[0] = tf.add(parts[0] as tf.Tensor, paramGradients(node, ra, delta, undefined, s.deltaAsFilter)[0] as tf.Tensor);
          out[k] = parts;
        }
        if (plan.varies[input]) rg.add(input, tf.add(inputGradient(node, rdelta, node.kernel.read(), s.shape, s.flipped), throughV as tf.Tensor));
        break;
      }
      case 'activation':
        rg.add(input, sumOf(rgOut === null || s.d1 === null || s.d1 === undefined ? rgOut : tf.mul(rgOut, s.d1), s.gd2 && ra ? tf.mul(s.gd2, ra) : null));
        break;
      case 'batchNorm': {
        const g = s.delta as tf.Tensor;
        const [vGamma, vBeta] = [vk[0] ?? null, vk[1] ?? null];
        // R x̂ = r R x.
        const rxhat = ra === null ? null : tf.mul(ra, s.r as tf.Tensor);
        if (quadratics) {
          const shift = sumOf(vGamma === null ? null : tf.mul(s.xhat as tf.Tensor, vGamma), vBeta === null ? null : tf.add(tf.zerosLike(s.xhat as tf.Tensor), vBeta));
          if (rgOut !== null && shift !== null) addQ(rowSum(rgOut, shift));
          if (rxhat !== null && vGamma !== null) addQ(rowSum(g, tf.mul(rxhat, vGamma)));
        } else {
          const gammaPart = sumOf(rgOut === null ? null : tf.mul(rgOut, s.xhat as tf.Tensor), rxhat === null ? null : tf.mul(g, rxhat));
          out[k] = [
            ...(node.gamma === null ? [] : [gammaPart === null ? tf.zeros(node.gamma.shape as number[]) : channelSum(gammaPart)]),
            ...(node.beta === null ? [] : [rgOut === null ? tf.zeros(node.beta.shape as number[]) : channelSum(rgOut)]),
          ];
        }
        rg.add(input, sumOf(rgOut === null ? null : tf.mul(rgOut, s.scale as tf.Tensor), vGamma === null ? null : tf.mul(g, tf.mul(vGamma, s.r as tf.Tensor))));
        break;
      }
      default:
        throughPlain(node, s, n, rgOut, rg.add);
    }
  }
  const parts = out.flat().filter((t) => t !== undefined);
  // δ and R δ carry 1/n: each row's sum is vᵀ H_i v / n.
  return { parts: weight === 1 ? parts : parts.map((t) => tf.mul(t, weight)), quadratics: q === null ? null : tf.mul(q, n) };
}

/** The shape of input j of a concatenation node (from its first input's shape and the sizes). */
function zeroShape(s: PrimalNode, axis: number, j: number): number[] {
  const shape = [...s.shape];
  shape[axis] = (s.sizes as number[])[j] as number;
  return shape;
}
