/**
 * Exact Hessian-vector products for chains of Dense, Conv2D and pooling layers, by
 * forward-over-reverse differentiation written out by hand (Pearlmutter 1994, the R-operator): one
 * forward pass, its directional derivative R{·} along v, one backward pass and its directional
 * derivative — a few large ops per layer (matMuls, convolutions and their two gradients) and no
 * nested tapes, where double backpropagation through the Layers API records hundreds of small ops.
 * For a layer z = a ∗ W + b (∗ a matMul or a convolution), a' = f(z), and g = ∂L/∂a':
 *
 *   R z  = R a ∗ W + a ∗ V + v_b                     R a' = f'(z) ⊙ R z
 *   δ    = g ⊙ f'(z)                                 R δ  = R g ⊙ f'(z) + g ⊙ f''(z) ⊙ R z
 *   ∇W   = a ⋆ δ   (aᵀδ, or the filter gradient)     R ∇W = R a ⋆ δ + a ⋆ R δ,   R ∇b = Σ R δ
 *   g_prev = δ ∗ᵀ W (δWᵀ, or the input gradient)     R g_prev = R δ ∗ᵀ W + δ ∗ᵀ V
 *
 * Pooling, Flatten and GlobalAveragePooling are linear given which input each window takes (max
 * pooling: the first maximum, as TF.js's own gradient picks it), so R and the backward pass go
 * through the same fixed map. Pools must not overlap (strides = pool size, the usual 2×2), which
 * lets one reshape gather every window.
 *
 * At the output, with TF.js's cross-entropy (probabilities clipped to [1e-7, 1 − 1e-7]; a clipped
 * term is constant, mask m) on a softmax: δ = −y ⊙ m + p Σ(y ⊙ m), R δ = R p · Σ(y ⊙ m) with
 * R p = p ⊙ (R z − Σ p ⊙ R z); with the mean squared error on a linear output: δ = 2(z − y)/C,
 * R δ = 2 R z / C. H v is R ∇ over the batch-weighted mean. `layerChainPlan` says whether a model
 * fits; anything else goes through src/model/hvp.ts's reference path (double backpropagation).
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilter } from '../kernels/conv2d-backprop-filter.js';
import { matMulTransposed } from '../kernels/mat-mul-transposed.js';
import type { LossName } from './losses.js';

/** An activation the engine differentiates twice. */
type Activation = 'linear' | 'relu' | 'tanh' | 'sigmoid';

/** A layer with weights: Dense or a 2-D convolution (channels last, dilation 1). */
export interface WeightedStep {
  readonly kind: 'dense' | 'conv2d';
  readonly kernel: tf.LayerVariable;
  readonly bias: tf.LayerVariable | null;
  /** The activation (for the last layer, softmax with the cross-entropies). */
  readonly activation: Activation | 'softmax';
  readonly strides: [number, number];
  readonly padding: 'same' | 'valid';
}

/** A layer without weights the engine passes values and gradients through. */
export type ShapeStep =
  | { readonly kind: 'pool'; readonly mode: 'max' | 'avg'; readonly size: [number, number] }
  | { readonly kind: 'globalAvgPool' }
  | { readonly kind: 'flatten' };

/** One layer of the chain. */
export type ChainStep = WeightedStep | ShapeStep;

/** A model the engine can take. */
export interface ChainPlan {
  readonly steps: readonly ChainStep[];
  /** The weighted steps, in order (their kernels and biases are the product's parts). */
  readonly weighted: readonly WeightedStep[];
  readonly loss: 'crossentropy' | 'mse';
}

const HIDDEN: readonly string[] = ['linear', 'relu', 'tanh', 'sigmoid'];
const IGNORED: readonly string[] = ['InputLayer', 'Dropout'];

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0] as number, (v[1] ?? v[0]) as number] : [v as number, v as number]);

/**
 * How to run the model through the engine, or null when it does not fit (other layers, other
 * activations, dilated or channels-first convolutions, overlapping pools, several inputs or
 * outputs, a loss other than the cross-entropies on a softmax or the mean squared error on a
 * linear output).
 * @param model the model
 * @param loss the loss's canonical name (undefined: a custom function)
 */
