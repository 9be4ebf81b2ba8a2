import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRunFolder } from '../../src/io/run-folder.js';
import { runReportData } from '../../reports/run-report-data.js';
import { renderRunReport } from '../../reports/run-report.js';
import { chartJsSource } from '../../reports/chart-js-source.js';
import { useBackend } from '../helpers/backend.js';
import { launchBrowser } from '../helpers/browser.js';
import { runCli } from '../helpers/cli.js';
import { fixturePath, tmpPath } from '../helpers/fixture.js';
import { EVIL, fitRun } from '../helpers/monitored-run.js';

const root = tmpPath('report');
/**
 * Opens a report, and returns console errors, requests, and per-canvas drawn-pixel counts. One page
 * is reused: the npm Chromium runs single-process, so closing a page closes the browser.
 */
async function inspect(page: Page, file: string, screenshot: string) {
  page.removeAllListeners();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requests.push(r.url()));
  const t0 = Date.now();
  await page.goto(pathToFileURL(file).href);
  await page.waitForLoadState('load');
  const loadMs = Date.now() - t0;
  const canvases = await page.evaluate(() =>
    Array.from(document.querySelectorAll('canvas')).map((c) => {
      const ctx = (c as HTMLCanvasElement).getContext('2d') as CanvasRenderingContext2D;
      const { data } = ctx.getImageData(0, 0, c.width, c.height);
      let drawn = 0;
      for (let i = 3; i < data.length; i += 4) if ((data[i] as number) > 0) drawn++;
      return { id: c.id, drawn };
    }),
  );
  const pwned = await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned ?? 0);
  await page.screenshot({ path: screenshot, fullPage: true });
  return { errors, requests, canvases, pwned, loadMs };
}

