/**
 * A page for one grid file written by the CLI — `landscope surface` (a 1-D slice or a 2-D loss
 * surface), `landscope merge`, or `landscope hessian --xrange --yrange` (the |λmin/λmax| map) —
 * with the same charts as the run report, so a surface computed offline can be looked at without
 * a run folder. Plain data in, HTML out.
 */
import { LandscopeError } from '../src/errors.js';
import { contourLevels, contourLines } from './contour-lines.js';
import { escapeHtml } from './escape.js';
import { contourChart, ratioChart, sliceChart, type ReportChart } from './run-charts.js';
import { renderPage, pageMain, table, type PageSection } from './run-report.js';

type Rec = Record<string, unknown>;

const SECTIONS: Record<string, PageSection> = {
  slice: { id: 'slice', title: '1-D slice', how: 'Loss (left) and accuracy (right) along the direction, θ + α·d (filter-normalized unless the file says otherwise): a flat, wide valley is a flat minimum.' },
  contour: { id: 'contour', title: '2-D loss contours', how: 'Level lines of the loss over θ + a·d1 + b·d2 (darker = lower; the legend gives each level). Closed, round contours around the centre mean a convex, well-conditioned basin.' },
  ratio: { id: 'ratio', title: '|λmin/λmax| over the plane', how: 'At each point, the ratio of the most negative to the largest Hessian eigenvalue (the paper’s figure 7): blue regions are convex, red ones as curved down as up.' },
};

const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');
const isGrid = (v: unknown, nx: number, ny: number): v is (number | null)[][] =>
  Array.isArray(v) && v.length === nx && v.every((row) => Array.isArray(row) && row.length === ny && row.every((x) => x === null || typeof x === 'number'));

/**
 * The charts of a grid file.
 * @param json the parsed file
 * @param where the file's path, for error messages
 * @throws {LandscopeError} `BAD_ARTIFACT` when it is neither a surface nor a ratio map (naming what is wrong)
 */
export function surfaceCharts(json: unknown, where: string): { kind: '1d' | '2d' | 'ratio'; charts: ReportChart[]; points: number } {
  const bad = (why: string) => new LandscopeError('BAD_ARTIFACT', `report: ${where} ${why}; expected the JSON of 'landscope surface', 'landscope merge' or 'landscope hessian --xrange … --yrange …'`);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw bad(`holds ${json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json}`);
  const j = json as Rec;
  if (!isNumbers(j['x'])) throw bad("has no numeric 'x' axis");
  const x = j['x'];
  if (j['y'] === undefined) {
    const loss = j['loss'];
    if (!(Array.isArray(loss) && loss.length === x.length && loss.every((v) => v === null || typeof v === 'number'))) throw bad(`has no 'loss' of ${x.length} values for its 1-D axis`);
    const acc = Array.isArray(j['accuracy']) && j['accuracy'].length === x.length ? (j['accuracy'] as (number | null)[]) : null;
    return { kind: '1d', charts: [sliceChart({ x, loss: loss as (number | null)[], accuracy: acc })], points: x.length };
  }
  if (!isNumbers(j['y'])) throw bad("has a 'y' axis that is not a list of numbers");
  const y = j['y'];
  if (isGrid(j['ratio'], x.length, y.length)) return { kind: 'ratio', charts: [ratioChart({ x, y, ratio: j['ratio'] })], points: x.length * y.length };
  const loss = j['loss'];
  if (!isGrid(loss, x.length, y.length)) throw bad(`has no 'loss' grid of ${x.length}×${y.length} values (nor a 'ratio' map)`);
  let min: [number, number] | null = null;
  let best = Infinity;
  loss.forEach((row, i) => row.forEach((v, k) => {
    if (v !== null && v < best) [best, min] = [v, [x[i] as number, y[k] as number]];
  }));
  const range = Math.max(...x.map(Math.abs), ...y.map(Math.abs));
  return { kind: '2d', charts: [contourChart({ levels: contourLines(loss, x, y, contourLevels(loss)), min, range }, undefined, 'the weights (0, 0)')], points: x.length * y.length };
}

/**
 * Renders a grid file as a self-contained page.
 * @param json the parsed file
 * @param where its path (the page's title and error messages)
 * @param chartJs the chart.js bundle's source, inlined
 */
export function renderSurfaceReport(json: unknown, where: string, chartJs: string): { html: string; kind: '1d' | '2d' | 'ratio'; points: number } {
  const { kind, charts, points } = surfaceCharts(json, where);
  const meta = ((json as Rec)['meta'] ?? {}) as Rec;
  const rows = Object.entries(meta)
    .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v) || (typeof v === 'object' && JSON.stringify(v).length < 200))
    .map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
  const header = `<p>${escapeHtml(kind === 'ratio' ? 'Hessian ratio map' : kind === '2d' ? '2-D loss surface' : '1-D loss slice')}, ${points} points, from ${escapeHtml(where)}.</p>`;
  const section = SECTIONS[kind === 'ratio' ? 'ratio' : kind === '2d' ? 'contour' : 'slice'] as PageSection;
  const extra = rows.length === 0 ? '' : `<section id="meta"><h2>How it was computed</h2>${table(rows, ['setting', 'value'])}</section>`;
  return { html: renderPage({ title: where, header, main: pageMain([section], charts, extra), charts }, chartJs), kind, points };
}
