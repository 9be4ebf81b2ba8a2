import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderChartPng } from '../../reports/chart-png.js';
import type { ReportChart } from '../../reports/run-charts.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';
import { fitRun } from '../helpers/monitored-run.js';

/** The same chart with its text drawn in black, or in transparent ink (identical layout). */
const chart = (withText: boolean): ReportChart => {
  const color = withText ? '#000000' : 'rgba(0,0,0,0)';
  return {
    id: 't',
    config: {
      type: 'line',
      data: { labels: ['1', '2', '3', '4'], datasets: [{ label: 'sharpness per epoch', data: [0.1, 0.3, 0.2, 0.4], borderColor: '#2563eb' }] },
      options: {
        color,
        scales: {
          x: { title: { display: true, text: 'epoch (init = before training)', color }, ticks: { color } },
          y: { title: { display: true, text: 'sharpness (loss units)', color }, ticks: { color } },
        },
      },
    },
  };
};

describe('renderChartPng', () => {
  it('renderChartPng draws a PNG in Node, with text (a font is registered, so labels are not blank)', () => {
    const size = { width: 640, height: 360 };
    const png = renderChartPng(chart(true), size);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // The same layout with the text in transparent ink: the glyphs of titles, ticks and legend are
    // what makes the first image larger (blank text, as with no font, would make them equal).
    const blank = renderChartPng(chart(false), size);
    expect(blank.length).toBeGreaterThan(5_000); // the line and the grid
    expect(png.length - blank.length).toBeGreaterThan(3_000);
    // A PNG travels without its page: with a title, the run and the chart are named on it.
    const titled = renderChartPng(chart(true), size, 'png run — Loss and accuracy');
    expect(titled.length - png.length).toBeGreaterThan(1_000);
  });

  it('landscope report --png writes every chart of a run as a PNG', async () => {
    // A run folder of its own, with all measurements and surfaces (no other test file's output).
    const root = tmpPath('chart-png');
    await rm(root, { recursive: true, force: true });
    await fitRun(root, 'full', 'png run', 4, { finalBudget: null, finalSurfaces: { resolution: 7, sliceResolution: 9, ratioMap: 3 }, log: () => {} });
    const dir = `${root}/full`;
    const r = await runCli(['report', dir, '--png', '--out', `${root}/again.html`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/report: 10 PNG charts \(loss, sharpness, hessian, trajectory, evr, slice, contour, ratio, density, weights\)/);
    for (const chart of ['contour', 'density']) {
      const png = readFileSync(`${dir}/charts/${chart}.png`);
      expect(Array.from(png.subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
      expect(png.length, chart).toBeGreaterThan(10_000); // a drawn chart, not an empty image
    }
  });
});
