/** A small monitored fit that writes a complete run folder, for report tests. */
import * as tf from '@tensorflow/tfjs';
import { landscapeMonitor } from '../../callbacks/landscape-monitor.js';

/** A string that must come out escaped wherever a report shows it. */
export const EVIL = '<script>window.__pwned=1</script>';

/**
 * Trains a 6-8-3 tanh classifier on seeded data under the monitor, into `root/runId`.
 * @param options monitor options on top of `{ budget: null, hessian: { maxIter: 20 } }`
 */
export async function fitRun(root: string, runId: string, name: string, epochs: number, options: Record<string, unknown> = {}): Promise<void> {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [6], name: `dense${EVIL}`.replace(/[^A-Za-z0-9_]/g, '_') }),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const x = tf.randomNormal([96, 6], 0, 1, 'float32', 4);
  const y = tf.oneHot(tf.argMax(tf.matMul(x, tf.randomNormal([6, 3], 0, 1, 'float32', 5)), 1), 3).toFloat();
  const monitor = landscapeMonitor({ probe: { x, y }, runDir: root, runId, name, budget: null, finalBudget: null, hessian: { maxIter: 20 }, ...options });
  await model.fit(x, y, { epochs, batchSize: 16, validationSplit: 0.25, callbacks: [monitor], verbose: 0 });
}
