/**
 * A float64 plain-TypeScript MLP (tanh hidden layers, softmax output, TF.js's clipped categorical
 * cross-entropy) with a hand-written backward pass, independent of TF.js. Its Hessian-vector
 * product is the central difference of the exact float64 gradient: error O(h²) ≈ 1e-10 here.
 * Parameters are flat in TF.js order: kernel [in, out] row-major, then bias, layer by layer.
 */

export interface MlpShape {
  readonly sizes: readonly number[]; // e.g. [8, 10, 3]
}

function layers(shape: MlpShape) {
  const out: { kOff: number; bOff: number; nin: number; nout: number }[] = [];
  let off = 0;
  for (let l = 0; l + 1 < shape.sizes.length; l++) {
    const nin = shape.sizes[l] as number;
    const nout = shape.sizes[l + 1] as number;
    out.push({ kOff: off, bOff: off + nin * nout, nin, nout });
    off += nin * nout + nout;
  }
  return { layers: out, size: off };
}

/** Loss and gradient of the mean clipped cross-entropy. */
export function mlpLossAndGrad(shape: MlpShape, theta: Float64Array, x: Float64Array, y: Float64Array, n: number): { loss: number; grad: Float64Array } {
  const { layers: ls, size } = layers(shape);
  const grad = new Float64Array(size);
  let loss = 0;
  for (let s = 0; s < n; s++) {
    const acts: Float64Array[] = [x.subarray(s * (shape.sizes[0] as number), (s + 1) * (shape.sizes[0] as number))];
    ls.forEach((L, li) => {
      const a = acts[li] as Float64Array;
      const z = new Float64Array(L.nout);
      for (let o = 0; o < L.nout; o++) {
        let v = theta[L.bOff + o] as number;
        for (let i = 0; i < L.nin; i++) v += (a[i] as number) * (theta[L.kOff + i * L.nout + o] as number);
        z[o] = v;
      }
      if (li < ls.length - 1) acts.push(z.map(Math.tanh));
      else {
        const m = Math.max(...z);
        const e = z.map((v) => Math.exp(v - m));
        const sum = e.reduce((p, q) => p + q, 0);
        acts.push(e.map((v) => v / sum));
      }
    });
    const p = acts[ls.length] as Float64Array;
    const C = p.length;
    const yRow = y.subarray(s * C, (s + 1) * C);
    // dL/dp with clipping: zero derivative where p is clipped.
    const dp = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const pc = Math.min(Math.max(p[c] as number, 1e-7), 1 - 1e-7);
      loss -= (yRow[c] as number) * Math.log(pc);
      dp[c] = (p[c] as number) > 1e-7 && (p[c] as number) < 1 - 1e-7 ? -(yRow[c] as number) / (p[c] as number) : 0;
    }
    // softmax backward
    const dot = p.reduce((acc, v, c) => acc + v * (dp[c] as number), 0);
    let delta = p.map((v, c) => v * ((dp[c] as number) - dot));
    for (let li = ls.length - 1; li >= 0; li--) {
      const L = ls[li] as (typeof ls)[number];
      const a = acts[li] as Float64Array;
      for (let o = 0; o < L.nout; o++) {
        grad[L.bOff + o] = (grad[L.bOff + o] as number) + (delta[o] as number) / n;
        for (let i = 0; i < L.nin; i++) grad[L.kOff + i * L.nout + o] = (grad[L.kOff + i * L.nout + o] as number) + ((a[i] as number) * (delta[o] as number)) / n;
      }
      if (li > 0) {
        const prev = new Float64Array(L.nin);
        for (let i = 0; i < L.nin; i++) {
          let v = 0;
          for (let o = 0; o < L.nout; o++) v += (theta[L.kOff + i * L.nout + o] as number) * (delta[o] as number);
          prev[i] = v * (1 - (a[i] as number) ** 2);
        }
        delta = prev;
      }
    }
  }
  return { loss: loss / n, grad };
}

/** H·v by a central difference of the exact float64 gradient. */
export function mlpHvp(shape: MlpShape, theta: Float64Array, v: Float64Array, x: Float64Array, y: Float64Array, n: number, h = 1e-5): Float64Array {
  const plus = mlpLossAndGrad(shape, theta.map((t, i) => t + h * (v[i] as number)), x, y, n).grad;
  const minus = mlpLossAndGrad(shape, theta.map((t, i) => t - h * (v[i] as number)), x, y, n).grad;
  return plus.map((g, i) => (g - (minus[i] as number)) / (2 * h));
}
