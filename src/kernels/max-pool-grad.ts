/**
 * `MaxPoolGrad` (the gradient of 2-D max pooling) written with TF.js ops. The wasm backend's own
 * kernel drops the gradient of every window whose maximum is negative; this one routes each
 * window's gradient to the window's first maximum in row-major order, as the cpu backend does.
 *
 * Windows are gathered as in im2col: the input is padded (with −∞ where maxima are sought), one
 * strided slice per tap, stacked on a last axis; the argmax over taps picks the winner; each tap's
 * share is spread back to the input grid by interleaving zeros (stride) and shifting (tap offset).
 * Non-overlapping unpadded windows (2×2 stride 2, the usual case) take a faster path: the windows
 * are a reshape and a transpose of the input.
 */
import * as tf from '@tensorflow/tfjs';
import { withTensors } from './as-tensor.js';

/** The attributes of MaxPool / MaxPoolGrad. */
export type PoolAttrs = {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

function poolInfo(shape: [number, number, number, number], attrs: PoolAttrs) {
  return tf.backend_util.computePool2DInfo(shape, attrs.filterSize, attrs.strides, 1, attrs.pad as 'valid', attrs.dimRoundingMode);
}

type PoolInfo = ReturnType<typeof poolInfo>;

/** Non-overlapping windows without padding (e.g. 2×2 stride 2): windows are a reshape away. */
function tiled(info: PoolInfo): boolean {
  const { top, bottom, left, right } = info.padInfo;
  return info.strideHeight === info.filterHeight && info.strideWidth === info.filterWidth && top + bottom + left + right === 0;
}

/** `[N, H, W, C]` → `[N, Ho, Wo, C, fh·fw]` for tiled windows (rows and columns past the last window dropped). */
function tiledWindows(t: tf.Tensor4D, info: PoolInfo): tf.Tensor {
  const [n, , , c] = t.shape;
  const { outHeight: ho, outWidth: wo, filterHeight: fh, filterWidth: fw } = info;
  const cropped = tf.slice(t, [0, 0, 0, 0], [n, ho * fh, wo * fw, c]);
  const blocks = tf.transpose(tf.reshape(cropped, [n, ho, fh, wo, fw, c]), [0, 1, 3, 5, 2, 4]);
  return tf.reshape(blocks, [n, ho, wo, c, fh * fw]);
}

/** The inverse of `tiledWindows`: `[N, Ho, Wo, C, fh·fw]` back to `[N, H, W, C]`, zeros where no window reached. */
function untile(w: tf.Tensor, info: PoolInfo, shape: [number, number, number, number]): tf.Tensor4D {
  const [n, h, wd, c] = shape;
  const { outHeight: ho, outWidth: wo, filterHeight: fh, filterWidth: fw } = info;
  const grid = tf.reshape(tf.transpose(tf.reshape(w, [n, ho, wo, c, fh, fw]), [0, 1, 4, 2, 5, 3]), [n, ho * fh, wo * fw, c]);
  return tf.pad(grid, [[0, 0], [0, h - ho * fh], [0, wd - wo * fw], [0, 0]]) as tf.Tensor4D;
}

/** The pooling windows of `t` (shaped like the input), stacked: `[N, Ho, Wo, C, fh·fw]`. */
function windowsOf(t: tf.Tensor4D, attrs: PoolAttrs, padValue: number): tf.Tensor {
  const info = poolInfo(t.shape, attrs);
  if (tiled(info)) return tiledWindows(t, info);
  const { top, bottom, left, right } = info.padInfo;
  const [n, , , c] = t.shape;
  const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const padded = tf.pad(t, [[0, 0], [top, bottom], [left, right], [0, 0]], padValue);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      taps.push(tf.stridedSlice(padded, [0, i, j, 0], [n, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, c], [1, sh, sw, 1]));
    }
  }
  return tf.stack(taps, 4);
}

/**
 * The windows of `source` and the one-hot position of each window's first maximum in `input`
 * (same shape as `source`), both `[N, Ho, Wo, C, fh·fw]`. Summing `windows · winner` over the
 * last axis is the adjoint of `maxPoolGrad` in `dy`.
 */
export function maxPoolWindows(source: tf.Tensor4D, input: tf.Tensor4D, attrs: PoolAttrs): { windows: tf.Tensor; winner: tf.Tensor } {
  const inputWindows = windowsOf(input, attrs, -Infinity);
  const taps = inputWindows.shape[4] as number;
  return { windows: windowsOf(source, attrs, 0), winner: tf.oneHot(tf.argMax(inputWindows, 4), taps).toFloat() };
}

/**
 * The input gradient of `maxPool(input)`.
 * @param dy the gradient of the pooled output, `[N, Ho, Wo, C]`
 * @param input the pooling's input, `[N, H, W, C]`
 * @param attrs the kernel attributes (filterSize, strides, pad, dimRoundingMode)
 * @returns `[N, H, W, C]`
 */
export function maxPoolGrad(dy: tf.Tensor4D, input: tf.Tensor4D, attrs: PoolAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const info = poolInfo(input.shape, attrs);
    if (tiled(info)) {
      // The common 2×2-stride-2 case: a reshape instead of per-tap slices (wasm's are slow).
      const windows = tiledWindows(input, info);
      const winner = tf.oneHot(tf.argMax(windows, 4), windows.shape[4] as number);
      return untile(tf.mul(winner, tf.expandDims(dy, 4)), info, input.shape);
    }
    const { top, bottom, left, right } = info.padInfo;
    const [n, h, w, c] = input.shape;
    const { outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw, filterWidth: fw } = info;
    const hp = h + top + bottom;
    const wp = w + left + right;
    const inputWindows = windowsOf(input, attrs, -Infinity);
    const winner = tf.oneHot(tf.argMax(inputWindows, 4), inputWindows.shape[4] as number); // first maximum
    const shares = tf.unstack(tf.mul(winner, tf.expandDims(dy, 4)), 4);
    let dxPadded: tf.Tensor = tf.zeros([n, hp, wp, c]);
    shares.forEach((share, k) => {
      const i = Math.floor(k / fw);
      const j = k % fw;
      // Interleave zeros: element (p, q) lands at (p·sh, q·sw).
      let spread = tf.reshape(share, [n, ho, 1, wo, 1, c]);
      spread = tf.pad(spread, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
      spread = tf.reshape(spread, [n, ho * sh, wo * sw, c]);
      // Shift by the tap offset, then fit to the padded grid.
      const rows = Math.min(ho * sh, hp - i);
      const cols = Math.min(wo * sw, wp - j);
      spread = tf.slice(spread, [0, 0, 0, 0], [n, rows, cols, c]);
      spread = tf.pad(spread, [[0, 0], [i, hp - i - rows], [j, wp - j - cols], [0, 0]]);
      dxPadded = tf.add(dxPadded, spread);
    });
    return tf.slice(dxPadded, [0, top, left, 0], [n, h, w, c]) as tf.Tensor4D;
  });
}

/** The kernel function registered for `MaxPoolGrad`. */
export const maxPoolGradKernel: tf.KernelFunc = ({ inputs, attrs }) =>
  withTensors([inputs['dy'] as tf.TensorInfo, inputs['input'] as tf.TensorInfo], ([dy, input]) =>
    maxPoolGrad(dy as tf.Tensor4D, input as tf.Tensor4D, attrs as unknown as PoolAttrs),
  );
