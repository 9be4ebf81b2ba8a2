/**
 * The pages of `landscope serve`: the run list, and a run's report and a comparison that follow
 * their run folders live. Each live page is the static report's page (reports/run-report.ts) with
 * a client that polls a JSON endpoint for the page's parts (see `LivePayload`) and, when they
 * changed, swaps in the new HTML while keeping each chart that is still there — its data updated
 * in place, no reload — and draws the charts that appeared (the end-of-training surfaces). Plain
 * data in, HTML strings out; the server is src/io/run-server.ts.
 */
import { escapeHtml, jsonForScript } from './escape.js';
import { DIFFERS_CLIENT } from './compare-report.js';
import { renderPage, type PageParts } from './run-report.js';
import type { RunListEntry } from '../src/io/run-index.js';

/** What a live page's endpoint answers: the page's parts and their version. */
export interface LivePayload {
  readonly version: string;
  /** The <header>'s inner HTML (title included). */
  readonly header: string;
  readonly main: string;
  readonly charts: PageParts['charts'];
}

/** A page's parts as the live endpoint sends them. */
export function livePayload(parts: PageParts, version: string): LivePayload {
  return { version, header: headerHtml(parts), main: parts.main, charts: parts.charts };
}

/** The status line a live page's client writes into. */
const LIVE_STATUS = '<p class="meta" id="live-status">live: updates as the run folder grows</p>';

function headerHtml(parts: PageParts): string {
  return `<h1>${escapeHtml(parts.title)}</h1>\n${parts.header}${LIVE_STATUS}`;
}

/**
 * A live page: the report's page whose client follows `endpoint`.
 * @param parts the page's parts now
 * @param version their version (the client asks for anything newer)
 * @param endpoint the JSON endpoint (path and query) that answers `LivePayload`, or 204 when
 * nothing changed since `since`
 * @param intervalMs how often the client asks
 * @param chartJs the chart.js bundle's source (inlined: the page loads nothing else)
 */
export function renderLivePage(parts: PageParts, version: string, endpoint: string, intervalMs: number, chartJs: string, extraScript?: string): string {
  const live: PageParts = { ...parts, header: `${parts.header}${LIVE_STATUS}` };
  return renderPage(live, chartJs, undefined, {
    script: LIVE_CLIENT,
    ...(extraScript === undefined ? {} : { extraScript }),
    bodyAttributes: { 'data-live': endpoint, 'data-version': version, 'data-interval': String(intervalMs) },
  });
}

/** The live comparison page: the comparison report with its "show only what differs" box. */
export function renderLiveComparePage(parts: PageParts, version: string, endpoint: string, intervalMs: number, chartJs: string): string {
  return renderLivePage(parts, version, endpoint, intervalMs, chartJs, DIFFERS_CLIENT);
}

/**
 * Draws the charts, then polls: on a new version it swaps the header and <main>, moves each
 * surviving chart's canvas into the new <main> and updates its data in place, draws new charts
 * and drops vanished ones. A failed request is retried, and said in the status line.
 */
const LIVE_CLIENT = `
(function(){
  var body = document.body;
  var endpoint = body.getAttribute('data-live');
  var version = body.getAttribute('data-version');
  var interval = Number(body.getAttribute('data-interval')) || 1000;
  var charts = {};
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";
  function prepare(config){
    config.options = config.options || {};
    config.options.animation = false;
    config.options.plugins = config.options.plugins || {};
    config.options.plugins.legend = { labels: { filter: function(item, data){ return !data.datasets[item.datasetIndex].hideInLegend; } } };
    return config;
  }
  function draw(list){
    var next = {};
    list.forEach(function(c){
      var fresh = document.getElementById('chart-' + c.id);
      if (!fresh) return;
      var chart = charts[c.id];
      if (chart) {
        fresh.parentNode.replaceChild(chart.canvas, fresh);
        var config = prepare(c.config);
        chart.data = config.data;
        chart.options = config.options;
        chart.update('none');
      } else {
        chart = new Chart(fresh, prepare(c.config));
      }
      next[c.id] = chart;
    });
    Object.keys(charts).forEach(function(id){ if (!next[id]) charts[id].destroy(); });
    charts = next;
  }
  draw(JSON.parse(document.getElementById('landscope-charts').textContent));
  var status = function(text){ var el = document.getElementById('live-status'); if (el) el.textContent = text; };
  function poll(){
    var sep = endpoint.indexOf('?') < 0 ? '?' : '&';
    fetch(endpoint + sep + 'since=' + encodeURIComponent(version), { cache: 'no-store' })
      .then(function(r){
        if (r.status === 204) return null;
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function(d){
        if (d) {
          version = d.version;
          document.querySelector('header').innerHTML = d.header;
          document.querySelector('main').innerHTML = d.main;
          draw(d.charts);
          document.dispatchEvent(new Event('landscope:updated'));
        }
        status('live: updated ' + new Date().toLocaleTimeString());
      })
      .catch(function(e){ status('live: the server did not answer (' + e.message + '); retrying'); })
      .then(function(){ setTimeout(poll, interval); });
  }
  setTimeout(poll, interval);
  window.__landscopeCharts = function(){ return charts; };
})();
`;

