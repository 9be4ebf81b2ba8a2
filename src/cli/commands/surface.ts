/** `landscope surface`: a 1-D slice or 2-D surface of the loss around a checkpoint. */
import * as tf from '@tensorflow/tfjs';
import { openSurfaceJob, type OpenSurfaceJob, type SurfaceJobSpec } from '../surface-job.js';
import { directionSource, finishGrid, GRID_FLAGS, gridColumn, jobComponents, runGrid } from '../grid-runner.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { disposeInputs, loadModelInputs, MODEL_DATA_FLAGS, PLANE_FLAGS, NORMALIZATION_HELP, normalizationFlags } from '../inputs.js';
import { emitJson } from '../output.js';
import { LANDSCOPE_VERSION } from '../../version.js';

const usage = `landscope surface --model M --x X.npy --y Y.npy --xrange=MIN:MAX:NUM [--yrange=MIN:MAX:NUM]
    [--dir-x D1] [--dir-y D2] [--seed S] ${NORMALIZATION_HELP}
    [--batch-size 256] [--loss NAME] [--out surface.json] [--shard i/n | --shard env [--shard-count n]] [--workers N]

  Loss and accuracy at θ + a·d1 (1-D, --xrange only) or θ + a·d1 + b·d2 (2-D, with --yrange) over
  the whole data set, in inference mode. Directions come from --dir-x/--dir-y (model-shaped weight
  artifacts, e.g. saved by 'landscope directions') or, when absent, from seeded Gaussians: d1 from
  --seed S (default 1), d2 from S + 1. Either way they are normalized with --norm against the
  checkpoint's weights. Output: { x, y?, loss, accuracy, meta }, loss[i][j] at (x[i], y[j]);
  loss[i] at x[i] for 1-D; a non-finite loss is null. Without --out the JSON goes to stdout.
  Resumable: with --out, each point is appended to OUT.partial.jsonl as it completes; rerunning the
  same command continues where it stopped (a changed model, data, direction, grid or setting refuses
  to resume, and says which). --shard i/n computes every n-th point from i into OUT/part-i-of-n.jsonl
  (--shard env, or --shard-count n, reads JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID/COUNT);
  'landscope merge OUT' joins the parts. --workers N evaluates points on N worker threads, each with
  its own backend (default: the number of cores for grids of 100 points or more, else 1); the result
  is identical, value for value, to a single-threaded run.`;

const spec = { ...MODEL_DATA_FLAGS, ...PLANE_FLAGS, ...GRID_FLAGS } as const;

async function run(argv: readonly string[], io: CliIo, backend: string): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  flags.noPositionals();
  const xRange = flags.range('xrange');
  if (xRange === undefined) throw new UsageError('--xrange is required (min:max:num, e.g. --xrange=-1:1:51)');
  const yRange = flags.range('yrange');
  if (yRange === undefined && flags.string('dir-y') !== undefined) throw new UsageError('--dir-y needs --yrange');
  flags.checkGrid('xrange', 'yrange');
  const out = flags.gridOut(io.cwd);
  const seed = flags.integer('seed', 1, 0, 2 ** 31 - 2) as number;
  const batchSize = flags.integer('batch-size', 256, 1) as number;
  const normalization = normalizationFlags(flags);

  const inputs = await loadModelInputs(flags);
  const jobSpec: SurfaceJobSpec = { modelPath: inputs.modelPath, xPath: inputs.xPath, yPath: inputs.yPath, loss: inputs.lossOption, dirX: flags.string('dir-x'), dirY: flags.string('dir-y'), seed, normalization, xRange, yRange, batchSize, backend };
  let job: OpenSurfaceJob | undefined;
  try {
    job = await openSurfaceJob(inputs, jobSpec);
    const opened = job;
    const sources = { x: directionSource(flags.string('dir-x'), seed), ...(yRange !== undefined ? { y: directionSource(flags.string('dir-y'), seed + 1) } : {}) };
    const total = xRange.num * (yRange?.num ?? 1);
    const axes = { x: opened.axes[0] as number[], ...(yRange !== undefined ? { y: opened.axes[1] as number[] } : {}) };
    const kind = yRange === undefined ? '1d' : '2d';
    const meta = { kind, model: inputs.modelPath, data: { x: inputs.xPath, y: inputs.yPath, size: opened.size }, directions: sources, norm: normalization.norm, ignore: normalization.ignore, loss: inputs.loss.label, batchSize, backend };
    const outcome = await runGrid(io, flags, out, {
      label: 'surface',
      total,
      axes,
      components: await jobComponents(inputs, flags, { dirX: sources.x, dirY: sources.y, normalization, xRange, yRange, batchSize, backend }),
      meta,
      worker: { kind: 'surface', ...jobSpec },
      inProcess: async (subset) => void (await opened.evaluate(subset.indices ?? [], subset.onValue)),
    });
    if (outcome.shard !== undefined) {
      io.stdout(`surface: shard ${outcome.shard.index}/${outcome.shard.count}: ${outcome.covered} of ${total} points (${outcome.resumed} resumed) -> ${outcome.partPath}\n`);
      return ExitCode.Ok;
    }
    const shape = yRange === undefined ? [xRange.num] : [xRange.num, yRange.num];
    const result = {
      ...axes,
      loss: gridColumn(outcome.values, shape, 'loss'),
      accuracy: opened.accuracyKind === 'none' ? null : gridColumn(outcome.values, shape, 'accuracy'),
      meta: { ...meta, dataSize: opened.size, points: outcome.computed, seconds: outcome.seconds, pointsPerSecond: outcome.computed / outcome.seconds, workers: outcome.workers, tfjsVersion: tf.version.tfjs, landscopeVersion: LANDSCOPE_VERSION, createdAt: new Date().toISOString() },
    };
    await emitJson(io, out, result, (where) => `surface: ${shape.join('x')} points in ${outcome.seconds.toFixed(2)} s (${(outcome.computed / outcome.seconds).toFixed(1)} points/s${outcome.workers > 1 ? `, ${outcome.workers} workers` : ''}) on ${backend} -> ${where}`);
    await finishGrid(outcome);
    return ExitCode.Ok;
  } finally {
    job?.dispose();
    disposeInputs(inputs);
  }
}

/** The `surface` command. */
export const surfaceCommand: Command = { name: 'surface', summary: 'loss and accuracy over a 1-D or 2-D slice around a checkpoint', usage, run };
