/**
 * Hessian benchmarks on models trained briefly on real MNIST digits:
 * - one HVP's cost over one gradient's on the same batch (target ≤ 2.5);
 * - HVPs Lanczos needs for λmax AND λmin (tol 1e-3) beside what power iteration (PyHessian's
 *   method, tol 1e-3) needs for λmax alone, with each one's error against a tight reference.
 */
import * as tf from '@tensorflow/tfjs';
import { Bench } from 'tinybench';
import { selectBackend } from '../src/cli/backend.js';
import { randomDirection } from '../src/core/random-direction.js';
import { paramListSpace } from '../src/core/vector-space.js';
import { eigenOf } from '../src/landscape/hessian.js';
import { hvp } from '../src/model/hvp.js';
import { resolveLoss } from '../src/model/model-loss.js';
import { trained } from './models.js';
import { powerIteration } from './power-iteration.js';

/** Runs the section and prints its tables. */
export async function benchHessian(quick: boolean): Promise<void> {
  await selectBackend('wasm');
  const costRows = [];
  const countRows = [];
  for (const kind of ['mlp', 'cnn'] as const) {
    const samples = kind === 'mlp' ? 1024 : 256;
    const { model, data, name } = await trained(kind, samples, 1);
    const H = hvp(model, data, { batchSize: samples });
    const layout = { names: H.names, shapes: H.shapes };
    const v = randomDirection(layout, 1);
    const loss = resolveLoss(model).fn;
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const bench = new Bench({ time: quick ? 300 : 2000, iterations: 3, warmupIterations: 1 });
    bench
      .add('gradient', async () => {
        const grads = tf.tidy(() => Object.values(tf.variableGrads(() => tf.mean(loss(data.y, model.apply(data.x, { training: false }) as tf.Tensor)) as tf.Scalar, variables).grads));
        await Promise.all(grads.map((g) => g.data()));
        tf.dispose(grads);
      })
      .add('hvp', async () => {
        const hv = await H(v);
        await Promise.all(hv.tensors.map((t) => t.data()));
        hv.dispose();
      });
    await bench.run();
    const [grad, product] = bench.tasks.map((t) => t.result?.latency.mean ?? NaN) as [number, number];
    costRows.push({ model: name, params: H.size, batch: samples, 'gradient ms': +grad.toFixed(1), 'hvp ms': +product.toFixed(1), 'hvp / gradient (target <= 2.5)': +(product / grad).toFixed(2) });

    const reference = await eigenOf(H, { tol: 1e-7, maxIter: quick ? 120 : 300, seed: 7 });
    const before = H.count();
    const lanczos = await eigenOf(H, { tol: 1e-3, maxIter: 200, seed: 1 });
    const lanczosHvps = H.count() - before;
    const start = randomDirection(layout, 1);
    const power = await powerIteration(H, start, paramListSpace, 1e-3, 500);
    start.dispose();
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    countRows.push({
      model: name,
      'λmax (ref)': +reference.lambdaMax.toPrecision(6),
      'λmin (ref)': +reference.lambdaMin.toPrecision(6),
      'Lanczos HVPs (λmax+λmin, tol 1e-3)': lanczosHvps,
      'Lanczos λmax rel. err': +rel(lanczos.lambdaMax, reference.lambdaMax).toExponential(1),
      'Lanczos λmin err / λmax': +(Math.abs(lanczos.lambdaMin - reference.lambdaMin) / reference.lambdaMax).toExponential(1),
      'power HVPs (λmax only, tol 1e-3)': power.hvps,
      'power λmax rel. err': +rel(power.value, reference.lambdaMax).toExponential(1),
    });
    v.dispose();
    H.dispose();
    model.dispose();
    tf.dispose([data.x, data.y]);
  }
  console.log('\nHessian-vector product cost beside a gradient on the same batch (wasm)');
  console.table(costRows);
  console.log('\nHVPs to convergence: Lanczos (λmax and λmin together) vs power iteration (λmax alone)');
  console.table(countRows);
}
