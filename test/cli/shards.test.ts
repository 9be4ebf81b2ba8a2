import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { fixturePath, tmpPath } from '../helpers/fixture.js';

const root = tmpPath('shards');
const common = ['--model', fixturePath('model/model.json'), '--x', fixturePath('data/x.npy'), '--y', fixturePath('data/y.npy'), '--seed', '3', '--backend', 'cpu'];
const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

describe('sharded and resumable surfaces', () => {
  beforeAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('landscope surface as 3 shards merged by landscope merge equals the single-process run, value for value', async () => {
    const grid = ['--xrange=-1:1:9', '--yrange=-1:1:7'];
    expect((await runCli(['surface', ...common, ...grid, '--out', `${root}/single.json`])).code).toBe(0);
    for (const i of [0, 1, 2]) {
      const r = await runCli(['surface', ...common, ...grid, '--shard', `${i}/3`, '--out', `${root}/parts`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`shard ${i}/3: (21|20) of 63 points`));
    }
    const merged = await runCli(['merge', `${root}/parts`, '--out', `${root}/merged.json`]);
    expect(merged.code, merged.stderr).toBe(0);
    const a = read(`${root}/single.json`);
    const b = read(`${root}/merged.json`);
    expect(b.loss).toEqual(a.loss);
    expect(b.accuracy).toEqual(a.accuracy);
    expect(b.x).toEqual(a.x);
    expect(b.meta.merged).toMatchObject({ parts: 3, shards: 3 });
  });

  it('landscope surface --workers 2 equals --workers 1 value for value', async () => {
    const grid = ['--xrange=-1:1:11', '--yrange=-1:1:11'];
    const one = await runCli(['surface', ...common, ...grid, '--workers', '1', '--out', `${root}/w1.json`]);
    const two = await runCli(['surface', ...common, ...grid, '--workers', '2', '--out', `${root}/w2.json`]);
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    const a = read(`${root}/w1.json`);
    const b = read(`${root}/w2.json`);
    expect(b.meta.workers).toBe(2);
    expect(b.loss).toEqual(a.loss);
    expect(b.accuracy).toEqual(a.accuracy);
  });

  it('landscope merge reports missing shards and refuses parts of another job', async () => {
    const grid = ['--xrange=-1:1:5', '--yrange=-1:1:5'];
    await runCli(['surface', ...common, ...grid, '--shard', '0/2', '--out', `${root}/half`]);
    const missing = await runCli(['merge', `${root}/half`, '--out', `${root}/x.json`]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/merge: 12 of 25 points are missing \(\(x\[0\], y\[1\]\), .*; 1 of 2 shards present/);
    // Shard 1 of a job with another direction seed.
    const other = ['--model', fixturePath('model/model.json'), '--x', fixturePath('data/x.npy'), '--y', fixturePath('data/y.npy'), '--seed', '4', '--backend', 'cpu'];
    await runCli(['surface', ...other, ...grid, '--shard', '1/2', '--out', `${root}/half`]);
    const mixed = await runCli(['merge', `${root}/half`]);
    expect(mixed.code).toBe(3);
    expect(mixed.stderr).toMatch(/part-1-of-2\.jsonl belongs to another job than .*part-0-of-2\.jsonl \(they differ in: dirX seed:3 → seed:4, dirY seed:4 → seed:5\)/);
  });

  it('a surface killed mid-way resumes where it stopped, computes no point twice, and gives the same result', async () => {
    const grid = ['--xrange=-1:1:25', '--yrange=-1:1:25'];
    expect((await runCli(['surface', ...common, ...grid, '--out', `${root}/reference.json`])).code).toBe(0);
    const out = `${root}/resumed.json`;
    const bin = new URL('../../dist/src/cli/bin.js', import.meta.url).pathname;
    const child = spawn('node', [bin, 'surface', ...common, ...grid, '--out', out], { stdio: 'ignore' });
    const partial = `${out}.partial.jsonl`;
    for (let t = 0; t < 600; t++) {
      if (existsSync(partial) && readFileSync(partial, 'utf8').split('\n').length > 60) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const done = readFileSync(partial, 'utf8').trim().split('\n').length - 1;
    expect(done).toBeGreaterThan(50);
    expect(done).toBeLessThan(625);
    const again = await runCli(['surface', ...common, ...grid, '--out', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`resuming: ${done} of 625 points already done`));
    // Progress lines count from the resumed points: the first new point is number done + 1.
    expect(again.stderr).not.toMatch(/surface: 1\/625 points/);
    expect(read(out).loss).toEqual(read(`${root}/reference.json`).loss);
    expect(existsSync(partial)).toBe(false);
  });

  it('a changed input refuses to resume and says which', async () => {
    const out = `${root}/changed.json`;
    const grid = ['--xrange=-1:1:3', '--yrange=-1:1:3'];
    // A partial file left by a run with another seed.
    await runCli(['surface', ...common, ...grid, '--shard', '0/1', '--out', `${root}/tmp-parts`]);
    const part = readFileSync(`${root}/tmp-parts/part-0-of-1.jsonl`, 'utf8').split('\n');
    writeFileSync(`${out}.partial.jsonl`, `${part[0]}\n${part[1]}\n`);
    const r = await runCli(['surface', ...common.map((a) => (a === '3' ? '5' : a)), ...grid, '--out', out]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/changed\.json\.partial\.jsonl holds results of another job \(it differs in: dirX seed:3 → seed:5, dirY seed:4 → seed:6\); refusing to resume/);
  });

  /** Leaves a part file of the first two points of a 3×3 job, then reruns with `argv`. */
  const rerunAfterPartial = async (name: string, first: string[], second: string[]) => {
    const grid = ['--xrange=-1:1:3', '--yrange=-1:1:3'];
    const parts = `${root}/${name}-parts`;
    expect((await runCli(['surface', ...first, ...grid, '--shard', '0/1', '--out', parts])).code).toBe(0);
    const lines = readFileSync(`${parts}/part-0-of-1.jsonl`, 'utf8').split('\n');
    writeFileSync(`${root}/${name}.json.partial.jsonl`, `${lines[0]}\n${lines[1]}\n${lines[2]}\n`);
    return runCli(['surface', ...second, ...grid, '--out', `${root}/${name}.json`]);
  };
  const base = ['--model', fixturePath('model/model.json'), '--x', fixturePath('data/x.npy'), '--y', fixturePath('data/y.npy'), '--backend', 'cpu'];

  it('directions regenerated with another seed (same folder, same names and shapes) refuse to resume', async () => {
    const dirs = `${root}/regen`;
    for (const [axis, seed] of [['x', '1'], ['y', '2']]) expect((await runCli(['directions', '--model', fixturePath('model/model.json'), '--seed', seed as string, '--out', `${dirs}/${axis}`])).code).toBe(0);
    const withDirs = [...base, '--dir-x', `${dirs}/x`, '--dir-y', `${dirs}/y`];
    const grid = ['--xrange=-1:1:3', '--yrange=-1:1:3'];
    const parts = `${root}/regen-parts`;
    expect((await runCli(['surface', ...withDirs, ...grid, '--shard', '0/1', '--out', parts])).code).toBe(0);
    const lines = readFileSync(`${parts}/part-0-of-1.jsonl`, 'utf8').split('\n');
    writeFileSync(`${root}/regen.json.partial.jsonl`, `${lines[0]}\n${lines[1]}\n`);
    // The same folder, written again from another seed: only the weight values change.
    expect((await runCli(['directions', '--model', fixturePath('model/model.json'), '--seed', '9', '--out', `${dirs}/x`])).code).toBe(0);
    const r = await runCli(['surface', ...withDirs, ...grid, '--out', `${root}/regen.json`]);
    expect(r.code, r.stdout).toBe(3);
    expect(r.stderr).toMatch(/holds results of another job \(it differs in: dirX\); refusing to resume/);
  });

  it('a changed batch size or backend refuses to resume and names the setting with both values', async () => {
    const seeded = [...base, '--seed', '3'];
    const batch = await rerunAfterPartial('batch', [...seeded, '--batch-size', '64'], [...seeded, '--batch-size', '32']);
    expect(batch.code).toBe(3);
    expect(batch.stderr).toMatch(/it differs in: batchSize 64 → 32\)/);
    const backend = await rerunAfterPartial('backend', seeded, seeded.map((a) => (a === 'cpu' ? 'wasm' : a)));
    expect(backend.code).toBe(3);
    expect(backend.stderr).toMatch(/it differs in: backend cpu → wasm\)/);
    const same = await rerunAfterPartial('same', seeded, seeded);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toMatch(/resuming: 2 of 9 points already done/);
  });

  it('a Slurm array variable alone does not shard; --shard env and --shard-count read it', async () => {
    const slurm = { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '3' };
    const grid = ['--xrange=-1:1:3', '--yrange=-1:1:3'];
    const whole = await runCli(['surface', ...base, '--seed', '3', ...grid, '--out', `${root}/in-array.json`], process.cwd(), slurm);
    expect(whole.code, whole.stderr).toBe(0);
    expect(read(`${root}/in-array.json`).loss.flat().every((v: number | null) => typeof v === 'number')).toBe(true);
    const env = await runCli(['surface', ...base, '--seed', '3', ...grid, '--shard', 'env', '--out', `${root}/env-parts`], process.cwd(), slurm);
    expect(env.code, env.stderr).toBe(0);
    expect(env.stdout).toMatch(/shard 1\/3: 3 of 9 points/);
    const none = await runCli(['surface', ...base, '--seed', '3', ...grid, '--shard', 'env', '--out', `${root}/env-parts`]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--shard env: no batch engine variable is set/);
  });
});

