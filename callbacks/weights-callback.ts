/**
 * Weight norms (total and per layer) and the learning rate of each epoch: the paper reads
 * sharpness against weight-norm growth (section 5) and marks learning-rate drops on trajectories.
 */
import * as tf from '@tensorflow/tfjs';
import type { MeasureContext, Measurement, MeasureResult } from './measurement.js';

/** Measures ‖θ‖ (trainable weights), ‖θ_layer‖ per layer, and the optimizer's learning rate. */
export class WeightsMeasurement implements Measurement {
  readonly name = 'weights';
  readonly essential = true;

  async measure(context: MeasureContext): Promise<MeasureResult> {
    const model = context.model;
    const trainable = new Set(model.trainableWeights);
    const perLayer: Record<string, number> = {};
    const sums = tf.tidy(() => model.layers.map((layer) => {
      const ws = layer.weights.filter((w) => trainable.has(w));
      return ws.length === 0 ? tf.scalar(0) : tf.addN(ws.map((w) => tf.sum(tf.square(w.read()))));
    }));
    const values = await Promise.all(sums.map((s) => s.data()));
    tf.dispose(sums);
    let total = 0;
    model.layers.forEach((layer, i) => {
      const sq = (values[i] as Float32Array)[0] as number;
      if (layer.trainableWeights.length > 0) perLayer[layer.name] = Math.sqrt(sq);
      total += sq;
    });
    const lr = learningRate(model);
    return {
      record: { norm: Math.sqrt(total), layers: perLayer, learningRate: lr },
      logs: { weight_norm: Math.sqrt(total), ...(lr !== null ? { lr } : {}) },
    };
  }
}

/** The optimizer's current learning rate, or null when it has none that can be read. */
export function learningRate(model: tf.LayersModel): number | null {
  const optimizer = (model as unknown as { optimizer?: Record<string, unknown> }).optimizer;
  const lr = optimizer?.['learningRate'];
  return typeof lr === 'number' && Number.isFinite(lr) ? lr : null;
}
