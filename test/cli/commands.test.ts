import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatNpy } from '../../src/io/npy.js';
import { artifactWeights, loadModel, readArtifact, saveWeightsArtifact } from '../../src/io/artifact.js';
import { matchModelLayout, readModelWeights } from '../../src/model/model-weights.js';
import { linearCombination } from '../../src/core/param-list.js';
import { normalizeForModel } from '../../src/landscape/directions.js';
import { runCli } from '../helpers/cli.js';
import { expected, fixturePath, tmpPath } from '../helpers/fixture.js';

const ref = expected();
const M = fixturePath('model/model.json');
const X = fixturePath('data/x.npy');
const Y = fixturePath('data/y.npy');
const data = ['--x', X, '--y', Y];
const out = (name: string) => tmpPath('cli', name);
const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

function expectLossesClose(got: (number | null)[], want: number[]) {
  expect(got).toHaveLength(want.length);
  got.forEach((v, i) => expect(Math.abs((v as number) - (want[i] as number))).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i] as number))));
}

describe('landscope CLI', () => {
  beforeAll(async () => {
    await rm(tmpPath('cli'), { recursive: true, force: true });
    await mkdir(tmpPath('cli'), { recursive: true });
  });

  it('landscope surface (2-D, fixture directions, filter norm) reproduces surface_2d', async () => {
    const r = await runCli(['surface', '--model', M, ...data, '--dir-x', fixturePath('dirs/d1/model.json'), '--dir-y', fixturePath('dirs/d2/model.json'), '--norm', 'filter', '--ignore', 'biasbn', '--xrange=-1:1:11', '--yrange=-1:1:11', '--out', out('s2.json')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/backend (wasm|cpu|tensorflow)/);
    const s = read(out('s2.json'));
    expect(s.x).toEqual(ref.surface_2d.a);
    expect(s.y).toEqual(ref.surface_2d.b);
    s.loss.forEach((row: number[], i: number) => expectLossesClose(row, ref.surface_2d.loss[i]));
    s.accuracy.forEach((row: number[], i: number) => row.forEach((v, j) => expect(Math.abs(v - ref.surface_2d.accuracy[i][j]) * 256).toBeLessThanOrEqual(1.0001)));
    expect(s.meta).toMatchObject({ kind: '2d', norm: 'filter', ignore: 'biasbn', data: { size: 256 }, directions: { x: { file: fixturePath('dirs/d1/model.json') } } });
    expect(s.meta.backend).toBe(r.stderr.match(/backend (\w+)/)?.[1]);
  });

  it('landscope surface (1-D) reproduces slice_1d with filter and slice_1d_layer with layer normalization', async () => {
    for (const [norm, key] of [['filter', 'slice_1d'], ['layer', 'slice_1d_layer']]) {
      const r = await runCli(['surface', '--model', M, ...data, '--dir-x', fixturePath('dirs/d1/model.json'), '--norm', norm as string, '--xrange=-1:1:21', '--out', out(`s1-${norm}.json`), '--backend', 'cpu']);
      expect(r.code, r.stderr).toBe(0);
      const s = read(out(`s1-${norm}.json`));
      expect(s.y).toBeUndefined();
      expectLossesClose(s.loss, ref[key as string].loss);
    }
  });

  it('landscope directions --seed then surface --dir-x equals surface --seed', async () => {
    expect((await runCli(['directions', '--model', M, '--seed', '7', '--out', out('dir7')])).code).toBe(0);
    expect(existsSync(out('dir7/weights.bin'))).toBe(true);
    await runCli(['surface', '--model', M, ...data, '--dir-x', out('dir7/model.json'), '--xrange=-1:1:5', '--out', out('from-file.json')]);
    await runCli(['surface', '--model', M, ...data, '--seed', '7', '--xrange=-1:1:5', '--out', out('from-seed.json')]);
    const a = read(out('from-file.json'));
    const b = read(out('from-seed.json'));
    expectLossesClose(a.loss, b.loss);
    expect(b.meta.directions.x).toEqual({ seed: 7 });
  });

  it('landscope interpolate between θ and θ + d1_filter equals the slice along d1_filter', async () => {
    const model = await loadModel(M);
    const raw = matchModelLayout(model, artifactWeights(await readArtifact(fixturePath('dirs/d1'))), 'd1');
    const d = normalizeForModel(model, raw, { norm: 'filter' });
    const moved = linearCombination(readModelWeights(model), [1], [d]);
    await saveWeightsArtifact(out('moved'), model.toJSON(null, false), moved.entries());
    const r = await runCli(['interpolate', '--model', M, '--model2', out('moved/model.json'), ...data, '--range=-1:1:21', '--out', out('interp.json')]);
    expect(r.code, r.stderr).toBe(0);
    const s = read(out('interp.json'));
    expect(s.x).toEqual(ref.slice_1d.a);
    expectLossesClose(s.loss, ref.slice_1d.loss);

    // and `directions --model2` writes θ2 − θ1
    expect((await runCli(['directions', '--model', M, '--model2', out('moved/model.json'), '--out', out('diff')])).code).toBe(0);
    const diff = await matchModelLayout(model, artifactWeights(await readArtifact(out('diff'))), 'diff').toFlat();
    const want = await d.toFlat();
    diff.forEach((v, i) => expect(Math.abs(v - (want[i] as number))).toBeLessThan(1e-5));
    model.dispose();
  });

  describe('bad input: one clear error each, no stack, exit 2 (usage) or 3 (failure)', () => {
    const base = ['surface', '--model', M, ...data, '--xrange=-1:1:3', '--out', out('bad.json')];
    const cases: [string, string[], number, RegExp][] = [
      ['missing model file', ['surface', '--model', out('nope/model.json'), ...data, '--xrange=-1:1:3', '--out', out('bad.json')], 3, /error: --model: no file at .*nope\/model\.json/],
      ['missing data file', ['surface', '--model', M, '--x', out('nope.npy'), '--y', Y, '--xrange=-1:1:3', '--out', out('bad.json')], 3, /error: --x: no file at .*nope\.npy/],
      ['unreadable model.json', ['surface', '--model', X, ...data, '--xrange=-1:1:3', '--out', out('bad.json')], 3, /error: --model: .*x\.npy is not valid JSON/],
      ['direction of another architecture', [...base, '--dir-x', out('other/model.json')], 3, /error: --dir-x .*other\/model\.json: weight 'dense1\/kernel' has shape \[8,4\], the model's is \[8,10\]/],
      ['data that does not fit the input', ['surface', '--model', M, '--x', Y, '--y', Y, '--xrange=-1:1:3', '--out', out('bad.json')], 3, /error: --x .*y\.npy: shape \[256,3\] does not fit the model's input \[N,8\]/],
      ['labels that do not fit the output', ['surface', '--model', M, '--x', X, '--y', X, '--xrange=-1:1:3', '--out', out('bad.json')], 3, /error: --y .*x\.npy: shape \[256,8\] does not fit; the model's output is \[N,3\]/],
      ['empty data', ['surface', '--model', M, '--x', out('empty-x.npy'), '--y', out('empty-y.npy'), '--xrange=-1:1:3', '--out', out('bad.json')], 3, /error: --x .*empty-x\.npy: shape \[0,8\] holds no samples/],
      ['range 1:-1:0', ['surface', '--model', M, ...data, '--xrange=1:-1:0', '--out', out('bad.json')], 2, /--xrange: num = 0 in '1:-1:0' is not a positive integer/],
      ['range a:b:c', ['surface', '--model', M, ...data, '--xrange=a:b:c', '--out', out('bad.json')], 2, /--xrange: 'a:b:c' has a part that is not a finite number/],
      ['unknown norm', [...base, '--norm', 'unit'], 2, /--norm: 'unit' is not one of filter, layer, model, none/],
      ['unknown ignore', [...base, '--ignore', 'bias'], 2, /--ignore: 'bias' is not one of biasbn, none/],
      ['missing --xrange', ['surface', '--model', M, ...data, '--out', out('bad.json')], 2, /--xrange is required/],
      ['unknown flag', [...base, '--resolution', '5'], 2, /unknown flag --resolution; (did you mean --\w+\?|flags: --)/],
      ['unknown backend', [...base, '--backend', 'webgpu'], 2, /--backend: 'webgpu' is not one of tensorflow, wasm, cpu/],
      ['bad batch size', [...base, '--batch-size', '0'], 2, /--batch-size: '0' is not an integer from 1/],
      ['unknown loss', [...base, '--loss', 'hinge'], 2, /--loss: 'hinge' is not a known loss/],
      ['unknown command', ['surfaces'], 2, /unknown command 'surfaces'; commands: surface, merge, interpolate, directions/],
    ];
    beforeAll(async () => {
      await writeFile(out('empty-x.npy'), formatNpy({ dtype: 'float32', shape: [0, 8], data: new Float32Array(0) }));
      await writeFile(out('empty-y.npy'), formatNpy({ dtype: 'float32', shape: [0, 3], data: new Float32Array(0) }));
      const other = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [8], name: 'dense1' })] });
      await saveWeightsArtifact(out('other'), other.toJSON(null, false), [{ name: 'dense1/kernel', tensor: tf.zeros([8, 4]) }]);
    });
    for (const [name, argv, code, message] of cases) {
      it(`landscope ${argv[0]} with ${name} exits ${code} and says so`, async () => {
        const r = await runCli(argv);
        expect(r.code, r.stderr).toBe(code);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(existsSync(out('bad.json'))).toBe(false);
      });
    }
  });

  it('landscope surface without --out writes the JSON to stdout and the summary to stderr', async () => {
    const r = await runCli(['surface', '--model', M, ...data, '--seed', '7', '--xrange=-1:1:5']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.x).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(s.loss).toHaveLength(5);
    expect(r.stderr).toMatch(/surface: 5 points in .* -> stdout/);
  });

  it('the built landscope binary runs as a real process', async () => {
    const bin = new URL('../../dist/src/cli/bin.js', import.meta.url).pathname;
    expect(existsSync(bin), 'run `npm run build` (npm test does) before the tests').toBe(true);
    const { stdout, stderr } = await promisify(execFile)('node', [bin, 'surface', '--model', M, ...data, '--seed', '3', '--xrange=-0.5:0.5:3', '--yrange=-0.5:0.5:3', '--out', out('bin.json')]);
    expect(stdout).toMatch(/surface: 3x3 points in .* on (wasm|cpu|tensorflow) ->/);
    expect(stderr).toMatch(/surface: 9\/9 points/);
    expect(read(out('bin.json')).loss[1][1]).toBeCloseTo(ref.center.loss, 5);
    const help = await promisify(execFile)('node', [bin, '--help']);
    expect(help.stdout).toMatch(/Exit codes: 0 ok, 1 regression \(gate\), 2 usage error, 3 failure/);
  });
});
