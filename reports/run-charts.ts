/**
 * The run report's charts as plain chart.js configurations (JSON, no functions), so the same
 * charts draw in the browser (the HTML report) and in Node (PNGs through @napi-rs/canvas).
 * A dataset marked `hideInLegend` is left out of the legend by the drawing side.
 */
import type { ContourLevel } from './contour-lines.js';
import type { RunReportData } from './run-report-data.js';

/** One chart: its id (the canvas is `chart-<id>`) and its chart.js configuration. */
export interface ReportChart {
  readonly id: string;
  readonly config: Record<string, unknown>;
}

const BLUE = '#2563eb';
const ORANGE = '#ea580c';
const GREEN = '#16a34a';
const PURPLE = '#7c3aed';
const GREY = '#64748b';
const RED = '#dc2626';

const axis = (title: string, extra: Record<string, unknown> = {}) => ({ title: { display: true, text: title }, ...extra });
const line = (label: string, data: readonly (number | null)[], color: string, yAxisID: string, extra: Record<string, unknown> = {}) => ({
  label,
  data,
  borderColor: color,
  backgroundColor: color,
  yAxisID,
  spanGaps: false, // an epoch that was not measured is a gap, not a straight line through it
  pointRadius: 3,
  borderWidth: 2,
  ...extra,
});
const BASE = { maintainAspectRatio: false, animation: false };
const right = (title: string, extra: Record<string, unknown> = {}) => axis(title, { position: 'right', grid: { drawOnChartArea: false }, ...extra });

/**
 * Contour lines as line datasets, dark (low loss) to light (high), behind everything else. The
 * first line of each level is in the legend, labelled with its loss: the legend is the colour key.
 */
function contourSets(levels: readonly ContourLevel[] | undefined): Record<string, unknown>[] {
  if (levels === undefined) return [];
  const n = levels.length;
  return levels.flatMap((l, k) => {
    const shade = Math.round(40 + (170 * k) / Math.max(1, n - 1));
    const color = `rgb(${shade},${shade},${Math.min(255, shade + 60)})`;
    return l.lines.map((points, i) => ({
      label: `loss ${l.level.toPrecision(3)}`,
      data: points.map(([x, y]) => ({ x, y })),
      showLine: true,
      pointRadius: 0,
      borderWidth: 1,
      borderColor: color,
      backgroundColor: color,
      order: 10,
      hideInLegend: i > 0,
    }));
  });
}

/** The 1-D slice: loss (and accuracy) along one filter-normalized direction. */
export function sliceChart(slice: { x: readonly number[]; loss: readonly (number | null)[]; accuracy: readonly (number | null)[] | null }, base: Record<string, unknown> = BASE): ReportChart {
  return {
    id: 'slice',
    config: {
      type: 'line',
      data: {
        labels: slice.x.map((v) => v.toFixed(2)),
        datasets: [line('probe loss', slice.loss, BLUE, 'y', { pointRadius: 0 }), ...(slice.accuracy !== null ? [line('probe accuracy', slice.accuracy, GREEN, 'y1', { pointRadius: 0 })] : [])],
      },
      options: { ...base, scales: { x: axis('α (filter-normalized units)', { ticks: { maxTicksLimit: 9 } }), y: axis('loss'), ...(slice.accuracy !== null ? { y1: right('accuracy (fraction)', { min: 0, max: 1 }) } : {}) } },
    },
  };
}

/** The 2-D contour plot of the loss around the weights, with the lowest grid point and the centre. */
export function contourChart(contour: { levels: readonly ContourLevel[]; min: readonly [number, number] | null; range: number }, base: Record<string, unknown> = BASE, centre = 'final weights (0, 0)'): ReportChart {
  const lim = contour.range;
  return {
    id: 'contour',
    config: {
      type: 'scatter',
      data: {
        datasets: [
          ...contourSets(contour.levels),
          ...(contour.min !== null ? [{ label: 'lowest grid point', data: [{ x: contour.min[0], y: contour.min[1] }], pointRadius: 6, pointStyle: 'star', borderColor: '#dc2626', backgroundColor: '#dc2626', order: -1 }] : []),
          { label: centre, data: [{ x: 0, y: 0 }], pointRadius: 6, backgroundColor: GREEN, borderColor: GREEN, order: -1 },
        ],
      },
      options: { ...base, scales: { x: axis('a: direction d1 (filter-normalized)', { min: -lim, max: lim }), y: axis('b: direction d2 (filter-normalized)', { min: -lim, max: lim }) } },
    },
  };
}

