/**
 * The edge of stability (Cohen et al. 2021) on real MNIST digits: full-batch gradient descent on a
 * tanh MLP with the mean squared error, at two learning rates, with landscope's Hessian callback
 * on an ordinary `model.fit`. λmax starts below the stability threshold 2/η, rises (progressive
 * sharpening) until it reaches it, and then hovers around it while the loss keeps falling, not
 * monotonically.
 *
 *   npm run demo:eos              # ~2 minutes on 2 cores (wasm)
 *   npm run demo:eos -- --quick   # ~40 s
 *
 * The network starts with small weights (variance scaling 0.05) so that it starts flat, below the
 * threshold, and the rise is seen; the inputs are raw pixels in [0, 1]. Each run writes
 * runs/eos/lr-<η>/ with its report, whose λmax chart draws the threshold.
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
// In your project: from 'landscope'.
import { hessianCallback, selectBackend } from '../src/index.js';
import { loadMnist } from './mnist-data.js';

/** Settings of the experiment. */
export interface EdgeOfStabilityOptions {
  /** Training digits (a multiple of 10: the same count of each digit). */
  readonly digits: number;
  /** Full-batch gradient-descent learning rates, one run each. */
  readonly learningRates: readonly number[];
  /** Gradient-descent steps (each is one epoch of `fit` with the whole set as its batch). */
  readonly steps: number;
  /** λmax is measured every this many steps (and before the first). */
  readonly every: number;
  /** Hidden units of the tanh layer. */
  readonly hidden: number;
  /** Folder of the run folders. */
  readonly out: string;
}

/** One run's course: λmax·η/2 (1 at the threshold) and the loss at each measured step. */
export interface EdgeOfStabilityRun {
  readonly learningRate: number;
  readonly threshold: number;
  /** Steps at which λmax was measured (0: before training). */
  readonly steps: number[];
  readonly lambdaMax: number[];
  /** λmax / (2/η) at those steps, as the monitor logged it (`hessian_max_x_lr`). */
  readonly sharpnessOverThreshold: number[];
  /** The training loss before each step (full batch), then after the last one. */
  readonly loss: number[];
  /** Where the run folder is. */
  readonly dir: string;
}

/** Runs the experiment: one full-batch GD run per learning rate. */
export async function edgeOfStability(options: EdgeOfStabilityOptions): Promise<EdgeOfStabilityRun[]> {
  const { train } = loadMnist(options.digits / 10, 0);
  const x = tf.tensor2d(train.images, [train.count, 784]);
  const y = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10).toFloat();
  const runs: EdgeOfStabilityRun[] = [];
  try {
    for (const lr of options.learningRates) {
      const init = (seed: number) => tf.initializers.varianceScaling({ scale: 0.05, mode: 'fanAvg', distribution: 'uniform', seed });
      const model = tf.sequential({
        layers: [tf.layers.dense({ inputShape: [784], units: options.hidden, activation: 'tanh', kernelInitializer: init(1) }), tf.layers.dense({ units: 10, kernelInitializer: init(2) })],
      });
      model.compile({ optimizer: tf.train.sgd(lr), loss: 'meanSquaredError' });
      const name = `lr-${lr}`;
      // The Hessian of the full training loss (the probe is the training set; one batch), every
      // `every` steps; with budget null every asked-for measurement is taken.
      const monitor = hessianCallback({ probe: { x, y }, probeSize: options.digits, batchSize: options.digits, every: options.every, budget: null, shards: 0, maxIter: 60, runDir: options.out, runId: name, name, log: () => {} });
      const history = await model.fit(x, y, { epochs: options.steps, batchSize: options.digits, shuffle: false, verbose: 0, callbacks: [monitor] });
      const final = (await (model.evaluate(x, y, { batchSize: options.digits }) as tf.Scalar).data())[0] as number;
      const measured = monitor.records.filter((r) => typeof (r['hessian'] as { lambdaMax?: number } | undefined)?.lambdaMax === 'number');
      runs.push({
        learningRate: lr,
        threshold: 2 / lr,
        steps: measured.map((r) => r.epoch + 1),
        lambdaMax: measured.map((r) => (r['hessian'] as { lambdaMax: number }).lambdaMax),
        sharpnessOverThreshold: measured.map((r) => r.logs['hessian_max_x_lr'] as number),
        loss: [...(history.history['loss'] as number[]), final],
        dir: monitor.run?.dir ?? '',
      });
      model.dispose();
    }
  } finally {
    tf.dispose([x, y]);
  }
  return runs;
}

/** λmax·η/2 over the last third of the steps: its range and mean. */
export function lastThirdBand(run: EdgeOfStabilityRun, steps: number): { min: number; max: number; mean: number } {
  const tail = run.sharpnessOverThreshold.filter((_, i) => (run.steps[i] as number) >= (2 * steps) / 3);
  return { min: Math.min(...tail), max: Math.max(...tail), mean: tail.reduce((a, b) => a + b, 0) / tail.length };
}

/** Steps after which the loss rose (the non-monotone descent of the edge of stability). */
export function lossIncreases(run: EdgeOfStabilityRun): number {
  return run.loss.filter((l, i) => i > 0 && l > (run.loss[i - 1] as number)).length;
}

/** One line on a run: where λmax started, when it reached the threshold, its band, the loss. */
export function describeRun(run: EdgeOfStabilityRun, steps: number): string {
  const band = lastThirdBand(run, steps);
  const reached = run.steps[run.sharpnessOverThreshold.findIndex((v) => v >= 0.95)];
  return (
    `η = ${run.learningRate} (2/η = ${run.threshold.toFixed(2)}): λmax ${(run.lambdaMax[0] as number).toFixed(2)} before training, ` +
    `${reached === undefined ? 'never reached 0.95 × 2/η' : `reached 0.95 × 2/η at step ${reached}`}; over the last third λmax·η/2 in [${band.min.toFixed(3)}, ${band.max.toFixed(3)}] (mean ${band.mean.toFixed(3)}); ` +
    `loss ${(run.loss[0] as number).toFixed(4)} → ${(run.loss.at(-1) as number).toFixed(4)}, rising after ${lossIncreases(run)} of ${run.loss.length - 1} steps; report: ${run.dir}/report.html`
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const out = resolve(process.argv.find((a) => a.startsWith('--out='))?.slice(6) ?? 'runs/eos');
  const backend = await selectBackend();
  await rm(out, { recursive: true, force: true });
  const steps = quick ? 200 : 450;
  const options: EdgeOfStabilityOptions = { digits: quick ? 1000 : 2000, learningRates: quick ? [1] : [1, 0.7], steps, every: 10, hidden: 32, out };
  console.log(`edge of stability on ${options.digits} real MNIST digits: full-batch GD, tanh MLP 784-${options.hidden}-10, MSE, ${steps} steps; backend ${backend}`);
  for (const run of await edgeOfStability(options)) console.log(`  ${describeRun(run, steps)}`);
}
