/** An independent trajectory PCA for tests: the explicit centered data matrix, power iteration with deflation. */

/** Independent reference: explicit centered data matrix, power iteration with deflation on CᵀC. */
export function explicitPca(rows: number[][], components: number) {
  const m = rows.length;
  const n = (rows[0] as number[]).length;
  const last = rows[m - 1] as number[];
  const D = rows.map((r) => r.map((v, j) => v - (last[j] as number)));
  const mean = Array.from({ length: n }, (_, j) => D.reduce((s, r) => s + (r[j] as number), 0) / m);
  const C = D.map((r) => r.map((v, j) => v - (mean[j] as number)));
  const cov = (x: number[]) => {
    const cx = C.map((r) => r.reduce((s, v, j) => s + v * (x[j] as number), 0));
    return Array.from({ length: n }, (_, j) => C.reduce((s, r, i) => s + (r[j] as number) * (cx[i] as number), 0));
  };
  const total = C.reduce((s, r) => s + r.reduce((a, v) => a + v * v, 0), 0);
  const pcs: number[][] = [];
  const lambdas: number[] = [];
  for (let k = 0; k < components; k++) {
    let x = Array.from({ length: n }, (_, j) => Math.sin(j + k + 1));
    for (let it = 0; it < 3000; it++) {
      let y = cov(x);
      for (const p of pcs) {
        const d = y.reduce((s, v, j) => s + v * (p[j] as number), 0);
        y = y.map((v, j) => v - d * (p[j] as number));
      }
      const norm = Math.hypot(...y);
      x = y.map((v) => v / norm);
    }
    pcs.push(x);
    lambdas.push(cov(x).reduce((s, v, j) => s + v * (x[j] as number), 0));
  }
  return { evr: lambdas.map((l) => l / total), coords: pcs.map((p) => D.map((r) => r.reduce((s, v, j) => s + v * (p[j] as number), 0))) };
}

