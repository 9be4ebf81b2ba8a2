/** `landscope trajectory`: PCA of a training trajectory from saved checkpoints. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { snapshotDot, snapshotMask } from '../../core/snapshot-dot.js';
import { trajectoryPca } from '../../core/trajectory-pca.js';
import { LandscopeError } from '../../errors.js';
import { loadModel } from '../../io/artifact.js';
import { readRunFolder, readSnapshotFile } from '../../io/run-folder.js';
import { modelWeights } from '../../model/model-weights.js';
import { LANDSCOPE_VERSION } from '../../version.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { emitJson } from '../output.js';
import { loadModelShaped } from '../inputs.js';

const usage = `landscope trajectory CKPT1/model.json CKPT2/model.json ... [--ignore none|biasbn] [--components 2] [--out pca.json]
landscope trajectory runs/<id> [--ignore none|biasbn] [--components 2] [--out pca.json]

  PCA of the trajectory through the checkpoints, in the order given; the LAST one is the reference
  (Li et al. 2018, section 7; reference code setup_PCA_directions + project_trajectory): rows
  θ_e − θ_last over the trainable weights (--ignore biasbn leaves out tensors of rank ≤ 1), centered
  as sklearn's PCA; coordinates are the uncentered differences projected on the components, each
  component oriented so the first checkpoint's coordinate is ≥ 0. Output: { explainedVarianceRatio,
  coords: { x, y }, checkpoints, ignore, parameters, meta }. Given a run folder, its snapshots (init,
  then every monitored epoch) are the checkpoints.`;

const spec = {
  ignore: { type: 'string' },
  components: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
} as const;

async function run(argv: readonly string[], io: CliIo, backend: string): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const ignore = flags.choice('ignore', ['none', 'biasbn'] as const, 'none');
  const components = flags.integer('components', 2, 1, 100) as number;
  const out = flags.outFile('out', io.cwd);
  const positionals = flags.positionals;
  const runFolder = positionals.length === 1 ? await stat(join(positionals[0] as string, 'snapshots', 'manifest.json')).then(() => true, () => false) : false;
  if (positionals.length < 2 && !runFolder) throw new UsageError(`give at least two checkpoints (model.json paths) or one run folder with snapshots, got ${positionals.length} argument(s)`);
  const { snapshots, shapes, checkpoints } = runFolder ? await fromRunFolder(positionals[0] as string) : await fromCheckpoints(positionals);
  const mask = snapshotMask(shapes, ignore);
  const m = snapshots.length;
  const first = snapshots[0] as Float32Array;
  const gram = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) gram[i * m + j] = gram[j * m + i] = snapshotDot(snapshots[i] as Float32Array, snapshots[j] as Float32Array, first, mask);
  }
  const pca = trajectoryPca(gram, m, components);
  const result = {
    explainedVarianceRatio: pca.explainedVarianceRatio,
    coords: { x: pca.coords[0] ?? [], y: pca.coords[1] ?? [], ...(components > 2 ? { all: pca.coords } : {}) },
    checkpoints,
    ignore,
    parameters: mask === undefined ? first.length : mask.reduce((a, b) => a + b, 0),
    meta: { kind: 'trajectory', backend, tfjsVersion: tf.version.tfjs, landscopeVersion: LANDSCOPE_VERSION, createdAt: new Date().toISOString() },
  };
  const evr = pca.explainedVarianceRatio.slice(0, 2).map((v) => `${(100 * v).toFixed(1)}%`).join(' + ');
  await emitJson(io, out, result, (where) => `trajectory: ${m} checkpoints, ${result.parameters} parameters, first two components explain ${evr} -> ${where}`);
  return ExitCode.Ok;
}

type Snapshots = { snapshots: Float32Array[]; shapes: (readonly number[])[]; checkpoints: string[] };

async function fromCheckpoints(paths: readonly string[]): Promise<Snapshots> {
  const model = await loadModel(paths[0] as string, 'checkpoint 1');
  try {
    const trainable = modelWeights(model).map((w) => w.trainable);
    const snapshots: Float32Array[] = [];
    for (const [k, path] of paths.entries()) {
      const weights = await loadModelShaped(model, path, `checkpoint ${k + 1}`);
      const kept = weights.tensors.filter((_, i) => trainable[i]);
      const flat = new Float32Array(kept.reduce((n, t) => n + t.size, 0));
      let offset = 0;
      for (const t of kept) {
        flat.set((await t.data()) as Float32Array, offset);
        offset += t.size;
      }
      snapshots.push(flat);
      weights.dispose();
    }
    return { snapshots, shapes: modelWeights(model).filter((w) => w.trainable).map((w) => w.variable.shape), checkpoints: [...paths] };
  } finally {
    model.dispose();
  }
}

async function fromRunFolder(dir: string): Promise<Snapshots> {
  const { snapshots: manifest } = await readRunFolder(dir);
  if (manifest === null || manifest.snapshots.length < 2) {
    throw new LandscopeError('BAD_ARTIFACT', `run folder ${dir}: needs at least two snapshots, has ${manifest?.snapshots.length ?? 0}`);
  }
  const snapshots: Float32Array[] = [];
  for (const s of manifest.snapshots) snapshots.push(await readSnapshotFile(join(dir, 'snapshots', s.file)));
  return { snapshots, shapes: manifest.tensors.map((t) => t.shape), checkpoints: manifest.snapshots.map((s) => s.label) };
}

/** The `trajectory` command. */
export const trajectoryCommand: Command = { name: 'trajectory', summary: 'PCA of a training trajectory from saved checkpoints', usage, run };
