/**
 * Grid axes for 1-D and 2-D landscape samples, written `min:max:num` as in the paper's
 * reference code (`--x=-1:1:51`): `num` evenly spaced values from `min` to `max`, both included,
 * computed as `numpy.linspace` computes them so coordinates match the reference values exactly.
 */

/**
 * The most points one grid job may have (2,000 × 2,000): the result is a single JSON file and
 * every point is a forward pass over the data, so beyond this a typo (`-1:1:1e9`) would only run
 * out of memory after minutes. Larger planes are tiled into several jobs.
 */
export const MAX_GRID_POINTS = 4_000_000;

/**
 * Checks a grid's size before anything is computed.
 * @param ranges the grid's axes, with the argument names that gave them
 * @throws {RangeError} naming the arguments, the point count and the limit
 */
export function assertGridSize(ranges: readonly { range: AxisRange; what: string }[]): void {
  const points = ranges.reduce((n, r) => n * r.range.num, 1);
  if (points > MAX_GRID_POINTS) {
    const how = ranges.map((r) => `${r.what} ${r.range.num}`).join(' × ');
    throw new RangeError(`${how} = ${points.toLocaleString('en-US')} points, more than the ${MAX_GRID_POINTS.toLocaleString('en-US')} one grid may have (e.g. 2,000 × 2,000); lower num, or tile the plane into several jobs`);
  }
}

/** One grid axis: `num` evenly spaced values from `min` to `max` inclusive. */
export interface AxisRange {
  readonly min: number;
  readonly max: number;
  readonly num: number;
}

/**
 * Parses `min:max:num`.
 * @param text the range, e.g. `-1:1:51`
 * @param what the argument's name, used in the error message
 * @returns the parsed range
 * @throws {RangeError} when the text is not three colon-separated numbers, `num` is not a
 * positive integer, or `min > max` (or `min ≠ max` with `num = 1`)
 * @example parseRange('-1:1:51') // { min: -1, max: 1, num: 51 }
 */
export function parseRange(text: string, what = 'range'): AxisRange {
  const parts = text.split(':');
  const allowed = `expected min:max:num with min <= max and num a positive integer, e.g. -1:1:51`;
  if (parts.length !== 3 || parts.some((p) => p.trim() === '')) {
    throw new RangeError(`${what}: '${text}' is not min:max:num (${allowed})`);
  }
  const [min, max, num] = parts.map(Number) as [number, number, number];
  if (!Number.isFinite(min) || !Number.isFinite(max) || !Number.isFinite(num)) {
    throw new RangeError(`${what}: '${text}' has a part that is not a finite number (${allowed})`);
  }
  if (!(Number.isInteger(num) && num >= 1)) {
    throw new RangeError(`${what}: num = ${parts[2]} in '${text}' is not a positive integer (${allowed})`);
  }
  if (!(min <= max)) {
    throw new RangeError(`${what}: min ${min} is greater than max ${max} in '${text}' (${allowed})`);
  }
  if (num === 1 && min !== max) {
    throw new RangeError(`${what}: num = 1 needs min = max, got '${text}' (${allowed})`);
  }
  return { min, max, num };
}

/**
 * The values of an axis, as `numpy.linspace(min, max, num)` computes them (`i·step + min`,
 * the last one set to `max` exactly).
 */
export function linspace(range: AxisRange): number[] {
  const { min, max, num } = range;
  if (num === 1) return [min];
  const step = (max - min) / (num - 1);
  const values = Array.from({ length: num }, (_, i) => i * step + min);
  values[num - 1] = max;
  return values;
}