export function layerChainPlan(model: tf.LayersModel, loss: LossName | undefined): ChainPlan | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const steps: ChainStep[] = [];
  let previous: unknown = null;
  for (const layer of model.layers) {
    const className = layer.getClassName();
    // A chain: every layer takes exactly the previous one's output.
    const inbound = (layer as unknown as { inboundNodes: { inboundLayers: unknown[] }[] }).inboundNodes;
    if (previous !== null && (inbound.length !== 1 || inbound[0]?.inboundLayers.length !== 1 || inbound[0].inboundLayers[0] !== previous)) return null;
    previous = layer;
    if (IGNORED.includes(className)) continue;
    const config = layer.getConfig() as Record<string, unknown>;
    const inShape = (layer.input as tf.SymbolicTensor).shape;
    if (className === 'Flatten') {
      steps.push({ kind: 'flatten' });
      continue;
    }
    if (className === 'MaxPooling2D' || className === 'AveragePooling2D') {
      const size = pair(config['poolSize']);
      const strides = config['strides'] === null || config['strides'] === undefined ? size : pair(config['strides']);
      const [h, w] = [inShape[1], inShape[2]];
      // Non-overlapping windows; 'same' only where it pads nothing (then it equals 'valid').
      if (config['dataFormat'] === 'channelsFirst' || strides[0] !== size[0] || strides[1] !== size[1] || inShape.length !== 4) return null;
      if (config['padding'] === 'same' && (typeof h !== 'number' || typeof w !== 'number' || h % size[0] !== 0 || w % size[1] !== 0)) return null;
      steps.push({ kind: 'pool', mode: className === 'MaxPooling2D' ? 'max' : 'avg', size });
      continue;
    }
    if (className === 'GlobalAveragePooling2D') {
      if (config['dataFormat'] === 'channelsFirst' || inShape.length !== 4) return null;
      steps.push({ kind: 'globalAvgPool' });
      continue;
    }
    if (className !== 'Dense' && className !== 'Conv2D') return null;
    if (className === 'Dense' && inShape.length !== 2) return null; // Dense on the last axis of a rank-3+ input
    if (className === 'Conv2D' && (config['dataFormat'] === 'channelsFirst' || pair(config['dilationRate'] ?? 1).some((d) => d !== 1))) return null;
    const weights = layer.weights as tf.LayerVariable[];
    const kernel = weights.find((w) => w.originalName.endsWith('/kernel'));
    const bias = weights.find((w) => w.originalName.endsWith('/bias')) ?? null;
    if (kernel === undefined || weights.length !== (bias === null ? 1 : 2)) return null;
    steps.push({
      kind: className === 'Dense' ? 'dense' : 'conv2d',
      kernel,
      bias,
      activation: (config['activation'] ?? 'linear') as Activation | 'softmax',
      strides: className === 'Conv2D' ? pair(config['strides'] ?? 1) : [1, 1],
      padding: config['padding'] === 'same' ? 'same' : 'valid',
    });
  }
  const weighted = steps.filter(isWeighted);
  // The loss reads the last layer's pre-activation: it must be a Dense layer, last in the chain.
  const last = steps.at(-1);
  if (last === undefined || last.kind !== 'dense' || weighted.slice(0, -1).some((s) => !HIDDEN.includes(s.activation))) return null;
  if ((loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy') && last.activation === 'softmax') return { steps, weighted, loss: 'crossentropy' };
  if (loss === 'meanSquaredError' && last.activation === 'linear') return { steps, weighted, loss: 'mse' };
  return null;
}

const EPSILON = 1e-7;

const isWeighted = (step: ChainStep): step is WeightedStep => step.kind === 'dense' || step.kind === 'conv2d';

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

/** What one step keeps of a batch's pass at the current weights: nothing in it depends on v. */
interface PrimalStep {
  /** The step's input shape. */
  readonly shape: readonly number[];
  /** Weighted steps: the step's input (for a ∗ V and the filter gradients). */
  readonly a?: tf.Tensor;
  /** Weighted hidden steps: f'(z) (null: linear) and g ⊙ f''(z) (null where f'' = 0). */
  readonly d1?: tf.Tensor | null;
  readonly gd2?: tf.Tensor | null;
  /** Weighted steps: δ, the mean loss's gradient with respect to the pre-activation. */
  readonly delta?: tf.Tensor;
  /** The first weighted step, a convolution: its input's patch columns (`convColumns`; the caller's). */
  readonly columns?: tf.Tensor;
  /** Stride-1 convolutions after the first weighted step: `flippedFilter` of the kernel, δ as [Ho, Wo, N, Cout]. */
  readonly flipped?: tf.Tensor;
  readonly deltaAsFilter?: tf.Tensor;
  /** Max pools: `firstMaxMasks` (average pools: none). */
  readonly mask?: tf.Tensor;
  readonly spread?: tf.Tensor;
}

/**
 * A batch's forward and backward pass at the current weights: everything H v needs that does not
 * depend on v. Lanczos computes tens of products at one point; with this kept, each product is
 * only the R-passes (about 3/4 of the work of a product from scratch, and none of the pools'
 * window gathering). Dispose it when the weights change.
 */
export interface ChainPrimal {
  readonly n: number;
  readonly steps: readonly PrimalStep[];
  /** Cross-entropy output: p and p · Σ(y ⊙ m) / n, for R δ = q ⊙ (R z − Σ p ⊙ R z). */
  readonly p: tf.Tensor | null;
  readonly q: tf.Tensor | null;
  /** The tensors it holds and their size in bytes. */
  readonly tensors: readonly tf.Tensor[];
  readonly bytes: number;
}

/**
 * The v-independent part of H v of the mean loss over one batch (see `ChainPrimal`).
 * @param x the batch's inputs
 * @param y one-hot labels (cross-entropy) or targets (MSE), [n, C]
 * @param columns the first weighted step's `convColumns` of this batch, if the caller keeps them
 * (they depend on the data only); not disposed
 * @returns the primal pass; the caller disposes `tensors`
 */
export function layerChainPrimal(plan: ChainPlan, x: tf.Tensor, y: tf.Tensor, columns?: tf.Tensor): ChainPrimal {
  const n = x.shape[0] as number;
  const steps: PrimalStep[] = new Array(plan.steps.length);
  let p: tf.Tensor | null = null;
  let q: tf.Tensor | null = null;
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor | null | undefined>(t: T): T => {
    // The batch's own input stays the caller's.
    if (t !== null && t !== undefined && t !== x && !kept.includes(t)) kept.push(tf.keep(t));
    return t;
  };
  tf.tidy(() => {
    let a = x;
    let z: tf.Tensor = x;
    const d2s: (tf.Tensor | null)[] = [];
    for (const [s, step] of plan.steps.entries()) {
      if (step.kind === 'flatten' || step.kind === 'globalAvgPool') {
        steps[s] = { shape: a.shape };
        a = step.kind === 'flatten' ? tf.reshape(a, [n, -1]) : tf.mean(a, [1, 2]);
        continue;
      }
      if (step.kind === 'pool') {
        if (step.mode === 'max') {
          const { scaled, spread } = firstMaxMasks(a, step.size);
          steps[s] = { shape: a.shape, mask: keep(scaled), spread: keep(spread) };
        } else steps[s] = { shape: a.shape };
        a = step.mode === 'max' ? tf.maxPool(a as tf.Tensor4D, step.size, step.size, 'valid') : tf.avgPool(a as tf.Tensor4D, step.size, step.size, 'valid');
        continue;
      }
      const first = step === plan.weighted[0];
      const own = first && columns !== undefined ? { columns } : {};
      if (s === plan.steps.length - 1) {
        z = linearMap(step, a, step.kernel.read(), step.bias === null ? null : step.bias.read());
        steps[s] = { shape: a.shape, a: keep(a), ...own };
        break;
      }
      // relu inside the matMul or convolution kernel; its mask step(z) = step(relu(z)).
      const fusedRelu = step.activation === 'relu';
      z = linearMap(step, a, step.kernel.read(), step.bias === null ? null : step.bias.read(), fusedRelu ? 'relu' : undefined);
      const { a: next, d1, d2 } = fusedRelu ? { a: z, d1: tf.step(z), d2: null } : derivatives(step.activation as Activation, z);
      steps[s] = { shape: a.shape, a: keep(a), d1: keep(d1), ...own };
      d2s[s] = d2;
      a = next;
    }
    // Output: δ of the last layer's pre-activation, per sample, over n.
    let delta: tf.Tensor;
    if (plan.loss === 'crossentropy') {
      const probabilities = tf.softmax(z);
      const mask = tf.cast(tf.logicalAnd(tf.greaterEqual(probabilities, EPSILON), tf.lessEqual(probabilities, 1 - EPSILON)), 'float32');
      const ym = tf.mul(y, mask);
      const sm = tf.sum(ym, -1, true);
      delta = tf.div(tf.sub(tf.mul(probabilities, sm), ym), n);
      p = keep(probabilities);
      q = keep(tf.div(tf.mul(probabilities, sm), n));
    } else {
      delta = tf.div(tf.mul(tf.sub(z, y), 2), n * (z.shape[1] as number));
    }
    // Backward: g is the gradient with respect to a step's output; it stops at the first weighted step.
    let g: tf.Tensor | null = null;
    let first = true;
    for (let s = plan.steps.length - 1; s >= 0; s--) {
      const step = plan.steps[s] as ChainStep;
      const saved = steps[s] as PrimalStep;
      if (!isWeighted(step)) {
        g = shapeBackward(step, saved, n, g as tf.Tensor);
        continue;
      }
      if (!first) {
        const d2 = d2s[s] ?? null;
        delta = saved.d1 === null || saved.d1 === undefined ? (g as tf.Tensor) : tf.mul(g as tf.Tensor, saved.d1);
        steps[s] = { ...saved, gd2: d2 === null ? null : keep(tf.mul(g as tf.Tensor, d2)) };
      }
      first = false;
      steps[s] = { ...(steps[s] as PrimalStep), delta: keep(delta) };
      if (s === plan.steps.findIndex(isWeighted)) break;
      const flipped = keep(flippedFilter(step, step.kernel.read()));
      // After the first weighted step, R a ⋆ δ takes δ as a filter at every product: keep it as one.
      const deltaAsFilter = step.kind === 'conv2d' && step.strides[0] === 1 && step.strides[1] === 1 ? keep(tf.transpose(delta, [1, 2, 0, 3])) : undefined;
      steps[s] = { ...(steps[s] as PrimalStep), flipped, deltaAsFilter };
      g = inputGradient(step, delta, step.kernel.read(), saved.shape, flipped);
    }
  });
  return { n, steps, p, q, tensors: kept, bytes: kept.reduce((b, t) => b + t.size * 4, 0) };
}

/** A step without weights, backward: the gradient with respect to its input from the one with respect to its output. */
function shapeBackward(step: ShapeStep, saved: PrimalStep, n: number, g: tf.Tensor): tf.Tensor {
  if (step.kind === 'flatten') return tf.reshape(g, [...saved.shape]);
  if (step.kind === 'globalAvgPool') {
    const [, h, w] = saved.shape as number[];
    return tf.mul(tf.broadcastTo(tf.reshape(g, [n, 1, 1, -1]), [...saved.shape]), 1 / ((h as number) * (w as number)));
  }
  return poolTranspose(g, step.size, saved.spread ?? null, saved.shape);
}

/**
 * a ∗ W + b, the bias added by the matMul or convolution kernel itself (wasm's broadcast add of a
 * bias costs as much as the convolution).
 */
function linearMap(step: WeightedStep, a: tf.Tensor, filter: tf.Tensor, bias: tf.Tensor | null, activation?: 'relu'): tf.Tensor {
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
function flippedFilter(step: WeightedStep, filter: tf.Tensor): tf.Tensor | undefined {
  if (step.kind !== 'conv2d' || step.strides[0] !== 1 || step.strides[1] !== 1) return undefined;
  return tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
}

/**
 * A weighted step's input gradient: δ Wᵀ, or the convolution's transpose — at stride 1 as the
 * 'full' convolution of δ by the flipped filter (`flipped`; on wasm up to 6× faster than its
 * Conv2DBackpropInput), the padding inside the convolution.
 */
function inputGradient(step: WeightedStep, dz: tf.Tensor, filter: tf.Tensor, inShape: readonly number[], flipped?: tf.Tensor): tf.Tensor {
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
 * A weighted step's kernel and bias gradients (bias: none when the layer has none):
 * - Dense: aᵀ δ and Σ δ;
 * - a convolution with its input's patch columns (`convColumns`, the ones column last when it
 *   has a bias): one matMul δᵀ · columns gives both, the columns as the kept operand;
 * - otherwise the filter gradient (`conv2dBackpropFilter`; at stride 1 a convolution whose
 *   filter is δ as [Ho, Wo, N, Cout], which the caller may pass kept as `deltaAsFilter`) and the
 *   bias as a sum over the rows of δ as a matrix (wasm reduces a 4-D tensor's leading axes ~3×
 *   slower).
 */
function paramGradients(step: WeightedStep, input: tf.Tensor, dz: tf.Tensor, columns?: tf.Tensor, deltaAsFilter?: tf.Tensor): tf.Tensor[] {
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
export function convColumns(step: WeightedStep, input: tf.Tensor): tf.Tensor | null {
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
 * ∇ of the mean loss over the batch, times `weight`, from its primal pass: a ⋆ δ per step (and
 * Σ δ for its bias) — the gradient without a tape.
 * @returns the parts, weighted step by step: the kernel's, then the bias's when the layer has one
 * (the caller owns them)
 */
export function layerChainGradient(plan: ChainPlan, primal: ChainPrimal, weight: number): tf.Tensor[] {
  return tf.tidy(() =>
    plan.steps.flatMap((step, s) => {
      if (!isWeighted(step)) return [];
      const saved = primal.steps[s] as PrimalStep;
      const delta = saved.delta as tf.Tensor;
      const parts = paramGradients(step, saved.a as tf.Tensor, delta, saved.columns);
      return weight === 1 ? parts : parts.map((t) => tf.mul(t, weight));
    }),
  );
}

/** A direction's parts, per weighted step: the kernel's and the bias's (null: zero). */
export type StepDirection = { readonly kernel: tf.Tensor; readonly bias: tf.Tensor | null };

/**
 * H v of the mean loss over one batch, times `weight`, from the batch's primal pass: the R
 * forward pass and the R backward pass only.
 * @param v the direction: per weighted step, the kernel's and the bias's parts (bias null: zero)
 * @returns the product's parts, weighted step by step: the kernel's, then the bias's when the layer
 * has one (the caller owns them)
 */
export function layerChainTangent(plan: ChainPlan, primal: ChainPrimal, v: readonly StepDirection[], weight: number): tf.Tensor[] {
  return tf.tidy(() => tangentPass(plan, primal, v, weight, false).parts);
}

/**
 * vᵀ H_i v of each sample's loss ℓ_i in the batch, [n], from the batch's primal pass. With
 * δ = ∇ℓ/n and R δ its R, vᵀ (R ∇W) splits by sample: for a step z = a ∗ W + b,
 * ⟨V, a ⋆ R δ + R a ⋆ δ⟩ + ⟨v_b, Σ R δ⟩ = Σ_i ⟨(a ∗ V + v_b)_i, R δ_i⟩ + ⟨R a_i, (δ ∗ᵀ V)_i⟩ —
 * terms the R-passes already form, so no filter gradient is computed: cheaper than a product.
 * @returns the per-sample quadratics (the caller owns the tensor)
 */
export function layerChainQuadratics(plan: ChainPlan, primal: ChainPrimal, v: readonly StepDirection[]): tf.Tensor1D {
  return tf.tidy(() => tangentPass(plan, primal, v, 1, true).quadratics as tf.Tensor1D);
}

/** The R-passes: the product's parts, or (`quadratics`) only the per-sample vᵀ H_i v. */
function tangentPass(plan: ChainPlan, primal: ChainPrimal, v: readonly StepDirection[], weight: number, quadratics: boolean): { parts: tf.Tensor[]; quadratics: tf.Tensor | null } {
  const n = primal.n;
  const rowSum = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.reshape(tf.mul(a, b), [n, -1]), 1);
  const ras: (tf.Tensor | null)[] = new Array(plan.steps.length);
  const rzs: tf.Tensor[] = new Array(plan.steps.length);
  const owns: tf.Tensor[] = new Array(plan.steps.length); // a ∗ V + v_b
  let ra: tf.Tensor | null = null;
  let rz: tf.Tensor | null = null;
  let k = 0; // index of the weighted step
  for (const [s, step] of plan.steps.entries()) {
    const saved = primal.steps[s] as PrimalStep;
    if (step.kind === 'flatten') ra = ra === null ? null : tf.reshape(ra, [n, -1]);
    else if (step.kind === 'globalAvgPool') ra = ra === null ? null : tf.mean(ra, [1, 2]);
    else if (step.kind === 'pool') {
      const input: tf.Tensor | null = ra === null || saved.mask === undefined ? ra : tf.mul(ra, saved.mask);
      ra = input === null ? null : tf.avgPool(input as tf.Tensor4D, step.size, step.size, 'valid');
    } else {
      const vk = v[k++] as StepDirection;
      const own = linearMap(step, saved.a as tf.Tensor, vk.kernel, vk.bias);
      rz = ra === null ? own : tf.add(own, linearMap(step, ra, step.kernel.read(), null));
      owns[s] = own;
      ras[s] = ra;
      rzs[s] = rz;
      ra = saved.d1 === null || saved.d1 === undefined ? rz : tf.mul(saved.d1, rz);
    }
  }
  // Output: R δ of the last layer's pre-activation.
  const last = rz as tf.Tensor;
  let rdelta =
    plan.loss === 'crossentropy'
      ? tf.mul(primal.q as tf.Tensor, tf.sub(last, tf.sum(tf.mul(primal.p as tf.Tensor, last), -1, true)))
      : tf.div(tf.mul(last, 2), n * (last.shape[1] as number));
  // Backward: R g, the R of the gradient with respect to a step's output.
  const out: tf.Tensor[][] = new Array(plan.weighted.length);
  let q: tf.Tensor | null = null;
  const addQ = (t: tf.Tensor) => (q = q === null ? t : tf.add(q, t));
  let rg: tf.Tensor | null = null;
  for (let s = plan.steps.length - 1; s >= 0; s--) {
    const step = plan.steps[s] as ChainStep;
    const saved = primal.steps[s] as PrimalStep;
    if (!isWeighted(step)) {
      rg = shapeBackward(step, saved, n, rg as tf.Tensor);
      continue;
    }
    if (rg !== null) {
      // A hidden layer: R δ = R g ⊙ f'(z) + g ⊙ f''(z) ⊙ R z.
      rdelta = saved.d1 === null || saved.d1 === undefined ? rg : tf.mul(rg, saved.d1);
      if (saved.gd2 !== null && saved.gd2 !== undefined) rdelta = tf.add(rdelta, tf.mul(saved.gd2, rzs[s] as tf.Tensor));
    }
    k--; // the weighted steps, counted down from the forward pass's end
    const vk = v[k] as StepDirection;
    const input = ras[s] ?? null;
    if (quadratics) addQ(rowSum(owns[s] as tf.Tensor, rdelta));
    else {
      // R ∇W = a ⋆ R δ + R a ⋆ δ; R ∇b = Σ R δ.
      const parts = paramGradients(step, saved.a as tf.Tensor, rdelta, saved.columns);
      if (input !== null) parts[0] = tf.add(parts[0] as tf.Tensor, paramGradients(step, input, saved.delta as tf.Tensor, undefined, saved.deltaAsFilter)[0] as tf.Tensor);
      out[k] = weight === 1 ? parts : parts.map((t) => tf.mul(t, weight));
    }
    if (k === 0) break;
    const throughV = inputGradient(step, saved.delta as tf.Tensor, vk.kernel, saved.shape);
    if (quadratics && input !== null) addQ(rowSum(input, throughV));
    rg = tf.add(inputGradient(step, rdelta, step.kernel.read(), saved.shape, saved.flipped), throughV);
  }
  // δ and R δ carry 1/n: each row's sum is vᵀ H_i v / n.
  return { parts: out.flat(), quadratics: q === null ? null : tf.mul(q, n) };
}

/**
 * H v of the mean loss over one batch, times `weight`, for every kernel and bias of the chain: the
 * primal pass and the R-passes in one (`layerChainPrimal`, then `layerChainTangent`).
 * @param x the batch's inputs
 * @param y one-hot labels (cross-entropy) or targets (MSE), [n, C]
 * @param v the direction: per weighted step, the kernel's and the bias's parts (bias null: zero)
 * @returns the product's parts, weighted step by step: the kernel's, then the bias's when the layer
 * has one (the caller owns them)
 */
export function layerChainBatchHvp(plan: ChainPlan, x: tf.Tensor, y: tf.Tensor, v: readonly StepDirection[], weight: number): tf.Tensor[] {
  const primal = layerChainPrimal(plan, x, y);
  try {
    return layerChainTangent(plan, primal, v, weight);
  } finally {
    tf.dispose([...primal.tensors]);
  }
}
