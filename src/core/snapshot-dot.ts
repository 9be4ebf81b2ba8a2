/**
 * Inner products of weight snapshots relative to a reference snapshot, in float64: the entries of
 * the Gram matrix trajectory PCA works from. Differences from the first snapshot keep the products
 * small, so no precision is lost to cancellation.
 */

/**
 * (a − ref)·(b − ref) over the entries where `mask` is 1 (all when it is absent).
 * @throws {RangeError} when the lengths differ
 */
export function snapshotDot(a: Float32Array, b: Float32Array, ref: Float32Array, mask?: Uint8Array): number {
  if (a.length !== b.length || a.length !== ref.length || (mask !== undefined && mask.length !== a.length)) {
    throw new RangeError(`snapshotDot: lengths ${a.length}, ${b.length}, ${ref.length}${mask ? `, mask ${mask.length}` : ''} differ`);
  }
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    if (mask !== undefined && mask[i] === 0) continue;
    const r = ref[i] as number;
    s += ((a[i] as number) - r) * ((b[i] as number) - r);
  }
  return s;
}

/**
 * The entries trajectory PCA covers: all (`none`, the reference code's default) or all but the
 * tensors of rank ≤ 1 (`biasbn`). Returns undefined for all.
 * @param shapes the tensors' shapes, in snapshot order
 */
export function snapshotMask(shapes: readonly (readonly number[])[], ignore: 'none' | 'biasbn'): Uint8Array | undefined {
  if (ignore === 'none') return undefined;
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const mask = new Uint8Array(sizes.reduce((a, b) => a + b, 0)).fill(1);
  let offset = 0;
  shapes.forEach((shape, i) => {
    if (shape.length <= 1) mask.fill(0, offset, offset + (sizes[i] as number));
    offset += sizes[i] as number;
  });
  return mask;
}
