/**
 * landscope benchmarks (tinybench), reported as ratios measured side by side in one run:
 *
 * - surface throughput: points/s of `surface()` beside the bare `model.evaluate` throughput on the
 *   same data, backend and batch size (target ≥ 0.95), on an MLP and a CNN;
 * - Conv2DBackpropFilter: landscope's im2col kernel on wasm beside the cpu backend's own kernel.
 *
 *   npm run bench [-- --quick]
 */
import * as tf from '@tensorflow/tfjs';
import { Bench } from 'tinybench';
import { selectBackend } from '../src/cli/backend.js';
import { modelDirection, parseRange, surface } from '../src/index.js';
import { conv2dBackpropFilter } from '../src/kernels/conv2d-backprop-filter.js';

const quick = process.argv.includes('--quick');
const time = quick ? 300 : 2000;
const POINTS = 8;
const BATCH = 256;

function mlp(): tf.LayersModel {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 128, activation: 'relu', inputShape: [784] }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
  m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return m;
}

function cnn(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return m;
}

async function surfaceVsEvaluate(backend: 'wasm' | 'cpu', name: string, build: () => tf.LayersModel, inputShape: number[], samples: number) {
  await selectBackend(backend);
  const model = build();
  const x = tf.randomUniform([samples, ...inputShape], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([samples], 0, 10, 'int32', 2), 10).toFloat();
  const d = modelDirection(model, 1);
  const bench = new Bench({ time, iterations: 3, warmupIterations: 1, warmupTime: quick ? 50 : 200 });
  bench
    .add(`evaluate x${POINTS}`, async () => {
      for (let k = 0; k < POINTS; k++) {
        const r = model.evaluate(x, y, { batchSize: BATCH }) as tf.Scalar[];
        await Promise.all(r.map((t) => t.data()));
        tf.dispose(r);
      }
    })
    .add(`surface ${POINTS} points`, async () => {
      await surface(model, { x, y }, { directions: [d], xRange: parseRange(`-1:1:${POINTS}`), batchSize: BATCH });
    });
  await bench.run();
  const [evaluate, sampled] = bench.tasks.map((t) => t.result?.latency.mean ?? NaN) as [number, number];
  const row = {
    backend,
    model: name,
    samples,
    'evaluate points/s': +((POINTS * 1000) / evaluate).toFixed(2),
    'surface points/s': +((POINTS * 1000) / sampled).toFixed(2),
    'ratio (target >= 0.95)': +(evaluate / sampled).toFixed(3),
  };
  d.dispose();
  tf.dispose([x, y]);
  model.dispose();
  return row;
}

async function backpropFilter() {
  const shapes = { x: [32, 28, 28, 8], f: [3, 3, 8, 16] } as const;
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: shapes.f as unknown as [number, number, number, number] } as const;
  const run = () =>
    tf.tidy(() => {
      const x = tf.randomNormal([...shapes.x], 0, 1, 'float32', 3) as tf.Tensor4D;
      const dy = tf.randomNormal([32, 28, 28, 16], 0, 1, 'float32', 4) as tf.Tensor4D;
      return (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs }) as tf.Tensor).dataSync();
    });
  const ours = () =>
    tf.tidy(() => {
      const x = tf.randomNormal([...shapes.x], 0, 1, 'float32', 3) as tf.Tensor4D;
      const dy = tf.randomNormal([32, 28, 28, 16], 0, 1, 'float32', 4) as tf.Tensor4D;
      return conv2dBackpropFilter(x, dy, attrs).dataSync();
    });
  const results: Record<string, number> = {};
  await selectBackend('cpu');
  let bench = new Bench({ time: quick ? 100 : 1000, iterations: 2, warmupIterations: 1 });
  bench.add('cpu: stock Conv2DBackpropFilter', run).add('cpu: landscope im2col', ours);
  await bench.run();
  for (const t of bench.tasks) results[t.name] = t.result?.latency.mean ?? NaN;
  await selectBackend('wasm');
  bench = new Bench({ time: quick ? 100 : 1000, iterations: 2, warmupIterations: 1 });
  bench.add('wasm: landscope im2col (registered kernel)', run);
  await bench.run();
  for (const t of bench.tasks) results[t.name] = t.result?.latency.mean ?? NaN;
  return Object.entries(results).map(([task, ms]) => ({ task: `${task} [32,28,28,8] 3x3x8x16`, 'ms/call': +ms.toFixed(2) }));
}

const rows = [
  await surfaceVsEvaluate('wasm', 'MLP 784-128-10', mlp, [784], 2048),
  await surfaceVsEvaluate('wasm', 'CNN conv8-pool-conv16-pool-dense', cnn, [28, 28, 1], 512),
  await surfaceVsEvaluate('cpu', 'MLP 784-128-10', mlp, [784], 2048),
];
console.log('\nSurface throughput beside model.evaluate (same data, backend, batch size)');
console.table(rows);
console.log('\nConv2DBackpropFilter');
console.table(await backpropFilter());
