/**
 * Plain float64 TypeScript forward passes, independent of TF.js, for checking landscape values:
 * a small CNN (conv2d 'valid' stride 1 → ReLU or tanh → 2×2 max pool or global max pool → flatten →
 * dense → softmax) and the
 * TF.js categorical cross-entropy (clipped at 1e-7). Layouts are TF.js's: NHWC inputs, conv kernels
 * [kh, kw, in, out], dense kernels [in, out].
 */

export interface CnnWeights {
  readonly conv: { kernel: Float64Array; bias: Float64Array; kh: number; kw: number; cin: number; cout: number };
  readonly dense: { kernel: Float64Array; bias: Float64Array; units: number };
  /** The conv's activation. @default 'relu' */
  readonly activation?: 'relu' | 'tanh';
  /** `max2`: 2×2 max pooling, stride 2; `globalMax`: the maximum over all positions per channel. @default 'max2' */
  readonly pool?: 'max2' | 'globalMax';
}

/** Mean clipped categorical cross-entropy and accuracy of the CNN on `x` `[n, h, w, cin]`. */
export function cnnLoss(weights: CnnWeights, x: Float64Array, shape: [number, number, number, number], yOneHot: Float64Array): { loss: number; accuracy: number } {
  const [n, h, w, cin] = shape;
  const { kh, kw, cout } = weights.conv;
  const ho = h - kh + 1;
  const wo = w - kw + 1;
  const ph = Math.floor(ho / 2);
  const pw = Math.floor(wo / 2);
  const units = weights.dense.units;
  let loss = 0;
  let correct = 0;
  for (let s = 0; s < n; s++) {
    const conv = new Float64Array(ho * wo * cout);
    for (let p = 0; p < ho; p++) for (let q = 0; q < wo; q++) for (let o = 0; o < cout; o++) {
      let acc = weights.conv.bias[o] as number;
      for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) {
        acc += (x[((s * h + p + i) * w + q + j) * cin + c] as number) * (weights.conv.kernel[((i * kw + j) * cin + c) * cout + o] as number);
      }
      conv[(p * wo + q) * cout + o] = weights.activation === 'tanh' ? Math.tanh(acc) : Math.max(0, acc);
    }
    const pooled: number[] = [];
    if (weights.pool === 'globalMax') {
      for (let o = 0; o < cout; o++) {
        let m = -Infinity;
        for (let k = 0; k < ho * wo; k++) m = Math.max(m, conv[k * cout + o] as number);
        pooled.push(m);
      }
    } else {
      for (let p = 0; p < ph; p++) for (let q = 0; q < pw; q++) for (let o = 0; o < cout; o++) {
        let m = -Infinity;
        for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) m = Math.max(m, conv[((2 * p + i) * wo + 2 * q + j) * cout + o] as number);
        pooled.push(m);
      }
    }
    const logits = Array.from({ length: units }, (_, u) => pooled.reduce((a, v, k) => a + v * (weights.dense.kernel[k * units + u] as number), weights.dense.bias[u] as number));
    const max = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - max));
    const z = e.reduce((a, b) => a + b, 0);
    const prob = e.map((v) => Math.min(Math.max(v / z, 1e-7), 1 - 1e-7));
    let truth = 0;
    for (let u = 0; u < units; u++) {
      loss -= (yOneHot[s * units + u] as number) * Math.log(prob[u] as number);
      if ((yOneHot[s * units + u] as number) > (yOneHot[s * units + truth] as number)) truth = u;
    }
    if (logits.indexOf(max) === truth) correct++;
  }
  return { loss: loss / n, accuracy: correct / n };
}
