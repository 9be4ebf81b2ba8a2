/**
 * `Conv2DBackpropFilter` (the gradient of conv2d with respect to its filter) written with TF.js
 * ops: at stride 1 as one convolution of the input by the output gradient (batch as channels);
 * otherwise as im2col: pad the input, take one strided slice per filter tap, and contract the
 * stacked patches with the output gradient in one matMul. The wasm backend has no such kernel (conv
 * models cannot train there) and the cpu backend's own loops take seconds per call.
 *
 * dW[i, j, c, o] = Σ_{n, p, q} xPadded[n, p·sh + i, q·sw + j, c] · dy[n, p, q, o]
 */
import * as tf from '@tensorflow/tfjs';
import { withTensors } from './as-tensor.js';
import { matMulTransposed } from './mat-mul-transposed.js';

type Attrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
};

/**
 * The filter gradient of a 2-D convolution (dilation 1, as TF.js's conv2d gradient requires).
 * @param x the convolution's input, `[N, H, W, Cin]` (or NCHW with `dataFormat`)
 * @param dy the gradient of its output, `[N, Ho, Wo, Cout]` (or NCHW)
 * @param attrs the kernel attributes (strides, pad, dataFormat, dimRoundingMode, filterShape)
 * @param dyAsFilter at stride 1 (NHWC), `dy` already transposed to [Ho, Wo, N, Cout], when the
 * caller keeps it for many calls (on wasm a kept filter is packed once)
 * @returns `[kh, kw, Cin, Cout]`
 */
export function conv2dBackpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, attrs: Attrs, dyAsFilter?: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const nhwc = attrs.dataFormat === 'NCHW';
    const input = nhwc ? tf.transpose(x, [0, 2, 3, 1]) : x;
    const grad = nhwc ? tf.transpose(dy, [0, 2, 3, 1]) : dy;
    const [kh, kw, cin, cout] = attrs.filterShape;
    const info = tf.backend_util.computeConv2DInfo(
      input.shape,
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad as 'valid',
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const { top, bottom, left, right } = info.padInfo;
    // wasm runs even an identity Slice or Pad as a copy (a few ms at MNIST sizes): skip them.
    const padded = top === 0 && bottom === 0 && left === 0 && right === 0 ? input : tf.pad(input, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    const n = input.shape[0];
    const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw } = info;
    if (sh === 1 && sw === 1) {
      // Stride 1: the sum over samples and positions is itself a 'valid' convolution, of the
      // input with the batch as channels ([Cin, H, W, N]) by the output gradient as filter
      // ([Ho, Wo, N, Cout]), giving [Cin, kh, kw, Cout]: one conv2d call, 9–15× faster on wasm
      // than the im2col below (which slices and concatenates kh·kw copies of the input).
      const whole = padded.shape[1] === ho + kh - 1 && padded.shape[2] === wo + kw - 1;
      const cropped = whole ? padded : tf.slice(padded, [0, 0, 0, 0], [n, ho + kh - 1, wo + kw - 1, cin]);
      const filter = nhwc || dyAsFilter === undefined ? (tf.transpose(grad, [1, 2, 0, 3]) as tf.Tensor4D) : dyAsFilter;
      const out = tf.conv2d(tf.transpose(cropped, [3, 1, 2, 0]) as tf.Tensor4D, filter, 1, 'valid');
      return tf.transpose(out, [1, 2, 0, 3]) as tf.Tensor4D;
    }
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        taps.push(
          sh === 1 && sw === 1
            ? tf.slice(padded, [0, i, j, 0], [n, ho, wo, cin]) // plain slices are much faster than strided ones on wasm
            : tf.stridedSlice(padded, [0, i, j, 0], [n, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, cin], [1, sh, sw, 1]),
        );
      }
    }
    const columns = tf.reshape(tf.concat(taps, 3), [n * ho * wo, kh * kw * cin]);
    const dW = matMulTransposed(columns, tf.reshape(grad, [n * ho * wo, cout]), true, false);
    return tf.reshape(dW, [kh, kw, cin, cout]);
  });
}

/** The kernel function registered for `Conv2DBackpropFilter`. */
export const conv2dBackpropFilterKernel: tf.KernelFunc = ({ inputs, attrs }) =>
  withTensors([inputs['x'] as tf.TensorInfo, inputs['dy'] as tf.TensorInfo], ([x, dy]) =>
    conv2dBackpropFilter(x as tf.Tensor4D, dy as tf.Tensor4D, attrs as unknown as Attrs),
  );
