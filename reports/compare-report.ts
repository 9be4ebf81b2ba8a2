/**
 * Several runs in one report (e.g. small vs large batch): loss, sharpness, Hessian extremes and
 * weight norm per epoch with the runs overlaid, and final sharpness against the generalization gap
 * across runs — the paper's question: do flatter minima generalize better?
 */
import { escapeHtml } from './escape.js';
import type { ReportChart } from './run-charts.js';
import type { RunReportData } from './run-report-data.js';
import { pageMain, renderPage, table, type PageParts, type PageSection } from './run-report.js';

const PALETTE = ['#2563eb', '#ea580c', '#16a34a', '#7c3aed', '#dc2626', '#0891b2', '#a16207', '#db2777'];

/** The page's sections, in order: id (the chart's), title and how to read it. */
export const COMPARE_SECTIONS: readonly PageSection[] = [
  { id: 'cmp-loss', title: 'Training and validation loss', how: 'Each run in its own color; validation dashed. Lower is better; a run whose validation loss rises while training loss falls overfits.' },
  { id: 'cmp-sharpness', title: 'Filter-normalized sharpness', how: 'Mean over the same seeded directions in every run (same architecture and seed), so the curves compare directly; higher is sharper.' },
  { id: 'cmp-lambda', title: 'Hessian λmax', how: 'The largest eigenvalue of the probe-set loss Hessian per epoch; with plain SGD it tends to settle near 2 / learning rate.' },
  { id: 'cmp-ratio', title: '|λmin/λmax|', how: 'Log scale: small values mean a locally convex landscape; values near one a chaotic, saddle-rich one.' },
  { id: 'cmp-weights', title: 'Weight norm', how: 'Sharpness should be read against weight-norm growth (the paper, section 5).' },
  { id: 'cmp-gap', title: 'Sharpness vs generalization gap (final epoch)', how: 'One point per run: final sharpness (x) against validation minus training loss (y). The paper found flatter minima (left) to generalize better (lower).' },
];

const last = (xs: readonly (number | null)[]) => [...xs].reverse().find((v) => v !== null) ?? null;

/**
 * The comparison charts.
 * @param runs one report data per run (see `runReportData`)
 */
export function compareCharts(runs: readonly RunReportData[]): ReportChart[] {
  const longest = runs.reduce((a, r) => (r.epochs.length > a.length ? r.epochs : a), [] as number[]);
  const labels = longest.map((e) => (e < 0 ? 'init' : String(e + 1)));
  const align = (r: RunReportData, key: string) => longest.map((e) => {
    const i = r.epochs.indexOf(e);
    return i < 0 ? null : (r.series[key]?.[i] ?? null);
  });
  const base = { maintainAspectRatio: false, animation: false };
  const x = { title: { display: true, text: 'epoch (init = before training)' } };
  const y = (text: string, extra: Record<string, unknown> = {}) => ({ title: { display: true, text }, ...extra });
  const perRun = (id: string, key: string, title: string, extra: Record<string, unknown> = {}, withVal?: string): ReportChart => ({
    id,
    config: {
      type: 'line',
      data: {
        labels,
        datasets: runs.flatMap((r, k) => {
          const color = PALETTE[k % PALETTE.length] as string;
          const sets: Record<string, unknown>[] = [{ label: r.title, data: align(r, key), borderColor: color, backgroundColor: color, spanGaps: false, pointRadius: 2, borderWidth: 2 }];
          if (withVal !== undefined) sets.push({ label: `${r.title} (validation)`, data: align(r, withVal), borderColor: color, backgroundColor: color, borderDash: [6, 4], spanGaps: false, pointRadius: 0, borderWidth: 2 });
          return sets;
        }),
      },
      options: { ...base, scales: { x, y: y(title, extra) } },
    },
  });
  const gap = runs.map((r, k) => {
    const s = last(r.series['sharpness'] ?? []);
    const val = last(r.series['val_loss'] ?? []);
    const train = last(r.series['loss'] ?? []);
    return { run: r.title, color: PALETTE[k % PALETTE.length] as string, x: s, y: val !== null && train !== null ? val - train : null };
  });
  return [
    perRun('cmp-loss', 'loss', 'loss', {}, 'val_loss'),
    perRun('cmp-sharpness', 'sharpness', 'sharpness (loss units)'),
    perRun('cmp-lambda', 'lambda_max', 'λmax'),
    perRun('cmp-ratio', 'ratio', '|λmin/λmax| (log)', { type: 'logarithmic' }),
    perRun('cmp-weights', 'weight_norm', 'weight norm'),
    {
      id: 'cmp-gap',
      config: {
        type: 'scatter',
        data: { datasets: gap.filter((g) => g.x !== null && g.y !== null).map((g) => ({ label: g.run, data: [{ x: g.x, y: g.y }], pointRadius: 7, borderColor: g.color, backgroundColor: g.color })) },
        options: { ...base, scales: { x: y('final filter-normalized sharpness'), y: y('generalization gap (validation − training loss)') } },
      },
    },
  ];
}