/** The |λmin/λmax| map over the plane as a heatmap of square points in five bands. */
export function ratioChart(ratio: { x: readonly number[]; y: readonly number[]; ratio: readonly (readonly (number | null)[])[] }, base: Record<string, unknown> = BASE): ReportChart {
  // A heatmap as square points: blue = convex (ratio near 0), red = as curved down as up (near 1).
  const cells = ratio.x.flatMap((x, i) => ratio.y.map((y, j) => ({ x, y, v: ratio.ratio[i]?.[j] ?? null }))).filter((c) => c.v !== null);
  const color = (v: number) => {
    const t = Math.max(0, Math.min(1, v));
    return `rgb(${Math.round(40 + 215 * t)},${Math.round(90 + 40 * (1 - Math.abs(2 * t - 1)))},${Math.round(230 - 200 * t)})`;
  };
  const lim = Math.max(...ratio.x.map(Math.abs));
  const bands = [0, 0.1, 0.25, 0.5, 0.75, 1.01];
  return {
    id: 'ratio',
    config: {
      type: 'scatter',
      data: {
        datasets: bands.slice(0, -1).map((lo, k) => {
          const hi = bands[k + 1] as number;
          const inBand = cells.filter((c) => (c.v as number) >= lo && (c.v as number) < hi);
          return { label: `|λmin/λmax| ${lo}–${Math.min(1, hi)}`, data: inBand.map((c) => ({ x: c.x, y: c.y })), pointStyle: 'rect', pointRadius: Math.max(4, Math.round(150 / ratio.x.length)), backgroundColor: color((lo + Math.min(1, hi)) / 2), borderWidth: 0 };
        }),
      },
      options: { ...base, scales: { x: axis('a: direction d1 (filter-normalized)', { min: -lim * 1.1, max: lim * 1.1 }), y: axis('b: direction d2 (filter-normalized)', { min: -lim * 1.1, max: lim * 1.1 }) } },
    },
  };
}

/**
 * The per-layer heat strip: one row per layer, one square per measured epoch, coloured by the
 * layer's block λmax in five bands spaced evenly in log10 between the smallest and largest positive value.
 */
export function layerChart(layers: { names: readonly string[]; lambdaMax: readonly (readonly (number | null)[])[] }, labels: readonly string[], base: Record<string, unknown> = BASE): ReportChart {
  const cells = layers.names.flatMap((name, i) => (layers.lambdaMax[i] ?? []).map((v, e) => ({ x: labels[e] as string, y: name, v }))).filter((c): c is { x: string; y: string; v: number } => c.v !== null && c.v > 0);
  const logs = cells.map((c) => Math.log10(c.v));
  const lo = Math.min(...logs);
  const hi = Math.max(...logs);
  const k = 5;
  const edges = Array.from({ length: k + 1 }, (_, i) => lo + ((hi - lo) * i) / k);
  const band = (v: number) => (hi === lo ? 0 : Math.min(k - 1, Math.floor(((Math.log10(v) - lo) / (hi - lo)) * k)));
  const color = (t: number) => `rgb(${Math.round(40 + 215 * t)},${Math.round(90 + 40 * (1 - Math.abs(2 * t - 1)))},${Math.round(230 - 200 * t)})`;
  const fmt = (x: number) => (10 ** x).toPrecision(2);
  return {
    id: 'layers',
    config: {
      type: 'scatter',
      data: {
        datasets: Array.from({ length: k }, (_, b) => ({
          label: `λmax ${fmt(edges[b] as number)}–${fmt(edges[b + 1] as number)}`,
          data: cells.filter((c) => band(c.v) === b).map((c) => ({ x: c.x, y: c.y })),
          pointStyle: 'rect',
          // Squares that nearly fill their cell: as wide as an epoch's column, as tall as a layer's row allows.
          pointRadius: Math.max(4, Math.min(24, Math.round(380 / Math.max(1, labels.length)), Math.round(110 / Math.max(1, layers.names.length)))),
          backgroundColor: color(b / (k - 1)),
          borderWidth: 0,
        })).filter((ds) => ds.data.length > 0),
      },
      options: { ...base, scales: { x: axis('epoch (init = before training)', { type: 'category', labels: [...labels], offset: true }), y: axis('layer', { type: 'category', labels: [...layers.names], offset: true }) } },
    },
  };
}

