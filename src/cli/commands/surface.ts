import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
/** `landscope surface`: a 1-D slice or 2-D surface of the loss around a checkpoint. */
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { linspace } from '../../core/grid.js';
import type { ParamList } from '../../core/param-list.js';
import { toNested, type PointValue } from '../../core/sample-grid.js';
import { parseShard, shardFromEnv, shardPoints } from '../../core/shard.js';
import { LandscopeError } from '../../errors.js';
import { readArtifact } from '../../io/artifact.js';
import { jobDifference, jobId, PartWriter, readPart, sha256, type JobComponents, type PartHeader } from '../../io/grid-job.js';
import { readInputFile } from '../../io/read-input-file.js';
import { surface, type SurfaceResult } from '../../landscape/surface.js';
import type { SurfaceJobSpec } from '../surface-job.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { disposeInputs, loadDirection, loadModelInputs, MODEL_DATA_FLAGS, PLANE_FLAGS, type DirectionSource, NORMALIZATION_HELP, normalizationFlags } from '../inputs.js';
import { emitJson } from '../output.js';
import { progressReporter } from '../progress.js';
import { LANDSCOPE_VERSION } from '../../version.js';

const usage = `landscope surface --model M --x X.npy --y Y.npy --xrange=MIN:MAX:NUM [--yrange=MIN:MAX:NUM]
    [--dir-x D1] [--dir-y D2] [--seed S] ${NORMALIZATION_HELP}
    [--batch-size 256] [--loss NAME] [--out surface.json] [--shard i/n [--shard-count n]] [--workers N]

  Loss and accuracy at θ + a·d1 (1-D, --xrange only) or θ + a·d1 + b·d2 (2-D, with --yrange) over
  the whole data set, in inference mode. Directions come from --dir-x/--dir-y (model-shaped weight
  artifacts, e.g. saved by 'landscope directions') or, when absent, from seeded Gaussians: d1 from
  --seed S (default 1), d2 from S + 1. Either way they are normalized with --norm against the
  checkpoint's weights. Output: { x, y?, loss, accuracy, meta }, loss[i][j] at (x[i], y[j]);
  loss[i] at x[i] for 1-D; a non-finite loss is null. Without --out the JSON goes to stdout.
  Resumable: with --out, each point is appended to OUT.partial.jsonl as it completes; rerunning the
  same command continues where it stopped (a changed model, data, direction, grid or setting refuses
  to resume, and says which). --shard i/n computes every n-th point from i into OUT/part-i-of-n.jsonl
  (also read from JOB_COMPLETION_INDEX with --shard-count, or SLURM_ARRAY_TASK_ID/COUNT);
  'landscope merge OUT' joins the parts. --workers N evaluates points on N worker threads, each with
  its own backend (default: the number of cores for grids of 100 points or more, else 1); the result
  is identical, value for value, to a single-threaded run.`;

const spec = { ...MODEL_DATA_FLAGS, ...PLANE_FLAGS, shard: { type: 'string' }, 'shard-count': { type: 'string' }, workers: { type: 'string' } } as const;

/** Grids smaller than this run in one thread unless --workers says otherwise (threads take a second to start). */
const POOL_THRESHOLD = 100;

/**
 * Evaluates points on a pool of worker threads (piscina), each with its own backend instance,
 * handing out small batches of points from one queue; each result is stored as it arrives.
 */
