/** `landscope surface`: a 1-D slice or 2-D surface of the loss around a checkpoint. */
import type { ParamList } from '../../core/param-list.js';
import { surface } from '../../landscape/surface.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { disposeInputs, loadDirection, loadModelInputs, MODEL_DATA_FLAGS, PLANE_FLAGS, NORMALIZATION_HELP, normalizationFlags } from '../inputs.js';
import { emitJson } from '../output.js';
import { progressReporter } from '../progress.js';
import { LANDSCOPE_VERSION } from '../../version.js';

const usage = `landscope surface --model M --x X.npy --y Y.npy --xrange=MIN:MAX:NUM [--yrange=MIN:MAX:NUM]
    [--dir-x D1] [--dir-y D2] [--seed S] ${NORMALIZATION_HELP}
    [--batch-size 256] [--loss NAME] [--out surface.json]

  Loss and accuracy at θ + a·d1 (1-D, --xrange only) or θ + a·d1 + b·d2 (2-D, with --yrange) over
  the whole data set, in inference mode. Directions come from --dir-x/--dir-y (model-shaped weight
  artifacts, e.g. saved by 'landscope directions') or, when absent, from seeded Gaussians: d1 from
  --seed S (default 1), d2 from S + 1. Either way they are normalized with --norm against the
  checkpoint's weights. Output: { x, y?, loss, accuracy, meta }, loss[i][j] at (x[i], y[j]);
  loss[i] at x[i] for 1-D; a non-finite loss is null. Without --out the JSON goes to stdout.`;

const spec = { ...MODEL_DATA_FLAGS, ...PLANE_FLAGS } as const;

async function run(argv: readonly string[], io: CliIo, backend: string): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const xRange = flags.range('xrange');
  if (xRange === undefined) throw new UsageError('--xrange is required (min:max:num, e.g. --xrange=-1:1:51)');
  const yRange = flags.range('yrange');
  if (yRange === undefined && flags.string('dir-y') !== undefined) throw new UsageError('--dir-y needs --yrange');
  const out = flags.string('out');
  const seed = flags.integer('seed', 1, 0, 2 ** 31 - 2) as number;
  const batchSize = flags.integer('batch-size', 256, 1) as number;
  const normalization = normalizationFlags(flags);

  const inputs = await loadModelInputs(flags);
  const { model, data } = inputs;
  const directions: ParamList[] = [];
  try {
    const dirX = await loadDirection(model, flags.string('dir-x'), seed, '--dir-x', normalization);
    directions.push(dirX.direction);
    const dirY = yRange === undefined ? undefined : await loadDirection(model, flags.string('dir-y'), seed + 1, '--dir-y', normalization);
    if (dirY !== undefined) directions.push(dirY.direction);
    const result = await surface(model, data, {
      directions,
      xRange,
      ...(yRange !== undefined ? { yRange } : {}),
      batchSize,
      loss: inputs.lossOption,
      onProgress: progressReporter('surface', io.stderr, io.isTTY),
    });
    const meta = {
      ...result.meta,
      loss: inputs.loss.label,
      kind: dirY === undefined ? '1d' : '2d',
      model: inputs.modelPath,
      data: { x: inputs.xPath, y: inputs.yPath, size: result.meta.dataSize },
      directions: { x: dirX.source, ...(dirY !== undefined ? { y: dirY.source } : {}) },
      norm: normalization.norm,
      ignore: normalization.ignore,
      backend,
      landscopeVersion: LANDSCOPE_VERSION,
      createdAt: new Date().toISOString(),
    };
    const shape = dirY === undefined ? `${result.x.length}` : `${result.x.length}x${result.y?.length}`;
    await emitJson(io, out, { ...result, meta }, (where) => `surface: ${shape} points in ${result.meta.seconds.toFixed(2)} s (${result.meta.pointsPerSecond.toFixed(1)} points/s) on ${backend} -> ${where}`);
    return ExitCode.Ok;
  } finally {
    for (const d of directions) d.dispose();
    disposeInputs(inputs);
  }
}

/** The `surface` command. */
export const surfaceCommand: Command = { name: 'surface', summary: 'loss and accuracy over a 1-D or 2-D slice around a checkpoint', usage, run };
