/** `landscope directions`: save a normalized random direction, or the direction between checkpoints. */
import { resolve } from 'node:path';
import type { ParamList } from '../../core/param-list.js';
import { loadModel, saveWeightsArtifact } from '../../io/artifact.js';
import { checkpointDirection, normalizeForModel } from '../../landscape/directions.js';
import { readModelWeights } from '../../model/model-weights.js';
import { ExitCode, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { loadDirection, loadModelShaped, NORMALIZATION_HELP, normalizationFlags } from '../inputs.js';

const usage = `landscope directions --model M [--seed S | --model2 M2] ${NORMALIZATION_HELP}
    --out DIR

  Writes a direction as a model-shaped weights artifact (DIR/model.json + DIR/weights.bin, the
  model's topology and weight names) that 'surface --dir-x DIR/model.json' reads. With --seed
  (default 1): a Gaussian direction normalized against M. With --model2: θ(M2) − θ(M), not
  normalized unless --norm is given.`;

const spec = {
  model: { type: 'string' },
  model2: { type: 'string' },
  seed: { type: 'string' },
  norm: { type: 'string' },
  ignore: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
} as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  flags.noPositionals();
  const modelPath = flags.required('model', 'path of a TF.js model.json');
  const out = resolve(io.cwd, flags.required('out', 'the folder to write'));
  const seed = flags.integer('seed', 1, 0, 2 ** 31 - 1) as number;
  const model2 = flags.string('model2');
  const normalization = normalizationFlags(flags, model2 === undefined ? 'filter' : 'none');
  const model = await loadModel(modelPath, '--model');
  const owned: ParamList[] = [];
  try {
    let direction: ParamList;
    if (model2 === undefined) {
      direction = (await loadDirection(model, undefined, seed, '--seed', normalization)).direction;
      owned.push(direction);
    } else {
      const theta1 = readModelWeights(model);
      owned.push(theta1);
      const theta2 = await loadModelShaped(model, model2, '--model2');
      owned.push(theta2);
      const difference = checkpointDirection(theta1, theta2);
      owned.push(difference);
      direction = normalization.norm === 'none' ? difference : normalizeForModel(model, difference, normalization);
      if (direction !== difference) owned.push(direction);
    }
    await saveWeightsArtifact(out, model.toJSON(null, false), direction.entries());
    const what = model2 === undefined ? `seed ${seed}` : `${model2} - ${modelPath}`;
    io.stdout(`directions: ${what}, norm ${normalization.norm}, ignore ${normalization.ignore} -> ${out}/model.json\n`);
    return ExitCode.Ok;
  } finally {
    for (const p of owned) p.dispose();
    model.dispose();
  }
}

/** The `directions` command. */
export const directionsCommand: Command = { name: 'directions', summary: 'save a normalized random direction or a checkpoint difference', usage, run };
