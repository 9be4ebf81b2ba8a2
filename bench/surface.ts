/**
 * Surface throughput (points/s) beside bare forward passes and `model.evaluate` on the same data,
 * backend and batch size: a whole 21×21 surface (issue 13's yardstick), then 8-point slices per model.
 */
import * as tf from '@tensorflow/tfjs';
import { Bench } from 'tinybench';
import { selectBackend } from '../src/cli/backend.js';
import { modelDirection, parseRange, surface } from '../src/index.js';
import { ModelEvaluator } from '../src/model/evaluator.js';
import { resolveLoss } from '../src/model/model-loss.js';
import { cnn, digits, mlp, mlp256 } from './models.js';

const POINTS = 8;
const BATCH = 256;

async function row(backend: 'wasm' | 'cpu', name: string, build: () => tf.LayersModel, inputShape: number[], samples: number, quick: boolean) {
  await selectBackend(backend);
  const model = build();
  const { x, y } = digits(samples, inputShape);
  const d = modelDirection(model, 1);
  const loss = resolveLoss(model);
  const evaluator = new ModelEvaluator(model, { x, y }, { loss: loss.fn, lossName: loss.name, batchSize: BATCH });
  const bench = new Bench({ time: quick ? 300 : 2000, iterations: 3, warmupIterations: 1 });
  bench
    .add(`evaluate x${POINTS}`, async () => {
      for (let k = 0; k < POINTS; k++) {
        const out = model.evaluate(x, y, { batchSize: BATCH }) as tf.Scalar | tf.Scalar[];
        const r = Array.isArray(out) ? out : [out];
        await Promise.all(r.map((t) => t.data()));
        tf.dispose(r);
      }
    })
    // Bare forward passes: loss (and accuracy) over the same batches, the weights left alone.
    .add(`forward x${POINTS}`, async () => {
      for (let k = 0; k < POINTS; k++) await evaluator.evaluate();
    })
    .add(`surface ${POINTS} points`, async () => {
      await surface(model, { x, y }, { directions: [d], xRange: parseRange(`-1:1:${POINTS}`), batchSize: BATCH });
    });
  await bench.run();
  for (const t of bench.tasks) if (t.result?.error !== undefined) throw new Error(`bench surface ${name}: ${t.name} failed: ${t.result.error.message}`, { cause: t.result.error });
  const [evaluate, forward, sampled] = bench.tasks.map((t) => t.result?.latency.mean ?? NaN) as [number, number, number];
  evaluator.dispose();
  d.dispose();
  tf.dispose([x, y]);
  model.dispose();
  return {
    backend,
    model: name,
    samples,
    'evaluate points/s': +((POINTS * 1000) / evaluate).toFixed(2),
    'surface points/s': +((POINTS * 1000) / sampled).toFixed(2),
    'forward passes/s': +((POINTS * 1000) / forward).toFixed(2),
    'surface / evaluate (target >= 0.95)': +(evaluate / sampled).toFixed(3),
    'surface / forward passes (target >= 0.8)': +(forward / sampled).toFixed(3),
  };
}

/**
 * Issue 13's yardstick as it is stated: one whole 21×21 filter-normalized surface (441 points,
 * setup included) on MLP 784-256-10 over 2,000 digits, against as many bare forward passes over
 * the same batches, timed in turns (forward, surface, forward) so drift shows.
 */
async function fullSurface(quick: boolean) {
  await selectBackend('wasm');
  const model = mlp256();
  const { x, y } = digits(2000, [784]);
  const d1 = modelDirection(model, 1);
  const d2 = modelDirection(model, 2);
  const loss = resolveLoss(model);
  const evaluator = new ModelEvaluator(model, { x, y }, { loss: loss.fn, lossName: loss.name, batchSize: BATCH });
  const n = quick ? 11 : 21;
  const points = n * n;
  const forward = async () => {
    const t0 = performance.now();
    for (let k = 0; k < points; k++) await evaluator.evaluate();
    return (performance.now() - t0) / 1000;
  };
  await evaluator.evaluate();
  const before = await forward();
  const t0 = performance.now();
  await surface(model, { x, y }, { directions: [d1, d2], xRange: parseRange(`-1:1:${n}`), yRange: parseRange(`-1:1:${n}`), batchSize: BATCH });
  const sampled = (performance.now() - t0) / 1000;
  const after = await forward();
  const bare = Math.sqrt(before * after);
  evaluator.dispose();
  tf.dispose([x, y, ...d1.tensors, ...d2.tensors]);
  model.dispose();
  return {
    model: 'MLP 784-256-10',
    samples: 2000,
    grid: `${n}×${n}`,
    'surface s (setup included)': +sampled.toFixed(2),
    'as many forward passes s (before, after)': `${before.toFixed(2)}, ${after.toFixed(2)}`,
    'surface points/s': +(points / sampled).toFixed(2),
    'forward passes/s': +(points / bare).toFixed(2),
    'surface / forward passes (target >= 0.8)': +(bare / sampled).toFixed(3),
  };
}

/** Runs the section and prints its tables. */
export async function benchSurface(quick: boolean): Promise<void> {
  const whole = await fullSurface(quick);
  console.log('\nA whole filter-normalized surface against as many bare forward passes (wasm, real MNIST, batch 256)');
  console.table([whole]);
  const rows = [
    await row('wasm', 'MLP 784-128-10', mlp, [784], 2048, quick),
    await row('wasm', 'MLP 784-256-10', mlp256, [784], 2000, quick),
    await row('wasm', 'CNN conv8-pool-conv16-pool-dense', cnn, [28, 28, 1], 512, quick),
    await row('cpu', 'MLP 784-128-10', mlp, [784], 2048, quick),
  ];
  console.log('\nSurface throughput beside model.evaluate (same real MNIST digits, backend, batch size 256)');
  console.table(rows);
}
