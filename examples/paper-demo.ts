/**
 * The paper's findings on real MNIST digits, with the landscape monitor attached to ordinary
 * `model.fit` calls — a starting point to copy.
 *
 *   npm run demo              # ~4 minutes on 2 cores (wasm)
 *   npm run demo -- --quick   # under a minute
 *
 * 1. Sharp vs flat (Li et al. 2018, section 5): the same MLP trained with a small and a large batch
 *    at the same learning rate (and, in the full demo, both again with weight decay), the large
 *    batch until its training loss is as low as the small batch's (at most 100 epochs).
 * 2. Skip connections (section 6): a deep narrow MLP with and without residual connections (and,
 *    in the full demo, the plain net at several widths).
 * 3. The edge of stability (Cohen et al. 2021; examples/edge-of-stability.ts): full-batch gradient
 *    descent on a tanh MLP with the MSE loss; λmax rises to 2/η and hovers there.
 * Each run writes runs/demo/<name>/ with its report; then a comparison report, a table, and the
 * CI gate of the large-batch run against the small-batch run as baseline.
 */
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
// In your project: from 'landscope'.
import { cli as main, landscapeMonitor, selectBackend } from '../src/index.js';
import { describeRun, edgeOfStability } from './edge-of-stability.js';
import { loadMnist } from './mnist-data.js';

const quick = process.argv.includes('--quick');
const out = resolve(process.argv.find((a) => a.startsWith('--out='))?.slice(6) ?? 'runs/demo');

const backend = await selectBackend();
await rm(out, { recursive: true, force: true });
console.log(`landscope demo on real MNIST digits (${quick ? 'quick' : 'full'}), backend ${backend}, runs in ${out}`);

const { train, test } = loadMnist(quick ? 150 : 500, quick ? 40 : 150);
const x = tf.tensor2d(train.images, [train.count, 784]);
const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10).toFloat();
const xTest = tf.tensor2d(test.images, [test.count, 784]);
const yTest = tf.oneHot(tf.tensor1d(test.labels, 'int32'), 10).toFloat();
// The monitor measures on a fixed probe set of training digits (the landscape of the training loss).
const probe = { x: x.slice(0, quick ? 256 : 512), y: y.slice(0, quick ? 256 : 512) };

