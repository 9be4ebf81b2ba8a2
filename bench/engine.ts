/**
 * What each number landscope computes costs, in forward passes (wasm, 256 real MNIST digits):
 * a forward pass (predict + loss), a gradient, and an exact HVP by the R-operator engine for layer graphs and
 * by double backpropagation, side by side (an MLP, a CNN, and the demo's deep residual MLP, a graph with
 * Add layers); and the forward's GFLOP/s against a bare matMul of the
 * first layer's size on the same backend.
 */
import * as tf from '@tensorflow/tfjs';
import { Bench } from 'tinybench';
import { selectBackend } from '../src/cli/backend.js';
import { randomDirection } from '../src/core/random-direction.js';
import { hvp } from '../src/model/hvp.js';
import { ModelEvaluator } from '../src/model/evaluator.js';
import { resolveLoss } from '../src/model/model-loss.js';
import { modelWeights } from '../src/model/model-weights.js';
import { cnn, digits, mlp256, residualMlp } from './models.js';

/** Runs the section and prints its table. */
export async function benchEngine(quick: boolean): Promise<void> {
  await selectBackend('wasm');
  const rows = [];
  for (const kind of ['mlp', 'cnn', 'residual'] as const) {
    const model = kind === 'mlp' ? mlp256() : kind === 'cnn' ? cnn() : residualMlp();
    const data = digits(256, kind === 'cnn' ? [28, 28, 1] : [784]);
    await model.fit(data.x, data.y, { epochs: 1, batchSize: 64, verbose: 0 });
    const loss = resolveLoss(model);
    const evaluator = new ModelEvaluator(model, data, { loss: loss.fn, lossName: loss.name, batchSize: 256 });
    const variables = modelWeights(model).filter((w) => w.trainable).map((w) => w.variable);
    const fast = hvp(model, data, { batchSize: 256 });
    const reference = hvp(model, data, { batchSize: 256, engine: 'reference' });
    const v = randomDirection({ names: fast.names, shapes: fast.shapes }, 1);
    const a = tf.randomNormal([256, 784]);
    const b = tf.randomNormal([784, kind === 'mlp' ? 256 : kind === 'cnn' ? 8 : 64]);
    const bench = new Bench({ time: quick ? 300 : 1500, warmupIterations: 2 });
    bench.add('forward', async () => void (await evaluator.evaluate()));
    bench.add('gradient', async () => {
      const { value, grads } = tf.variableGrads(() => tf.mean(loss.fn(data.y, model.apply(data.x, { training: false }) as tf.Tensor)) as tf.Scalar, variables);
      await Promise.all(Object.values(grads).map((g) => g.data()));
      tf.dispose([value, ...Object.values(grads)]);
    });
    bench.add('hvp', async () => {
      const r = await fast(v);
      await Promise.all(r.tensors.map((t) => t.data()));
      r.dispose();
    });
    // The engine's gradient at a new point each time (its primal pass is not kept from before).
    bench.add('gradient engine', async () => {
      const w = variables[0] as tf.Variable;
      const copy = w.clone();
      w.assign(copy);
      copy.dispose();
      const g = await fast.gradient();
      await Promise.all(g.tensors.map((t) => t.data()));
      g.dispose();
    });
    // A new point for every product: the kept primal pass is stale (the weight's data changes identity).
    bench.add('hvp new point', async () => {
      const w = variables[0] as tf.Variable;
      const copy = w.clone();
      w.assign(copy);
      copy.dispose();
      const r = await fast(v);
      await Promise.all(r.tensors.map((t) => t.data()));
      r.dispose();
    });
    bench.add('hvp reference', async () => {
      const r = await reference(v);
      await Promise.all(r.tensors.map((t) => t.data()));
      r.dispose();
    });
    bench.add('matMul', async () => {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    });
    await bench.run();
    const ms = Object.fromEntries(bench.tasks.map((t) => [t.name, t.result?.latency.mean ?? NaN])) as Record<string, number>;
    // FLOPs of the forward: 2·n·(in·out) per Dense; 2·n·(ho·wo·kh·kw·cin·cout) per Conv2D.
    let flops = 0;
    for (const layer of model.layers) {
      const out = (layer.outputShape as number[]).slice(1);
      const kernel = layer.getWeights()[0];
      if (layer.getClassName() === 'Dense' && kernel) flops += 2 * 256 * kernel.size;
      if (layer.getClassName() === 'Conv2D' && kernel) flops += 2 * 256 * (out[0] as number) * (out[1] as number) * kernel.size;
    }
    const matMulFlops = 2 * 256 * 784 * (b.shape[1] as number);
    rows.push({
      model: kind === 'mlp' ? 'MLP 784-256-10' : kind === 'cnn' ? 'CNN conv8-pool-conv16-pool-dense' : 'residual MLP 784-64×20 (Add)-10',
      engine: fast.engine,
      'forward ms': +(ms['forward'] as number).toFixed(2),
      'gradient ms (TF.js tape)': +(ms['gradient'] as number).toFixed(2),
      'gradient ms (engine)': +(ms['gradient engine'] as number).toFixed(2),
      'HVP ms (at one point, as Lanczos)': +(ms['hvp'] as number).toFixed(2),
      'HVP ms, first at a point': +(ms['hvp new point'] as number).toFixed(2),
      'HVP ms, double backprop': +(ms['hvp reference'] as number).toFixed(2),
      'gradient / forward (engine; target 3)': +((ms['gradient engine'] as number) / (ms['forward'] as number)).toFixed(2),
      'HVP / forward (target 6)': +((ms['hvp'] as number) / (ms['forward'] as number)).toFixed(2),
      'forward GFLOP/s': +(flops / (ms['forward'] as number) / 1e6).toFixed(2),
      'matMul GFLOP/s': +(matMulFlops / (ms['matMul'] as number) / 1e6).toFixed(2),
    });
    fast.dispose();
    reference.dispose();
    evaluator.dispose();
    tf.dispose([a, b, data.x, data.y]);
    model.dispose();
  }
  console.log('\nEngine: forward, gradient and exact HVP on 256 real MNIST digits (wasm), in one run');
  console.table(rows);
}
