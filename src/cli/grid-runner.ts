/**
 * Running a grid job from the CLI — in this thread or on a worker pool, whole or as one shard,
 * resuming from a part file — shared by `landscope surface` and `landscope hessian --xrange`.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { toNested, type GridSubset, type PointValue } from '../core/sample-grid.js';
import { parseShard, shardFromEnv, shardPoints, type Shard } from '../core/shard.js';
import { LandscopeError } from '../errors.js';
import { readArtifact } from '../io/artifact.js';
import { jobDifference, jobId, PartWriter, readPart, sha256, type JobComponents, type PartHeader } from '../io/grid-job.js';
import { readInputFile } from '../io/read-input-file.js';
import { UsageError, type CliIo } from './cli-io.js';
import type { Flags } from './flags.js';
import type { DirectionSource, loadModelInputs } from './inputs.js';
import { progressReporter } from './progress.js';
import type { WorkerTask } from './surface-worker.js';

/** Flags every grid command takes. */
export const GRID_FLAGS = { shard: { type: 'string' }, 'shard-count': { type: 'string' }, workers: { type: 'string' } } as const;

/** Grids smaller than this run in one thread unless --workers says otherwise (threads take a second to start). */
const POOL_THRESHOLD = 100;

/** A grid job as a command describes it. */
export interface GridTask {
  readonly label: string;
  readonly total: number;
  readonly axes: { readonly x: number[]; readonly y?: number[] };
  readonly components: JobComponents;
  /** Stored in part headers, for `landscope merge`. */
  readonly meta: Record<string, unknown>;
  /** What a worker thread needs to open the job. */
  readonly worker: WorkerTask['spec'];
  /** Evaluates in this thread. */
  readonly inProcess: (subset: GridSubset) => Promise<void>;
}

/** What a run produced. */
export interface GridOutcome {
  readonly values: Map<number, PointValue>;
  readonly shard: Shard | undefined;
  readonly partPath: string | undefined;
  readonly covered: number;
  readonly computed: number;
  readonly resumed: number;
  readonly seconds: number;
  readonly workers: number;
}

/**
 * The shard asked for: `--shard i/n`; or, from the batch engine's variables, `--shard env` or
 * `--shard-count n`. An engine variable alone turns nothing on: a single-task script inside an
 * array job computes the whole grid.
 */
