/**
 * The training monitor on real MNIST:
 * - fit() with and without the monitor side by side (worker, all defaults, in-thread), and on how
 *   many epochs hessian_max and fn_sharpness arrive, on an MLP and a small CNN (wasm) and the
 *   new user's pure-JS cpu backend; beside it the unbudgeted cost of each measurement (and of the
 *   opt-in ones: adaptive sharpness, per-layer curvature, the spectral density every epoch);
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

type Mode = { label: string; monitor: boolean; options?: Partial<Parameters<typeof landscapeMonitor>[0]> };

const MODES: Mode[] = [
  { label: 'no monitor', monitor: false },
  { label: 'monitor, worker, end-of-training off', monitor: true, options: { finalSurfaces: false, finalDensity: false, report: false } },
  { label: 'monitor, all defaults', monitor: true },
  { label: 'monitor, worker: false, end-of-training off', monitor: true, options: { worker: false, finalSurfaces: false, finalDensity: false, report: false } },
  { label: 'monitor, worker, + adaptive sharpness, end-of-training off', monitor: true, options: { finalSurfaces: false, finalDensity: false, report: false, adaptiveSharpness: true } },
];

/**
 * The workload: fit() with and without the monitor, side by side, and on how many epochs
 * hessian_max and fn_sharpness arrive (probe: 512 test digits; batch 64).
 */
async function everyEpoch(kind: 'mlp' | 'cnn', backend: 'wasm' | 'cpu', epochs: number, trainPerDigit: number, modes: Mode[]) {
  await selectBackend(backend);
  const { train, test } = loadMnist(trainPerDigit, 52);
  const shape = kind === 'mlp' ? [784] : [28, 28, 1];
  const x = tf.tensor(train.images, [train.count, ...shape]);
  const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10).toFloat();
  const probe = { x: tf.tensor(test.images.subarray(0, 512 * 784), [512, ...shape]), y: tf.oneHot(tf.tensor1d(test.labels.subarray(0, 512), 'int32'), 10).toFloat() };
  // Warm-up (the backend's first kernels), not timed.
  const warmup = kind === 'mlp' ? mlp() : cnn();
  await warmup.fit(x.slice(0, 256), y.slice(0, 256), { epochs: 1, batchSize: 64, verbose: 0 });
  warmup.dispose();
  const rows: Record<string, unknown>[] = [];
  const fits: number[] = [];
  const bareFits: number[] = [];
  // The bare fit first and again last: this VM drifts by 10–20% within minutes, so the monitored
  // rows are compared with the geometric mean of the two.
  for (const mode of [...modes, modes[0] as Mode]) {
    const model = kind === 'mlp' ? mlp() : cnn();
    const monitor = mode.monitor ? landscapeMonitor({ probe, runDir: ROOT, warn: () => {}, log: () => {}, ...mode.options }) : null;
    const t0 = performance.now();
    await model.fit(x, y, { epochs, batchSize: 64, shuffle: false, verbose: 0, callbacks: monitor ? [monitor] : [] });
    const fit = (performance.now() - t0) / 1000;
    if (!mode.monitor) bareFits.push(fit);
    fits.push(fit);
    const records = (monitor?.records ?? []).filter((r) => r.epoch >= 0);
    const count = (key: string) => records.filter((r) => typeof r.logs[key] === 'number').length;
    const why = (reason: string) => records.reduce((n, r) => n + ['sharpness', 'hessian', 'adaptiveSharpness'].filter((m) => (r[m] as { skipped?: string } | undefined)?.skipped === reason).length, 0);
    const s = monitor?.seconds;
    rows.push({
      model: kind === 'mlp' ? 'MLP 784-128-10' : 'CNN conv8-pool-conv16-pool-dense',
      backend,
      'train digits': trainPerDigit * 10,
      mode: mode.monitor ? mode.label : `${mode.label} (${bareFits.length === 1 ? 'first' : 'again, last'})`,
      'fit s': +fit.toFixed(2),
      'fit / no monitor (targets: 1.10 end-of-training off, 1.5 all defaults)': 0,
      'epochs with hessian_max': monitor ? `${count('hessian_max')} of ${epochs}` : '',
      'epochs with fn_sharpness': monitor ? `${count('fn_sharpness')} of ${epochs}` : '',
      'epochs with adaptive_sharpness': mode.options?.adaptiveSharpness ? `${count('adaptive_sharpness')} of ${epochs}` : '',
      'skipped behind / budget': monitor ? `${why('behind')} / ${why('budget')}` : '',
      'monitor on training thread / train': s ? +(s.duringTraining / s.training).toFixed(3) : '',
      // The epochs themselves (onEpochBegin to onEpochEnd, the monitor's own time excluded) against the bare fit: issue 16 asks ≤ 1.03.
      'epochs / bare fit (target <= 1.03)': s ? s.training : '',
      'end-of-training s': s ? +s.final.toFixed(2) : '',
    });
    model.dispose();
  }
  const bare = Math.sqrt((bareFits[0] as number) * (bareFits[1] as number));
  rows.forEach((row, i) => {
    row['fit / no monitor (targets: 1.10 end-of-training off, 1.5 all defaults)'] = +((fits[i] as number) / bare).toFixed(3);
    const epochsKey = 'epochs / bare fit (target <= 1.03)';
    if (typeof row[epochsKey] === 'number') row[epochsKey] = +((row[epochsKey] as number) / bare).toFixed(3);
  });
  tf.dispose([x, y, probe.x, probe.y]);
  return rows;
}