/**
 * Renders the comparison report.
 * @param runs one report data per run
 * @param chartJs the chart.js UMD bundle's source
 */
export function renderCompareReport(runs: readonly RunReportData[], chartJs: string): string {
  return renderPage(compareReportParts(runs), chartJs, undefined, { extraScript: DIFFERS_CLIENT });
}

/**
 * The comparison report's parts (see `PageParts`), for the file and for the live page alike: the
 * charts, a table of final values, and the runs' settings side by side, where a box hides the
 * settings every run shares.
 * @param runs one report data per run
 */
export function compareReportParts(runs: readonly RunReportData[]): PageParts {
  const charts = compareCharts(runs).filter((c) => ((c.config['data'] as { datasets: { data: unknown[] }[] }).datasets ?? []).some((d) => d.data.some((v) => v !== null)));
  const rows = runs.map((r) => [
    r.title,
    r.run.status,
    last(r.series['loss'] ?? []),
    last(r.series['val_loss'] ?? []),
    last(r.series['acc'] ?? []),
    last(r.series['sharpness'] ?? []),
    last(r.series['lambda_max'] ?? []),
    last(r.series['ratio'] ?? []),
    r.trajectory === null ? null : r.trajectory.explainedVarianceRatio.slice(0, 2).reduce((a, b) => a + b, 0),
  ].map((v) => (typeof v === 'number' ? Number(v.toPrecision(4)) : v ?? '—')));
  const header = `<div class="meta">${runs.length} runs: ${runs.map((r) => escapeHtml(r.title)).join(', ')}</div>`;
  const extra = `<section class="wide" id="summary"><h2>Final values</h2><p class="how">The last measured value of each run.</p>${table(rows, ['run', 'status', 'loss', 'val loss', 'accuracy', 'sharpness', 'λmax', '|λmin/λmax|', 'PCA variance in 2 components'])}</section>`;
  return { title: `comparison of ${runs.length} runs`, header, main: pageMain(COMPARE_SECTIONS, charts, `${extra}\n${settingsTable(runs)}`), charts };
}

/** The runs' settings side by side; rows where every run has the same value carry class "same". */
function settingsTable(runs: readonly RunReportData[]): string {
  const keys: string[] = [];
  for (const r of runs) for (const [k] of r.config) if (!keys.includes(k)) keys.push(k);
  const value = (r: RunReportData, k: string) => r.config.find(([key]) => key === k)?.[1] ?? '—';
  const rows = keys.map((k) => {
    const values = runs.map((r) => value(r, k));
    const same = values.every((v) => v === values[0]);
    return `<tr${same ? ' class="same"' : ''}><td class="k">${escapeHtml(k)}</td>${values.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`;
  });
  const differing = rows.filter((r) => !r.startsWith('<tr class="same"')).length;
  return `<section class="wide" id="settings"><h2>Settings</h2><p class="how">Each run's monitor options, model and versions. ${differing} of ${keys.length} differ.</p>
<label class="meta"><input type="checkbox" id="only-differs" checked> show only what differs</label>
<table class="settings only-differs"><thead><tr><th>setting</th>${runs.map((r) => `<th>${escapeHtml(r.title)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

/** The box that hides the settings every run shares (rows of class "same"), kept as set when a live page swaps its content. */
export const DIFFERS_CLIENT = `
(function(){
  var only = true;
  var style = document.createElement('style');
  style.textContent = 'table.only-differs tr.same{display:none}';
  document.head.appendChild(style);
  function apply(){
    var box = document.getElementById('only-differs');
    var t = document.querySelector('table.settings');
    if (box) box.checked = only;
    if (t) t.classList.toggle('only-differs', only);
  }
  document.addEventListener('change', function(e){
    if (!e.target || e.target.id !== 'only-differs') return;
    only = e.target.checked;
    apply();
  });
  document.addEventListener('landscope:updated', apply);
})();
`;
