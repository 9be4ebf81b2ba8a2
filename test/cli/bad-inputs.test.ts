import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { fixturePath, tmpPath } from '../helpers/fixture.js';

const root = tmpPath('bad-inputs');
const data = ['--x', fixturePath('data/x.npy'), '--y', fixturePath('data/y.npy'), '--seed', '3', '--backend', 'cpu'];
const common = ['--model', fixturePath('model/model.json'), ...data];

describe('inputs that crashed now get a clear error, before any work and without leaving files', () => {
  beforeAll(async () => {
    await rm(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
  });

  it('a model.json that is null, or an array', async () => {
    for (const text of ['null', '[]']) {
      writeFileSync(`${root}/model.json`, text);
      const r = await runCli(['surface', '--model', `${root}/model.json`, ...data, '--xrange=-1:1:3']);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/--model: .*model\.json has no 'weightsManifest' array: it is not a TF\.js LayersModel artifact/);
      expect(r.stderr).not.toMatch(/unexpected error|TypeError/);
    }
  });

  it('--out that is a folder is refused at once (exit 2), and nothing is written in or beside it', async () => {
    mkdirSync(`${root}/a-folder`);
    for (const argv of [
      ['surface', ...common, '--xrange=-1:1:5', '--out', `${root}/a-folder`],
      ['hessian', ...common, '--out', `${root}/a-folder`],
    ]) {
      const r = await runCli(argv);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--out: .*a-folder is a folder; give the path of a file to write, e\.g\. .*a-folder\/out\.json/);
      expect(r.stderr).not.toMatch(/surface: \d+\/\d+ points/); // refused before computing
    }
    expect(readdirSync(`${root}/a-folder`)).toEqual([]);
    expect(readdirSync(root).filter((n) => n.includes('a-folder'))).toEqual(['a-folder']);
    // With --shard, --out is the folder of parts; a file there is refused instead.
    writeFileSync(`${root}/a-file`, 'x');
    const shard = await runCli(['surface', ...common, '--xrange=-1:1:5', '--shard', '0/2', '--out', `${root}/a-file`]);
    expect(shard.code).toBe(2);
    expect(shard.stderr).toMatch(/--out: .*a-file is a file; with --shard it is the folder the part files go to/);
  });

  it('a grid beyond the limit is refused at once, naming the flags and the count', async () => {
    const huge = await runCli(['surface', ...common, '--xrange=-1:1:1e9', '--out', `${root}/huge.json`]);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toMatch(/--xrange 1000000000 = 1,000,000,000 points, more than the 4,000,000 one grid may have/);
    const plane = await runCli(['hessian', ...common, '--xrange=-1:1:2001', '--yrange=-1:1:2001']);
    expect(plane.code).toBe(2);
    expect(plane.stderr).toMatch(/--xrange 2001 × --yrange 2001 = 4,004,001 points/);
    expect(existsSync(`${root}/huge.json`) || existsSync(`${root}/huge.json.partial.jsonl`)).toBe(false);
  });

  it('a part file with a point index out of range, of another shard, or written twice with other values is refused by merge (exit 3)', async () => {
    const grid = ['--xrange=-1:1:5', '--yrange=-1:1:3'];
    expect((await runCli(['surface', ...common, ...grid, '--shard', '0/2', '--out', `${root}/parts`])).code).toBe(0);
    expect((await runCli(['surface', ...common, ...grid, '--shard', '1/2', '--out', `${root}/parts`])).code).toBe(0);
    expect((await runCli(['merge', `${root}/parts`, '--out', `${root}/merged.json`])).code).toBe(0);
    const path = `${root}/parts/part-0-of-2.jsonl`;
    const good = readFileSync(path, 'utf8');
    const first = JSON.parse(good.split('\n')[1] as string);
    for (const [line, why] of [
      [{ ...first, k: 15 }, /line \d+: point index 15 is not one of shard 0\/2's points of 0\.\.14/],
      [{ ...first, k: 1 }, /line \d+: point index 1 is not one of shard 0\/2's points/],
      [{ ...first, k: -2 }, /point index -2 is not one of/],
      [{ ...first, loss: 123 }, new RegExp(`line \\d+: point ${first.k} was already written with other values`)],
    ] as const) {
      writeFileSync(path, `${good}${JSON.stringify(line)}\n`);
      const r = await runCli(['merge', `${root}/parts`, '--out', `${root}/merged2.json`]);
      expect(r.code, JSON.stringify(line)).toBe(3);
      expect(r.stderr).toMatch(why);
    }
    // The same point written twice with the same values (a resumed write) is harmless.
    writeFileSync(path, `${good}${JSON.stringify(first)}\n`);
    expect((await runCli(['merge', `${root}/parts`, '--out', `${root}/merged3.json`])).code).toBe(0);
    expect(JSON.parse(readFileSync(`${root}/merged3.json`, 'utf8')).loss).toEqual(JSON.parse(readFileSync(`${root}/merged.json`, 'utf8')).loss);
  });

  it('a baseline that is null, has no fingerprint, or holds a metric that is not { value, status } is refused (exit 3)', async () => {
    const run = `${root}/run`;
    mkdirSync(run, { recursive: true });
    writeFileSync(`${run}/run.json`, JSON.stringify({ status: 'finished', model: { weights: [] } }));
    writeFileSync(`${run}/metrics.jsonl`, `${JSON.stringify({ epoch: 0, logs: { loss: 1 } })}\n`);
    const fingerprint = { weights: [], seed: 1, sharpness: { directions: 8, radius: 0.1 } };
    const cases: [unknown, RegExp][] = [
      [null, /is not a landscope baseline/],
      [{ kind: 'landscope-baseline', schemaVersion: 1, metrics: {} }, /has no valid fingerprint \(weights, seed, sharpness\)/],
      [{ kind: 'landscope-baseline', schemaVersion: 1, metrics: null, fingerprint }, /is not a landscope baseline/],
      [{ kind: 'landscope-baseline', schemaVersion: 1, fingerprint, metrics: { loss: '0.3' } }, /metric 'loss' is "0\.3"; expected \{ "value": number or null, "status": \.\.\. \}/],
      [{ kind: 'landscope-baseline', schemaVersion: 1, fingerprint, metrics: { loss: { value: 'x', status: 'ok' } } }, /metric 'loss' is/],
    ];
    for (const [content, why] of cases) {
      writeFileSync(`${root}/baseline.json`, JSON.stringify(content));
      const r = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', run, '--rule', 'loss <= +10%']);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/unexpected error/);
    }
  });
});
