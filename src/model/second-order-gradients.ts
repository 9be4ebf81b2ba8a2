/**
 * Second-order-correct gradient definitions for TF.js, installed only while a Hessian-vector
 * product runs.
 *
 * Double backpropagation (Pearlmutter 1994; PyHessian's `hessian_vector_product`) differentiates
 * the first-order gradient graph again. Stock TF.js 4.22 cannot do that for common layers:
 * - Tanh, Sigmoid, Exp, Softmax and Elu gradients reuse the op's saved *output*, which the outer
 *   tape treats as a constant, so the second derivative is silently wrong (tfjs issue #3252);
 * - Conv2DBackpropFilter, MaxPoolGrad and AvgPoolGrad have no gradient, and neither have the
 *   comparisons and logical ops behind masks (LogicalAnd, LessEqual, Greater, …, reached through
 *   `clipByValue` in the cross-entropies, relu6, leakyRelu, selu, max).
 * The definitions below compute every first-order gradient from the op's *inputs* with ops that
 * are themselves differentiable, give masks a zero derivative (they are piecewise constant), and
 * route conv and pooling gradients through landscope kernels whose gradients are registered.
 *
 * Installation: TF.js looks a gradient up when an op is *recorded*, so `withSecondOrderGradients`
 * swaps these definitions into the registry for the duration of one call and restores the stock
 * ones in `finally`. Ops recorded outside that window — a user's training step — get exactly the
 * stock gradients (a test checks training gradients bit for bit before and after HVPs).
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilter } from '../kernels/conv2d-backprop-filter.js';
import { withTensors } from '../kernels/as-tensor.js';
import { maxPoolGrad, maxPoolWindows } from '../kernels/max-pool-grad.js';

type GradConfig = tf.GradConfig;

/** Kernel names of landscope's own first-order gradient kernels. */
const CONV_FILTER_GRAD = 'LandscopeConv2DBackpropFilter';
const MAX_POOL_GRAD = 'LandscopeMaxPoolGrad';

const zeroGrad = (kernelName: string, inputs: string[]): GradConfig => ({
  kernelName,
  gradFunc: (dy: tf.Tensor | tf.Tensor[]) => {
    const like = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
    return Object.fromEntries(inputs.map((name) => [name, () => tf.zerosLike(like)]));
  },
});

/** Piecewise-constant ops: derivative zero almost everywhere. */
const MASK_OPS: GradConfig[] = [
  zeroGrad('Equal', ['a', 'b']),
  zeroGrad('NotEqual', ['a', 'b']),
  zeroGrad('Greater', ['a', 'b']),
  zeroGrad('Less', ['a', 'b']),
  zeroGrad('LessEqual', ['a', 'b']),
  zeroGrad('LogicalAnd', ['a', 'b']),
  zeroGrad('LogicalOr', ['a', 'b']),
  zeroGrad('LogicalNot', ['x']),
];

/** Activations whose stock gradient uses the saved output, recomputed from the input. */
const FROM_INPUT: GradConfig[] = [
  {
    kernelName: 'Tanh',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(tf.tanh(saved[0] as tf.Tensor)))) }),
  },
  {
    kernelName: 'Sigmoid',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const s = () => tf.sigmoid(saved[0] as tf.Tensor);
      return { x: () => tf.mul(dy as tf.Tensor, tf.mul(s(), tf.sub(1, s()))) };
    },
  },
  {
    kernelName: 'Exp',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as tf.Tensor, tf.exp(saved[0] as tf.Tensor)) }),
  },
  {
    kernelName: 'Softmax',
    inputsToSave: ['logits'],
    gradFunc: (dy, saved, attrs) => {
      const dim = (attrs as unknown as { dim: number }).dim;
      return {
        logits: () => {
          const y = tf.softmax(saved[0] as tf.Tensor, dim);
          const dyTimesY = tf.mul(dy as tf.Tensor, y);
          return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y));
        },
      };
    },
  },
  {
    // tf.elu has α = 1: f'(x) = 1 for x > 0, eˣ otherwise.
    kernelName: 'Elu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const x = saved[0] as tf.Tensor;
      return { x: () => tf.mul(dy as tf.Tensor, tf.where(tf.greater(x, 0), tf.onesLike(x), tf.exp(x))) };
    },
  },
];