describe('ratio maps on workers and shards', () => {
  it('landscope hessian --xrange/--yrange gives the same map on 2 workers and as 2 merged shards', async () => {
    const map = ['hessian', '--model', fixturePath('model/model.json'), '--x', fixturePath('data/x.npy'), '--y', fixturePath('data/y.npy'), '--dir-x', fixturePath('dirs/d1/model.json'), '--dir-y', fixturePath('dirs/d2/model.json'), '--xrange=-1:1:3', '--yrange=-1:1:3', '--tol', '1e-4', '--max-iter', '200', '--backend', 'cpu'];
    const one = await runCli([...map, '--workers', '1', '--out', `${root}/map1.json`]);
    expect(one.code, one.stderr).toBe(0);
    const two = await runCli([...map, '--workers', '2', '--out', `${root}/map2.json`]);
    expect(two.code, two.stderr).toBe(0);
    expect(read(`${root}/map2.json`).ratio).toEqual(read(`${root}/map1.json`).ratio);
    for (const i of [0, 1]) expect((await runCli([...map, '--workers', '1', '--shard', `${i}/2`, '--out', `${root}/map-parts`])).code).toBe(0);
    const merged = await runCli(['merge', `${root}/map-parts`, '--out', `${root}/map-merged.json`]);
    expect(merged.code, merged.stderr).toBe(0);
    const m = read(`${root}/map-merged.json`);
    const ref = read(`${root}/map1.json`);
    for (const key of ['lambdaMax', 'lambdaMin', 'ratio', 'converged']) expect(m[key], key).toEqual(ref[key]);
  });
});
