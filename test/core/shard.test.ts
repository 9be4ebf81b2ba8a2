import { describe, expect, it } from 'vitest';
import { parseShard, shardFromEnv, shardPoints } from '../../src/core/shard.js';

describe('shards', () => {
  it('shardPoints splits every point into exactly one shard, interleaved', () => {
    const all = [0, 1, 2].flatMap((i) => shardPoints(10, { index: i, count: 3 }));
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, k) => k));
    expect(shardPoints(10, { index: 1, count: 3 })).toEqual([1, 4, 7]);
  });

  it('parseShard reads i/n and rejects what does not fit', () => {
    expect(parseShard('3/16')).toEqual({ index: 3, count: 16 });
    expect(() => parseShard('16/16', '--shard')).toThrow("--shard: '16/16' is not i/n with 0 ≤ i < n");
    expect(() => parseShard('a/b', '--shard')).toThrow("--shard: 'a/b' is not i/n");
  });

  it('shardFromEnv reads Kubernetes Indexed Jobs and Slurm arrays', () => {
    expect(shardFromEnv({})).toBeUndefined();
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '2' }, 4)).toEqual({ index: 2, count: 4 });
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '2' })).toThrow(/give the number of shards/);
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '8', SLURM_ARRAY_TASK_MIN: '1' })).toEqual({ index: 4, count: 8 });
    // A resubmitted task (an array of one) with the count given is its own shard, not the whole grid.
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '1', SLURM_ARRAY_TASK_MIN: '3' }, 4)).toEqual({ index: 3, count: 4 });
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '1', SLURM_ARRAY_TASK_MIN: '3' })).toEqual({ index: 0, count: 1 });
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '4' }, 4)).toThrow(/SLURM_ARRAY_TASK_ID with --shard-count: '4\/4' is not i\/n/);
  });
});
