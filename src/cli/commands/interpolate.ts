/** `landscope interpolate`: the loss along the straight line between two checkpoints. */
import type { ParamList } from '../../core/param-list.js';
import { interpolate } from '../../landscape/surface.js';
import { readModelWeights } from '../../model/model-weights.js';
import { LANDSCOPE_VERSION } from '../../version.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { disposeInputs, loadModelInputs, loadModelShaped, MODEL_DATA_FLAGS } from '../inputs.js';
import { emitJson } from '../output.js';
import { progressReporter } from '../progress.js';

const usage = `landscope interpolate --model A --model2 B --x X.npy --y Y.npy --range=MIN:MAX:NUM
    [--batch-size 256] [--loss NAME] [--out interp.json]

  L((1 − α)·θA + α·θB) for α over --range (e.g. -0.5:1.5:401), every weight interpolated (biases and
  batch-norm statistics included), no normalization; the architecture and loss are A's. Output:
  { x: α values, loss, accuracy, meta }.`;

const spec = { ...MODEL_DATA_FLAGS, model2: { type: 'string' }, range: { type: 'string' } } as const;

async function run(argv: readonly string[], io: CliIo, backend: string): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  flags.noPositionals();
  const range = flags.range('range');
  if (range === undefined) throw new UsageError('--range is required (min:max:num, e.g. --range=-0.5:1.5:401)');
  const model2 = flags.required('model2', 'the second checkpoint');
  flags.checkGrid('range');
  const out = flags.outFile('out', io.cwd);
  const batchSize = flags.integer('batch-size', 256, 1) as number;
  const inputs = await loadModelInputs(flags);
  const owned: ParamList[] = [];
  try {
    const theta1 = readModelWeights(inputs.model);
    owned.push(theta1);
    const theta2 = await loadModelShaped(inputs.model, model2, '--model2');
    owned.push(theta2);
    const result = await interpolate(inputs.model, inputs.data, theta1, theta2, {
      range,
      batchSize,
      loss: inputs.lossOption,
      onProgress: progressReporter('interpolate', io.stderr, io.isTTY),
    });
    const meta = {
      ...result.meta,
      loss: inputs.loss.label,
      kind: 'interpolation',
      model: inputs.modelPath,
      model2,
      data: { x: inputs.xPath, y: inputs.yPath, size: result.meta.dataSize },
      backend,
      landscopeVersion: LANDSCOPE_VERSION,
      createdAt: new Date().toISOString(),
    };
    await emitJson(io, out, { ...result, meta }, (where) => `interpolate: ${result.x.length} points in ${result.meta.seconds.toFixed(2)} s on ${backend} -> ${where}`);
    return ExitCode.Ok;
  } finally {
    for (const p of owned) p.dispose();
    disposeInputs(inputs);
  }
}

/** The `interpolate` command. */
export const interpolateCommand: Command = { name: 'interpolate', summary: 'loss along the line between two checkpoints', usage, run };