function shardOf(flags: Flags, env: CliIo['env']): Shard | undefined {
  try {
    const text = flags.string('shard');
    const count = flags.integer('shard-count', undefined, 1);
    if (text !== undefined && text !== 'env') return parseShard(text, '--shard');
    if (text === undefined && count === undefined) return undefined;
    const shard = shardFromEnv(env, count);
    if (shard === undefined) {
      throw new RangeError(`--shard${text === 'env' ? ' env' : '-count'}: no batch engine variable is set (JOB_COMPLETION_INDEX, or SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT); give --shard i/n`);
    }
    return shard;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * Runs a grid job: picks the shard, resumes from its part file (refusing another job's), evaluates
 * the remaining points in this thread or on `--workers` threads, appending each to the part file.
 */
export async function runGrid(io: CliIo, flags: Flags, out: string | undefined, task: GridTask): Promise<GridOutcome> {
  const shard = shardOf(flags, io.env);
  const job = jobId(task.components);
  const partPath = shard !== undefined ? (out === undefined ? undefined : join(resolve(io.cwd, out), `part-${shard.index}-of-${shard.count}.jsonl`)) : out === undefined ? undefined : `${resolve(io.cwd, out)}.partial.jsonl`;
  if (shard !== undefined && partPath === undefined) throw new UsageError('--shard needs --out, the folder the part files go to');
  if (shard !== undefined && out !== undefined && statSync(resolve(io.cwd, out), { throwIfNoEntry: false })?.isFile() === true) {
    throw new UsageError(`--out: ${out} is a file; with --shard it is the folder the part files go to`);
  }
  const previous = partPath === undefined ? null : await readPart(partPath);
  if (previous !== null && previous.header.job !== job) {
    throw new LandscopeError('BASELINE_MISMATCH', `${partPath} holds results of another job (it differs in: ${jobDifference(previous.header.components, task.components)}); refusing to resume — delete it to start over`);
  }
  const indices = shard === undefined ? Array.from({ length: task.total }, (_, k) => k) : shardPoints(task.total, shard);
  const known = new Map(previous?.points ?? []);
  if (known.size > 0) io.stderr(`${task.label}: resuming: ${known.size} of ${indices.length} points already done (${partPath})\n`);
  const header: PartHeader = { kind: 'landscope-grid-part', job, components: task.components, shard: shard ?? { index: 0, count: 1 }, total: task.total, ...task.axes, meta: task.meta };
  if (partPath !== undefined) await mkdir(dirname(partPath), { recursive: true });
  const writer = partPath === undefined ? null : await PartWriter.open(partPath, header, previous !== null);
  const workers = flags.integer('workers', task.total >= POOL_THRESHOLD ? availableParallelism() : 1, 1, 256) as number;
  const values = new Map(known);
  const todo = indices.filter((k) => !known.has(k));
  let done = indices.length - todo.length;
  const report = progressReporter(task.label, io.stderr, io.isTTY, undefined, done);
  const record = async (k: number, v: PointValue) => {
    values.set(k, v);
    await writer?.append(k, v);
    report(++done, indices.length);
  };
  const started = performance.now();
  try {
    if (workers > 1 && todo.length > 0) await evaluatePooled(task.worker, todo, workers, record);
    else await task.inProcess({ indices: todo, onValue: record });
  } finally {
    await writer?.close();
  }
  return { values, shard, partPath, covered: indices.length, computed: todo.length, resumed: known.size, seconds: (performance.now() - started) / 1000, workers };
}

/** The hashes that identify a grid job: inputs, directions, grid and settings. */
export async function jobComponents(
  inputs: Awaited<ReturnType<typeof loadModelInputs>>,
  flags: Flags,
  job: { dirX: DirectionSource; dirY: DirectionSource | undefined; normalization: unknown; xRange: unknown; yRange: unknown; batchSize: number; backend: string },
): Promise<JobComponents> {
  const fileHash = async (path: string) => sha256(await readInputFile(path, path));
  // An artifact is its topology and manifest plus every byte of its weight shards, however the
  // shards are named or the path is given (model.json or its folder).
  const artifactHash = async (path: string, what: string) => {
    const artifact = await readArtifact(path, what);
    return sha256(JSON.stringify(artifact.json)) + sha256(new Uint8Array(artifact.data));
  };
  const direction = async (d: DirectionSource | undefined, what: string) => (d === undefined ? 'none' : 'file' in d ? await artifactHash(d.file, what) : `seed:${d.seed}`);
  // Settings are hashed one by one, so a refused resume names the one that changed; the plain
  // values are kept beside, so it can say from what to what.
  return {
    model: await artifactHash(inputs.modelPath, '--model'),
    x: await fileHash(inputs.xPath),
    y: await fileHash(inputs.yPath),
    dirX: await direction(job.dirX, '--dir-x'),
    dirY: await direction(job.dirY, '--dir-y'),
    grid: JSON.stringify([job.xRange, job.yRange ?? null]),
    normalization: JSON.stringify(job.normalization),
    batchSize: String(job.batchSize),
    loss: flags.string('loss') ?? 'compiled',
    backend: job.backend,
  };
}

/** Where a direction comes from: its file, or its seed. */
export function directionSource(file: string | undefined, seed: number): DirectionSource {
  return file !== undefined ? { file } : { seed };
}

/** Removes the resumable part file once the full result is written. */
export async function finishGrid(outcome: GridOutcome): Promise<void> {
  if (outcome.shard === undefined && outcome.partPath !== undefined) await rm(outcome.partPath, { force: true });
}

/** The named values of a grid as nested arrays (`[nx][ny]` or `[n]`), null where missing. */
export function gridColumn(values: ReadonlyMap<number, PointValue>, shape: readonly number[], name: string): (number | null)[] | (number | null)[][] {
  const flat = new Float64Array(shape.reduce((a, b) => a * b, 1)).fill(NaN);
  for (const [k, v] of values) if (typeof v[name] === 'number') flat[k] = v[name] as number;
  return toNested(flat, shape);
}

/**
 * Evaluates points on a pool of worker threads (piscina), each with its own backend instance,
 * handing out small batches of points from one queue; each result is stored as it arrives.
 */
async function evaluatePooled(spec: WorkerTask['spec'], todo: readonly number[], workers: number, onPoint: (k: number, v: PointValue) => Promise<void>): Promise<void> {
  const { Piscina } = await import('piscina');
  // Worker threads run compiled JavaScript: from the TypeScript sources (tests), use the build's.
  const fromSource = import.meta.url.endsWith('.ts');
  const worker = new URL(fromSource ? '../../dist/src/cli/surface-worker.js' : './surface-worker.js', import.meta.url);
  if (!existsSync(worker)) throw new LandscopeError('FILE_NOT_FOUND', `--workers: the worker module ${worker.pathname} is missing (run npm run build)`);
  const pool = new Piscina({ filename: worker.href, minThreads: workers, maxThreads: workers });
  const size = Math.max(1, Math.min(16, Math.ceil(todo.length / (workers * 6))));
  const batches: number[][] = [];
  for (let i = 0; i < todo.length; i += size) batches.push(todo.slice(i, i + size));
  let chain = Promise.resolve();
  try {
    await Promise.all(
      batches.map((indices) =>
        pool.run({ spec, indices } satisfies WorkerTask).then((pairs: [number, PointValue][]) => {
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
