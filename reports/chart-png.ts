/**
 * Charts as PNG bytes, rendered in Node by chart.js on @napi-rs/canvas (prebuilt binaries from the
 * npm registry; no Cairo, no download). A font ships with landscope (dejavu-fonts-ttf) and is
 * registered first: without one, a machine with no system fonts draws blank text.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { Chart, registerables } from 'chart.js';
import type { ReportChart } from './run-charts.js';

const FAMILY = 'DejaVu Sans';
let ready = false;

function setUp(): void {
  if (ready) return;
  const fonts = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  GlobalFonts.registerFromPath(join(fonts, 'DejaVuSans.ttf'), FAMILY);
  GlobalFonts.registerFromPath(join(fonts, 'DejaVuSans-Bold.ttf'), FAMILY);
  Chart.register(...registerables);
  ready = true;
}

/**
 * Renders one chart as a PNG.
 * @param chart a configuration from `runCharts`
 * @param size pixels
 * @param title drawn above the chart (a PNG travels without its page: say which run and what)
 * @returns the PNG file's bytes
 */
export function renderChartPng(chart: ReportChart, size: { width: number; height: number } = { width: 960, height: 540 }, title?: string): Uint8Array {
  setUp();
  const canvas = createCanvas(size.width, size.height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, size.width, size.height);
  const config = structuredClone(chart.config) as { options: Record<string, any> };
  config.options = {
    ...config.options,
    responsive: false,
    animation: false,
    devicePixelRatio: 1,
    font: { family: FAMILY },
    plugins: {
      ...(config.options['plugins'] ?? {}),
      ...(title !== undefined ? { title: { display: true, text: title, font: { family: FAMILY, size: 15 } } } : {}),
      legend: {
        ...(config.options['plugins']?.legend ?? {}),
        labels: { font: { family: FAMILY }, filter: (item: { datasetIndex: number }, data: { datasets: { hideInLegend?: boolean }[] }) => !data.datasets[item.datasetIndex]?.hideInLegend },
      },
    },
  };
  Chart.defaults.font.family = FAMILY;
  const instance = new Chart(ctx as never, config as never);
  const png = canvas.toBuffer('image/png');
  instance.destroy();
  return new Uint8Array(png);
}
