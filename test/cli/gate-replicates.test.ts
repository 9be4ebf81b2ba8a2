import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';
import { loadMnist } from '../../examples/mnist-data.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';

const root = tmpPath('gate-replicates');

/**
 * The README's seeded script: seeded initializers, and training on a tf.data dataset shuffled
 * with a seed (model.fit's own shuffle uses Math.random). Another shuffle seed is what a rerun of
 * an unseeded script gets: the same recipe, another draw of its noise.
 */
async function train(runId: string, options: { lr: number; shuffleSeed: string; directionSeed?: number }) {
  const { train: t, test } = loadMnist(200, 30);
  const xs = tf.data.array(Array.from({ length: t.count }, (_, i) => Array.from(t.images.subarray(i * 784, (i + 1) * 784))));
  const ys = tf.data.array(Array.from(t.labels, (d) => Array.from({ length: 10 }, (_, k) => (k === d ? 1 : 0))));
  const data = tf.data.zip({ xs, ys }).shuffle(t.count, options.shuffleSeed).batch(32);
  const probe = { x: tf.tensor2d(test.images, [test.count, 784]), y: tf.oneHot(tf.tensor1d(test.labels, 'int32'), 10).toFloat() };
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 32, activation: 'relu', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(options.lr), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const monitor = landscapeMonitor({ probe, runDir: root, runId, seed: options.directionSeed ?? 1, budget: null, trajectory: false, hessian: { maxIter: 60 }, finalSurfaces: false, report: false });
  await model.fitDataset(data, { epochs: 6, callbacks: [monitor], verbose: 0 });
  tf.dispose([probe.x, probe.y]);
  model.dispose();
}

const lambdas = (runId: string) =>
  readFileSync(`${root}/${runId}/metrics.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((m) => m.epoch >= 0)
    .map((m) => m.hessian.lambdaMax as number);

describe('the default gate on reruns of one script (issue 19: no flaky gate)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    await rm(root, { recursive: true, force: true });
    await train('seeded-1', { lr: 0.5, shuffleSeed: 'a' });
    await train('seeded-2', { lr: 0.5, shuffleSeed: 'a' });
    for (const seed of ['b', 'c', 'd', 'e']) await train(`rerun-${seed}`, { lr: 0.5, shuffleSeed: seed });
    await train('sharp', { lr: 0.02, shuffleSeed: 'b' });
    await train('other-directions', { lr: 0.5, shuffleSeed: 'b', directionSeed: 2 });
  }, 300_000);

  it('a fully seeded script reruns bit for bit, so its reruns pass the default gate with no change at all', async () => {
    expect(lambdas('seeded-2')).toEqual(lambdas('seeded-1'));
    expect((await runCli(['baseline', 'save', `${root}/seeded-1`, '--out', `${root}/seeded.json`])).code).toBe(0);
    const gate = await runCli(['gate', '--baseline', `${root}/seeded.json`, '--run', `${root}/seeded-2`, '--json']);
    expect(gate.code, gate.stdout + gate.stderr).toBe(0);
    const verdicts = JSON.parse(gate.stdout).verdicts as { change: number; pairedBy: string }[];
    expect(verdicts.map((v) => [v.change, v.pairedBy])).toEqual([
      [0, 'epochs'],
      [0, 'epochs'],
    ]);
  });

  it('reruns that differ by their noise (another shuffle) swing λmax by tens of percent; a baseline of replicates passes another rerun and fails the sharper run', async () => {
    // The noise the default gate must absorb: the last epoch's λmax of the reruns spreads widely.
    const finals = ['b', 'c', 'd', 'e'].map((s) => lambdas(`rerun-${s}`).at(-1) as number);
    expect(Math.max(...finals) / Math.min(...finals)).toBeGreaterThan(1.15);

    const save = await runCli(['baseline', 'save', `${root}/rerun-b`, `${root}/rerun-c`, `${root}/rerun-d`, '--out', `${root}/replicates.json`]);
    expect(save.code, save.stderr).toBe(0);
    expect(save.stdout).toMatch(/baseline: 3 replicate runs \(rerun-b, rerun-c, rerun-d\), epoch 6 \(mean of the last 3\)/);
    const baseline = JSON.parse(readFileSync(`${root}/replicates.json`, 'utf8'));
    expect(baseline.replicates.map((r: { dir: string }) => r.dir)).toEqual(['rerun-b', 'rerun-c', 'rerun-d']);
    expect(baseline.metrics.hessian_max.replicates).toHaveLength(3);

    const rerun = await runCli(['gate', '--baseline', `${root}/replicates.json`, '--run', `${root}/rerun-e`]);
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/hessian_max <= \+15%.*\(replicates\)\s+pass/);

    const sharp = await runCli(['gate', '--baseline', `${root}/replicates.json`, '--run', `${root}/sharp`]);
    expect(sharp.code, sharp.stdout + sharp.stderr).toBe(1);
    expect(sharp.stdout).toMatch(/hessian_max: change \+\d+\.\d% from the mean of 3 baseline runs \(sd [\d.]+\): hessian_max is above [\d.]+, the threshold widened by the runs' spread/);
  });

  it('runs that are not replicates of one script (other seeded directions) make no baseline, and nothing is written', async () => {
    const other = await runCli(['baseline', 'save', `${root}/rerun-b`, `${root}/other-directions`, '--out', `${root}/bad.json`]);
    expect(other.code).toBe(3);
    expect(other.stderr).toMatch(/runs .*rerun-b and .*other-directions are not replicates of one script: the direction seeds differ \(baseline 1, run 2\)/);
    expect(() => readFileSync(`${root}/bad.json`)).toThrow();
  });
});
