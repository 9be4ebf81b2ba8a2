/**
 * TF.js LayersModel artifacts on local disk, read and written with pure `@tensorflow/tfjs` (no
 * tfjs-node): `model.json` holds `modelTopology` and a `weightsManifest` whose groups list shard
 * files (relative to model.json) and the weights stored in them, in order; the shards, concatenated,
 * are the weight data. Manifest entries with `group: "optimizer"` are optimizer state, not model
 * weights.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { LandscopeError } from '../errors.js';
import { readInputFile } from './read-input-file.js';
import { writeAtomic } from './write-atomic.js';

/** One entry of a weights manifest. */
export type WeightSpec = tf.io.WeightsManifestEntry;

/** The contents of a model.json and its shards. */
export interface Artifact {
  /** Absolute path of the model.json it was read from. */
  readonly path: string;
  /** The parsed model.json. */
  readonly json: Record<string, unknown> & { modelTopology?: unknown; trainingConfig?: unknown };
  /** Every manifest entry, in order (model and optimizer weights). */
  readonly specs: readonly WeightSpec[];
  /** The shards' bytes, concatenated in manifest order. */
  readonly data: ArrayBuffer;
}

/** A named tensor of the model's weights (not the optimizer's), in manifest order. */
export interface ArtifactWeight {
  readonly name: string;
  readonly tensor: tf.Tensor;
}

/** True when a manifest entry is a model weight (no group, or group `model`). */
export function isModelWeight(spec: WeightSpec): boolean {
  const group = (spec as { group?: string }).group;
  return group === undefined || group === 'model';
}

/**
 * Reads a model.json and its weight shards.
 * @param path path of model.json (or of the folder that holds it)
 * @param what the argument's name, for error messages (e.g. `--model`)
 * @throws {LandscopeError} `FILE_NOT_FOUND`/`FILE_UNREADABLE` for missing files, `BAD_ARTIFACT`
 * for JSON that is not a LayersModel artifact or shards shorter than the manifest says
 */
export async function readArtifact(path: string, what = 'model'): Promise<Artifact> {
  let jsonPath = resolve(path);
  if ((await stat(jsonPath).catch(() => undefined))?.isDirectory() === true) jsonPath = join(jsonPath, 'model.json');
  const text = new TextDecoder().decode(await readInputFile(jsonPath, what));
  let json: Artifact['json'];
  try {
    json = JSON.parse(text) as Artifact['json'];
  } catch (e) {
    throw new LandscopeError('BAD_ARTIFACT', `${what}: ${jsonPath} is not valid JSON (${(e as Error).message})`);
  }
  const manifest = json !== null && typeof json === 'object' ? json['weightsManifest'] : undefined;
  if (json === null || typeof json !== 'object' || !Array.isArray(manifest)) {
    throw new LandscopeError(
      'BAD_ARTIFACT',
      `${what}: ${jsonPath} has no 'weightsManifest' array: it is not a TF.js LayersModel artifact`,
    );
  }
  const specs: WeightSpec[] = [];
  const shards: Uint8Array[] = [];
  for (const group of manifest as tf.io.WeightsManifestConfig) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw new LandscopeError('BAD_ARTIFACT', `${what}: a weightsManifest group in ${jsonPath} lacks 'paths' or 'weights'`);
    }
    specs.push(...group.weights);
    for (const p of group.paths) shards.push(await readInputFile(join(dirname(jsonPath), p), `${what} weight shard`));
  }
  const total = shards.reduce((n, s) => n + s.length, 0);
  const needed = specs.reduce((n, s) => n + specBytes(s), 0);
  if (total < needed) {
    throw new LandscopeError(
      'BAD_ARTIFACT',
      `${what}: the shards of ${jsonPath} hold ${total} bytes, the manifest needs ${needed}: a shard is truncated or missing`,
    );
  }
  const data = new Uint8Array(total);
  let offset = 0;
  for (const s of shards) {
    data.set(s, offset);
    offset += s.length;
  }
  return { path: jsonPath, json, specs, data: data.buffer };
}

