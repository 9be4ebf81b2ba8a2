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
  subset?: GridSubset,
): Promise<GridValues> {
  if (axes.length < 1 || axes.length > 2) throw new RangeError(`sampleGrid: ${axes.length} axes; 1 or 2 are allowed`);
  if (axes.some((a) => a.length === 0)) throw new RangeError('sampleGrid: an axis has no values');
  const shape = axes.map((a) => a.length);
  const total = shape.reduce((a, b) => a * b, 1);
  const values: Record<string, Float64Array> = {};
  const [xs, ys] = axes as [readonly number[], readonly number[] | undefined];
  const store = (index: number, point: PointValue) => {
    for (const [name, v] of Object.entries(point)) {
      const column = (values[name] ??= new Float64Array(total).fill(NaN));
      if (v !== null && Number.isFinite(v)) column[index] = v;
    }
  };
  for (const [index, point] of subset?.known ?? []) store(index, point);
  const indices = subset?.indices ?? Array.from({ length: total }, (_, k) => k);
  const todo = indices.filter((k) => !(subset?.known?.has(k) ?? false));
  let done = indices.length - todo.length;
  for (const index of todo) {
    if (!(Number.isInteger(index) && index >= 0 && index < total)) throw new RangeError(`sampleGrid: point index ${index} is outside 0..${total - 1}`);
    const coords = ys === undefined ? [xs[index] as number] : [xs[Math.floor(index / ys.length)] as number, ys[index % ys.length] as number];
    const point = await evaluate(coords);
    store(index, point);
    await subset?.onValue?.(index, point);
    onPoint?.(++done, indices.length);
  }
  return { shape, values };
}

/** Which points to evaluate, what is known already, and where each new value goes (sharded, resumable runs). */
export interface GridSubset {
  /** Row-major indices to cover. @default every point */
  readonly indices?: readonly number[];
  /** Values already computed (e.g. by an interrupted run): not evaluated again. */
  readonly known?: ReadonlyMap<number, PointValue>;
  /** Called after each new point, e.g. to append it to a file. */
  readonly onValue?: (index: number, value: PointValue) => void | Promise<void>;
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
