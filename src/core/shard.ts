/**
 * Splitting a grid's points among n tasks (processes, Kubernetes Indexed Job pods, Slurm array
 * tasks): point k (row-major index) belongs to shard k mod n, so every shard gets an even share of
 * every region of the grid (cost varies across a landscape).
 */

/** One task's share: its index from 0 and the number of shards. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/**
 * Parses `i/n` (0-based index i, 0 ≤ i < n).
 * @throws {RangeError} naming the text and what is allowed
 */
export function parseShard(text: string, what = 'shard'): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (m === null || !(count >= 1 && index < count)) {
    throw new RangeError(`${what}: '${text}' is not i/n with 0 ≤ i < n (e.g. 3/16 is the fourth of sixteen shards)`);
  }
  return { index, count };
}

/**
 * The shard from a batch engine's environment: Kubernetes Indexed Jobs set JOB_COMPLETION_INDEX
 * (the count comes from `count`, the job's completions), Slurm arrays SLURM_ARRAY_TASK_ID. With
 * `count` given, a Slurm task id is the shard index out of `count` — so resubmitting one task
 * (`sbatch --array=3`, an array of one) computes shard 3 again, not the whole grid; without it,
 * the count is SLURM_ARRAY_TASK_COUNT and the index is counted from SLURM_ARRAY_TASK_MIN.
 * @returns the shard, or undefined when no engine variable is set
 * @throws {RangeError} when a variable is set but does not fit
 */
export function shardFromEnv(env: Readonly<Record<string, string | undefined>>, count?: number): Shard | undefined {
  const k8s = env['JOB_COMPLETION_INDEX'];
  if (k8s !== undefined && k8s !== '') {
    if (count === undefined) throw new RangeError(`JOB_COMPLETION_INDEX=${k8s} is set: give the number of shards (--shard-count, the job's completions)`);
    return parseShard(`${k8s}/${count}`, 'JOB_COMPLETION_INDEX');
  }
  const id = env['SLURM_ARRAY_TASK_ID'];
  if (id !== undefined && id !== '') {
    if (count !== undefined) return parseShard(`${id}/${count}`, 'SLURM_ARRAY_TASK_ID with --shard-count');
    const total = Number(env['SLURM_ARRAY_TASK_COUNT'] ?? count);
    const min = Number(env['SLURM_ARRAY_TASK_MIN'] ?? 0);
    return parseShard(`${Number(id) - min}/${total}`, 'SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT');
  }
  return undefined;
}

/** The row-major point indices of a shard among `total` points. */
export function shardPoints(total: number, shard: Shard): number[] {
  const out: number[] = [];
  for (let k = shard.index; k < total; k += shard.count) out.push(k);
  return out;
}
