/**
 * Eigen-decomposition of a small dense real symmetric matrix by the cyclic Jacobi method (Golub &
 * Van Loan §8.5): slow for large n, but simple and accurate to working precision — meant for Gram
 * matrices of a trajectory's snapshots (n = epochs).
 */

/** Descending eigenvalues and unit eigenvectors: `vectors[r * n + k]` is component r of vector k. */
export interface SymmetricEigen {
  readonly values: Float64Array;
  readonly vectors: Float64Array;
}

/**
 * Diagonalizes a symmetric matrix (row-major n×n; only symmetric input is meaningful).
 * @param matrix row-major entries
 * @param n the order
 * @throws {RangeError} when the length is not n² or an entry is not finite
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  if (matrix.length !== n * n) throw new RangeError(`symmetricEigen: ${matrix.length} entries for order ${n}`);
  const a = Float64Array.from(matrix);
  if (!a.every(Number.isFinite)) throw new RangeError('symmetricEigen: an entry is not finite');
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const offNorm = () => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += (a[i * n + j] as number) ** 2;
    return s;
  };
  const total = a.reduce((s, x) => s + x * x, 0);
  for (let sweep = 0; sweep < 100 && offNorm() > 1e-30 * Math.max(total, Number.MIN_VALUE); sweep++) {
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q] as number;
        if (apq === 0) continue;
        const app = a[p * n + p] as number;
        const aqq = a[q * n + q] as number;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p] as number;
          const akq = a[k * n + q] as number;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k] as number;
          const aqk = a[q * n + k] as number;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p] as number;
          const vkq = v[k * n + q] as number;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => (a[y * n + y] as number) - (a[x * n + x] as number));
  const values = Float64Array.from(order, (i) => a[i * n + i] as number);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    for (let r = 0; r < n; r++) vectors[r * n + dst] = v[r * n + src] as number;
  });
  return { values, vectors };
}
