import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRunServer, type RunServer } from '../../src/io/run-server.js';
import { useBackend } from '../helpers/backend.js';
import { launchBrowser } from '../helpers/browser.js';
import { tmpPath } from '../helpers/fixture.js';
import { fitRun } from '../helpers/monitored-run.js';

const root = tmpPath('live', 'runs');

/** A training process: a small fit under the monitor, each epoch held ~0.7 s so a page can watch it grow. */
function trainingProcess(runId: string, epochs: number): ChildProcess {
  const script = `
    import * as tf from '@tensorflow/tfjs';
    import { landscapeMonitor } from '${pathToFileURL(resolve('dist/src/index.js')).href}';
    const x = tf.randomNormal([96, 6], 0, 1, 'float32', 4);
    const y = tf.oneHot(tf.argMax(tf.matMul(x, tf.randomNormal([6, 3], 0, 1, 'float32', 5)), 1), 3).toFloat();
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [6] }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    model.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const monitor = landscapeMonitor({ probe: { x, y }, runDir: process.argv[1], runId: '${runId}', name: 'live run', budget: null, finalBudget: null, worker: false, report: false,
      hessian: { maxIter: 20 }, finalSurfaces: { resolution: 7, sliceResolution: 9 }, warn: () => {}, log: () => {} });
    const slow = new tf.CustomCallback({ onEpochEnd: () => new Promise((r) => setTimeout(r, 700)) });
    await model.fit(x, y, { epochs: ${epochs}, batchSize: 16, callbacks: [monitor, slow], verbose: 0 });
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', script, root], { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function until(condition: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The live page's charts, by id: how many non-null points each dataset has. */
const pointsOf = (page: Page) =>
  page.evaluate(() => {
    const charts = (window as unknown as { __landscopeCharts: () => Record<string, { data: { datasets: { data: unknown[] }[] } }> }).__landscopeCharts();
    return Object.fromEntries(Object.entries(charts).map(([id, c]) => [id, c.data.datasets.map((d) => d.data.filter((v) => v !== null).length)]));
  });

describe('landscope serve in a real browser', () => {
  let browser: Browser;
  let page: Page;
  let server: RunServer;
  const errors: string[] = [];
  const requests: string[] = [];
  beforeAll(async () => {
    await useBackend('cpu');
    await rm(tmpPath('live'), { recursive: true, force: true });
    await fitRun(root, 'earlier', 'earlier run', 3, { worker: false, finalSurfaces: false, report: false });
    server = await startRunServer({ dir: root, port: 0, intervalMs: 250 });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("a run's page follows a training process: its charts gain the epochs without a reload, then the final surfaces appear", async () => {
    const child = trainingProcess('live', 6);
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((done) => child.on('exit', done));
    await until(() => existsSync(`${root}/live/metrics.jsonl`), 60_000);
    await page.goto(`${server.url}run?id=live`);
    await page.evaluate(() => ((window as unknown as { __mark: number }).__mark = 1));
    const first = await pointsOf(page);
    const firstLoss = first['loss']?.[0] ?? 0;
    expect(firstLoss).toBeLessThan(6);
    // The loss chart gains points while the page stays open.
    await page.waitForFunction((n) => {
      const charts = (window as unknown as { __landscopeCharts: () => Record<string, { data: { datasets: { data: unknown[] }[] } }> }).__landscopeCharts();
      return (charts['loss']?.data.datasets[0]?.data.filter((v) => v !== null).length ?? 0) > n;
    }, firstLoss, { timeout: 30_000 });
    expect(await exited, stderr).toBe(0);
    // The end of training: six epochs, and the surfaces, drawn without a reload.
    await page.waitForFunction(() => {
      const charts = (window as unknown as { __landscopeCharts: () => Record<string, unknown> }).__landscopeCharts();
      return charts['slice'] !== undefined && charts['contour'] !== undefined;
    }, undefined, { timeout: 30_000 });
    const last = await pointsOf(page);
    expect(last['loss']?.[0]).toBe(6);
    expect(last['hessian']?.[0]).toBeGreaterThan(firstLoss);
    expect(await page.evaluate(() => (window as unknown as { __mark?: number }).__mark)).toBe(1);
    // run.json's final status comes last; the header follows it.
    await page.waitForFunction(() => /status finished/.test(document.querySelector('header')?.textContent ?? ''), undefined, { timeout: 10_000 });
    await page.screenshot({ path: tmpPath('live', 'run.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);

  it('the run list shows a new run as it appears, and compare draws the runs ticked, live', async () => {
    await page.goto(server.url);
    await page.waitForSelector('#runs tbody tr');
    expect(await page.locator('#runs tbody tr').count()).toBe(2);
    await fitRun(root, 'later', 'later run', 2, { worker: false, finalSurfaces: false, report: false, seed: 3 });
    await page.waitForFunction(() => document.querySelectorAll('#runs tbody tr').length === 3, undefined, { timeout: 20_000 });
    // Newest first.
    expect(await page.locator('#runs tbody tr').first().getAttribute('data-id')).toBe('later');
    await page.locator('#runs tbody tr[data-id="later"] input').check();
    await page.locator('#runs tbody tr[data-id="earlier"] input').check();
    await page.click('#compare');
    await page.waitForURL(/\/compare\?run=/);
    await page.waitForFunction(() => (window as unknown as { __landscopeCharts?: () => Record<string, unknown> }).__landscopeCharts?.()['cmp-loss'] !== undefined);
    const compared = await pointsOf(page);
    expect((compared['cmp-loss'] ?? []).filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    // The settings table: only what differs by default; all of it when the box is unticked.
    const visibleRows = () => page.evaluate(() => Array.from(document.querySelectorAll('table.settings tbody tr')).filter((tr) => (tr as HTMLElement).offsetParent !== null).length);
    const differing = await visibleRows();
    await page.uncheck('#only-differs');
    expect(await visibleRows()).toBeGreaterThan(differing);
    expect(differing).toBeGreaterThan(0);
    await page.screenshot({ path: tmpPath('live', 'compare.png'), fullPage: true });
    expect(errors).toEqual([]);
    // No request left the server.
    expect(requests.length).toBeGreaterThan(3);
    expect(requests.filter((u) => !u.startsWith(server.url))).toEqual([]);
  }, 120_000);
});