/** An MLP 784 → hidden… → 10, optionally with residual connections around each hidden layer. */
function mlp(widths: number[], options: { residual?: boolean; weightDecay?: number; seed?: number } = {}): tf.LayersModel {
  const input = tf.input({ shape: [784] });
  const regularizer = options.weightDecay ? tf.regularizers.l2({ l2: options.weightDecay }) : undefined;
  // He initialization; a residual branch starts small so that the sum of many branches stays tame.
  const dense = (units: number, k: number, activation: 'relu' | 'softmax', scale = 2) =>
    tf.layers.dense({ units, activation, kernelInitializer: tf.initializers.varianceScaling({ scale, mode: 'fanIn', distribution: 'normal', seed: (options.seed ?? 1) * 100 + k }), ...(regularizer ? { kernelRegularizer: regularizer } : {}) });
  let h = dense(widths[0] as number, 0, 'relu').apply(input) as tf.SymbolicTensor;
  widths.slice(1).forEach((w, k) => {
    const next = dense(w, k + 1, 'relu', options.residual ? 2 / widths.length : 2).apply(h) as tf.SymbolicTensor;
    h = options.residual && w === h.shape[1] ? (tf.layers.add().apply([h, next]) as tf.SymbolicTensor) : next;
  });
  const output = dense(10, 99, 'softmax').apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

interface Row {
  name: string;
  epochs: number;
  trainLoss: number;
  testError: number;
  gap: number;
  sharpness: number;
  sharpnessStderr: number;
  lambdaMax: number | null;
  ratio: number | null;
  evr2: number;
  seconds: number;
}
const rows: Row[] = [];

/** Stops training once the training loss reaches `target` (put it before the monitor). */
class StopAtLoss extends tf.Callback {
  constructor(private readonly target: number) {
    super();
  }
  override async onEpochEnd(_epoch: number, logs?: tf.Logs) {
    const value = logs?.['loss'] as unknown;
    const loss = typeof value === 'number' ? value : ((value as tf.Tensor | undefined)?.dataSync()[0] ?? Infinity);
    if (loss <= this.target) (this.model as unknown as { stopTraining: boolean }).stopTraining = true;
  }
}

/** Trains one model with the monitor attached, printing progress, and records its final numbers. */
async function run(name: string, model: tf.LayersModel, epochs: number, batchSize: number, lr: number, stopAtLoss?: number): Promise<void> {
  model.compile({ optimizer: tf.train.sgd(lr), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const started = performance.now();
  const monitor = landscapeMonitor({
    probe,
    runDir: out,
    runId: name,
    name,
    // Every epoch measured: the worker overlaps each measurement with the next epoch, and training
    // waits only when a measurement takes longer than an epoch.
    budget: null,
    finalBudget: null, // and every final surface, at the asked resolution
    hessian: { probeSize: 128, maxIter: 40 },
    finalSurfaces: { resolution: quick ? 11 : 21, sliceResolution: quick ? 21 : 41 },
    log: () => {},
    warn: (m) => console.warn(m),
  });
  const progress = new (class extends tf.Callback {
    override async onEpochEnd(epoch: number, logs?: tf.Logs) {
      const elapsed = (performance.now() - started) / 1000;
      const left = (elapsed / (epoch + 1)) * (epochs - epoch - 1);
      const value = logs?.['loss'] as unknown;
      const loss = typeof value === 'number' ? value : ((value as tf.Tensor | undefined)?.dataSync()[0] ?? NaN);
      process.stdout.write(`  ${name}: epoch ${epoch + 1}/${epochs}, loss ${loss.toFixed(4)}, ${left.toFixed(0)} s left${process.stdout.isTTY ? '\r' : '\n'}`);
    }
  })();
  const stop = stopAtLoss === undefined ? [] : [new StopAtLoss(stopAtLoss)];
  await model.fit(x, y, { epochs, batchSize, shuffle: false, verbose: 0, validationData: [xTest, yTest], callbacks: [...stop, monitor, progress] });
  const last = monitor.records.at(-1) as Record<string, any>;
  // The newest epoch where each was measured (the budget or a busy worker may skip the last one).
  const measured = (name: string) => [...monitor.records].reverse().find((r) => (r[name] as { skipped?: string; error?: string } | undefined)?.skipped === undefined && (r[name] as { error?: string } | undefined)?.error === undefined)?.[name] as Record<string, any> | undefined;
  const [testLoss, testAcc] = (model.evaluate(xTest, yTest) as tf.Scalar[]).map((t) => t.dataSync()[0] as number);
  const row: Row = {
    name,
    epochs: (last['epoch'] as number) + 1,
    trainLoss: last['logs']['loss'] as number,
    testError: 1 - (testAcc as number),
    gap: (testLoss as number) - (last['logs']['loss'] as number),
    sharpness: measured('sharpness')?.['radii'][0].mean ?? NaN,
    sharpnessStderr: measured('sharpness')?.['radii'][0].stderr ?? NaN,
    lambdaMax: measured('hessian')?.['lambdaMax'] ?? null,
    ratio: measured('hessian')?.['ratio'] ?? null,
    evr2: (last['trajectory'].explainedVarianceRatio as number[]).slice(0, 2).reduce((a, b) => a + b, 0),
    seconds: (performance.now() - started) / 1000,
  };
  rows.push(row);
  console.log(`  ${name}: done in ${row.seconds.toFixed(0)} s; train loss ${Number(last['logs']['loss']).toFixed(4)}, test error ${(100 * row.testError).toFixed(1)}%${' '.repeat(20)}`);
  model.dispose();
}

const lr = 0.1;
console.log('\n1. Sharp vs flat minima: small vs large batch, same learning rate; the large batch trains until its loss is as low');
const lossOf = (name: string) => (rows.find((r) => r.name === name) as Row).trainLoss;
await run('small-batch', mlp([128]), quick ? 3 : 6, 32, lr);
await run('large-batch', mlp([128]), quick ? 15 : 100, 1024, lr, lossOf('small-batch'));
if (!quick) {
  await run('small-batch-wd', mlp([128], { weightDecay: 5e-4 }), 6, 32, lr);
  await run('large-batch-wd', mlp([128], { weightDecay: 5e-4 }), 100, 1024, lr, lossOf('small-batch-wd'));
}

console.log('\n2. Skip connections: a deep narrow net with and without residual connections');
const depth = quick ? 10 : 20;
await run('deep-plain', mlp(Array(depth).fill(64)), quick ? 3 : 6, 64, 0.02);
await run('deep-residual', mlp(Array(depth).fill(64), { residual: true }), quick ? 3 : 6, 64, 0.02);
if (!quick) {
  for (const width of [32, 128]) await run(`deep-plain-w${width}`, mlp(Array(depth).fill(width)), 6, 64, 0.02);
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const num = (v: number | null, digits: number) => (v === null || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));
console.log('\nrun               epochs  train loss  test error  gap (test−train loss)  sharpness (± s.e.)       λmax     |λmin/λmax|  PCA var. (2 comp.)');
for (const r of rows) {
  console.log(
    `${r.name.padEnd(17)} ${String(r.epochs).padStart(6)}  ${r.trainLoss.toFixed(4).padStart(10)}  ${pct(r.testError).padStart(10)}  ${num(r.gap, 4).padStart(21)}  ${`${r.sharpness.toExponential(2)} ± ${r.sharpnessStderr.toExponential(1)}`.padStart(22)}  ${num(r.lambdaMax, 3).padStart(7)}  ${num(r.ratio, 3).padStart(11)}  ${pct(r.evr2).padStart(18)}`,
  );
}
writeFileSync(resolve(out, 'summary.json'), JSON.stringify({ quick, backend, rows }, null, 1));

const cli = (argv: string[]) => main(argv, { cwd: process.cwd(), env: process.env, isTTY: false, stdout: (t) => process.stdout.write(t), stderr: () => {} });
console.log('');
await cli(['compare', ...rows.map((r) => resolve(out, r.name)), '--out', resolve(out, 'compare.html')]);
console.log('\nThe CI gate: the large-batch run against the small-batch run as baseline');
await cli(['baseline', 'save', resolve(out, 'small-batch'), '--out', resolve(out, 'baseline.json')]);
const verdict = await cli(['gate', '--baseline', resolve(out, 'baseline.json'), '--run', resolve(out, 'large-batch')]);
console.log(`gate exit code ${verdict} (${verdict === 1 ? 'failed: see the rules above' : verdict === 0 ? 'passed' : 'error'})`);
console.log('\n3. The edge of stability: full-batch gradient descent (tanh MLP, MSE); λmax rises to 2/η and hovers there');
const eosSteps = quick ? 200 : 450;
for (const r of await edgeOfStability({ digits: quick ? 1000 : 2000, learningRates: quick ? [1] : [1, 0.7], steps: eosSteps, every: 10, hidden: 32, out: resolve(out, 'edge-of-stability') })) {
  console.log(`  ${describeRun(r, eosSteps)}`);
}

console.log(`\nreports: ${rows.map((r) => resolve(out, r.name, 'report.html')).join(', ')}\ncomparison: ${resolve(out, 'compare.html')}`);