/** The every-epoch table alone (`npm run bench -- every-epoch`). */
export async function benchEveryEpoch(quick: boolean): Promise<void> {
  await rm(ROOT, { recursive: true, force: true });
  const e12 = quick ? 6 : 12;
  const only = process.env['BENCH_ONLY'];
  const table = [
    ...(only === undefined || only === 'mlp' ? await everyEpoch('mlp', 'wasm', e12, 600, MODES) : []),
    ...(only === undefined || only === 'cnn' ? await everyEpoch('cnn', 'wasm', e12, quick ? 100 : 600, MODES) : []),
    ...(only === undefined || only === 'cpu' ? await everyEpoch('mlp', 'cpu', quick ? 3 : 6, 200, MODES.slice(0, 3)) : []),
  ];
  console.log(`\nEvery epoch (real MNIST, probe 512 test digits, Hessian on its first 256, batch 64): fit() with and without the monitor, in one run; ratios against the geometric mean of the bare fit before and after`);
  console.table(table);
}

/** Runs the section and prints its tables. */
export async function benchMonitor(quick: boolean): Promise<void> {
  await benchEveryEpoch(quick);
  const epochs = quick ? 3 : 8;
  await selectBackend('wasm');
  const overhead = [];
  for (const kind of ['mlp', 'cnn'] as const) {
    const perDigit = kind === 'mlp' ? 600 : 150;
    const free = await monitoredFit(kind, 2, perDigit, { budget: null, finalSurfaces: false, finalDensity: false, worker: false, adaptiveSharpness: true });
    const only = { budget: null, finalSurfaces: false, finalDensity: false, worker: false, sharpness: false, trajectory: false } as const;
    const layers = await monitoredFit(kind, 2, perDigit, { ...only, hessian: { perLayer: true } });
    const density = await monitoredFit(kind, 2, perDigit, { ...only, hessian: { densityEvery: 1 } });
    overhead.push({
      model: kind === 'mlp' ? 'MLP 784-128-10' : 'CNN conv8-pool-conv16-pool-dense',
      'train digits': perDigit * 10,
      'train s/epoch': +(free.train / 2).toFixed(2),
      's/epoch weights': cost(free.records, 'weights'),
      's/epoch trajectory': cost(free.records, 'trajectory'),
      's/epoch sharpness': cost(free.records, 'sharpness'),
      's/epoch hessian': cost(free.records, 'hessian'),
      's/epoch adaptive sharpness (opt-in)': cost(free.records, 'adaptiveSharpness'),
      's/epoch hessian + per-layer (opt-in)': cost(layers.records, 'hessian'),
      's/epoch hessian + density (opt-in)': cost(density.records, 'hessian'),
    });
  }
  console.log('\nEach measurement unbudgeted, on the training thread (wasm, probe: 500 test digits, Hessian on its first 256)');
  console.table(overhead);

  const warm = await monitoredFit('mlp', epochs, 300, { budget: null, worker: false, sharpness: false, hessian: { warmStart: true } });
  const cold = await monitoredFit('mlp', epochs, 300, { budget: null, worker: false, sharpness: false, hessian: { warmStart: false } });
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
  const sharp = await monitoredFit('mlp', epochs, 300, { budget: null, worker: false, hessian: false, trajectory: false, sharpness: { radii, directions: 8 } });
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
