/**
 * Eigenvalues and eigenvectors of a real symmetric tridiagonal matrix by the implicit QL method
 * with Wilkinson-style shifts (EISPACK `tql2`, as in JAMA's `EigenvalueDecomposition`; Golub &
 * Van Loan §8.3). Small and dense: meant for Lanczos's T_k, k in the tens to hundreds.
 */

/** Eigen-decomposition of T: ascending values, eigenvector `i` is column `i` of `vectors`. */
export interface TridiagonalEigen {
  /** Eigenvalues, ascending. */
  readonly values: Float64Array;
  /** Row-major n×n: `vectors[r * n + i]` is component r of eigenvector i (unit norm). */
  readonly vectors: Float64Array;
}

/**
 * Diagonalizes the symmetric tridiagonal matrix with diagonal `diagonal` (length n) and
 * off-diagonal `offDiagonal` (length n − 1).
 * @throws {RangeError} when the lengths do not fit, or an entry is not finite
 */
export function tridiagonalEigen(diagonal: ArrayLike<number>, offDiagonal: ArrayLike<number>): TridiagonalEigen {
  const n = diagonal.length;
  if (offDiagonal.length !== Math.max(0, n - 1)) {
    throw new RangeError(`tridiagonalEigen: ${n} diagonal entries need ${Math.max(0, n - 1)} off-diagonal ones, got ${offDiagonal.length}`);
  }
  const d = Float64Array.from(diagonal);
  const e = new Float64Array(n);
  e.set(Array.from(offDiagonal));
  if (![...d, ...e].every(Number.isFinite)) throw new RangeError('tridiagonalEigen: an entry is not finite');
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  const eps = 2 ** -52;
  let f = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l] as number) + Math.abs(e[l] as number));
    let m = l;
    while (m < n && Math.abs(e[m] as number) > eps * tst1) m++;
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 60 * n) throw new RangeError('tridiagonalEigen: no convergence');
        let g = d[l] as number;
        let p = ((d[l + 1] as number) - g) / (2 * (e[l] as number));
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = (e[l] as number) / (p + r);
        d[l + 1] = (e[l] as number) * (p + r);
        const dl1 = d[l + 1] as number;
        let h = g - (d[l] as number);
        for (let i = l + 2; i < n; i++) d[i] = (d[i] as number) - h;
        f += h;
        p = d[m] as number;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1] as number;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * (e[i] as number);
          h = c * p;
          r = Math.hypot(p, e[i] as number);
          e[i + 1] = s * r;
          s = (e[i] as number) / r;
          c = p / r;
          p = c * (d[i] as number) - s * g;
          d[i + 1] = h + s * (c * g + s * (d[i] as number));
          for (let k = 0; k < n; k++) {
            const vk1 = V[k * n + i + 1] as number;
            const vk = V[k * n + i] as number;
            V[k * n + i + 1] = s * vk + c * vk1;
            V[k * n + i] = c * vk - s * vk1;
          }
        }
        p = (-s * s2 * c3 * el1 * (e[l] as number)) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l] as number) > eps * tst1);
    }
    d[l] = (d[l] as number) + f;
    e[l] = 0;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (d[a] as number) - (d[b] as number));
  const values = Float64Array.from(order, (i) => d[i] as number);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let r = 0; r < n; r++) vectors[r * n + dst] = V[r * n + src] as number;
  });
  return { values, vectors };
}
