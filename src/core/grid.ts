/**
 * Grid axes for 1-D and 2-D landscape samples, written `min:max:num` as in the paper's
 * reference code (`--x=-1:1:51`): `num` evenly spaced values from `min` to `max`, both included,
 * computed as `numpy.linspace` computes them so coordinates match the reference values exactly.
 */

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