async function evaluatePooled(jobSpec: SurfaceJobSpec, todo: readonly number[], workers: number, onPoint: (k: number, v: PointValue) => Promise<void>): Promise<void> {
  const { Piscina } = await import('piscina');
  // Worker threads run compiled JavaScript: from the TypeScript sources (tests), use the build's.
  const fromSource = import.meta.url.endsWith('.ts');
  const worker = new URL(fromSource ? '../../../dist/src/cli/surface-worker.js' : '../surface-worker.js', import.meta.url);
  if (!existsSync(worker)) throw new LandscopeError('FILE_NOT_FOUND', `--workers: the worker module ${worker.pathname} is missing (run npm run build)`);
  const pool = new Piscina({ filename: worker.href, minThreads: workers, maxThreads: workers });
  const size = Math.max(1, Math.min(16, Math.ceil(todo.length / (workers * 6))));
  const batches: number[][] = [];
  for (let i = 0; i < todo.length; i += size) batches.push(todo.slice(i, i + size));
  let chain = Promise.resolve();
  try {
    await Promise.all(
      batches.map((indices) =>
        pool.run({ spec: jobSpec, indices }).then((pairs: [number, PointValue][]) => {
          // Results are written in arrival order, one at a time.
          chain = chain.then(async () => {
            for (const [k, v] of pairs) await onPoint(k, v);
          });
          return chain;
        }),
      ),
    );
    await chain;
  } finally {
    await pool.destroy();
  }
}

