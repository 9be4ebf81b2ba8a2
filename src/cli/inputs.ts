/**
 * The inputs every landscape command shares: a model from `--model`, data from `--x`/`--y`,
 * the loss from `--loss` or the model, and directions from `--dir-x`/`--dir-y` or seeds.
 */
import type * as tf from '@tensorflow/tfjs';
import { assertIgnoreKind, assertNormKind, IGNORE_KINDS, NORM_KINDS, type IgnoreKind, type NormKind } from '../core/normalize-direction.js';
import type { ParamList } from '../core/param-list.js';
import { randomDirection } from '../core/random-direction.js';
import { LandscopeError } from '../errors.js';
import { artifactWeights, loadModel, readArtifact } from '../io/artifact.js';
import { readNpyFile } from '../io/npy.js';
import { normalizeForModel } from '../landscape/directions.js';
import { LOSS_NAMES } from '../model/losses.js';
import { resolveLoss, type ResolvedLoss } from '../model/model-loss.js';
import { matchModelLayout, modelLayout } from '../model/model-weights.js';
import { prepareData, type Dataset } from '../model/prepare-data.js';
import { UsageError } from './cli-io.js';
import type { Flags } from './flags.js';

/** Flags of every command that evaluates a model on data: --model, --x, --y, --batch-size, --loss, --out, --backend. */
export const MODEL_DATA_FLAGS = {
  model: { type: 'string' },
  x: { type: 'string' },
  y: { type: 'string' },
  'batch-size': { type: 'string' },
  loss: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
} as const;

/** Flags of commands that take directions and a grid: --dir-x/y, --seed, --norm, --ignore, --xrange/--yrange. */
export const PLANE_FLAGS = {
  'dir-x': { type: 'string' },
  'dir-y': { type: 'string' },
  seed: { type: 'string' },
  norm: { type: 'string' },
  ignore: { type: 'string' },
  xrange: { type: 'string' },
  yrange: { type: 'string' },
} as const;

/** A model with its data and loss, as named on the command line. */
export interface ModelInputs {
  readonly model: tf.LayersModel;
  readonly data: Dataset;
  readonly loss: ResolvedLoss;
  /** `--loss` as given (undefined: the model's compiled loss), to pass on to the library. */
  readonly lossOption: string | undefined;
  readonly modelPath: string;
  readonly xPath: string;
  readonly yPath: string;
}

/** Loads `--model`, `--x`, `--y` (and `--loss`). */
export async function loadModelInputs(flags: Flags, modelFlag = 'model'): Promise<ModelInputs> {
  const modelPath = flags.required(modelFlag, 'path of a TF.js model.json');
  const xPath = flags.required('x', 'inputs as a .npy file');
  const yPath = flags.required('y', 'labels as a .npy file');
  const lossName = flags.string('loss');
  if (lossName !== undefined && !LOSS_NAMES.includes(lossName)) {
    throw new UsageError(`--loss: '${lossName}' is not a known loss; known: ${LOSS_NAMES.join(', ')}`);
  }
  const model = await loadModel(modelPath, `--${modelFlag}`);
  refuseNonFinite(model.weights.map((w) => ({ name: w.originalName, values: w.read().dataSync() as Float32Array })), `--${modelFlag} ${modelPath}`);
  const loss = resolveLoss(model, lossName);
  const [x, y] = [await readNpyFile(xPath, '--x'), await readNpyFile(yPath, '--y')];
  // Integer arrays (class ids, token ids) are finite by type.
  for (const [name, array, path] of [['x', x, xPath], ['y', y, yPath]] as const) {
    if (array.data instanceof Float32Array || array.data instanceof Float64Array) refuseNonFinite([{ name, values: array.data }], `--${name} ${path}`);
  }
  const data = prepareData(model, x, y, loss.name, { x: `--x ${xPath}`, y: `--y ${yPath}` });
  return { model, data, loss, lossOption: lossName, modelPath, xPath, yPath };
}

/** Frees the model and data of `loadModelInputs`. */
export function disposeInputs(inputs: ModelInputs): void {
  inputs.data.x.dispose();
  inputs.data.y.dispose();
  inputs.model.dispose();
}

/** Reads `--norm` and `--ignore`. */
export function normalizationFlags(flags: Flags, defaultNorm: NormKind = 'filter'): { norm: NormKind; ignore: IgnoreKind } {
  const norm = flags.string('norm') ?? defaultNorm;
  const ignore = flags.string('ignore') ?? 'biasbn';
  try {
    assertNormKind(norm, '--norm');
    assertIgnoreKind(ignore, '--ignore');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return { norm, ignore };
}

/** The flag declarations for `--norm` / `--ignore`, with their allowed values for help text. */
export const NORMALIZATION_HELP = `[--norm ${NORM_KINDS.join("|")} (default filter)] [--ignore ${IGNORE_KINDS.join("|")} (default biasbn)]`;

/**
 * Reads a model-shaped weights artifact (a direction or a checkpoint) in the model's layout.
 * @throws {LandscopeError} when it is missing or does not match the model
 */
export async function loadModelShaped(model: tf.LayersModel, path: string, what: string): Promise<ParamList> {
  const artifact = await readArtifact(path, what);
  const list = matchModelLayout(model, artifactWeights(artifact), `${what} ${artifact.path}`);
  try {
    refuseNonFinite(list.names.map((name, i) => ({ name, values: (list.tensors[i] as tf.Tensor).dataSync() as Float32Array })), `${what} ${artifact.path}`);
  } catch (e) {
    list.dispose();
    throw e;
  }
  return list;
}

/**
 * Refuses NaN or infinite values: the losses clip probabilities, so they would give finite, wrong
 * numbers (every point of a surface on NaN weights is −ln 1e-7 = 16.118).
 * @throws {LandscopeError} `BAD_ARTIFACT` naming the source, the tensor and the first bad index
 */
export function refuseNonFinite(tensors: readonly { name: string; values: ArrayLike<number> }[], source: string): void {
  for (const { name, values } of tensors) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (!Number.isFinite(v)) throw new LandscopeError('BAD_ARTIFACT', `${source}: ${name} has a non-finite value (${v}) at flat index ${i}; landscapes of non-finite weights or data are not defined`);
    }
  }
}

/** Where a direction came from, for the output's metadata. */
export type DirectionSource = { file: string } | { seed: number };

/**
 * A direction from a file flag (raw or normalized; normalized again with `norm`) or from a seed.
 * @returns the normalized direction and where it came from
 */
export async function loadDirection(
  model: tf.LayersModel,
  file: string | undefined,
  seed: number,
  what: string,
  normalization: { norm: NormKind; ignore: IgnoreKind },
): Promise<{ direction: ParamList; source: DirectionSource }> {
  const raw = file !== undefined ? await loadModelShaped(model, file, what) : randomDirection(modelLayout(model), seed);
  try {
    return { direction: normalizeForModel(model, raw, normalization), source: file !== undefined ? { file } : { seed } };
  } finally {
    raw.dispose();
  }
}
