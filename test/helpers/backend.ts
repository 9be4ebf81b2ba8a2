/** Selects a TF.js backend for a test file (the library never does; tests and the CLI do). */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

/** The backends every numeric test runs on. */
export const BACKENDS = ['cpu', 'wasm'] as const;

/** Switches to a backend and waits for it. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} did not initialize`);
  await tf.ready();
  // No "install tfjs-node" greeting from the cpu backend in test output.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}