function parseShardFlag(text: string) {
  try {
    return parseShard(text, '--shard');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function shardFromEnvFlags(env: CliIo['env'], flags: Flags) {
  try {
    return shardFromEnv(env, flags.integer('shard-count', undefined, 1));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The hashes that identify a surface job: inputs, directions, grid and settings. */
async function jobComponents(
  inputs: Awaited<ReturnType<typeof loadModelInputs>>,
  flags: Flags,
  job: { dirX: DirectionSource; dirY: DirectionSource | undefined; normalization: unknown; xRange: unknown; yRange: unknown; batchSize: number; backend: string },
): Promise<JobComponents> {
  const artifact = await readArtifact(inputs.modelPath, '--model');
  const fileHash = async (path: string) => sha256(await readInputFile(path, path));
  const direction = async (d: DirectionSource | undefined) => (d === undefined ? 'none' : 'file' in d ? sha256(JSON.stringify((await readArtifact(d.file, d.file)).json)) + (await fileHash(d.file.replace(/model\.json$/, 'weights.bin')).catch(() => '')) : `seed:${d.seed}`);
  return {
    model: sha256(JSON.stringify(artifact.json)) + sha256(new Uint8Array(artifact.data)),
    x: await fileHash(inputs.xPath),
    y: await fileHash(inputs.yPath),
    dirX: await direction(job.dirX),
    dirY: await direction(job.dirY),
    grid: JSON.stringify([job.xRange, job.yRange ?? null]),
    settings: JSON.stringify({ normalization: job.normalization, batchSize: job.batchSize, loss: flags.string('loss') ?? null, backend: job.backend }),
  };
}

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
    // Sharded and resumable runs: a job is identified by what determines its values.
    const shard = flags.string('shard') !== undefined ? parseShardFlag(flags.string('shard') as string) : shardFromEnvFlags(io.env, flags);
    const total = xRange.num * (yRange?.num ?? 1);
    const components = await jobComponents(inputs, flags, { dirX: dirX.source, dirY: dirY?.source, normalization, xRange, yRange, batchSize, backend });
    const job = jobId(components);
    const partPath = shard !== undefined ? (out === undefined ? undefined : join(resolve(io.cwd, out), `part-${shard.index}-of-${shard.count}.jsonl`)) : out === undefined ? undefined : `${resolve(io.cwd, out)}.partial.jsonl`;
    if (shard !== undefined && partPath === undefined) throw new UsageError('--shard needs --out, the folder the part files go to');
    const previous = partPath === undefined ? null : await readPart(partPath);
    if (previous !== null && previous.header.job !== job) {
      throw new LandscopeError('BASELINE_MISMATCH', `${partPath} holds results of another job (it differs in: ${jobDifference(previous.header.components, components)}); refusing to resume — delete it to start over`);
    }
    const indices = shard === undefined ? undefined : shardPoints(total, shard);
    const known = previous?.points ?? new Map();
    if (known.size > 0) io.stderr(`surface: resuming: ${known.size} of ${indices?.length ?? total} points already done (${partPath})\n`);
    const axes = { x: linspace(xRange), ...(yRange !== undefined ? { y: linspace(yRange) } : {}) };
    const header: PartHeader = { kind: 'landscope-grid-part', job, components, shard: shard ?? { index: 0, count: 1 }, total, ...axes, meta: { kind: dirY === undefined ? '1d' : '2d', model: inputs.modelPath, data: { x: inputs.xPath, y: inputs.yPath }, directions: { x: dirX.source, ...(dirY !== undefined ? { y: dirY.source } : {}) }, norm: normalization.norm, ignore: normalization.ignore, loss: inputs.loss.label, batchSize, backend } };
    if (partPath !== undefined) await mkdir(dirname(partPath), { recursive: true });
    const writer = partPath === undefined ? null : await PartWriter.open(partPath, header, previous !== null);
    const workers = flags.integer('workers', total >= POOL_THRESHOLD ? availableParallelism() : 1, 1, 256) as number;
    let result: SurfaceResult;
    if (workers > 1) {
      const jobSpec: SurfaceJobSpec = { modelPath: inputs.modelPath, xPath: inputs.xPath, yPath: inputs.yPath, loss: inputs.lossOption, dirX: flags.string('dir-x'), dirY: flags.string('dir-y'), seed, normalization, xRange, yRange, batchSize, backend };
      const values = new Map(known);
      const todo = (indices ?? Array.from({ length: total }, (_, k) => k)).filter((k) => !known.has(k));
      const report = progressReporter('surface', io.stderr, io.isTTY);
      const covered = indices?.length ?? total;
      let done = covered - todo.length;
      const started = performance.now();
      try {
        await evaluatePooled(jobSpec, todo, workers, async (k, v) => {
          values.set(k, v);
          await writer?.append(k, v);
          report(++done, covered);
        });
      } finally {
        await writer?.close();
      }
      const seconds = (performance.now() - started) / 1000;
      const shape = yRange === undefined ? [xRange.num] : [xRange.num, yRange.num];
      const column = (name: string) => {
        const flat = new Float64Array(total).fill(NaN);
        for (const [k, v] of values) if (typeof v[name] === 'number') flat[k] = v[name] as number;
        return toNested(flat, shape);
      };
      const hasAccuracy = [...values.values()].some((v) => typeof v['accuracy'] === 'number');
      result = {
        x: axes.x,
        ...(axes.y !== undefined ? { y: axes.y } : {}),
        loss: column('loss'),
        accuracy: hasAccuracy ? column('accuracy') : null,
        meta: { dataSize: data.x.shape[0] as number, batchSize, loss: inputs.loss.label, backend, points: todo.length, seconds, pointsPerSecond: todo.length / seconds, tfjsVersion: tf.version.tfjs, workers } as SurfaceResult['meta'],
      };
    } else
    try {
      result = await surface(model, data, {
        directions,
        xRange,
        ...(yRange !== undefined ? { yRange } : {}),
        batchSize,
        loss: inputs.lossOption,
        onProgress: progressReporter('surface', io.stderr, io.isTTY),
        subset: { ...(indices !== undefined ? { indices } : {}), known, ...(writer !== null ? { onValue: (k: number, v: PointValue) => writer.append(k, v) } : {}) },
      });
    } finally {
      await writer?.close();
    }
    if (shard !== undefined) {
      io.stdout(`surface: shard ${shard.index}/${shard.count}: ${indices?.length} of ${total} points (${known.size} resumed) -> ${partPath}\n`);
      return ExitCode.Ok;
    }
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
    if (partPath !== undefined) await rm(partPath, { force: true });
    return ExitCode.Ok;
  } finally {
    for (const d of directions) d.dispose();
    disposeInputs(inputs);
  }
}

/** The `surface` command. */
export const surfaceCommand: Command = { name: 'surface', summary: 'loss and accuracy over a 1-D or 2-D slice around a checkpoint', usage, run };
