/** The edge-of-stability tests' model: a seeded tanh MLP 4-5-2 with the MSE loss, compiled with `optimizer`. */
import * as tf from '@tensorflow/tfjs';

/** A 4-5-2 tanh regressor (seeded initializers), compiled with `optimizer` and the MSE loss. */
export function regressor(optimizer: tf.Optimizer): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 5, activation: 'tanh', inputShape: [4], kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }),
      tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }) }),
    ],
  });
  m.compile({ optimizer, loss: 'meanSquaredError' });
  return m;
}
