/**
 * Contour lines of a loss surface for the reports, traced by d3-contour (marching squares) and
 * turned into polylines in the surface's own coordinates.
 *
 * Surfaces are `values[i][j]` at `(xs[i], ys[j])`; d3-contour wants a flat array with x varying
 * fastest and places sample (i, j) at (i + 0.5, j + 0.5); the rings it closes along the grid's frame
 * are cut there, so only real level lines are drawn. Non-finite values (null) count as very high.
 */
import { contours } from 'd3-contour';

/** The lines of one level. */
export interface ContourLevel {
  readonly level: number;
  /** Polylines, each a list of [x, y] points. */
  readonly lines: [number, number][][];
}

/**
 * Level values: `count` evenly spaced between the minimum and the `upper` quantile of the finite
 * values (so a few huge losses at the corners do not squeeze every line around the minimum).
 */
export function contourLevels(values: readonly (readonly (number | null)[])[], count = 12, upper = 0.9): number[] {
  const finite = values.flat().filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return [];
  const lo = finite[0] as number;
  const hi = finite[Math.min(finite.length - 1, Math.floor(upper * (finite.length - 1)))] as number;
  if (!(hi > lo)) return [];
  return Array.from({ length: count }, (_, k) => lo + ((k + 1) * (hi - lo)) / (count + 1));
}

/**
 * Traces contour lines.
 * @param values `[nx][ny]` surface values
 * @param xs the first axis' coordinates (length nx, evenly spaced)
 * @param ys the second axis' coordinates (length ny, evenly spaced)
 * @param levels the level values
 */
export function contourLines(values: readonly (readonly (number | null)[])[], xs: readonly number[], ys: readonly number[], levels: readonly number[]): ContourLevel[] {
  const nx = xs.length;
  const ny = ys.length;
  if (nx < 2 || ny < 2) return [];
  const finite = values.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const high = finite.length === 0 ? 1 : Math.max(...finite) * 10 + 1;
  const flat = new Array<number>(nx * ny);
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) flat[j * nx + i] = values[i]?.[j] ?? high;
  const dx = ((xs[nx - 1] as number) - (xs[0] as number)) / (nx - 1);
  const dy = ((ys[ny - 1] as number) - (ys[0] as number)) / (ny - 1);
  const toData = ([cx, cy]: number[]): [number, number] => [(xs[0] as number) + ((cx as number) - 0.5) * dx, (ys[0] as number) + ((cy as number) - 0.5) * dy];
  const onFrame = ([cx, cy]: number[]) => (cx as number) <= 0 || (cx as number) >= nx || (cy as number) <= 0 || (cy as number) >= ny;
  return contours()
    .size([nx, ny])
    .thresholds([...levels])(flat)
    .map((geometry) => {
      const lines: [number, number][][] = [];
      for (const polygon of geometry.coordinates) {
        for (const ring of polygon) {
          let current: [number, number][] = [];
          for (const point of ring) {
            if (onFrame(point)) {
              if (current.length > 1) lines.push(current);
              current = [];
            } else current.push(toData(point));
          }
          if (current.length > 1) lines.push(current);
        }
      }
      return { level: geometry.value, lines };
    });
}
