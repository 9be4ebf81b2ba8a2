/**
 * A run's report as one self-contained HTML file: chart.js and the data are inlined, so it opens
 * from disk, offline, as a CI artifact. Each chart has axes, units and a line on how to read it;
 * missing pieces are said, not hidden. Plain data in, an HTML string out.
 */
import { escapeHtml, jsonForScript } from './escape.js';
import type { RunReportData } from './run-report-data.js';

/** One chart section: an id, a title and the sentence that says how to read it. */
const SECTIONS: { id: string; title: string; how: string; needs: (d: RunReportData) => boolean }[] = [
  { id: 'loss', title: 'Loss and accuracy', how: 'Training (solid) and validation (dashed) loss on the left axis, accuracy on the right, per epoch. A widening gap between them is overfitting.', needs: (d) => has(d, 'loss') },
  { id: 'sharpness', title: 'Filter-normalized sharpness', how: 'Mean over seeded random directions of (L(θ+rd)+L(θ−rd))/2 − L(θ) on the probe set, with ± one standard error shaded, and the implied curvature 2s/r² on the right axis. Higher is sharper; compare runs at the same radius.', needs: (d) => has(d, 'sharpness') },
  { id: 'hessian', title: 'Hessian extremes', how: 'λmax and λmin of the probe-set loss Hessian (left), and |λmin/λmax| on a log scale (right): near zero the landscape is locally convex, near one it is as curved down as up. Hollow points did not converge.', needs: (d) => has(d, 'lambda_max') },
  { id: 'trajectory', title: 'Optimization trajectory over the loss contours (PCA)', how: 'The weights of each epoch projected on the first two principal directions of θₑ − θ_final, over the probe loss in that plane around the final weights (thin lines, darker = lower loss): the path ends at (0, 0), the final weights. Red rings mark learning-rate drops.', needs: (d) => d.trajectory !== null },
  { id: 'evr', title: 'Explained variance of the trajectory', how: 'The share of the trajectory’s variation along each principal direction; the paper found 40–90% in the first two.', needs: (d) => d.trajectory !== null },
  { id: 'slice', title: '1-D slice at the final weights', how: 'Probe loss (left) and accuracy (right) along one filter-normalized random direction, θ_final + α·d: a flat, wide valley is a flat minimum.', needs: (d) => d.surfaces?.slice != null },
  { id: 'contour', title: '2-D loss contours at the final weights', how: 'Level lines of the probe loss over θ_final + a·d1 + b·d2 with two filter-normalized random directions (darker = lower); closed, round contours around the center mean a convex, well-conditioned basin.', needs: (d) => d.surfaces?.contour != null },
  { id: 'weights', title: 'Weight norm and learning rate', how: 'The trainable weights’ Euclidean norm (left) and the optimizer’s learning rate (right, log scale); sharpness should be read against weight-norm growth.', needs: (d) => has(d, 'weight_norm') },
];

