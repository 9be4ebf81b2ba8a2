/**
 * PCA of an optimization trajectory (Li et al. 2018, section 7; reference code
 * `setup_PCA_directions` + `project_trajectory`), computed from the Gram matrix of the snapshots so
 * its cost grows with the number of epochs, not with the square of the parameter count.
 *
 * Rows are D_e = θ_e − θ_last for every snapshot e (the last one's zero row included). As sklearn's
 * PCA, the rows are centered (C = J D, J = I − 11ᵀ/m) and the components are the top eigenvectors
 * of CᵀC; with Gc = J G J (G = D Dᵀ) and Gc u = λ u, component k is Cᵀu_k/√λ_k, its explained
 * variance ratio λ_k / Σλ. Coordinates follow the paper: the UNCENTERED difference projected,
 * coord_e = D_e · pc_k = (G J u_k)_e / √λ_k. A component's sign is arbitrary; landscope orients each
 * so that the first snapshot's coordinate is ≥ 0.
 *
 * Input is the Gram matrix of the snapshots relative to any fixed reference r, K_ij =
 * (θ_i − r)·(θ_j − r) (r = θ_0 keeps it well conditioned); G follows from K exactly.
 */
import { symmetricEigen } from './symmetric-eigen.js';

/** PCA of a trajectory. */
export interface TrajectoryPca {
  /** Explained-variance ratio of every component, descending (sums to 1 when there is any variance). */
  readonly explainedVarianceRatio: number[];
  /** Per component (up to `components`), each snapshot's coordinate. */
  readonly coords: number[][];
  /** Per component, the weights w with pc_k = Σ_e w_e · D_e (to materialize it from snapshots). */
  readonly weights: number[][];
}

/**
 * PCA from the Gram matrix of the snapshots.
 * @param gram row-major m×m, `(θ_i − r)·(θ_j − r)` for any fixed reference r
 * @param m the number of snapshots (the last one is the reference of the differences)
 * @param components how many components to return coordinates for @default 2
 * @returns empty lists for fewer than 2 snapshots or a trajectory that never moved
 * @throws {RangeError} when the length is not m²
 */
export function trajectoryPca(gram: ArrayLike<number>, m: number, components = 2): TrajectoryPca {
  if (gram.length !== m * m) throw new RangeError(`trajectoryPca: ${gram.length} entries for ${m} snapshots`);
  if (m < 2) return { explainedVarianceRatio: [], coords: [], weights: [] };
  const L = m - 1;
  const K = (i: number, j: number) => gram[i * m + j] as number;
  // G_ij = (θ_i − θ_L)·(θ_j − θ_L)
  const G = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) G[i * m + j] = K(i, j) - K(i, L) - K(L, j) + K(L, L);
  // Gc = J G J
  const rowMean = Array.from({ length: m }, (_, i) => G.subarray(i * m, (i + 1) * m).reduce((a, b) => a + b, 0) / m);
  const allMean = rowMean.reduce((a, b) => a + b, 0) / m;
  const Gc = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) Gc[i * m + j] = (G[i * m + j] as number) - (rowMean[i] as number) - (rowMean[j] as number) + allMean;
  const { values, vectors } = symmetricEigen(Gc, m);
  const positive = Array.from(values, (v) => Math.max(v, 0));
  const total = positive.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return { explainedVarianceRatio: [], coords: [], weights: [] };
  const explainedVarianceRatio = positive.map((v) => v / total);
  const coords: number[][] = [];
  const weights: number[][] = [];
  for (let k = 0; k < Math.min(components, m); k++) {
    const lambda = positive[k] as number;
    if (!(lambda > total * 1e-15)) break;
    const u = Array.from({ length: m }, (_, r) => vectors[r * m + k] as number);
    const uMean = u.reduce((a, b) => a + b, 0) / m;
    const w = u.map((x) => (x - uMean) / Math.sqrt(lambda)); // J u / √λ
    let c = Array.from({ length: m }, (_, e) => w.reduce((s, wj, j) => s + (G[e * m + j] as number) * wj, 0));
    const sign = (c[0] as number) < 0 ? -1 : 1;
    c = c.map((x) => x * sign);
    coords.push(c);
    weights.push(w.map((x) => x * sign));
  }
  return { explainedVarianceRatio, coords, weights };
}
