import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { tmpPath } from '../helpers/fixture.js';

const run = promisify(execFile);

describe('the paper demo (npm run demo -- --quick)', () => {
  let browser: Browser | undefined;
  afterAll(() => browser?.close());

  it('trains every run on real MNIST and writes every promised file, and its reports open cleanly in a browser', async () => {
    const out = tmpPath('paper-demo');
    const script = new URL('../../dist/examples/paper-demo.js', import.meta.url).pathname;
    const { stdout } = await run('node', [script, '--quick', `--out=${out}`], { maxBuffer: 16 * 1024 * 1024 });
    const runs = ['small-batch', 'large-batch', 'deep-plain', 'deep-residual'];
    for (const name of runs) {
      for (const file of ['run.json', 'metrics.jsonl', 'surfaces.json', 'report.html', 'snapshots/manifest.json']) {
        expect(existsSync(`${out}/${name}/${file}`), `${name}/${file}`).toBe(true);
      }
      expect(JSON.parse(readFileSync(`${out}/${name}/run.json`, 'utf8')).status).toBe('finished');
      expect(readFileSync(`${out}/${name}/metrics.jsonl`, 'utf8').trim().split('\n').every((l) => JSON.parse(l).epoch !== undefined)).toBe(true);
    }
    const summary = JSON.parse(readFileSync(`${out}/summary.json`, 'utf8'));
    expect(summary.rows.map((r: { name: string }) => r.name)).toEqual(runs);
    expect(summary.rows[0].testError).toBeLessThan(0.3); // real digits, really trained
    expect(JSON.parse(readFileSync(`${out}/baseline.json`, 'utf8')).kind).toBe('landscope-baseline');
    expect(stdout).toMatch(/run\s+epochs\s+train loss\s+test error\s+gap/);
    // The gate's verdict follows from its own table, and its sharpness change is the runs' own.
    const verdict = /gate exit code ([01]) \((passed|failed: see the rules above)\)/.exec(stdout);
    expect(verdict, stdout).not.toBeNull();
    const rows = stdout.split('\n').filter((l) => /^(fn_sharpness|hessian_max) <=/.test(l));
    expect(rows).toHaveLength(2);
    expect(verdict?.[1]).toBe(rows.some((l) => /\b(regression|cannot judge \(fails\))\s*$/.test(l)) ? '1' : '0');
    // The gate compares the mean of the last 3 measured epochs.
    const finalSharpness = (name: string) => {
      const last = readFileSync(`${out}/${name}/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.epoch >= 0 && typeof m.logs.fn_sharpness === 'number').slice(-3);
      return last.reduce((a, m) => a + (m.logs.fn_sharpness as number), 0) / last.length;
    };
    const change = 100 * (finalSharpness('large-batch') / finalSharpness('small-batch') - 1);
    const printed = Number(/^fn_sharpness <= \+10%\s+\S+\s+\S+\s+([+-]\d+\.\d)%/.exec(rows[0] as string)?.[1]);
    expect(printed).toBeCloseTo(change, 1);
    expect(stdout).toMatch(/small-batch: epoch 3\/3, loss \d\.\d{4}, \d+ s left/);

    browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    for (const file of [`${out}/compare.html`, `${out}/deep-plain/report.html`]) {
      const errors: string[] = [];
      page.removeAllListeners();
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(pathToFileURL(file).href);
      const blank = await page.evaluate(() =>
        Array.from(document.querySelectorAll('canvas')).filter((c) => {
          const { data } = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, c.width, c.height);
          for (let i = 3; i < data.length; i += 4) if ((data[i] as number) > 0) return false;
          return true;
        }).length,
      );
      expect(errors, file).toEqual([]);
      expect(blank, file).toBe(0);
    }
  });
});
