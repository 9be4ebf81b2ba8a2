/**
 * The training monitor on real MNIST (wasm):
 * - its overhead as a fraction of training time at default settings (target ≤ 0.10), on an MLP and
 *   a small CNN, beside the unbudgeted cost of each measurement;
 * - Lanczos HVPs and λmax/λmin per epoch warm-started from last epoch's eigenvectors beside cold
 *   starts (a warm start must give the cold start's values, not only fewer products);
 * - sharpness at several radii (the evidence behind the default radii);
 * - the trajectory PCA update's cost per epoch as the trajectory grows (tinybench).
 */
import { rm } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { Bench } from 'tinybench';
import { landscapeMonitor } from '../callbacks/landscape-monitor.js';
import type { EpochRecord } from '../callbacks/measurement-callback.js';
import { loadMnist } from '../examples/mnist-data.js';
import { selectBackend } from '../src/cli/backend.js';
import { snapshotDot } from '../src/core/snapshot-dot.js';
import { trajectoryPca } from '../src/core/trajectory-pca.js';
import { cnn, mlp } from './models.js';

const ROOT = '.tmp/bench-monitor';

function mnist(kind: 'mlp' | 'cnn', trainPerDigit: number) {
  const { train, test } = loadMnist(trainPerDigit, 50);
  const shape = kind === 'mlp' ? [784] : [28, 28, 1];
  const x = tf.tensor(train.images, [train.count, ...shape]);
  const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10).toFloat();
  const probe = { x: tf.tensor(test.images, [test.count, ...shape]), y: tf.oneHot(tf.tensor1d(test.labels, 'int32'), 10).toFloat() };
  return { x, y, probe };
}

async function monitoredFit(kind: 'mlp' | 'cnn', epochs: number, trainPerDigit: number, options: Parameters<typeof landscapeMonitor>[0] extends infer O ? Partial<O> : never) {
  const { x, y, probe } = mnist(kind, trainPerDigit);
  const model = kind === 'mlp' ? mlp() : cnn();
  const monitor = landscapeMonitor({ probe, runDir: ROOT, warn: () => {}, ...options });
  await model.fit(x, y, { epochs, batchSize: 64, shuffle: false, verbose: 0, callbacks: [monitor] });
  const records = monitor.records;
  const { training, duringTraining, final } = monitor.seconds;
  tf.dispose([x, y, probe.x, probe.y]);
  model.dispose();
  return { records, train: training, monitor: duringTraining, final };
}

const cost = (records: EpochRecord[], name: string) => {
  const xs = records.filter((r) => r.trainSeconds !== null).map((r) => (r[name] as { seconds?: number } | undefined)?.seconds).filter((v): v is number => v !== undefined);
  return xs.length === 0 ? null : +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3);
};

