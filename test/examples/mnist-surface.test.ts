import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';

const run = promisify(execFile);

describe('the README main job on real MNIST (quick mode)', () => {
  it('examples/mnist-surface --quick trains on real digits and writes a surface the CLI reproduces', async () => {
    const out = tmpPath('demo-quick');
    await rm(out, { recursive: true, force: true });
    const script = new URL('../../dist/examples/mnist-surface.js', import.meta.url).pathname;
    const { stdout } = await run('node', [script, '--quick', `--out=${out}`]);
    const accuracy = Number(/test accuracy ([\d.]+)/.exec(stdout)?.[1]);
    expect(accuracy).toBeGreaterThan(0.6); // one epoch on 2,000 real digits: far above chance (0.1)
    const s = JSON.parse(readFileSync(`${out}/surface.json`, 'utf8'));
    expect(s.x).toHaveLength(9);
    expect(s.y).toHaveLength(9);
    const center = s.loss[4][4];
    const corners = [s.loss[0][0], s.loss[0][8], s.loss[8][0], s.loss[8][8]];
    for (const c of corners) expect(c).toBeGreaterThan(center); // a basin around the trained weights

    const r = await runCli(['surface', '--model', `${out}/model/model.json`, '--x', `${out}/x.npy`, '--y', `${out}/y.npy`, '--dir-x', `${out}/d1/model.json`, '--dir-y', `${out}/d2/model.json`, '--xrange=-1:1:9', '--yrange=-1:1:9', '--out', `${out}/cli.json`]);
    expect(r.code, r.stderr).toBe(0);
    const again = JSON.parse(readFileSync(`${out}/cli.json`, 'utf8'));
    again.loss.forEach((row: number[], i: number) => row.forEach((v, j) => expect(v).toBeCloseTo(s.loss[i][j], 4)));
  });
});
