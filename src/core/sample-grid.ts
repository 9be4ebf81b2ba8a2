/**
 * Sampling functions of one or two coordinates over a grid — the loop behind the paper's 1-D
 * slices, 2-D contour plots and eigenvalue-ratio maps (reference code `crunch` in
 * plot_surface.py), without the model: it takes `evaluate(coords)`, so it can be tested on a
 * closed form.
 *
 * Points are visited in row-major order: for two axes, index `i·ny + j` holds
 * `(axes[0][i], axes[1][j])` — the first index is the first direction's coefficient.
 */

/** What one evaluation returns: named values, null where undefined. */
export type PointValue = Readonly<Record<string, number | null>>;

/** Values over a grid: one flat row-major array per name; NaN where a value was not finite or null. */
export interface GridValues {
  /** The number of values along each axis. */
  readonly shape: readonly number[];
  readonly values: Readonly<Record<string, Float64Array>>;
}

/**
 * Evaluates a function at every point of a grid.
 * @param axes one or two axes' coordinates
 * @param evaluate the named values at a point (coordinates in axis order)
 * @param onPoint called after each point with the number done and the total
 * @throws {RangeError} for zero or more than two axes, or an empty axis
 */
export async function sampleGrid(
  axes: readonly (readonly number[])[],
  evaluate: (coords: readonly number[]) => Promise<PointValue>,
  onPoint?: (done: number, total: number) => void,
): Promise<GridValues> {
  if (axes.length < 1 || axes.length > 2) throw new RangeError(`sampleGrid: ${axes.length} axes; 1 or 2 are allowed`);
  if (axes.some((a) => a.length === 0)) throw new RangeError('sampleGrid: an axis has no values');
  const shape = axes.map((a) => a.length);
  const total = shape.reduce((a, b) => a * b, 1);
  const values: Record<string, Float64Array> = {};
  const [xs, ys] = axes as [readonly number[], readonly number[] | undefined];
  for (let index = 0; index < total; index++) {
    const coords = ys === undefined ? [xs[index] as number] : [xs[Math.floor(index / ys.length)] as number, ys[index % ys.length] as number];
    const point = await evaluate(coords);
    for (const [name, v] of Object.entries(point)) {
      const column = (values[name] ??= new Float64Array(total).fill(NaN));
      if (v !== null && Number.isFinite(v)) column[index] = v;
    }
    onPoint?.(index + 1, total);
  }
  return { shape, values };
}

/**
 * A flat row-major array as nested JSON-ready arrays, NaN as null: `[n]` for one axis, `[nx][ny]`
 * for two.
 */
export function toNested(values: Float64Array, shape: readonly number[]): (number | null)[] | (number | null)[][] {
  const cell = (v: number) => (Number.isFinite(v) ? v : null);
  if (shape.length === 1) return Array.from(values, cell);
  const [nx, ny] = shape as [number, number];
  return Array.from({ length: nx }, (_, i) => Array.from(values.subarray(i * ny, (i + 1) * ny), cell));
}