function specBytes(spec: WeightSpec): number {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization;
  if (q !== undefined) return count * (q.dtype === 'float16' || q.dtype === 'uint16' ? 2 : 1);
  if (spec.dtype === 'string') return 0; // variable length; not a landscape weight
  return count * 4;
}

/**
 * The model weights of an artifact as tensors, in manifest order (optimizer entries skipped).
 * @returns tensors the caller owns
 */
export function artifactWeights(artifact: Artifact): ArtifactWeight[] {
  const decoded = tf.io.decodeWeights(artifact.data, [...artifact.specs]);
  const out: ArtifactWeight[] = [];
  for (const spec of artifact.specs) {
    const tensor = decoded[spec.name] as tf.Tensor;
    if (isModelWeight(spec)) out.push({ name: spec.name, tensor });
    else tensor.dispose();
  }
  return out;
}

/** An IOHandler that hands an already-read artifact to `tf.loadLayersModel`. */
export function artifactHandler(artifact: Artifact): tf.io.IOHandler {
  return {
    load: async () => ({
      modelTopology: artifact.json.modelTopology as object,
      weightSpecs: [...artifact.specs],
      weightData: artifact.data,
      format: artifact.json['format'] as string | undefined,
      generatedBy: artifact.json['generatedBy'] as string | undefined,
      convertedBy: artifact.json['convertedBy'] as string | null | undefined,
      trainingConfig: artifact.json.trainingConfig as tf.io.TrainingConfig | undefined,
    }),
  };
}

/**
 * Loads a LayersModel from a model.json on disk (compiled when it was saved with a training config).
 * @param path path of model.json or its folder
 * @param what the argument's name, for error messages
 * @throws {LandscopeError} as `readArtifact`, and `BAD_ARTIFACT` when TF.js cannot build the model
 */
export async function loadModel(path: string, what = 'model'): Promise<tf.LayersModel> {
  const artifact = await readArtifact(path, what);
  if (artifact.json.modelTopology == null) {
    throw new LandscopeError('BAD_ARTIFACT', `${what}: ${artifact.path} has no 'modelTopology'`);
  }
  try {
    return await tf.loadLayersModel(artifactHandler(artifact));
  } catch (e) {
    throw new LandscopeError('BAD_ARTIFACT', `${what}: TF.js cannot load ${artifact.path}: ${(e as Error).message}`);
  }
}

/** An IOHandler that writes `model.json` + `weights.bin` into a folder, atomically per file. */
export function folderSaveHandler(folder: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts) => {
      await mkdir(folder, { recursive: true });
      const weightData = artifacts.weightData;
      const bytes =
        weightData === undefined
          ? new Uint8Array(0)
          : new Uint8Array(Array.isArray(weightData) ? tf.io.concatenateArrayBuffers(weightData) : weightData);
      const json: Record<string, unknown> = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig != null) json['trainingConfig'] = artifacts.trainingConfig;
      await writeAtomic(join(folder, 'weights.bin'), bytes);
      await writeAtomic(join(folder, 'model.json'), JSON.stringify(json, null, 1));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.length } };
    },
  };
}

/**
 * Writes weights as a model-shaped artifact (a direction, or a checkpoint), reusing the topology
 * of the model they belong to.
 * @param folder where model.json and weights.bin go (created if needed)
 * @param modelTopology the topology to store (the model's)
 * @param weights the named tensors, in manifest order
 */
export async function saveWeightsArtifact(
  folder: string,
  modelTopology: unknown,
  weights: readonly ArtifactWeight[],
): Promise<void> {
  const named = weights.map((w) => ({ name: w.name, tensor: w.tensor }));
  const { data, specs } = await tf.io.encodeWeights(named);
  await folderSaveHandler(folder).save!({
    modelTopology: modelTopology as object,
    weightSpecs: specs,
    weightData: data,
  });
}
