/**
 * Exact Hessian-vector products for chains of Dense layers, by forward-over-reverse
 * differentiation written out by hand (Pearlmutter 1994, the R-operator): one forward pass, its
 * directional derivative R{·} along v, one backward pass and its directional derivative — a few
 * large matMuls per layer and no nested tapes, where double backpropagation through the Layers API
 * records hundreds of small ops. For z = a W + b, a' = f(z):
 *
 *   R z  = R a · W + a · V + v_b              R a' = f'(z) ⊙ R z
 *   δ    = ∂L/∂z,   ∇W = aᵀ δ,   ∇b = Σ δ,    δ_prev = (δ Wᵀ) ⊙ f'(z_prev)
 *   R ∇W = (R a)ᵀ δ + aᵀ R δ,   R ∇b = Σ R δ
 *   R δ_prev = (R δ Wᵀ + δ Vᵀ) ⊙ f'(z_prev) + (δ Wᵀ) ⊙ f''(z_prev) ⊙ R z_prev
 *
 * At the output, with TF.js's cross-entropy (probabilities clipped to [1e-7, 1 − 1e-7]; a clipped
 * term is constant, mask m) on a softmax: δ = −y ⊙ m + p Σ(y ⊙ m), R δ = R p · Σ(y ⊙ m) with
 * R p = p ⊙ (R z − Σ p ⊙ R z); with the mean squared error on a linear output: δ = 2(z − y)/C,
 * R δ = 2 R z / C. H v is R ∇ over the batch-weighted mean. `denseHvpPlan` says whether a model
 * fits (Dense layers with linear, relu, tanh or sigmoid, softmax or linear last; Flatten and
 * Dropout pass through); anything else goes through src/model/hvp.ts's reference path.
 */
import * as tf from '@tensorflow/tfjs';
import { matMulTransposed } from '../kernels/mat-mul-transposed.js';
import type { LossName } from './losses.js';

/** An activation the engine differentiates twice. */
type Activation = 'linear' | 'relu' | 'tanh' | 'sigmoid';

/** One Dense layer of the chain. */
export interface DenseStep {
  readonly kernel: tf.LayerVariable;
  readonly bias: tf.LayerVariable | null;
  /** The activation (for the last layer, softmax with the cross-entropies). */
  readonly activation: Activation | 'softmax';
}

/** A model the engine can take. */
export interface DensePlan {
  readonly steps: readonly DenseStep[];
  readonly loss: 'crossentropy' | 'mse';
}

const HIDDEN: readonly string[] = ['linear', 'relu', 'tanh', 'sigmoid'];
const PASS_THROUGH: readonly string[] = ['InputLayer', 'Dropout', 'Flatten'];

/**
 * How to run the model through the engine, or null when it does not fit (other layers, other
 * activations, several inputs or outputs, a loss other than the cross-entropies on a softmax or the
 * mean squared error on a linear output).
 * @param model the model
 * @param loss the loss's canonical name (undefined: a custom function)
 */
export function denseHvpPlan(model: tf.LayersModel, loss: LossName | undefined): DensePlan | null {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return null;
  const steps: DenseStep[] = [];
  let previous: unknown = null;
  for (const layer of model.layers) {
    const className = layer.getClassName();
    // A chain: every layer takes exactly the previous one's output.
    const inbound = (layer as unknown as { inboundNodes: { inboundLayers: unknown[] }[] }).inboundNodes;
    if (previous !== null && (inbound.length !== 1 || inbound[0]?.inboundLayers.length !== 1 || inbound[0].inboundLayers[0] !== previous)) return null;
    previous = layer;
    if (PASS_THROUGH.includes(className)) continue;
    if (className !== 'Dense') return null;
    const config = layer.getConfig() as { activation?: string; useBias?: boolean };
    const activation = config.activation ?? 'linear';
    const weights = layer.weights as tf.LayerVariable[];
    const kernel = weights.find((w) => w.originalName.endsWith('/kernel'));
    const bias = weights.find((w) => w.originalName.endsWith('/bias')) ?? null;
    if (kernel === undefined || weights.length !== (bias === null ? 1 : 2)) return null;
    steps.push({ kernel, bias, activation: activation as Activation | 'softmax' });
  }
  if (steps.length === 0 || steps.slice(0, -1).some((s) => !HIDDEN.includes(s.activation))) return null;
  const last = (steps.at(-1) as DenseStep).activation;
  if ((loss === 'categoricalCrossentropy' || loss === 'sparseCategoricalCrossentropy') && last === 'softmax') return { steps, loss: 'crossentropy' };
  if (loss === 'meanSquaredError' && last === 'linear') return { steps, loss: 'mse' };
  return null;
}

const EPSILON = 1e-7;


