import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { loadMnist } from '../../examples/mnist-data.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';

const root = tmpPath('gate');

/** A short real-MNIST run; SGD's learning rate bounds λmax near 2/lr (edge of stability). */
async function train(runId: string, lr: number, seed = 1, units = 32) {
  const { train: t, test } = loadMnist(200, 30);
  const x = tf.tensor2d(t.images, [t.count, 784]);
  const y = tf.oneHot(tf.tensor1d(t.labels, 'int32'), 10).toFloat();
  const probe = { x: tf.tensor2d(test.images, [test.count, 784]), y: tf.oneHot(tf.tensor1d(test.labels, 'int32'), 10).toFloat() };
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units, activation: 'relu', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(lr), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const monitor = landscapeMonitor({ probe, runDir: root, runId, seed, budget: null, trajectory: false, hessian: { maxIter: 60 } });
  await model.fit(x, y, { epochs: 6, batchSize: 32, shuffle: false, callbacks: [monitor], verbose: 0 });
  tf.dispose([x, y, probe.x, probe.y]);
  model.dispose();
}

describe('landscope baseline and gate on real MNIST runs', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    await rm(root, { recursive: true, force: true });
    await train('flat', 0.5); // large steps: flat minimum (λmax ≈ 2.6)
    await train('sharp', 0.02); // small steps: sharper (λmax ≈ 7.8)
    expect((await runCli(['baseline', 'save', `${root}/flat`, '--out', `${root}/baseline.json`])).code).toBe(0);
  }, 300_000);

  it('landscope gate passes a run against its own baseline and fails the sharper run, naming the metrics', async () => {
    const save = await runCli(['baseline', 'save', `${root}/flat`, '--out', `${root}/baseline.json`]);
    expect(save.code, save.stderr).toBe(0);
    expect(save.stdout).toMatch(/baseline: run flat, epoch 6 \(mean of the last 3\), \d+ metrics \(fn_sharpness, fn_curvature, hessian_max/);
    // Meant to be committed: no absolute path of this machine in it.
    expect(JSON.parse(readFileSync(`${root}/baseline.json`, 'utf8')).run.dir).toBe('flat');

    const same = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/flat`]);
    expect(same.code, same.stdout + same.stderr).toBe(0);
    expect(same.stdout).toMatch(/fn_sharpness <= \+10%\s+\S+\s+\S+\s+\+0\.0%\s+\+0\.0%\.\.\+0\.0% \(epochs\)\s+pass/);

    const sharp = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/sharp`, '--junit', `${root}/gate.xml`, '--summary', `${root}/summary.md`]);
    expect(sharp.code, sharp.stdout + sharp.stderr).toBe(1);
    expect(sharp.stdout).toMatch(/fn_sharpness <= \+10%.*regression/);
    expect(sharp.stdout).toMatch(/hessian_max <= \+15%.*regression/);
    expect(sharp.stdout).toMatch(/FAILED/);
    const junit = readFileSync(`${root}/gate.xml`, 'utf8');
    expect(junit).toMatch(/<testsuite name="[^"]*" tests="2" failures="2" skipped="0">/);
    expect(junit).toMatch(/<testcase classname="landscope.gate" name="fn_sharpness &lt;= \+10%"><failure message="change \+\d/);
    expect(readFileSync(`${root}/summary.md`, 'utf8')).toMatch(/### landscope gate: sharp vs baseline flat: 2 rules failed/);

    const json = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/sharp`, '--json', '--rule', 'hessian_ratio <= 1', '--rule', 'fn_sharpness <= +200%']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.passed).toBe(true);
    expect(parsed.verdicts.map((v: { verdict: string }) => v.verdict)).toEqual(['pass', 'pass']);
  });

  it('landscope gate prints GitHub annotations under GitHub Actions and reads rules from a config file', async () => {
    writeFileSync(`${root}/landscope.config.json`, JSON.stringify({ gate: { rules: ['hessian_max <= +15%'], last: 2 } }));
    const { main } = await import('../../src/cli/main.js');
    let out = '';
    const code = await main(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/sharp`, '--config', `${root}/landscope.config.json`], {
      cwd: process.cwd(),
      env: { GITHUB_ACTIONS: 'true' },
      isTTY: false,
      stdout: (t) => (out += t),
      stderr: () => {},
    });
    expect(code).toBe(1);
    // Workflow commands escape % as %25.
    expect(out).toMatch(/^::error title=landscope gate%3A hessian_max::hessian_max <= \+15%25: change \+\d+\.\d%25 \(90%25 interval \+[\d.]+%25..\+[\d.]+%25, paired by shard\) is significantly beyond <= \+15\.0%25$/m);
    expect(out).not.toMatch(/fn_sharpness/);
  });

  it('landscope gate refuses a config whose keys are misspelled or missing, instead of using the default rules', async () => {
    const cases: [unknown, RegExp][] = [
      [{ gat: { rules: ['hessian_max <= +15%'] } }, /unknown key 'gat' in the file; allowed: gate/],
      [{ gate: { rule: ['hessian_max <= +15%'] } }, /unknown key 'rule' in gate; allowed: rules, last/],
      [null, /the file in .* is null; expected an object with gate/],
      [{ gate: null }, /gate in .* is null; expected an object with rules, last/],
      [{}, /has no 'gate' section/],
    ];
    for (const [config, message] of cases) {
      writeFileSync(`${root}/bad.config.json`, JSON.stringify(config));
      const r = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/sharp`, '--config', `${root}/bad.config.json`]);
      expect(r.code, JSON.stringify(config)).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('landscope gate refuses a baseline of another architecture or seed, a truncated run, and malformed rules', async () => {
    await train('other-seed', 0.5, 2);
    const seed = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/other-seed`]);
    expect(seed.code).toBe(3);
    expect(seed.stderr).toMatch(/refusing to compare .* the direction seeds differ \(baseline 1, run 2\)/);
    await train('wider', 0.5, 1, 40);
    const arch = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/wider`]);
    expect(arch.code).toBe(3);
    expect(arch.stderr).toMatch(/the architectures differ \(weight 0: baseline dense_\w+\/kernel \[784,32\], run dense_\w+\/kernel \[784,40\]\)/);

    const run = JSON.parse(readFileSync(`${root}/sharp/run.json`, 'utf8'));
    writeFileSync(`${root}/sharp/run.json`, JSON.stringify({ ...run, status: 'killed' }));
    const killed = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/sharp`]);
    writeFileSync(`${root}/sharp/run.json`, JSON.stringify(run));
    expect(killed.code).toBe(3);
    expect(killed.stderr).toMatch(/status is 'killed', not 'finished'/);

    const bad = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/sharp`, '--rule', 'fn_sharpness =< 10%']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--rule: rule 'fn_sharpness =< 10%': expected '<=' or '>=' after the metric\n\s+fn_sharpness =< 10%\n\s+\^/);
    const unknown = await runCli(['gate', '--baseline', `${root}/baseline.json`, '--run', `${root}/sharp`, '--rule', 'sharpness <= +10%']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown metric 'sharpness'; known: fn_sharpness, fn_curvature, hessian_max/);
    const missing = await runCli(['gate', '--baseline', `${root}/nope.json`, '--run', `${root}/sharp`]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/--baseline: no file at .*nope\.json/);
    const many = await runCli(['baseline', 'save', `${root}/flat`, '--last', '9', '--out', `${root}/b9.json`]);
    expect(many.code).toBe(3);
    expect(many.stderr).toMatch(/6 measured epoch\(s\), fewer than the 9 to average/);
  });
});