/**
 * The charts a run's data supports, in report order.
 * @param d from `runReportData`
 */
export function runCharts(d: RunReportData): ReportChart[] {
  const has = (key: string) => (d.series[key] ?? []).some((v) => v !== null);
  const labels = d.epochs.map((e) => (e < 0 ? 'init' : String(e + 1)));
  const epochX = axis('epoch (init = before training)');
  const base = BASE;
  const charts: ReportChart[] = [];
  const s = d.series;
  if (has('loss')) {
    charts.push({
      id: 'loss',
      config: {
        type: 'line',
        data: {
          labels,
          datasets: [
            line('training loss', s['loss'] ?? [], BLUE, 'y'),
            line('validation loss', s['val_loss'] ?? [], BLUE, 'y', { borderDash: [6, 4] }),
            line('training accuracy', s['acc'] ?? [], GREEN, 'y1'),
            line('validation accuracy', s['val_acc'] ?? [], GREEN, 'y1', { borderDash: [6, 4] }),
          ],
        },
        options: { ...base, scales: { x: epochX, y: axis('loss'), y1: right('accuracy (fraction)', { min: 0, max: 1 }) } },
      },
    });
  }
  if (has('sharpness')) {
    const mean = s['sharpness'] ?? [];
    const se = s['sharpness_stderr'] ?? [];
    const band = (sign: number) => mean.map((v, i) => (v === null || se[i] === null ? null : v + sign * (se[i] as number)));
    charts.push({
      id: 'sharpness',
      config: {
        type: 'line',
        data: {
          labels,
          datasets: [
            line('− 1 s.e.', band(-1), 'rgba(234,88,12,0.25)', 'y', { pointRadius: 0, borderWidth: 0, hideInLegend: true }),
            line('+ 1 s.e.', band(1), 'rgba(234,88,12,0.25)', 'y', { pointRadius: 0, borderWidth: 0, fill: '-1', backgroundColor: 'rgba(234,88,12,0.18)', hideInLegend: true }),
            line(`sharpness s (r = ${d.sharpness.radius})`, mean, ORANGE, 'y'),
            line('curvature 2s/r²', s['curvature'] ?? [], PURPLE, 'y1', { borderDash: [4, 3] }),
          ],
        },
        options: { ...base, scales: { x: epochX, y: axis('sharpness (loss units)'), y1: right('curvature') } },
      },
    });
  }
  if (has('lambda_max')) {
    const converged = s['hessian_converged'] ?? [];
    const fill = (color: string) => converged.map((c) => (c === 0 ? 'rgba(0,0,0,0)' : color));
    charts.push({
      id: 'hessian',
      config: {
        type: 'line',
        data: {
          labels,
          datasets: [
            line('λmax', s['lambda_max'] ?? [], BLUE, 'y', { pointBackgroundColor: fill(BLUE) }),
            line('λmin', s['lambda_min'] ?? [], ORANGE, 'y', { pointBackgroundColor: fill(ORANGE) }),
            line('|λmin/λmax|', (s['ratio'] ?? []).map((v) => (v === null || v <= 0 ? null : v)), PURPLE, 'y1', { borderDash: [4, 3] }),
            ...(has('stability_threshold') ? [line('stability threshold (GD 2/η)', s['stability_threshold'] ?? [], RED, 'y', { borderDash: [6, 4], pointRadius: 0 })] : []),
          ],
        },
        options: { ...base, scales: { x: epochX, y: axis('eigenvalue'), y1: right('|λmin/λmax| (log)', { type: 'logarithmic' }) } },
      },
    });
  }
  if (has('preconditioned_max')) {
    charts.push({
      id: 'stability',
      config: {
        type: 'line',
        data: {
          labels,
          datasets: [
            line('λmax(P⁻¹H)', s['preconditioned_max'] ?? [], BLUE, 'y'),
            line('stability threshold', s['preconditioned_threshold'] ?? [], RED, 'y', { borderDash: [6, 4], pointRadius: 0 }),
          ],
        },
        options: { ...base, scales: { x: epochX, y: axis('preconditioned sharpness') } },
      },
    });
  }
  if (has('adaptive_worst')) {
    charts.push({
      id: 'adaptive',
      config: {
        type: 'line',
        data: {
          labels,
          datasets: [
            line(`worst case (ρ = ${d.adaptiveRadius})`, s['adaptive_worst'] ?? [], ORANGE, 'y'),
            line('average case (right axis)', s['adaptive_avg'] ?? [], PURPLE, 'y1', { borderDash: [4, 3] }),
          ],
        },
        options: { ...base, scales: { x: epochX, y: axis('worst-case increase (loss units)'), y1: right('average-case increase') } },
      },
    });
  }
  if (d.trajectory !== null) {
    const t = d.trajectory;
    const evr = t.explainedVarianceRatio;
    const points = t.x.map((x, i) => ({ x, y: t.y[i] as number, epoch: t.epochs[i] }));
    charts.push({
      id: 'trajectory',
      config: {
        type: 'scatter',
        data: {
          datasets: [
            ...contourSets(d.surfaces?.pca?.levels),
            { label: 'epochs', data: points, showLine: true, borderColor: BLUE, backgroundColor: BLUE, pointRadius: 4, borderWidth: 1.5 },
            // The final weights are the origin of the PCA, where the last epoch also sits: drawn on top, larger.
            { label: 'final weights (0, 0)', data: [{ x: 0, y: 0 }], backgroundColor: GREEN, borderColor: '#ffffff', borderWidth: 1.5, pointRadius: 11, pointStyle: 'star', order: -1 },
            ...(t.lrDrops.length > 0
              ? [{ label: 'learning-rate drop', data: points.filter((p) => t.lrDrops.includes(p.epoch as number)), pointRadius: 9, borderColor: '#dc2626', backgroundColor: 'rgba(0,0,0,0)', borderWidth: 2, order: -2 }]
              : []),
          ],
        },
        options: {
          ...base,
          scales: {
            x: axis(`1st PCA component: ${(100 * (evr[0] ?? 0)).toFixed(1)}% of variance`),
            y: axis(`2nd PCA component: ${(100 * (evr[1] ?? 0)).toFixed(1)}% of variance`),
          },
        },
      },
    });
    charts.push({
      id: 'evr',
      config: {
        type: 'bar',
        data: { labels: evr.map((_, i) => `PC${i + 1}`), datasets: [{ label: 'explained variance ratio', data: evr, backgroundColor: BLUE }] },
        options: { ...base, scales: { x: axis('principal component'), y: axis('fraction of variance', { min: 0, max: 1 }) } },
      },
    });
  }
  const slice = d.surfaces?.slice;
  if (slice != null) charts.push(sliceChart(slice, base));
  const contour = d.surfaces?.contour;
  if (contour != null) charts.push(contourChart(contour, base));
  const ratio = d.surfaces?.ratio;
  if (ratio != null) charts.push(ratioChart(ratio, base));
  if (d.layers !== null) charts.push(layerChart(d.layers, labels, base));
  if (d.density !== null) {
    const dd = d.density;
    // A log axis cannot show 0: the tails below 1e-6 of the peak are left out.
    const floor = Math.max(...dd.density) * 1e-6;
    const negative = `negative mass ${(100 * dd.negativeMass).toFixed(2)}%${dd.negativeMassStderr !== null ? ` ± ${(100 * dd.negativeMassStderr).toFixed(2)}` : ''}`;
    charts.push({
      id: 'density',
      config: {
        type: 'line',
        data: {
          labels: dd.x.map((v) => v.toPrecision(3)),
          datasets: [line(`spectral density (${negative})`, dd.density.map((v) => (v > floor ? v : null)), BLUE, 'y', { pointRadius: 0 })],
        },
        options: { ...base, scales: { x: axis('eigenvalue λ', { ticks: { maxTicksLimit: 9 } }), y: axis('density (log)', { type: 'logarithmic' }) } },
      },
    });
  }
  if (has('weight_norm')) {
    charts.push({
      id: 'weights',
      config: {
        type: 'line',
        data: { labels, datasets: [line('‖θ‖', s['weight_norm'] ?? [], GREY, 'y'), line('learning rate', s['lr'] ?? [], ORANGE, 'y1', { stepped: true })] },
        options: { ...base, scales: { x: epochX, y: axis('weight norm'), y1: right('learning rate (log)', { type: 'logarithmic' }) } },
      },
    });
  }
  return charts;
}