/** Runs the section and prints its tables. */
export async function benchMonitor(quick: boolean): Promise<void> {
  await selectBackend('wasm');
  await rm(ROOT, { recursive: true, force: true });
  const epochs = quick ? 3 : 8;
  const overhead = [];
  for (const kind of ['mlp', 'cnn'] as const) {
    const perDigit = kind === 'mlp' ? 600 : 150;
    const budgeted = await monitoredFit(kind, epochs, perDigit, {});
    const free = await monitoredFit(kind, 2, perDigit, { budget: null, finalSurfaces: false });
    const skipped = budgeted.records.flatMap((r) => r.skipped);
    overhead.push({
      model: kind === 'mlp' ? 'MLP 784-128-10' : 'CNN conv8-pool-conv16-pool-dense',
      'train digits': perDigit * 10,
      'train s/epoch': +(budgeted.train / epochs).toFixed(2),
      'monitor / train during training, default budget 0.1 (target <= 0.10)': +(budgeted.monitor / budgeted.train).toFixed(3),
      'skipped by budget': `${skipped.filter((s) => s === 'hessian').length} hessian, ${skipped.filter((s) => s === 'sharpness').length} sharpness of ${epochs - 1}`,
      'end-of-training analysis s (last epoch in full + final surfaces)': +budgeted.final.toFixed(2),
      'monitor / train, no budget (2 epochs)': +(free.monitor / free.train).toFixed(3),
      's/epoch weights': cost(free.records, 'weights'),
      's/epoch trajectory': cost(free.records, 'trajectory'),
      's/epoch sharpness': cost(free.records, 'sharpness'),
      's/epoch hessian': cost(free.records, 'hessian'),
    });
  }
  console.log('\nMonitor overhead on real MNIST (probe: 500 test digits, Hessian on its first 256; wasm)');
  console.table(overhead);

  const warm = await monitoredFit('mlp', epochs, 300, { budget: null, sharpness: false, hessian: { warmStart: true } });
  const cold = await monitoredFit('mlp', epochs, 300, { budget: null, sharpness: false, hessian: { warmStart: false } });
  const hessian = (r: EpochRecord[]) => r.map((x) => x['hessian'] as { hvps: number; lambdaMax: number; lambdaMin: number; warmStart: boolean });
  const [w, c] = [hessian(warm.records), hessian(cold.records)];
  console.log('\nLanczos per epoch (λmax and λmin, tol 1e-3), MLP on 3,000 digits: warm-started from last epoch (cold every 5th) vs cold — products and values');
  console.table(
    w.map((h, e) => ({
      epoch: e - 1,
      'warm HVPs': h.hvps,
      'cold HVPs': c[e]?.hvps,
      'warm start used': h.warmStart,
      'λmax warm': +h.lambdaMax.toPrecision(6),
      'λmax cold': +(c[e]?.lambdaMax ?? NaN).toPrecision(6),
      'λmax rel. diff': +Math.abs(h.lambdaMax / (c[e]?.lambdaMax ?? NaN) - 1).toExponential(2),
      'λmin rel. diff': +Math.abs(h.lambdaMin / (c[e]?.lambdaMin ?? NaN) - 1).toExponential(2),
    })),
  );

  const radii = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
  const sharp = await monitoredFit('mlp', epochs, 300, { budget: null, hessian: false, trajectory: false, sharpness: { radii, directions: 8 } });
  const last = sharp.records.at(-1)?.['sharpness'] as { radii: { radius: number; mean: number; stderr: number; curvature: number }[] };
  console.log('\nSharpness by radius at the last epoch (MLP, 8 directions): quadratic where the curvature 2s/r² is flat');
  console.table(last.radii.map((r) => ({ radius: r.radius, 'mean s': +r.mean.toExponential(3), 'stderr / mean': +(r.stderr / r.mean).toFixed(3), 'curvature 2s/r²': +r.curvature.toFixed(3) })));

  const n = 101_770;
  const rows = [];
  for (const m of quick ? [10, 40] : [10, 40, 100]) {
    const snaps = Array.from({ length: m }, (_, e) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.001 + e * 0.1) + e * 1e-3));
    const gram = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = i; j < m; j++) gram[i * m + j] = gram[j * m + i] = snapshotDot(snaps[i] as Float32Array, snaps[j] as Float32Array, snaps[0] as Float32Array);
    const bench = new Bench({ time: quick ? 100 : 500, iterations: 3, warmupIterations: 1 });
    bench.add('new Gram row', () => {
      for (let j = 0; j < m; j++) snapshotDot(snaps[m - 1] as Float32Array, snaps[j] as Float32Array, snaps[0] as Float32Array);
    });
    bench.add('PCA of the Gram matrix', () => trajectoryPca(gram, m, 2));
    await bench.run();
    const [row, pca] = bench.tasks.map((t) => t.result?.latency.mean ?? NaN) as [number, number];
    rows.push({ epochs: m, parameters: n, 'Gram row ms (grows with epochs × parameters)': +row.toFixed(2), 'PCA ms (grows with epochs³)': +pca.toFixed(2) });
  }
  console.log('\nTrajectory PCA update per epoch (in-memory snapshots; the monitor also reads them from disk)');
  console.table(rows);
}
