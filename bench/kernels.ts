/** Conv2DBackpropFilter: landscope's im2col kernel beside the cpu backend's own. */
import * as tf from '@tensorflow/tfjs';
import { Bench } from 'tinybench';
import { selectBackend } from '../src/cli/backend.js';
import { conv2dBackpropFilter } from '../src/kernels/conv2d-backprop-filter.js';

/** Runs the section and prints its table. */
export async function benchKernels(quick: boolean): Promise<void> {
  const filterShape: [number, number, number, number] = [3, 3, 8, 16];
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape } as const;
  const inputs = () => ({ x: tf.randomNormal([32, 28, 28, 8], 0, 1, 'float32', 3) as tf.Tensor4D, dy: tf.randomNormal([32, 28, 28, 16], 0, 1, 'float32', 4) as tf.Tensor4D });
  const stock = () => tf.tidy(() => (tf.engine().runKernel('Conv2DBackpropFilter', inputs(), { ...attrs }) as tf.Tensor).dataSync());
  const ours = () => tf.tidy(() => { const { x, dy } = inputs(); return conv2dBackpropFilter(x, dy, attrs).dataSync(); });
  const results: { task: string; 'ms/call': number }[] = [];
  const run = async (tasks: [string, () => unknown][]) => {
    const bench = new Bench({ time: quick ? 100 : 1000, iterations: 2, warmupIterations: 1 });
    for (const [name, fn] of tasks) bench.add(name, fn);
    await bench.run();
    for (const t of bench.tasks) results.push({ task: t.name, 'ms/call': +(t.result?.latency.mean ?? NaN).toFixed(1) });
  };
  await selectBackend('cpu');
  await run([['cpu: stock Conv2DBackpropFilter', stock], ['cpu: landscope im2col', ours]]);
  await selectBackend('wasm'); // the CLI registers landscope's kernel on wasm
  await run([['wasm: landscope im2col (registered kernel)', stock]]);
  console.log('\nConv2DBackpropFilter, x [32,28,28,8], filter 3x3x8x16, same padding');
  console.table(results);
}
