/**
 * The main job until the training monitor lands: train a small MLP on real MNIST digits, save the
 * checkpoint as a TF.js artifact, and compute its filter-normalized 2-D loss surface (Li et al.
 * 2018, figure 1's kind of plot) with landscope's library API.
 *
 *   npm run demo              # 7,000 training digits, 10 epochs, a 31×31 surface on all of them
 *   npm run demo -- --quick   # 2,000 digits, 1 epoch, a 9×9 surface on 1,000: a few seconds
 *
 * Writes runs/mnist-surface/{model/, d1/, d2/, surface.json, x.npy, y.npy}.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
// In your project: from 'landscope'.
import { folderSaveHandler, modelDirection, parseRange, saveWeightsArtifact, selectBackend, surface, writeNpyFile } from '../src/index.js';
import { loadMnist } from './mnist-data.js';

const quick = process.argv.includes('--quick');
const out = resolve(process.argv.find((a) => a.startsWith('--out='))?.slice(6) ?? 'runs/mnist-surface');
const settings = quick
  ? { trainPerDigit: 200, testPerDigit: 50, epochs: 1, grid: '-1:1:9', surfaceSamples: 1000 }
  : { trainPerDigit: 700, testPerDigit: 150, epochs: 10, grid: '-1:1:31', surfaceSamples: 7000 };

const backend = await selectBackend();
console.log(`backend: ${backend}${quick ? ' (quick)' : ''}`);
const { train, test } = loadMnist(settings.trainPerDigit, settings.testPerDigit);
const xTrain = tf.tensor2d(train.images, [train.count, 784]);
const yTrain = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10).toFloat();
const xTest = tf.tensor2d(test.images, [test.count, 784]);
const yTest = tf.oneHot(tf.tensor1d(test.labels, 'int32'), 10).toFloat();

const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 64, activation: 'relu', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), name: 'hidden' }),
    tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), name: 'output' }),
  ],
});
model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

const started = performance.now();
await model.fit(xTrain, yTrain, {
  epochs: settings.epochs,
  batchSize: 64,
  shuffle: false,
  verbose: 0,
  callbacks: {
    onEpochEnd: async (epoch, logs) => {
      console.log(`epoch ${epoch + 1}/${settings.epochs}: loss ${logs?.['loss']?.toFixed(4)}, accuracy ${logs?.['acc']?.toFixed(4)}`);
    },
  },
});
const [testLoss, testAcc] = (model.evaluate(xTest, yTest) as tf.Scalar[]).map((t) => t.dataSync()[0] as number);
console.log(`trained in ${((performance.now() - started) / 1000).toFixed(1)} s; test loss ${testLoss?.toFixed(4)}, test accuracy ${testAcc?.toFixed(4)}`);

// The surface is computed on a training subset (the landscape of the training loss).
const n = settings.surfaceSamples;
const data = { x: xTrain.slice(0, n), y: yTrain.slice(0, n) };
// includeOptimizer also stores the training config, so the checkpoint knows its loss.
await model.save(folderSaveHandler(resolve(out, 'model')), { includeOptimizer: true });
await writeNpyFile(resolve(out, 'x.npy'), { dtype: 'float32', shape: [n, 784], data: (await data.x.data()) as Float32Array });
await writeNpyFile(resolve(out, 'y.npy'), { dtype: 'float32', shape: [n, 10], data: (await data.y.data()) as Float32Array });

const d1 = modelDirection(model, 1, { norm: 'filter', ignore: 'biasbn' });
const d2 = modelDirection(model, 2, { norm: 'filter', ignore: 'biasbn' });
const topology = model.toJSON(null, false);
await saveWeightsArtifact(resolve(out, 'd1'), topology, d1.entries());
await saveWeightsArtifact(resolve(out, 'd2'), topology, d2.entries());

let lastDecile = -1;
const result = await surface(model, data, {
  directions: [d1, d2],
  xRange: parseRange(settings.grid),
  yRange: parseRange(settings.grid),
  onProgress: (done, total) => {
    const decile = Math.floor((10 * done) / total);
    if (decile > lastDecile) {
      lastDecile = decile;
      process.stdout.write(`surface: ${done}/${total} points\n`);
    }
  },
});
writeFileSync(resolve(out, 'surface.json'), JSON.stringify({ ...result, meta: { ...result.meta, kind: '2d', norm: 'filter', ignore: 'biasbn', directions: { x: { seed: 1 }, y: { seed: 2 } } } }));

const loss = result.loss as number[][];
const mid = Math.floor(result.x.length / 2);
const flat = loss.flat();
console.log(`surface: ${result.x.length}x${result.y?.length} points on ${n} training digits, ${result.meta.pointsPerSecond.toFixed(1)} points/s`);
console.log(`loss at the minimum (0,0): ${loss[mid]?.[mid]?.toFixed(4)}; over the grid: min ${Math.min(...flat).toFixed(4)}, max ${Math.max(...flat).toFixed(4)}`);
console.log(`corners (±1, ±1): ${[loss[0]?.[0], loss[0]?.at(-1), loss.at(-1)?.[0], loss.at(-1)?.at(-1)].map((v) => v?.toFixed(3)).join(', ')}`);
console.log(`wrote ${out}/surface.json (reproduce with: landscope surface --model ${out}/model/model.json --x ${out}/x.npy --y ${out}/y.npy --dir-x ${out}/d1/model.json --dir-y ${out}/d2/model.json --xrange=${settings.grid} --yrange=${settings.grid} --out surface.json)`);
