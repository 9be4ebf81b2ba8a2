import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { LANDSCOPE_KERNELS, registerKernels } from '../../src/kernels/register-kernels.js';
import { useBackend } from '../helpers/backend.js';

type Case = { name: string; x: number[]; k: [number, number]; stride: number | [number, number]; pad: 'same' | 'valid'; shift: number };

const convCases: Case[] = [
  { name: '3x3 same stride 1', x: [2, 7, 7, 3], k: [3, 3], stride: 1, pad: 'same', shift: 0 },
  { name: '3x3 valid stride 2', x: [2, 9, 8, 2], k: [3, 3], stride: 2, pad: 'valid', shift: 0 },
  { name: '5x3 same stride [2,1]', x: [1, 8, 6, 4], k: [5, 3], stride: [2, 1], pad: 'same', shift: 0 },
];
const poolCases: Case[] = [
  { name: '2x2 valid stride 2', x: [2, 8, 8, 3], k: [2, 2], stride: 2, pad: 'valid', shift: 0 },
  { name: '2x2 valid stride 2, all windows negative', x: [2, 8, 8, 4], k: [2, 2], stride: 2, pad: 'valid', shift: -3 },
  { name: '3x3 same stride 2, negative', x: [1, 7, 9, 2], k: [3, 3], stride: 2, pad: 'same', shift: -3 },
  { name: '3x3 same stride 1 (overlapping)', x: [1, 6, 6, 2], k: [3, 3], stride: 1, pad: 'same', shift: -1 },
  { name: '2x2 valid stride 2 on odd sizes (a row and a column no window reaches)', x: [2, 7, 9, 3], k: [2, 2], stride: 2, pad: 'valid', shift: -3 },
];

function randomInputs(c: Case, seed: number, cout = 5) {
  const x = tf.add(tf.randomNormal(c.x, 0, 1, 'float32', seed), c.shift) as tf.Tensor4D;
  const filter = tf.randomNormal([c.k[0], c.k[1], c.x[3] as number, cout], 0, 1, 'float32', seed + 1) as tf.Tensor4D;
  return { x, filter };
}

function convFilterGrad(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const { x, filter } = randomInputs(c, seed);
    const y = tf.conv2d(x, filter, c.stride, c.pad);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', seed + 2);
    return tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, c.stride, c.pad), dy)))(filter).dataSync() as Float32Array;
  });
}

function poolInputGrad(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const { x } = randomInputs(c, seed);
    const y = tf.maxPool(x, c.k, c.stride, c.pad);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', seed + 2);
    return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, c.k, c.stride, c.pad), dy)))(x).dataSync() as Float32Array;
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);
}

const stockMaxPoolGrad = tf.getKernel('MaxPoolGrad', 'wasm') as tf.KernelConfig;

describe('registerKernels()', () => {
  it('registerKernels() makes wasm Conv2DBackpropFilter agree with the cpu backend', async () => {
    await useBackend('cpu');
    const reference = convCases.map((c, i) => convFilterGrad(c, 10 + i));
    await useBackend('wasm');
    expect(() => convFilterGrad(convCases[0] as Case, 10)).toThrow(/Conv2DBackpropFilter/);
    registerKernels();
    convCases.forEach((c, i) => {
      const ours = convFilterGrad(c, 10 + i);
      const scale = Math.max(...Array.from(reference[i] as Float32Array, Math.abs));
      expect(maxAbsDiff(ours, reference[i] as Float32Array), c.name).toBeLessThan(1e-5 * scale);
    });
  });

  it('registerKernels() makes wasm MaxPoolGrad agree with the cpu backend, negative windows included', async () => {
    await useBackend('cpu');
    const reference = poolCases.map((c, i) => poolInputGrad(c, 20 + i));
    await useBackend('wasm');
    // The stock wasm kernel first, to show the gap this fills.
    tf.unregisterKernel('MaxPoolGrad', 'wasm');
    tf.registerKernel(stockMaxPoolGrad);
    const stock = poolInputGrad(poolCases[1] as Case, 21);
    expect(maxAbsDiff(stock, reference[1] as Float32Array)).toBeGreaterThan(0.1);
    registerKernels();
    poolCases.forEach((c, i) => {
      const ours = poolInputGrad(c, 20 + i);
      expect(maxAbsDiff(ours, reference[i] as Float32Array), c.name).toBeLessThan(1e-6);
    });
  });

  it('registerKernels() routes a tied window (all zeros, as after ReLU) to its first position like cpu', async () => {
    const c: Case = { name: 'ties', x: [1, 4, 4, 1], k: [2, 2], stride: 2, pad: 'valid', shift: 0 };
    const run = () =>
      tf.tidy(() => {
        const x = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
        return tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, c.k, c.stride, c.pad)))(x).dataSync() as Float32Array;
      });
    await useBackend('cpu');
    const reference = run();
    await useBackend('wasm');
    registerKernels();
    expect(Array.from(run())).toEqual(Array.from(reference));
  });

  it('registerKernels() gives wasm an UnsortedSegmentSum equal to the cpu backend (Embedding gradients)', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.randomNormal([12, 3, 2], 0, 1, 'float32', 31);
        return tf.unsortedSegmentSum(x, tf.tensor1d([0, 4, 2, 4, 4, 1, 0, 3, 2, 2, 1, 0], 'int32'), 6).dataSync() as Float32Array;
      });
    await useBackend('cpu');
    const reference = run();
    await useBackend('wasm');
    registerKernels();
    expect(maxAbsDiff(run(), reference)).toBeLessThan(1e-6);
  });

  it('registerKernels() is idempotent and rejects unknown kernels', async () => {
    await useBackend('wasm');
    registerKernels();
    expect(registerKernels()).toEqual([]);
    expect(tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc).toBe(LANDSCOPE_KERNELS['MaxPoolGrad']);
    expect(() => registerKernels({ kernels: ['Conv3DBackpropFilter'] })).toThrow(
      "registerKernels: kernels has 'Conv3DBackpropFilter'; landscope provides Conv2DBackpropFilter, MaxPoolGrad, UnsortedSegmentSum",
    );
  });
});