function has(d: RunReportData, key: string): boolean {
  return (d.series[key] ?? []).some((v) => v !== null);
}

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
  var d = JSON.parse(document.getElementById('landscope-data').textContent);
  Chart.defaults.animation = false;
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";
  var labels = d.epochs.map(function(e){ return e < 0 ? 'init' : String(e + 1); });
  var blue='#2563eb', orange='#ea580c', green='#16a34a', purple='#7c3aed', grey='#64748b';
  function axis(title, extra){ var a = { title: { display: true, text: title } }; for (var k in extra) a[k] = extra[k]; return a; }
  function line(label, data, color, yAxisID, extra){ var s = { label: label, data: data, borderColor: color, backgroundColor: color, yAxisID: yAxisID, spanGaps: true, pointRadius: 3, borderWidth: 2 }; for (var k in extra) s[k] = extra[k]; return s; }
  function make(id, config){ var el = document.getElementById('chart-' + id); if (el) new Chart(el, config); }
  var epochX = axis('epoch (init = before training)');
  make('loss', { type: 'line', data: { labels: labels, datasets: [
      line('training loss', d.series.loss, blue, 'y'),
      line('validation loss', d.series.val_loss, blue, 'y', { borderDash: [6, 4] }),
      line('training accuracy', d.series.acc, green, 'y1'),
      line('validation accuracy', d.series.val_acc, green, 'y1', { borderDash: [6, 4] }) ] },
    options: { maintainAspectRatio: false, scales: { x: epochX, y: axis('loss'), y1: axis('accuracy (fraction)', { position: 'right', min: 0, max: 1, grid: { drawOnChartArea: false } }) } } });
  var s = d.series.sharpness, e = d.series.sharpness_stderr;
  var lo = s.map(function(v, i){ return v === null || e[i] === null ? null : v - e[i]; });
  var hi = s.map(function(v, i){ return v === null || e[i] === null ? null : v + e[i]; });
  make('sharpness', { type: 'line', data: { labels: labels, datasets: [
      line('− 1 s.e.', lo, 'rgba(234,88,12,0.25)', 'y', { pointRadius: 0, borderWidth: 0 }),
      line('+ 1 s.e.', hi, 'rgba(234,88,12,0.25)', 'y', { pointRadius: 0, borderWidth: 0, fill: '-1', backgroundColor: 'rgba(234,88,12,0.18)' }),
      line('sharpness s (r = ' + d.sharpness.radius + ')', s, orange, 'y'),
      line('curvature 2s/r²', d.series.curvature, purple, 'y1', { borderDash: [4, 3] }) ] },
    options: { maintainAspectRatio: false, plugins: { legend: { labels: { filter: function(item){ return item.text.indexOf('s.e.') < 0; } } } },
      scales: { x: epochX, y: axis('sharpness (loss units)'), y1: axis('curvature', { position: 'right', grid: { drawOnChartArea: false } }) } } });
  var conv = d.series.hessian_converged;
  var hollow = function(ctx){ return conv[ctx.dataIndex] === 0 ? 'rgba(0,0,0,0)' : undefined; };
  make('hessian', { type: 'line', data: { labels: labels, datasets: [
      line('λmax', d.series.lambda_max, blue, 'y', { pointBackgroundColor: hollow }),
      line('λmin', d.series.lambda_min, orange, 'y', { pointBackgroundColor: hollow }),
      line('|λmin/λmax|', d.series.ratio.map(function(v){ return v === null || v <= 0 ? null : v; }), purple, 'y1', { borderDash: [4, 3] }) ] },
    options: { maintainAspectRatio: false, scales: { x: epochX, y: axis('eigenvalue'), y1: axis('|λmin/λmax| (log)', { type: 'logarithmic', position: 'right', grid: { drawOnChartArea: false } }) } } });
  function contourSets(c){
    if (!c) return [];
    var n = c.levels.length, out = [];
    c.levels.forEach(function(l, k){
      var shade = Math.round(40 + 170 * k / Math.max(1, n - 1));
      var color = 'rgb(' + shade + ',' + shade + ',' + Math.min(255, shade + 60) + ')';
      l.lines.forEach(function(line, m){
        out.push({ label: m === 0 ? 'loss ' + l.level.toPrecision(3) : '', data: line.map(function(p){ return { x: p[0], y: p[1] }; }), showLine: true, pointRadius: 0, borderWidth: 1, borderColor: color, backgroundColor: color, order: 10, contour: true });
      });
    });
    return out;
  }
  var legendNoContours = { labels: { filter: function(item, data){ return !data.datasets[item.datasetIndex].contour; } } };
  if (d.surfaces && d.surfaces.slice) {
    var sl = d.surfaces.slice;
    make('slice', { type: 'line', data: { labels: sl.x.map(function(v){ return v.toFixed(2); }), datasets: [
        line('probe loss', sl.loss, blue, 'y', { pointRadius: 0 }),
        line('probe accuracy', sl.accuracy || [], green, 'y1', { pointRadius: 0 }) ] },
      options: { maintainAspectRatio: false, scales: { x: axis('α (filter-normalized units)', { ticks: { maxTicksLimit: 9 } }), y: axis('loss'), y1: axis('accuracy (fraction)', { position: 'right', min: 0, max: 1, grid: { drawOnChartArea: false } }) } } });
  }
  if (d.surfaces && d.surfaces.contour) {
    var c = d.surfaces.contour, lim = c.range;
    var sets = contourSets(c);
    if (c.min) sets.push({ label: 'lowest grid point', data: [{ x: c.min[0], y: c.min[1] }], pointRadius: 6, pointStyle: 'star', borderColor: '#dc2626', backgroundColor: '#dc2626' });
    sets.push({ label: 'final weights (0, 0)', data: [{ x: 0, y: 0 }], pointRadius: 6, backgroundColor: green, borderColor: green });
    make('contour', { type: 'scatter', data: { datasets: sets }, options: { maintainAspectRatio: false, plugins: { legend: legendNoContours },
      scales: { x: axis('a: direction d1 (filter-normalized)', { min: -lim, max: lim }), y: axis('b: direction d2 (filter-normalized)', { min: -lim, max: lim }) } } });
  }
  if (d.trajectory) {
    var t = d.trajectory, evr = t.explainedVarianceRatio;
    var pts = t.x.map(function(x, i){ return { x: x, y: t.y[i], epoch: t.epochs[i] }; });
    var drops = pts.filter(function(p){ return t.lrDrops.indexOf(p.epoch) >= 0; });
    make('trajectory', { type: 'scatter', data: { datasets: contourSets(d.surfaces && d.surfaces.pca).concat([
        { label: 'epochs', data: pts, showLine: true, borderColor: blue, backgroundColor: blue, pointRadius: 4, borderWidth: 1.5 },
        { label: 'final weights (0, 0)', data: [{ x: 0, y: 0 }], backgroundColor: green, pointRadius: 7, pointStyle: 'star', borderColor: green },
        { label: 'learning-rate drop', data: drops, pointRadius: 9, pointStyle: 'circle', borderColor: '#dc2626', backgroundColor: 'rgba(0,0,0,0)', borderWidth: 2 } ]) },
      options: { maintainAspectRatio: false, plugins: { legend: legendNoContours, tooltip: { callbacks: { label: function(c){ var p = c.raw; return p.epoch === undefined ? 'final' : (p.epoch < 0 ? 'init' : 'epoch ' + (p.epoch + 1)) + ': (' + p.x.toPrecision(3) + ', ' + p.y.toPrecision(3) + ')'; } } } },
        scales: { x: axis('1st PCA component: ' + (100 * (evr[0] || 0)).toFixed(1) + '% of variance'), y: axis('2nd PCA component: ' + (100 * (evr[1] || 0)).toFixed(1) + '% of variance') } } });
    make('evr', { type: 'bar', data: { labels: evr.map(function(_, i){ return 'PC' + (i + 1); }), datasets: [{ label: 'explained variance ratio', data: evr, backgroundColor: blue }] },
      options: { maintainAspectRatio: false, scales: { x: axis('principal component'), y: axis('fraction of variance', { min: 0, max: 1 }) } } });
  }
  make('weights', { type: 'line', data: { labels: labels, datasets: [
      line('‖θ‖', d.series.weight_norm, grey, 'y'),
      line('learning rate', d.series.lr, orange, 'y1', { stepped: true }) ] },
    options: { maintainAspectRatio: false, scales: { x: epochX, y: axis('weight norm'), y1: axis('learning rate (log)', { type: 'logarithmic', position: 'right', grid: { drawOnChartArea: false } }) } } });
})();
`;

function table(rows: readonly (readonly unknown[])[], head: readonly string[]): string {
  if (rows.length === 0) return '<p class="meta">None.</p>';
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => `<td${i === 0 ? ' class="k"' : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/**
 * Renders a run report.
 * @param data from `runReportData`
 * @param chartJs the chart.js UMD bundle's source, inlined so the file needs no network
 * @returns the whole HTML document
 */
export function renderRunReport(data: RunReportData, chartJs: string): string {
  const sections = SECTIONS.map((s) =>
    s.needs(data)
      ? `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2><p class="how">${escapeHtml(s.how)}</p><div class="chart"><canvas id="chart-${s.id}" role="img" aria-label="${escapeHtml(s.title)}"></canvas></div></section>`
      : `<section id="${s.id}"><h2>${escapeHtml(s.title)}</h2><p class="missing">Not available for this run: nothing was measured for this chart.</p></section>`,
  ).join('\n');
  const r = data.run;
  const totalTrain = data.timings.training;
  const totalMonitor = data.timings.monitor;
  const timing =
    totalTrain !== null && totalMonitor !== null
      ? `training ${totalTrain.toFixed(1)} s, monitoring during training ${totalMonitor.toFixed(1)} s (${totalTrain > 0 ? ((100 * totalMonitor) / totalTrain).toFixed(1) : '—'}% of training)${data.timings.final !== null ? `, end-of-training analysis ${data.timings.final.toFixed(1)} s` : ''}`
      : 'timings not recorded';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>landscope · ${escapeHtml(data.title)}</title><style>${STYLE}</style></head>
<body>
<header><h1>${escapeHtml(data.title)}</h1>
<div class="meta">run ${escapeHtml(r.id ?? '—')} · status ${escapeHtml(r.status)} · backend ${escapeHtml(r.backend ?? '—')} · ${escapeHtml(r.start ?? '')} → ${escapeHtml(r.end ?? '')} · ${escapeHtml(timing)}${
    data.sharpness.radius !== null ? ` · sharpness: ${escapeHtml(data.sharpness.directions)} directions at r = ${escapeHtml(data.sharpness.radius)} on ${escapeHtml(data.sharpness.probeSize)} probe samples` : ''
  }</div>
${data.missing.map((m) => `<p class="missing">${escapeHtml(m)}</p>`).join('\n')}
</header>
<main>
${sections}
<section class="wide" id="problems"><h2>Skipped and errored values</h2><p class="how">What the time budget skipped, and measurements that failed (training went on).</p>
${table(data.skipped.map((s) => [s.epoch < 0 ? 'init' : s.epoch + 1, s.what, 'skipped by the budget']), ['epoch', 'measurement', 'why'])}
${data.errors.length > 0 ? table(data.errors.map((e) => [e.epoch < 0 ? 'init' : e.epoch + 1, e.what, e.message]), ['epoch', 'measurement', 'error']) : ''}</section>
<section class="wide" id="config"><h2>Configuration</h2><p class="how">The monitor's options, the model and the versions this run used.</p>
${table(data.config, ['setting', 'value'])}</section>
<section class="wide" id="timings"><h2>Timings per epoch</h2>${table(
    data.timings.perEpoch.map((t) => [t.epoch < 0 ? 'init' : t.epoch + 1, t.train === null ? '—' : t.train.toFixed(2), t.monitor === null ? '—' : t.monitor.toFixed(2)]),
    ['epoch', 'training (s)', 'monitor (s)'],
  )}</section>
</main>
<script>${chartJs.replace(/<\/script/gi, '<\\/script')}</script>
<script type="application/json" id="landscope-data">${jsonForScript(data)}</script>
<script>${CLIENT}</script>
</body></html>
`;
}
