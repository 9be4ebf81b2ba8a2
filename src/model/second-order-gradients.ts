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
 * give the conv and pooling gradient kernels their adjoints as gradients. Where a backend's own
 * first-order kernel is missing, wrong or very slow, landscope's (src/kernels) is swapped in too.
 *
 * Installation: TF.js looks a gradient up when an op is *recorded*, so `withSecondOrderGradients`
 * swaps these definitions (and those kernels) into the registries for the duration of one call and
 * restores the stock ones in `finally`. Ops recorded outside that window — a user's training step — get exactly the
 * stock gradients (a test checks training gradients bit for bit before and after HVPs).
 */
import * as tf from '@tensorflow/tfjs';
import { withTensors } from '../kernels/as-tensor.js';
import { maxPoolWindows } from '../kernels/max-pool-grad.js';
import { LANDSCOPE_KERNELS } from '../kernels/register-kernels.js';

type GradConfig = tf.GradConfig;

/** A zero gradient for each input, shaped like that input (a broadcast input is smaller than dy). */
const zeroGrad = (kernelName: string, inputs: string[]): GradConfig => ({
  kernelName,
  inputsToSave: inputs,
  gradFunc: (_dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => Object.fromEntries(inputs.map((name, i) => [name, () => tf.zeros((saved[i] as tf.Tensor).shape, 'float32')])),
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

/**
 * Conv and pooling gradient kernels are linear (or bilinear) in their inputs with piecewise-
 * constant routing, so their own gradients are adjoints.
 */
const POOL_AND_CONV: GradConfig[] = [
  {
    // dW = F(x, dy) is bilinear: ⟨G, F(x, dy)⟩ has gradient conv2dBackpropInput(dy, G) in x and conv2d(x, G) in dy.
    kernelName: 'Conv2DBackpropFilter',
    inputsToSave: ['x', 'dy'],
    gradFunc: (ddw, saved, attrs) => {
      const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: ddw as tf.Tensor }, { strides, pad, dataFormat, dimRoundingMode, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
        dy: () => tf.conv2d(x, ddw as tf.Tensor4D, strides, pad as 'same', dataFormat, 1, dimRoundingMode),
      };
    },
  },
  {
    // dx = P(dy; input) is linear in dy with a routing that is piecewise constant in input and
    // output: its adjoint in dy gathers each window's winner.
    kernelName: 'MaxPoolGrad',
    inputsToSave: ['input', 'output'],
    gradFunc: (ddx, saved, attrs) => {
      const [input, output] = saved as [tf.Tensor4D, tf.Tensor4D];
      return {
        dy: () => {
          const { windows, winner } = maxPoolWindows(ddx as tf.Tensor4D, input, attrs as never);
          return tf.sum(tf.mul(windows, winner), 4);
        },
        input: () => tf.zerosLike(input),
        output: () => tf.zerosLike(output),
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

/** Every gradient swapped in during an HVP. */
export const SECOND_ORDER_GRADIENTS: readonly GradConfig[] = [...MASK_OPS, ...FROM_INPUT, ...POOL_AND_CONV];

/**
 * Kernels whose stock gradient is wrong to second order and which landscope does not replace:
 * a model using one is refused rather than given silently wrong numbers.
 */
export const SECOND_ORDER_UNSUPPORTED: readonly string[] = ['LRN', 'MaxPool3D', 'LogSoftmax'];

/**
 * First-order kernels landscope swaps in during an HVP on a given backend: where the backend has
 * none (wasm's Conv2DBackpropFilter and UnsortedSegmentSum), where it is wrong (wasm's MaxPoolGrad on negative windows),
 * or where it is very slow (cpu's Conv2DBackpropFilter, seconds per call). Other backends
 * (tfjs-node) keep their own unless they lack one.
 */
function kernelsToSwap(backendName: string): string[] {
  const names = Object.keys(LANDSCOPE_KERNELS);
  if (backendName === 'cpu') return ['Conv2DBackpropFilter'];
  if (backendName === 'wasm') return names.filter((name) => name !== 'UnsortedSegmentSum' || tf.getKernel(name, backendName) === undefined);
  return names.filter((name) => tf.getKernel(name, backendName) === undefined);
}

/**
 * wasm's BatchMatMul with a transpose flag runs about 10× slower than a transpose followed by a
 * plain product (256×784 by 256×128: 17 ms against 2 ms), and backpropagation transposes in every
 * matMul gradient. During an HVP on wasm, BatchMatMul makes its transposes explicit.
 */
function explicitTransposeMatMul(original: tf.KernelFunc, transpose: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return original({ inputs, backend, attrs });
    const swap = (t: tf.TensorInfo) => transpose({ inputs: { x: t }, backend, attrs: { perm: t.shape.length === 3 ? [0, 2, 1] : [1, 0] } as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
    const a2 = transposeA ? swap(a) : a;
    const b2 = transposeB ? swap(b) : b;
    try {
      return original({ inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap });
    } finally {
      const disposer = backend as unknown as { disposeData(id: object): void };
      if (a2 !== a) disposer.disposeData(a2.dataId);
      if (b2 !== b) disposer.disposeData(b2.dataId);
    }
  };
}

/**
 * wasm's Conv2DBackpropInput at stride 1 runs up to 6× slower than the same product as a 'full'
 * convolution: dx = conv2d(dy padded by k − 1 − pad, W flipped in space with its channel axes
 * swapped). During an HVP on wasm the stride-1, NHWC, dilation-1 case takes that route; others
 * keep the backend's kernel.
 */
function convBackpropInputAsConv(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = args.attrs as unknown as { strides: number | [number, number]; pad: unknown; dataFormat: string; dimRoundingMode?: 'floor'; inputShape: [number, number, number, number] };
    const strides = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
    if (strides[0] !== 1 || strides[1] !== 1 || a.dataFormat !== 'NHWC' || !(a.pad === 'valid' || a.pad === 'same' || typeof a.pad === 'number')) return original(args);
    return withTensors([dy, filter], ([g, w]) =>
      tf.tidy(() => {
        const [kh, kw] = (w as tf.Tensor4D).shape;
        const info = tf.backend_util.computeConv2DInfo(a.inputShape, (w as tf.Tensor4D).shape, 1, 1, a.pad as 'valid', a.dimRoundingMode, false, 'channelsLast');
        const { top, left } = info.padInfo;
        const [, h, wd] = a.inputShape;
        const [, ho, wo] = (g as tf.Tensor4D).shape;
        // Full padding k − 1 − pad before; after, whatever makes the output the input's size.
        const padded = tf.pad(g as tf.Tensor4D, [[0, 0], [kh - 1 - top, h + kh - 1 - (kh - 1 - top) - ho], [kw - 1 - left, wd + kw - 1 - (kw - 1 - left) - wo], [0, 0]]);
        const flipped = tf.transpose(tf.reverse(w as tf.Tensor4D, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
        return tf.conv2d(padded as tf.Tensor4D, flipped, 1, 'valid');
      }),
    );
  };
}

let depth = 0;
let savedGradients: Map<string, GradConfig | undefined> | undefined;
let savedKernels: Map<string, tf.KernelConfig | undefined> | undefined;
let swappedBackend = '';

/**
 * Runs `fn` with the second-order-correct gradients (and first-order kernels where needed)
 * installed, restoring the stock registries afterwards (also when `fn` throws). Nested calls share
 * one installation.
 * @param fn the computation (e.g. one HVP); anything it records uses the replacements
 * @returns what `fn` returns
 */
export async function withSecondOrderGradients<T>(fn: () => T | Promise<T>): Promise<T> {
  if (depth++ === 0) {
    savedGradients = new Map();
    for (const config of SECOND_ORDER_GRADIENTS) {
      savedGradients.set(config.kernelName, tf.getGradient(config.kernelName) ?? undefined);
      tf.registerGradient(config);
    }
    swappedBackend = tf.getBackend();
    savedKernels = new Map();
    for (const kernelName of kernelsToSwap(swappedBackend)) {
      const original = tf.getKernel(kernelName, swappedBackend);
      savedKernels.set(kernelName, original);
      if (original !== undefined) tf.unregisterKernel(kernelName, swappedBackend);
      tf.registerKernel({ kernelName, backendName: swappedBackend, kernelFunc: LANDSCOPE_KERNELS[kernelName] as tf.KernelFunc });
    }
    const backpropInput = tf.getKernel('Conv2DBackpropInput', swappedBackend);
    if (swappedBackend === 'wasm' && backpropInput !== undefined) {
      savedKernels.set('Conv2DBackpropInput', backpropInput);
      tf.unregisterKernel('Conv2DBackpropInput', swappedBackend);
      tf.registerKernel({ kernelName: 'Conv2DBackpropInput', backendName: swappedBackend, kernelFunc: convBackpropInputAsConv(backpropInput.kernelFunc) });
    }
    const matMul = tf.getKernel('BatchMatMul', swappedBackend);
    const transpose = tf.getKernel('Transpose', swappedBackend);
    if (swappedBackend === 'wasm' && matMul !== undefined && transpose !== undefined) {
      savedKernels.set('BatchMatMul', matMul);
      tf.unregisterKernel('BatchMatMul', swappedBackend);
      tf.registerKernel({ kernelName: 'BatchMatMul', backendName: swappedBackend, kernelFunc: explicitTransposeMatMul(matMul.kernelFunc, transpose.kernelFunc) });
    }
  }
  try {
    return await fn();
  } finally {
    if (--depth === 0) {
      for (const [name, original] of savedGradients ?? []) {
        if (original !== undefined) tf.registerGradient(original);
        else tf.unregisterGradient(name);
      }
      for (const [name, original] of savedKernels ?? []) {
        tf.unregisterKernel(name, swappedBackend);
        if (original !== undefined) tf.registerKernel(original);
      }
      savedGradients = undefined;
      savedKernels = undefined;
    }
  }
}