describe('run report in a real browser', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    await useBackend('cpu');
    await rm(root, { recursive: true, force: true });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  }, 120_000);
  afterAll(() => browser?.close());

  it('the report written at the end of fit() opens offline with every chart drawn and no console error', async () => {
    const log: string[] = [];
    await fitRun(root, 'full', `run ${EVIL}`, 4, { finalBudget: null, finalSurfaces: { resolution: 15, sliceResolution: 21, ratioMap: 5 }, log: (l: string) => log.push(l) });
    expect(log).toContain('landscapeMonitor: final surfaces: 496/496 points');
    expect(JSON.parse(readFileSync(`${root}/full/surfaces.json`, 'utf8')).ratio.ratio).toHaveLength(5);
    const surfaces = JSON.parse(readFileSync(`${root}/full/surfaces.json`, 'utf8'));
    expect(surfaces.surface.loss).toHaveLength(15);
    expect(surfaces.pca.coords.x.at(-1)).toBeCloseTo(0, 9);
    // The final weights are the center of every surface: the same loss at (0, 0).
    expect(surfaces.surface.loss[7][7]).toBeCloseTo(surfaces.slice.loss[10], 6);
    expect(surfaces.pca.loss[7][7]).toBeCloseTo(surfaces.slice.loss[10], 6);
    const file = `${root}/full/report.html`;
    const html = readFileSync(file, 'utf8');
    expect(html).not.toContain(EVIL);
    expect(html).toContain('run &lt;script&gt;window.__pwned=1&lt;/script&gt;');
    const r = await inspect(page, file, `${root}/full.png`);
    expect(r.errors).toEqual([]);
    expect(r.requests.every((u) => u.startsWith('file://'))).toBe(true);
    expect(r.canvases.map((c) => c.id).sort()).toEqual(['chart-contour', 'chart-density', 'chart-evr', 'chart-hessian', 'chart-loss', 'chart-ratio', 'chart-sharpness', 'chart-slice', 'chart-trajectory', 'chart-weights']);
    for (const c of r.canvases) expect(c.drawn, c.id).toBeGreaterThan(500);
    expect(r.pwned).toBe(0);
  });

  it('an epoch that was not measured is a gap in every line chart, not a straight line across it', async () => {
    await fitRun(root, 'gaps', 'gaps', 4, { worker: false, finalSurfaces: false });
    const dir = `${root}/gaps`;
    // Epoch 1's Hessian and sharpness skipped, as the budget or a busy worker records them.
    const lines = readFileSync(`${dir}/metrics.jsonl`, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    const e1 = lines.find((l) => l.epoch === 1);
    e1.hessian = { skipped: 'budget' };
    e1.sharpness = { skipped: 'behind' };
    for (const k of Object.keys(e1.logs)) if (/^(hessian|fn_)/.test(k)) delete e1.logs[k];
    writeFileSync(`${dir}/metrics.jsonl`, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const data = runReportData(await readRunFolder(dir));
    const datasets = (charts: { config: Record<string, any> }[]) => charts.flatMap((c) => (c.config['data']?.datasets ?? []) as Record<string, any>[]).filter((d) => Array.isArray(d['data']) && d['data'].some((v: unknown) => v === null));
    const { runCharts } = await import('../../reports/run-charts.js');
    const { compareCharts } = await import('../../reports/compare-report.js');
    const withGaps = [...datasets(runCharts(data)), ...datasets(compareCharts([data, data]))];
    expect(withGaps.length).toBeGreaterThan(0);
    for (const d of withGaps) expect(d['spanGaps'], d['label']).toBe(false);
  });

  it('a run with missing pieces still renders and says what is missing', async () => {
    await fitRun(root, 'partial', 'partial', 3, { hessian: false, sharpness: false, finalSurfaces: false });
    // Simulate a crash: status running, the last metrics line cut short.
    const dir = `${root}/partial`;
    const run = JSON.parse(readFileSync(`${dir}/run.json`, 'utf8'));
    writeFileSync(`${dir}/run.json`, JSON.stringify({ ...run, status: 'running', fit: { epochs: 10 } }));
    const lines = readFileSync(`${dir}/metrics.jsonl`, 'utf8').trimEnd().split('\n');
    writeFileSync(`${dir}/metrics.jsonl`, [...lines.slice(0, -1), (lines.at(-1) as string).slice(0, 40)].join('\n'));
    const data = runReportData(await readRunFolder(dir));
    expect(data.missing).toEqual([
      'Training is still running: 2 of 10 epochs measured so far.',
      '1 line(s) of metrics.jsonl were cut short (a crash while writing) and are left out.',
      'Sharpness was not measured in this run.',
      'The Hessian was not measured in this run.',
      'The end-of-training surfaces (1-D slice, 2-D contours, PCA-plane contours) were not computed for this run.',
    ]);
    const r = await runCli(['report', dir, '--out', `${root}/partial.html`]);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(`${root}/partial.html`, 'utf8');
    expect(html).toContain('Not available: nothing was measured for this chart.');
    // The ratio map is off by default: the report says how to turn it on.
    expect(html).toMatch(/Not computed: this map is off by default .*finalSurfaces: \{ ratioMap: 11 \}/);
    const seen = await inspect(page, `${root}/partial.html`, `${root}/partial.png`);
    expect(seen.errors).toEqual([]);
    for (const c of seen.canvases) expect(c.drawn, c.id).toBeGreaterThan(500);
    expect(seen.canvases.map((c) => c.id)).not.toContain('chart-sharpness');
  });

  it('landscope compare overlays runs and plots sharpness against the generalization gap, in a real browser', async () => {
    await fitRun(root, 'fast', 'second run', 4, { finalSurfaces: false });
    const r = await runCli(['compare', `${root}/full`, `${root}/fast`, '--out', `${root}/compare.html`, '--png', `${root}/compare-png`]);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(`${root}/compare.html`, 'utf8');
    expect(html).not.toContain(EVIL);
    const seen = await inspect(page, `${root}/compare.html`, `${root}/compare.png`);
    expect(seen.errors).toEqual([]);
    expect(seen.requests.every((u) => u.startsWith('file://'))).toBe(true);
    expect(seen.canvases.map((c) => c.id)).toEqual(['chart-cmp-loss', 'chart-cmp-sharpness', 'chart-cmp-lambda', 'chart-cmp-ratio', 'chart-cmp-weights', 'chart-cmp-gap']);
    for (const c of seen.canvases) expect(c.drawn, c.id).toBeGreaterThan(300);
    expect(readFileSync(`${root}/compare-png/cmp-gap.png`).length).toBeGreaterThan(5000);
  });

  it('a 100-epoch run makes a report under 2 MB that paints in under a second', async () => {
    const dir = `${root}/long`;
    const { mkdir, cp } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await cp(`${root}/full/run.json`, `${dir}/run.json`);
    await cp(`${root}/full/surfaces.json`, `${dir}/surfaces.json`);
    const lines = readFileSync(`${root}/full/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const template = lines.at(-1);
    const coords = Array.from({ length: 101 }, (_, e) => Math.cos(e / 15) * (100 - e) / 10);
    const long = Array.from({ length: 101 }, (_, k) => ({ ...template, epoch: k - 1, logs: { ...template.logs, loss: 1 / (k + 1) }, trajectory: { ...template.trajectory, epochs: Array.from({ length: k + 1 }, (_, e) => e - 1), coords: { x: coords.slice(0, k + 1), y: coords.slice(0, k + 1).map((v) => v / 3) } } }));
    writeFileSync(`${dir}/metrics.jsonl`, long.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const r = await runCli(['report', dir]);
    expect(r.code, r.stderr).toBe(0);
    const size = readFileSync(`${dir}/report.html`).length;
    expect(size).toBeLessThan(2 * 1024 * 1024);
    const seen = await inspect(page, `${dir}/report.html`, `${root}/long.png`);
    expect(seen.errors).toEqual([]);
    const paint = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? performance.getEntriesByType('navigation')[0]?.duration);
    expect(paint).toBeLessThan(1000);
  });

  it('landscope report surface.json draws a CLI surface, a 1-D slice and a ratio map: contour levels in the legend, no console error', async () => {
    const common = ['--model', fixturePath('model/model.json'), '--x', fixturePath('data/x.npy'), '--y', fixturePath('data/y.npy'), '--seed', '3', '--backend', 'cpu'];
    expect((await runCli(['surface', ...common, '--xrange=-1:1:11', '--yrange=-1:1:9', '--out', `${root}/plane.json`])).code).toBe(0);
    expect((await runCli(['surface', ...common, '--xrange=-1:1:21', '--out', `${root}/line.json`])).code).toBe(0);
    expect((await runCli(['hessian', ...common, '--xrange=-1:1:3', '--yrange=-1:1:3', '--out', `${root}/ratio.json`])).code).toBe(0);
    const legend = () =>
      page.evaluate(() => {
        const canvas = document.querySelector('canvas') as HTMLCanvasElement;
        const chart = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): { legend: { legendItems: { text: string }[] } } } }).Chart.getChart(canvas);
        return chart.legend.legendItems.map((i) => i.text);
      });
    for (const [name, kind, chart] of [['plane', '2-D surface, 99 points', 'chart-contour'], ['line', '1-D slice, 21 points', 'chart-slice'], ['ratio', 'ratio map, 9 points', 'chart-ratio']] as const) {
      const r = await runCli(['report', `${root}/${name}.json`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`report: ${kind}, \\d+ KiB -> .*${name}\\.html`));
      const seen = await inspect(page, `${root}/${name}.html`, `${root}/${name}-page.png`);
      expect(seen.errors).toEqual([]);
      expect(seen.requests.every((u) => u.startsWith('file:'))).toBe(true);
      expect(seen.canvases).toEqual([{ id: chart, drawn: expect.any(Number) }]);
      expect(seen.canvases[0]?.drawn).toBeGreaterThan(2000);
      if (name === 'plane') {
        const items = await legend();
        // Each level once, labelled: the legend is the colour key of the contour lines.
        const levels = items.filter((t) => /^loss \d/.test(t));
        expect(levels.length).toBeGreaterThanOrEqual(5);
        expect(new Set(levels).size).toBe(levels.length);
        expect(items).toContain('the weights (0, 0)');
      }
    }
    writeFileSync(`${root}/not-a-surface.json`, JSON.stringify({ x: [0, 1], loss: 'high' }));
    const bad = await runCli(['report', `${root}/not-a-surface.json`]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/not-a-surface\.json has no 'loss' of 2 values for its 1-D axis; expected the JSON of 'landscope surface'/);
  });

  it('the PCA chart draws the final weights on top of the last epoch, and shows learning-rate drops only when the rate dropped', async () => {
    const { runCharts } = await import('../../reports/run-charts.js');
    const data = runReportData(await readRunFolder(`${root}/full`));
    const config = runCharts(data).find((c) => c.id === 'trajectory')?.config as { data: { datasets: { label: string; order?: number }[] } };
    const sets = config.data.datasets;
    const final = sets.find((d) => d.label === 'final weights (0, 0)');
    const epochs = sets.find((d) => d.label === 'epochs');
    expect(final?.order).toBeLessThan(epochs?.order ?? 0); // lower order: drawn later, on top
    expect(sets.some((d) => d.label === 'learning-rate drop')).toBe(data.trajectory?.lrDrops.length !== 0);
    expect(data.trajectory?.lrDrops).toEqual([]); // a constant rate: no legend entry for drops
  });

  it('every user- or model-supplied string is escaped (run name, layer names, option values, errors)', () => {
    const data = runReportData({
      dir: '/x',
      run: { id: EVIL, name: EVIL, status: EVIL, backend: EVIL, options: { name: EVIL, [EVIL]: 1 }, model: { name: EVIL, layers: [{ name: EVIL, class: EVIL }] } },
      metrics: [{ epoch: 0, logs: { loss: 1 }, skipped: [], hessian: { error: EVIL } }],
      truncatedLines: 0,
      snapshots: null,
    });
    const html = renderRunReport(data, '/* chart.js */');
    const withoutLibrary = html.replace('/* chart.js */', '');
    expect(withoutLibrary.match(/<script>window\.__pwned/g)).toBeNull();
    expect(withoutLibrary).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;');
    expect(html).toContain('\\u003cscript\\u003ewindow.__pwned=1\\u003c/script\\u003e'); // inside the JSON block
    expect(chartJsSource().length).toBeGreaterThan(100_000);
  });
});
