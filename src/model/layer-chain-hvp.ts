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
  const weighted = steps.filter((s): s is WeightedStep => s.kind === 'dense' || s.kind === 'conv2d');
  // The loss reads the last layer's pre-activation: it must be a Dense layer, last in the chain.
  const last = steps.at(-1);
  if (last === undefined || last.kind !== 'dense' || weighted.slice(0, -1).some((s) => !HIDDEN.includes(s.activation))) return null;
  if ((loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy') && last.activation === 'softmax') return { steps, weighted, loss: 'crossentropy' };
  if (loss === 'meanSquaredError' && last.activation === 'linear') return { steps, weighted, loss: 'mse' };
  return null;
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

/** The inverse of `windows` for gradients: [n, Ho, Wo, C, kh·kw] → [n, H, W, C], zeros where no window reached. */
function unwindows(x: tf.Tensor, [kh, kw]: [number, number], inShape: readonly number[]): tf.Tensor {
  const [n, ho, wo, c] = x.shape as [number, number, number, number];
  const full = tf.reshape(tf.transpose(tf.reshape(x, [n, ho, wo, c, kh, kw]), [0, 1, 4, 2, 5, 3]), [n, ho * kh, wo * kw, c]);
  const [h, w] = [inShape[1] as number, inShape[2] as number];
  return ho * kh === h && wo * kw === w ? full : tf.pad(full, [[0, 0], [0, h - ho * kh], [0, w - wo * kw], [0, 0]]);
}

/** What the forward pass keeps of a step for the backward pass. */
interface Saved {
  readonly a: tf.Tensor;
  readonly ra: tf.Tensor | null;
  /** Weighted steps: R z and f', f'' at z. */
  readonly rz?: tf.Tensor;
  readonly d1?: tf.Tensor | null;
  readonly d2?: tf.Tensor | null;
  /** Pools: each window's weights (one-hot of the first maximum, or 1/(kh·kw)). */
  readonly mask?: tf.Tensor;
}

/**
 * H v of the mean loss over one batch, times `weight`, for every kernel and bias of the chain.
 * @param x the batch's inputs
 * @param y one-hot labels (cross-entropy) or targets (MSE), [n, C]
 * @param v the direction: per weighted step, the kernel's and the bias's parts (bias null: zero)
 * @returns the product's parts, weighted step by step: the kernel's, then the bias's when the layer
 * has one (the caller owns them)
 */
export function layerChainBatchHvp(plan: ChainPlan, x: tf.Tensor, y: tf.Tensor, v: readonly { kernel: tf.Tensor; bias: tf.Tensor | null }[], weight: number): tf.Tensor[] {
  return tf.tidy(() => {
    const n = x.shape[0] as number;
    const saved: Saved[] = [];
    let a = x;
    let ra: tf.Tensor | null = null;
    let z: tf.Tensor = x;
    let rz: tf.Tensor = x;
    let k = 0; // index of the weighted step
    for (const [s, step] of plan.steps.entries()) {
      if (step.kind === 'flatten') {
        saved.push({ a, ra });
        a = tf.reshape(a, [n, -1]);
        ra = ra === null ? null : tf.reshape(ra, [n, -1]);
        continue;
      }
      if (step.kind === 'globalAvgPool') {
        saved.push({ a, ra });
        a = tf.mean(a, [1, 2]);
        ra = ra === null ? null : tf.mean(ra, [1, 2]);
        continue;
      }
      if (step.kind === 'pool') {
        const win = windows(a, step.size);
        const mask = step.mode === 'max' ? tf.oneHot(tf.argMax(win, -1), step.size[0] * step.size[1]).toFloat() : tf.fill(win.shape, 1 / (step.size[0] * step.size[1]));
        saved.push({ a, ra, mask });
        a = tf.sum(tf.mul(win, mask), -1);
        ra = ra === null ? null : tf.sum(tf.mul(windows(ra, step.size), mask), -1);
        continue;
      }
      const W = step.kernel.read();
      const vk = v[k++] as { kernel: tf.Tensor; bias: tf.Tensor | null };
      const apply = (input: tf.Tensor, filter: tf.Tensor) =>
        step.kind === 'dense' ? tf.matMul(input, filter) : tf.conv2d(input as tf.Tensor4D, filter as tf.Tensor4D, step.strides, step.padding);
      z = step.bias === null ? apply(a, W) : tf.add(apply(a, W), step.bias.read());
      rz = apply(a, vk.kernel);
      if (ra !== null) rz = tf.add(rz, apply(ra, W));
      if (vk.bias !== null) rz = tf.add(rz, vk.bias);
      if (s === plan.steps.length - 1) {
        saved.push({ a, ra, rz });
        break;
      }
      const { a: next, d1, d2 } = derivatives(step.activation as Activation, z);
      saved.push({ a, ra, rz, d1, d2 });
      a = next;
      ra = d1 === null ? rz : tf.mul(d1, rz);
    }
    // Output: δ and R δ of the last layer's pre-activation, per sample, scaled by weight / n.
    const scale = weight / n;
    let delta: tf.Tensor;
    let rdelta: tf.Tensor;
    if (plan.loss === 'crossentropy') {
      const p = tf.softmax(z);
      const mask = tf.cast(tf.logicalAnd(tf.greaterEqual(p, EPSILON), tf.lessEqual(p, 1 - EPSILON)), 'float32');
      const ym = tf.mul(y, mask);
      const sm = tf.sum(ym, -1, true);
      delta = tf.mul(tf.sub(tf.mul(p, sm), ym), scale);
      const rp = tf.mul(p, tf.sub(rz, tf.sum(tf.mul(p, rz), -1, true)));
      rdelta = tf.mul(tf.mul(rp, sm), scale);
    } else {
      const c = z.shape[1] as number;
      delta = tf.mul(tf.sub(z, y), (2 * scale) / c);
      rdelta = tf.mul(rz, (2 * scale) / c);
    }
    // Backward: (g, R g) is the gradient with respect to a step's output and its R; at a weighted
    // step it becomes (δ, R δ) of the pre-activation, then the parts and the previous (g, R g).
    // It stops at the first weighted step: nothing before it has weights.
    const out: tf.Tensor[][] = new Array(plan.weighted.length);
    let g: tf.Tensor | null = null;
    let rg: tf.Tensor | null = null;
    for (let s = plan.steps.length - 1; s >= 0; s--) {
      const step = plan.steps[s] as ChainStep;
      const keep = saved[s] as Saved;
      if (step.kind === 'flatten' || step.kind === 'globalAvgPool' || step.kind === 'pool') {
        const back = (t: tf.Tensor) => {
          if (step.kind === 'flatten') return tf.reshape(t, keep.a.shape);
          if (step.kind === 'globalAvgPool') {
            const [, h, w] = keep.a.shape as number[];
            return tf.mul(tf.broadcastTo(tf.reshape(t, [n, 1, 1, -1]), keep.a.shape), 1 / ((h as number) * (w as number)));
          }
          return unwindows(tf.mul(tf.expandDims(t, -1), keep.mask as tf.Tensor), step.size, keep.a.shape);
        };
        g = back(g as tf.Tensor);
        rg = back(rg as tf.Tensor);
        continue;
      }
      if (g !== null) {
        // A hidden layer: δ = g ⊙ f'(z), R δ = R g ⊙ f'(z) + g ⊙ f''(z) ⊙ R z.
        const { d1, d2 } = keep as { d1: tf.Tensor | null; d2: tf.Tensor | null };
        delta = d1 === null ? g : tf.mul(g, d1);
        rdelta = d1 === null ? (rg as tf.Tensor) : tf.mul(rg as tf.Tensor, d1);
        if (d2 !== null) rdelta = tf.add(rdelta, tf.mul(tf.mul(g, d2), keep.rz as tf.Tensor));
      }
      k--; // the weighted steps, counted down from the forward pass's end
      const W = step.kernel.read();
      const vk = v[k] as { kernel: tf.Tensor; bias: tf.Tensor | null };
      const filterGrad = (input: tf.Tensor, dz: tf.Tensor) =>
        step.kind === 'dense'
          ? matMulTransposed(input, dz, true, false)
          : conv2dBackpropFilter(input as tf.Tensor4D, dz as tf.Tensor4D, { strides: step.strides, pad: step.padding, dataFormat: 'NHWC', filterShape: W.shape as [number, number, number, number] });
      let rgW = filterGrad(keep.a, rdelta);
      if (keep.ra !== null) rgW = tf.add(rgW, filterGrad(keep.ra, delta));
      out[k] = step.bias === null ? [rgW] : [rgW, tf.sum(rdelta, step.kind === 'dense' ? 0 : [0, 1, 2])];
      if (k === 0) break;
      const inputGrad = (dz: tf.Tensor, filter: tf.Tensor) =>
        step.kind === 'dense'
          ? matMulTransposed(dz, filter, false, true)
          : tf.conv2dTranspose(dz as tf.Tensor4D, filter as tf.Tensor4D, keep.a.shape as [number, number, number, number], step.strides, step.padding);
      g = inputGrad(delta, W);
      rg = tf.add(inputGrad(rdelta, W), inputGrad(delta, vk.kernel));
    }
    return out.flat();
  });
}
