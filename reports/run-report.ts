/**
 * A run's report as one self-contained HTML file: chart.js and the data are inlined, so it opens
 * from disk, offline, as a CI artifact. Each chart has axes, units and a line on how to read it;
 * missing pieces are said, not hidden. Plain data in, an HTML string out.
 */
import { escapeHtml, jsonForScript } from './escape.js';
import { runCharts, type ReportChart } from './run-charts.js';
import type { RunReportData } from './run-report-data.js';

/** The sections, in order: a title and the sentence that says how to read the chart. */
/** The page's sections, in order: id (the chart's), title and how to read it. */
export const RUN_SECTIONS: readonly PageSection[] = [
  { id: 'loss', title: 'Loss and accuracy', how: 'Training (solid) and validation (dashed) loss on the left axis, accuracy on the right, per epoch. A widening gap between them is overfitting.' },
  { id: 'sharpness', title: 'Filter-normalized sharpness', how: 'Mean over seeded random directions of (L(θ+rd)+L(θ−rd))/2 − L(θ) on the probe set, with ± one standard error shaded, and the implied curvature 2s/r² on the right axis. Higher is sharper; compare runs at the same radius.' },
  { id: 'hessian', title: 'Hessian extremes', how: 'λmax and λmin of the probe-set loss Hessian (left), and |λmin/λmax| on a log scale (right): near zero the landscape is locally convex, near one it is as curved down as up. Hollow points did not converge. With SGD or momentum, the dashed red line is the optimizer’s stability threshold (2/η; momentum (2 + 2β)/η): full-batch training drives λmax up to it and then hovers there, the edge of stability (Cohen et al. 2021).' },
  { id: 'stability', title: 'Edge of stability (adaptive optimizer)', how: 'The preconditioned sharpness λmax(P⁻¹H) with the optimizer’s own second-moment preconditioner P, against the threshold above which its step diverges on a quadratic ((2 + 2β₁)/((1 − β₁)η) for Adam): full-batch training drives it up to the line and keeps it there (Cohen et al. 2022).', optional: true },
  { id: 'adaptive', title: 'Adaptive sharpness', how: 'The loss increase over the elementwise-scaled ball ‖ε ⊘ |θ|‖₂ ≤ ρ, which a ReLU rescaling of two layers leaves unchanged: the worst case found by gradient ascent (left) and the average over seeded random directions on its sphere (right axis; in n dimensions a random direction sees the mean curvature, the ascent the largest, so it is orders of magnitude smaller). Measured when asked for (landscapeMonitor({ adaptiveSharpness: true })).', optional: true },
  { id: 'trajectory', title: 'Optimization trajectory over the loss contours (PCA)', how: 'The weights of each epoch projected on the first two principal directions of θₑ − θ_final, over the probe loss in that plane around the final weights (thin lines, darker = lower loss): the path ends at (0, 0), the final weights. Red rings mark learning-rate drops.' },
  { id: 'evr', title: 'Explained variance of the trajectory', how: 'The share of the trajectory’s variation along each principal direction; the paper found 40–90% in the first two.' },
  { id: 'slice', title: '1-D slice at the final weights', how: 'Probe loss (left) and accuracy (right) along one filter-normalized random direction, θ_final + α·d: a flat, wide valley is a flat minimum.' },
  { id: 'contour', title: '2-D loss contours at the final weights', how: 'Level lines of the probe loss over θ_final + a·d1 + b·d2 with two filter-normalized random directions (darker = lower); closed, round contours around the center mean a convex, well-conditioned basin.' },
  { id: 'ratio', title: '|λmin/λmax| over the 2-D plane', how: 'At each point of the same plane as the contours, the ratio of the most negative to the largest Hessian eigenvalue (the paper’s figure 7): blue regions are convex, red ones as curved down as up. Computed only when asked for (finalSurfaces.ratioMap).', absent: 'Not computed: this map is off by default (a Lanczos run per point). Turn it on with landscapeMonitor({ finalSurfaces: { ratioMap: 11 } }), or offline with landscope hessian --dir-x … --dir-y … --xrange=… --yrange=….' },
  { id: 'layers', title: 'Curvature per layer', how: 'λmax of each layer’s diagonal block of the Hessian (its kernel and bias together; Lanczos on the block), one row per layer, one square per epoch, coloured from blue (smallest) to red (largest) on a log scale: where the sharpness sits, and how it moves between layers as training goes. The block traces are in metrics.jsonl. Measured when asked for (landscapeMonitor({ hessian: { perLayer: true } })).', optional: true },
  { id: 'density', title: 'Hessian eigenvalue spectral density (end of training)', how: 'The distribution of the probe-loss Hessian’s eigenvalues at the final weights by stochastic Lanczos quadrature (Ghorbani et al. 2019), smoothed by a narrow Gaussian, on a log scale: a bulk near zero with a few large outliers is the usual picture; the negative mass (in the legend) is the share of eigenvalues below zero, directions along which the loss still curves down.', absent: 'Not computed: the density is part of the end-of-training analysis (landscapeMonitor({ finalDensity: { vectors, steps } }); it goes with the Hessian measurement), or offline with landscope hessian --density.' },
  { id: 'weights', title: 'Weight norm and learning rate', how: 'The trainable weights’ Euclidean norm (left) and the optimizer’s learning rate (right, log scale); sharpness should be read against weight-norm growth.' },
];

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2433;background:#fff}
header{padding:20px 28px;border-bottom:1px solid #dde2ea;background:#f6f8fb}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 4px}
main{padding:8px 28px 40px;display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:20px 28px}
section{break-inside:avoid;page-break-inside:avoid}
.how{color:#4a5568;font-size:13px;margin:0 0 8px}
.chart{position:relative;height:300px}
.missing{color:#8a5a00;background:#fff8e6;border:1px solid #f0d9a7;padding:8px 12px;border-radius:4px;margin:6px 0}
.meta{color:#4a5568;font-size:13px}
table{border-collapse:collapse;font-size:12.5px;width:100%}td,th{border-bottom:1px solid #eef0f4;padding:3px 6px;text-align:left;vertical-align:top}
th{color:#4a5568;font-weight:600}td.k{white-space:nowrap;color:#2b3445}
.wide{grid-column:1/-1}
@media print{main{display:block}section{margin-bottom:18px}.chart{height:260px}}
`;

const CLIENT = `
(function(){
  var charts = JSON.parse(document.getElementById('landscope-charts').textContent);
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";
  charts.forEach(function(c){
    var el = document.getElementById('chart-' + c.id);
    if (!el) return;
    var cfg = c.config;
    cfg.options.plugins = cfg.options.plugins || {};
    cfg.options.plugins.legend = { labels: { filter: function(item, data){ return !data.datasets[item.datasetIndex].hideInLegend; } } };
    new Chart(el, cfg);
  });
})();
`;

/** An HTML table of escaped cells. */
export function table(rows: readonly (readonly unknown[])[], head: readonly string[]): string {
  if (rows.length === 0) return '<p class="meta">None.</p>';
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => `<td${i === 0 ? ' class="k"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** A page section: an id, a title and how to read its chart. */
export interface PageSection {
  readonly id: string;
  readonly title: string;
  readonly how: string;
  /** What to say when the chart is absent (default: nothing was measured for it). */
  readonly absent?: string;
  /** Left out of the page, not noted, when its chart is absent (it applies to some runs only). */
  readonly optional?: boolean;
}

/** A page's parts: its title, header HTML, the HTML inside <main>, and the charts to draw in it. */
export interface PageParts {
  readonly title: string;
  readonly header: string;
  readonly main: string;
  readonly charts: readonly ReportChart[];
}

/**
 * The HTML inside <main>: one section per chart (or a note where a chart has no data), then extra HTML.
 * @param extra already-escaped HTML placed after the chart sections
 */
export function pageMain(sections: readonly PageSection[], charts: readonly ReportChart[], extra: string): string {
  const drawn = new Set(charts.map((c) => c.id));
  const body = sections
    .filter((s) => drawn.has(s.id) || s.optional !== true)
    .map((s) =>
      drawn.has(s.id)
        ? `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2><p class="how">${escapeHtml(s.how)}</p><div class="chart"><canvas id="chart-${s.id}" role="img" aria-label="${escapeHtml(s.title)}"></canvas></div></section>`
        : `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2><p class="missing">${escapeHtml(s.absent ?? 'Not available: nothing was measured for this chart.')}</p></section>`,
    )
    .join('\n');
  return `${body}\n${extra}`;
}

/** How a page is made to draw its charts: the script, and attributes of <body> it reads. */
export interface PageClient {
  /** The script that draws the charts from #landscope-charts. @default the static report's */
  readonly script?: string;
  /** A script run after it (e.g. a page's own controls). */
  readonly extraScript?: string;
  /** Attributes of <body> (names and values escaped here). */
  readonly bodyAttributes?: Readonly<Record<string, string>>;
}

/**
 * The shared page: a header, <main>, and the inlined chart.js with the charts' configurations.
 * @param data the report's data, inlined as JSON for readers of the file (optional)
 * @param client the drawing script and <body> attributes (default: the static report's)
 */
export function renderPage(parts: PageParts, chartJs: string, data?: unknown, client: PageClient = {}): string {
  const attributes = Object.entries(client.bodyAttributes ?? {})
    .map(([k, v]) => ` ${k.replace(/[^a-z0-9-]/gi, '')}="${escapeHtml(v)}"`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>landscope · ${escapeHtml(parts.title)}</title><style>${STYLE}</style></head>
<body${attributes}>
<header><h1>${escapeHtml(parts.title)}</h1>
${parts.header}
</header>
<main>
${parts.main}
</main>
<script>${chartJs.replace(/<\/script/gi, '<\\/script')}</script>
${data === undefined ? '' : `<script type="application/json" id="landscope-data">${jsonForScript(data)}</script>`}
<script type="application/json" id="landscope-charts">${jsonForScript(parts.charts)}</script>
<script>${client.script ?? CLIENT}</script>${client.extraScript === undefined ? '' : `\n<script>${client.extraScript}</script>`}
</body></html>
`;
}

/**
 * Renders a run report.
 * @param data from `runReportData`
 * @param chartJs the chart.js UMD bundle's source, inlined so the file needs no network
 * @returns the whole HTML document
 */
export function renderRunReport(data: RunReportData, chartJs: string): string {
  return renderPage(runReportParts(data), chartJs, data);
}

/**
 * A run report's parts (see `PageParts`), for the file and for the live page alike.
 * @param data from `runReportData`
 */
export function runReportParts(data: RunReportData): PageParts {
  const charts = runCharts(data);
  const r = data.run;
  const totalTrain = data.timings.training;
  const totalMonitor = data.timings.monitor;
  const timing =
    r.status === 'running'
      ? 'timings when training ends'
      : totalTrain !== null && totalMonitor !== null
      ? `training ${totalTrain.toFixed(1)} s, monitoring during training ${totalMonitor.toFixed(1)} s (${totalTrain > 0 ? ((100 * totalMonitor) / totalTrain).toFixed(1) : '—'}% of training)${data.timings.final !== null ? `, end-of-training analysis ${data.timings.final.toFixed(1)} s` : ''}`
      : 'timings not recorded';
  const header = `<div class="meta">run ${escapeHtml(r.id ?? '—')} · status ${escapeHtml(r.status)} · backend ${escapeHtml(r.backend ?? '—')} · ${escapeHtml(r.start ?? '')} → ${escapeHtml(r.end ?? '')} · ${escapeHtml(timing)}${
    data.sharpness.radius !== null ? ` · sharpness: ${escapeHtml(data.sharpness.directions)} directions at r = ${escapeHtml(data.sharpness.radius)} on ${escapeHtml(data.sharpness.probeSize)} probe samples` : ''
  }</div>
${data.missing.map((m) => `<p class="missing">${escapeHtml(m)}</p>`).join('\n')}`;
  const extra = `<section class="wide" id="problems"><h2>Skipped and errored values</h2><p class="how">What the time budget skipped, and measurements that failed (training went on).</p>
${table(data.skipped.map((s) => [s.epoch < 0 ? 'init' : s.epoch + 1, s.what, 'skipped by the budget']), ['epoch', 'measurement', 'why'])}
${data.errors.length > 0 ? table(data.errors.map((e) => [e.epoch < 0 ? 'init' : e.epoch + 1, e.what, e.message]), ['epoch', 'measurement', 'error']) : ''}</section>
<section class="wide" id="config"><h2>Configuration</h2><p class="how">The monitor's options, the model and the versions this run used.</p>
${table(data.config, ['setting', 'value'])}</section>
<section class="wide" id="timings"><h2>Timings per epoch</h2>${table(
    data.timings.perEpoch.map((t) => [t.epoch < 0 ? 'init' : t.epoch + 1, t.train === null ? '—' : t.train.toFixed(2), t.monitor === null ? '—' : t.monitor.toFixed(2)]),
    ['epoch', 'training (s)', 'monitor (s)'],
  )}</section>`;
  return { title: data.title, header, main: pageMain(RUN_SECTIONS, charts, extra), charts };
}
