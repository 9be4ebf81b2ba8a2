/**
 * Opt-in kernels that fill TF.js backend gaps: `Conv2DBackpropFilter` (missing on wasm, slow on
 * cpu), `MaxPoolGrad` (wrong on wasm for windows whose maximum is negative) and
 * `UnsortedSegmentSum` (missing on wasm: the gradient of an Embedding). Library code never
 * registers them by itself; the landscope CLI does on wasm, and users call `registerKernels()`.
 */
import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { maxPoolGradKernel } from './max-pool-grad.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';

/** The kernels landscope provides, by TF.js kernel name. */
export const LANDSCOPE_KERNELS: Readonly<Record<string, tf.KernelFunc>> = {
  Conv2DBackpropFilter: conv2dBackpropFilterKernel,
  MaxPoolGrad: maxPoolGradKernel,
  UnsortedSegmentSum: unsortedSegmentSumKernel,
};

/** Options of `registerKernels`. */
export interface RegisterKernelsOptions {
  /** The backends to register for. @default ['wasm'] */
  readonly backends?: readonly string[];
  /** Which kernels. @default all of LANDSCOPE_KERNELS */
  readonly kernels?: readonly string[];
}

/**
 * Registers landscope's kernels for the given backends, replacing what the backend had. Calling it
 * again is harmless.
 * @returns the `backend/kernel` pairs that were registered by this call
 * @throws {RangeError} for a kernel name landscope does not provide
 * @example
 * import '@tensorflow/tfjs-backend-wasm';
 * registerKernels(); // conv models can now train and take gradients on wasm
 */
export function registerKernels(options: RegisterKernelsOptions = {}): string[] {
  const backends = options.backends ?? ['wasm'];
  const names = options.kernels ?? Object.keys(LANDSCOPE_KERNELS);
  const done: string[] = [];
  for (const kernelName of names) {
    const kernelFunc = LANDSCOPE_KERNELS[kernelName];
    if (kernelFunc === undefined) {
      throw new RangeError(`registerKernels: kernels has '${kernelName}'; landscope provides ${Object.keys(LANDSCOPE_KERNELS).join(', ')}`);
    }
    for (const backendName of backends) {
      if (tf.getKernel(kernelName, backendName)?.kernelFunc === kernelFunc) continue;
      if (tf.getKernel(kernelName, backendName) !== undefined) tf.unregisterKernel(kernelName, backendName);
      tf.registerKernel({ kernelName, backendName, kernelFunc });
      done.push(`${backendName}/${kernelName}`);
    }
  }
  return done;
}
