/**
 * Picks the TF.js backend the CLI runs on: `tensorflow` (libtensorflow through tfjs-node or
 * tfjs-node-gpu, when installed), else `wasm`, else the pure-JS `cpu`. This is the only place in
 * landscope that imports a backend package; on wasm it registers landscope's kernels for the
 * backend's gaps (see `src/kernels/`).
 */
import * as tf from '@tensorflow/tfjs';
import { LandscopeError } from '../errors.js';
import { registerKernels } from '../kernels/register-kernels.js';

/** The backends the CLI can select. */
export const BACKEND_NAMES = ['tensorflow', 'wasm', 'cpu'] as const;
/** A backend the CLI can select. */
export type BackendName = (typeof BACKEND_NAMES)[number];

async function tryImport(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

async function activate(name: BackendName): Promise<boolean> {
  if (name === 'tensorflow') {
    if (!(await tryImport('@tensorflow/tfjs-node-gpu')) && !(await tryImport('@tensorflow/tfjs-node'))) return false;
  } else if (name === 'wasm') {
    if (!(await tryImport('@tensorflow/tfjs-backend-wasm'))) return false;
  }
  try {
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
  } catch {
    return false;
  }
  if (name === 'wasm') registerKernels({ backends: ['wasm'] });
  // The cpu backend greets Node users with a long suggestion on first use; the CLI says which
  // backend it uses itself.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return true;
}

/**
 * Activates a backend.
 * @param requested a backend name, or undefined for the first available of tensorflow, wasm, cpu
 * @returns the name of the active backend
 * @throws {LandscopeError} `BACKEND` when the requested backend cannot be loaded
 */
export async function selectBackend(requested?: BackendName): Promise<BackendName> {
  if (requested !== undefined) {
    if (await activate(requested)) return requested;
    const hint =
      requested === 'tensorflow'
        ? 'install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu'
        : requested === 'wasm'
          ? 'install @tensorflow/tfjs-backend-wasm'
          : 'the cpu backend ships with @tensorflow/tfjs';
    throw new LandscopeError('BACKEND', `--backend ${requested}: the backend could not be loaded (${hint})`);
  }
  for (const name of BACKEND_NAMES) if (await activate(name)) return name;
  throw new LandscopeError('BACKEND', 'no TF.js backend could be loaded');
}