const LIST_STYLE = `
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2433;background:#fff}
header{padding:20px 28px;border-bottom:1px solid #dde2ea;background:#f6f8fb}h1{font-size:22px;margin:0 0 4px}
main{padding:16px 28px 40px}.meta{color:#4a5568;font-size:13px}
table{border-collapse:collapse;font-size:13.5px;width:100%}td,th{border-bottom:1px solid #eef0f4;padding:5px 8px;text-align:left;vertical-align:top}
th{color:#4a5568;font-weight:600}td.num{font-variant-numeric:tabular-nums}
.problem{color:#8a5a00}.status-running{color:#0b6e2e;font-weight:600}.status-failed,.status-killed,.status-unreadable{color:#a4262c;font-weight:600}
button{margin:12px 0;font:inherit;padding:5px 12px}
`;

/** The run list's columns after the tick box and the run's name. */
const COLUMNS: readonly string[] = ['status', 'started', 'epochs', 'last loss', 'sharpness', 'λmax'];

/**
 * The run list page: every run under the folder, newest first, updating as runs appear and grow;
 * tick runs and compare them.
 * @param entries the runs now (the client polls `/api/runs` for what follows)
 * @param folder the folder served, as shown to the user
 */
export function renderRunList(entries: readonly RunListEntry[], folder: string, intervalMs: number): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>landscope · runs</title><style>${LIST_STYLE}</style></head>
<body data-interval="${intervalMs}">
<header><h1>landscope runs</h1><div class="meta">${escapeHtml(folder)} · newest first · updates live · <span id="live-status">${entries.length} run(s)</span></div></header>
<main>
<table id="runs"><thead><tr><th></th><th>run</th>${COLUMNS.map((name) => `<th>${escapeHtml(name)}</th>`).join('')}</tr></thead>
<tbody></tbody></table>
<p class="meta" id="empty"${entries.length === 0 ? '' : ' hidden'}>No run folders here yet: a run appears as soon as its monitor writes run.json.</p>
<button id="compare" type="button">compare selected</button>
</main>
<script type="application/json" id="landscope-runs">${jsonForScript(entries)}</script>
<script>${LIST_CLIENT}</script>
</body></html>
`;
}

/** Builds the list's rows from the page's JSON, then from /api/runs (text only, so nothing a run folder says runs as HTML), keeping ticks. */
const LIST_CLIENT = `
(function(){
  var interval = Number(document.body.getAttribute('data-interval')) || 1000;
  var columns = ${JSON.stringify(COLUMNS)};
  function num(v){ return v === null ? '—' : String(Number(v.toPrecision(4))); }
  function cells(e){ return [e.status, (e.start || '—').replace('T', ' ').replace(/\\.\\d+Z$/, 'Z'), String(e.epochs), num(e.loss), num(e.sharpness), num(e.hessianMax)]; }
  function render(entries){
    var tbody = document.querySelector('#runs tbody');
    var ticked = {};
    tbody.querySelectorAll('tr').forEach(function(tr){ if (tr.querySelector('input').checked) ticked[tr.getAttribute('data-id')] = true; });
    tbody.textContent = '';
    entries.forEach(function(e){
      var tr = document.createElement('tr');
      tr.setAttribute('data-id', e.id);
      var box = document.createElement('td'); var input = document.createElement('input'); input.type = 'checkbox'; input.checked = !!ticked[e.id]; input.setAttribute('aria-label', 'select ' + e.title); box.appendChild(input); tr.appendChild(box);
      var name = document.createElement('td'); var a = document.createElement('a'); a.href = '/run?id=' + encodeURIComponent(e.id); a.textContent = e.title; name.appendChild(a);
      if (e.problem !== null) { var p = document.createElement('div'); p.className = 'problem'; p.textContent = e.problem; name.appendChild(p); }
      tr.appendChild(name);
      cells(e).forEach(function(text, i){ var td = document.createElement('td'); td.className = columns[i] === 'status' ? 'status-' + e.status : 'num'; td.textContent = text; tr.appendChild(td); });
      tbody.appendChild(tr);
    });
    document.getElementById('empty').hidden = entries.length > 0;
    document.getElementById('live-status').textContent = entries.length + ' run(s), updated ' + new Date().toLocaleTimeString();
  }
  function poll(){
    fetch('/api/runs', { cache: 'no-store' }).then(function(r){ if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function(d){ render(d.runs); })
      .catch(function(e){ document.getElementById('live-status').textContent = 'the server did not answer (' + e.message + '); retrying'; })
      .then(function(){ setTimeout(poll, interval); });
  }
  document.getElementById('compare').addEventListener('click', function(){
    var ids = [];
    document.querySelectorAll('#runs tbody tr').forEach(function(tr){ if (tr.querySelector('input').checked) ids.push(tr.getAttribute('data-id')); });
    if (ids.length < 2) { document.getElementById('live-status').textContent = 'tick at least two runs to compare'; return; }
    location.href = '/compare?' + ids.map(function(id){ return 'run=' + encodeURIComponent(id); }).join('&');
  });
  render(JSON.parse(document.getElementById('landscope-runs').textContent));
  setTimeout(poll, interval);
})();
`;

/** A page that says what is wrong (a run that does not read, an unknown one), and keeps asking when it may come right. */
export function renderProblemPage(title: string, message: string, retryMs: number | null): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>landscope · ${escapeHtml(title)}</title><style>${LIST_STYLE}</style>${
    retryMs === null ? '' : `<meta http-equiv="refresh" content="${Math.max(1, Math.round(retryMs / 1000))}">`
  }</head>
<body><header><h1>${escapeHtml(title)}</h1><div class="meta"><a href="/">all runs</a></div></header><main><p class="problem">${escapeHtml(message)}</p></main></body></html>
`;
}