/** Conv and pooling gradients routed through landscope kernels with registered gradients. */
const POOL_AND_CONV: GradConfig[] = [
  {
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dataFormat, dimRoundingMode, dilations } = attrs as unknown as tf.Conv2DAttrs;
      assertNoDilation(dilations);
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: dy as tf.Tensor, filter }, { strides, pad, dataFormat, dimRoundingMode, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
        filter: () => filterGrad(x, dy as tf.Tensor, filter.shape, attrs),
      };
    },
  },
  {
    // Conv2DBackpropInput's stock gradient calls the stock Conv2DBackpropFilter (missing on wasm).
    kernelName: 'Conv2DBackpropInput',
    inputsToSave: ['dy', 'filter'],
    gradFunc: (ddx, saved, attrs) => {
      const [dy, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
      return {
        dy: () => tf.conv2d(ddx as tf.Tensor4D, filter, strides, pad as 'same', dataFormat, 1, dimRoundingMode),
        filter: () => filterGrad(ddx as tf.Tensor, dy, filter.shape, attrs),
      };
    },
  },
  {
    // dW = F(x, dy) is bilinear: ⟨G, F(x, dy)⟩ has gradient conv2dBackpropInput(dy, G) in x and conv2d(x, G) in dy.
    kernelName: CONV_FILTER_GRAD,
    inputsToSave: ['x', 'dy'],
    gradFunc: (ddw, saved, attrs) => {
      const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
      return {
        x: () => tf.conv2dTranspose(dy, ddw as tf.Tensor4D, x.shape, strides, pad as 'same', dimRoundingMode),
        dy: () => tf.conv2d(x, ddw as tf.Tensor4D, strides, pad as 'same', 'NHWC', 1, dimRoundingMode),
      };
    },
  },
  {
    kernelName: 'MaxPool',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => ({
      x: () => tf.engine().runKernel(MAX_POOL_GRAD, { dy: dy as tf.Tensor, input: saved[0] as tf.Tensor }, attrs as tf.NamedAttrMap) as tf.Tensor,
    }),
  },
  {
    // dx = P(dy; x) is linear in dy with a piecewise-constant routing: its adjoint gathers each
    // window's winner.
    kernelName: MAX_POOL_GRAD,
    inputsToSave: ['input'],
    gradFunc: (ddx, saved, attrs) => {
      const input = saved[0] as tf.Tensor4D;
      return {
        dy: () => {
          const { windows, winner } = maxPoolWindows(ddx as tf.Tensor4D, input, attrs as never);
          return tf.sum(tf.mul(windows, winner), 4);
        },
        input: () => tf.zerosLike(input),
      };
    },
  },
  {
    // AvgPoolGrad is the adjoint of avgPool: its gradient in dy is avgPool itself.
    kernelName: 'AvgPoolGrad',
    inputsToSave: ['input'],
    gradFunc: (ddx, saved, attrs) => {
      const { filterSize, strides, pad } = attrs as unknown as tf.AvgPoolAttrs;
      return {
        dy: () => tf.avgPool(ddx as tf.Tensor4D, filterSize, strides, pad as 'same'),
        input: () => tf.zerosLike(saved[0] as tf.Tensor),
      };
    },
  },
];

function assertNoDilation(dilations: number | [number, number] | undefined): void {
  const d = dilations === undefined ? [1, 1] : typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (d.some((v) => v !== 1)) {
    throw new RangeError(`Hessian-vector products: Conv2D with dilations [${d}] is not supported (TF.js has no gradient for dilated convolutions)`);
  }
}

function filterGrad(x: tf.Tensor, dy: tf.Tensor, filterShape: number[], attrs: tf.NamedAttrMap): tf.Tensor {
  const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
  return tf.engine().runKernel(CONV_FILTER_GRAD, { x, dy }, { strides, pad, dataFormat, dimRoundingMode, filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Every gradient swapped in during an HVP. */
export const SECOND_ORDER_GRADIENTS: readonly GradConfig[] = [...MASK_OPS, ...FROM_INPUT, ...POOL_AND_CONV];

/**
 * Kernels whose stock gradient is wrong to second order and which landscope does not replace:
 * a model using one is refused rather than given silently wrong numbers.
 */
export const SECOND_ORDER_UNSUPPORTED: readonly string[] = ['LRN', 'MaxPool3D', 'LogSoftmax'];

function ensureKernels(backendName: string): void {
  if (tf.getKernel(CONV_FILTER_GRAD, backendName) === undefined) {
    tf.registerKernel({
      kernelName: CONV_FILTER_GRAD,
      backendName,
      kernelFunc: ({ inputs, attrs }) =>
        withTensors([inputs['x'] as tf.TensorInfo, inputs['dy'] as tf.TensorInfo], ([x, dy]) =>
          conv2dBackpropFilter(x as tf.Tensor4D, dy as tf.Tensor4D, attrs as never),
        ),
    });
  }
  if (tf.getKernel(MAX_POOL_GRAD, backendName) === undefined) {
    tf.registerKernel({
      kernelName: MAX_POOL_GRAD,
      backendName,
      kernelFunc: ({ inputs, attrs }) =>
        withTensors([inputs['dy'] as tf.TensorInfo, inputs['input'] as tf.TensorInfo], ([dy, input]) =>
          maxPoolGrad(dy as tf.Tensor4D, input as tf.Tensor4D, attrs as never),
        ),
    });
  }
}

let depth = 0;
let saved: Map<string, GradConfig | undefined> | undefined;

/**
 * Runs `fn` with the second-order-correct gradients installed, restoring the stock registry
 * afterwards (also when `fn` throws). Nested calls share one installation.
 * @param fn the computation (e.g. one HVP); anything it records uses the replacements
 * @returns what `fn` returns
 */
export async function withSecondOrderGradients<T>(fn: () => T | Promise<T>): Promise<T> {
  ensureKernels(tf.getBackend());
  if (depth++ === 0) {
    saved = new Map();
    for (const config of SECOND_ORDER_GRADIENTS) {
      saved.set(config.kernelName, tf.getGradient(config.kernelName) ?? undefined);
      tf.registerGradient(config);
    }
  }
  try {
    return await fn();
  } finally {
    if (--depth === 0 && saved !== undefined) {
      for (const [name, original] of saved) {
        if (original !== undefined) tf.registerGradient(original);
        else tf.unregisterGradient(name);
      }
      saved = undefined;
    }
  }
}