/** f(z), f'(z) and f''(z) of a hidden activation. */
function derivatives(activation: Activation, z: tf.Tensor): { a: tf.Tensor; d1: tf.Tensor | null; d2: tf.Tensor | null } {
  switch (activation) {
    case 'linear':
      return { a: z, d1: null, d2: null };
    case 'relu':
      return { a: tf.relu(z), d1: tf.cast(tf.greater(z, 0), 'float32'), d2: null };
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

/**
 * H v of the mean loss over one batch, times `weight`, for every kernel and bias of the chain.
 * @param x the batch's inputs (flattened to [n, d] here)
 * @param y one-hot labels (cross-entropy) or targets (MSE), [n, C]
 * @param v the direction: per step, the kernel's and the bias's parts (bias null: zero)
 * @returns the product's parts, step by step: the kernel's, then the bias's when the layer has one
 * (the caller owns them)
 */
export function denseBatchHvp(plan: DensePlan, x: tf.Tensor, y: tf.Tensor, v: readonly { kernel: tf.Tensor; bias: tf.Tensor | null }[], weight: number): tf.Tensor[] {
  return tf.tidy(() => {
    const n = x.shape[0] as number;
    const L = plan.steps.length;
    const as: tf.Tensor[] = [tf.reshape(x, [n, -1])];
    const ras: (tf.Tensor | null)[] = [null];
    const d1s: (tf.Tensor | null)[] = [];
    const d2s: (tf.Tensor | null)[] = [];
    const rzs: tf.Tensor[] = [];
    let z: tf.Tensor = as[0] as tf.Tensor;
    for (let l = 0; l < L; l++) {
      const step = plan.steps[l] as DenseStep;
      const a = as[l] as tf.Tensor;
      const W = step.kernel.read();
      z = step.bias === null ? tf.matMul(a, W) : tf.add(tf.matMul(a, W), step.bias.read());
      const vl = v[l] as { kernel: tf.Tensor; bias: tf.Tensor | null };
      let rz = tf.matMul(a, vl.kernel);
      const ra = ras[l] ?? null;
      if (ra !== null) rz = tf.add(rz, tf.matMul(ra, W));
      if (vl.bias !== null) rz = tf.add(rz, vl.bias);
      rzs.push(rz);
      if (l === L - 1) break;
      const { a: next, d1, d2 } = derivatives(step.activation as Activation, z);
      as.push(next);
      d1s.push(d1);
      d2s.push(d2);
      ras.push(d1 === null ? rz : tf.mul(d1, rz));
    }
    // Output: δ and R δ, per sample, scaled by weight / n (the batch's share of the mean).
    const scale = weight / n;
    const rzL = rzs[L - 1] as tf.Tensor;
    let delta: tf.Tensor;
    let rdelta: tf.Tensor;
    if (plan.loss === 'crossentropy') {
      const p = tf.softmax(z);
      const mask = tf.cast(tf.logicalAnd(tf.greaterEqual(p, EPSILON), tf.lessEqual(p, 1 - EPSILON)), 'float32');
      const ym = tf.mul(y, mask);
      const sm = tf.sum(ym, -1, true);
      delta = tf.mul(tf.sub(tf.mul(p, sm), ym), scale);
      const rp = tf.mul(p, tf.sub(rzL, tf.sum(tf.mul(p, rzL), -1, true)));
      rdelta = tf.mul(tf.mul(rp, sm), scale);
    } else {
      const c = z.shape[1] as number;
      delta = tf.mul(tf.sub(z, y), (2 * scale) / c);
      rdelta = tf.mul(rzL, (2 * scale) / c);
    }
    const out: { kernel: tf.Tensor; bias: tf.Tensor | null }[] = new Array(L);
    for (let l = L - 1; l >= 0; l--) {
      const step = plan.steps[l] as DenseStep;
      const a = as[l] as tf.Tensor;
      const ra = ras[l] ?? null;
      let rgW = matMulTransposed(a, rdelta, true, false);
      if (ra !== null) rgW = tf.add(rgW, matMulTransposed(ra, delta, true, false));
      out[l] = { kernel: rgW, bias: step.bias === null ? null : tf.sum(rdelta, 0) };
      if (l === 0) break;
      const W = step.kernel.read();
      const vl = v[l] as { kernel: tf.Tensor; bias: tf.Tensor | null };
      const back = matMulTransposed(delta, W, false, true);
      const rback = tf.add(matMulTransposed(rdelta, W, false, true), matMulTransposed(delta, vl.kernel, false, true));
      const d1 = d1s[l - 1] ?? null;
      const d2 = d2s[l - 1] ?? null;
      const nextDelta = d1 === null ? back : tf.mul(back, d1);
      let nextR = d1 === null ? rback : tf.mul(rback, d1);
      if (d2 !== null) nextR = tf.add(nextR, tf.mul(tf.mul(back, d2), rzs[l - 1] as tf.Tensor));
      delta = nextDelta;
      rdelta = nextR;
    }
    return out.flatMap((o) => (o.bias === null ? [o.kernel] : [o.kernel, o.bias]));
  });
}
