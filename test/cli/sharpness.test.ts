import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { AdaptiveSharpnessMeasurement } from '../../callbacks/adaptive-sharpness-callback.js';
import type { MeasureContext } from '../../callbacks/measurement.js';
import { SharpnessMeasurement } from '../../callbacks/sharpness-callback.js';
import { loadModel } from '../../src/io/artifact.js';
import { readNpyFile } from '../../src/io/npy.js';
import { resolveLoss } from '../../src/model/model-loss.js';
import { prepareData } from '../../src/model/prepare-data.js';
import { runCli } from '../helpers/cli.js';
import { fixturePath, tmpPath } from '../helpers/fixture.js';

const model = fixturePath('model/model.json');
const x = fixturePath('data/x.npy');
const y = fixturePath('data/y.npy');

describe('landscope sharpness', () => {
  it('gives the monitor measurements’ numbers at a checkpoint: fn_sharpness, and with --adaptive the worst and average case', async () => {
    const root = tmpPath('cli-sharpness');
    await rm(root, { recursive: true, force: true });
    const r = await runCli(['sharpness', '--model', model, '--x', x, '--y', y, '--seed', '4', '--radius', '0.2', '--adaptive', '--adaptive-radius', '0.3', '--adaptive-steps', '2', '--out', `${root}/s.json`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fn_sharpness .* \(r = 0\.2\), adaptive worst .* \(ρ = 0\.3\)/);
    const out = JSON.parse(readFileSync(`${root}/s.json`, 'utf8'));
    // The same measurements as the monitor runs them, on the backend the command left selected.
    const m = await loadModel(fixturePath('model'));
    const data = prepareData(m, await readNpyFile(x), await readNpyFile(y), resolveLoss(m).name);
    const context: MeasureContext = { model: m, probe: data, loss: undefined, batchSize: 256, run: null, seed: 4 };
    const fn = new SharpnessMeasurement({ radii: [0.2] });
    const ad = new AdaptiveSharpnessMeasurement({ radius: 0.3, steps: 2 });
    await fn.begin(context);
    await ad.begin(context);
    const want = { fn: await fn.measure(context), ad: await ad.measure(context) };
    fn.end();
    ad.end();
    m.dispose();
    expect(Math.abs(out.sharpness.mean - (want.fn.logs['fn_sharpness'] as number)) / Math.abs(want.fn.logs['fn_sharpness'] as number)).toBeLessThan(1e-4);
    expect(Math.abs(out.adaptiveSharpness.worst - (want.ad.logs['adaptive_sharpness'] as number)) / (want.ad.logs['adaptive_sharpness'] as number)).toBeLessThan(1e-4);
    expect(Math.abs(out.adaptiveSharpness.average - (want.ad.logs['adaptive_sharpness_avg'] as number)) / Math.abs(want.ad.logs['adaptive_sharpness_avg'] as number)).toBeLessThan(1e-3);
    expect(out.adaptiveSharpness.ascent).toHaveLength(3);
    expect(out.sharpness.values).toHaveLength(8);
    expect(out.meta).toMatchObject({ kind: 'sharpness', seed: 4 });
    // Without --adaptive there is no adaptive part.
    const plain = await runCli(['sharpness', '--model', model, '--x', x, '--y', y]);
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout).adaptiveSharpness).toBeUndefined();
  });

  it('refuses bad flags with one line naming them', async () => {
    for (const [argv, message] of [
      [['--radius', '0'], /--radius: '0' is not a positive number/],
      [['--adaptive-radius', '0.5'], /--adaptive-radius goes with --adaptive/],
      [['--adaptive', '--adaptive-directions', '1'], /--adaptive-directions/],
    ] as const) {
      const r = await runCli(['sharpness', '--model', model, '--x', x, '--y', y, ...argv]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/see `landscope sharpness --help`/);
    }
  });
});
