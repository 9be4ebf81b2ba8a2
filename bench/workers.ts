/**
 * The worker pool: `landscope surface` points/s with --workers 2 beside --workers 1 (target ≥ 1.6×
 * on 2 cores), and beside the bare `model.evaluate` throughput on the same data (wasm). The model
 * is an MNIST MLP trained briefly on real digits, saved to disk with its data, as a user would.
 */
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { Bench } from 'tinybench';
import { selectBackend } from '../src/cli/backend.js';
import { main } from '../src/cli/main.js';
import { folderSaveHandler, writeNpyFile } from '../src/index.js';
import { trained } from './models.js';

const DIR = '.tmp/bench-workers';

/** Runs the section and prints its table. */
export async function benchWorkers(quick: boolean): Promise<void> {
  await selectBackend('wasm');
  await rm(DIR, { recursive: true, force: true });
  const samples = 2048;
  const { model, data } = await trained('mlp', samples, 1);
  await model.save(folderSaveHandler(`${DIR}/model`), { includeOptimizer: true });
  await writeNpyFile(`${DIR}/x.npy`, { dtype: 'float32', shape: [samples, 784], data: (await data.x.data()) as Float32Array });
  await writeNpyFile(`${DIR}/y.npy`, { dtype: 'float32', shape: [samples, 10], data: (await data.y.data()) as Float32Array });
  const grid = quick ? 10 : 36;
  const points = grid * grid;
  const io = { cwd: process.cwd(), env: {}, isTTY: false, stdout: () => {}, stderr: () => {} };
  const surfaceWith = (workers: number) => async () => {
    const code = await main(['surface', '--model', `${DIR}/model/model.json`, '--x', `${DIR}/x.npy`, '--y', `${DIR}/y.npy`, `--xrange=-1:1:${grid}`, `--yrange=-1:1:${grid}`, '--workers', String(workers), '--backend', 'wasm', '--out', `${DIR}/w${workers}.json`], io);
    if (code !== 0) throw new Error(`surface --workers ${workers} exited ${code}`);
  };
  const bench = new Bench({ time: quick ? 200 : 1000, iterations: 2, warmupIterations: 1 });
  bench
    .add('evaluate x64', async () => {
      for (let k = 0; k < 64; k++) {
        const r = model.evaluate(data.x, data.y, { batchSize: 256 }) as tf.Scalar[];
        await Promise.all(r.map((t) => t.data()));
        tf.dispose(r);
      }
    })
    .add('surface --workers 1', surfaceWith(1))
    .add('surface --workers 2', surfaceWith(2));
  await bench.run();
  const [evaluate, one, two] = bench.tasks.map((t) => t.result?.latency.mean ?? NaN) as [number, number, number];
  console.log(`\nSurface with a worker pool: ${grid}x${grid} points, MLP 784-128-10 on ${samples} digits (wasm; whole CLI runs, thread start-up included)`);
  console.table([
    {
      'evaluate points/s': +((64 * 1000) / evaluate).toFixed(1),
      'surface --workers 1 points/s': +((points * 1000) / one).toFixed(1),
      'surface --workers 2 points/s': +((points * 1000) / two).toFixed(1),
      'speed-up 2 vs 1 (target >= 1.6)': +(one / two).toFixed(2),
      'workers 2 / evaluate': +((points / two) / (64 / evaluate)).toFixed(2),
    },
  ]);
}
