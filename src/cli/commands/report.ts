/** `landscope report`: a run folder's self-contained HTML report. */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LandscopeError } from '../../errors.js';
import { readInputFile } from '../../io/read-input-file.js';
import { readRunFolder } from '../../io/run-folder.js';
import { writeAtomic } from '../../io/write-atomic.js';
import { chartJsSource } from '../../../reports/chart-js-source.js';
import { runReportData } from '../../../reports/run-report-data.js';
import { runCharts } from '../../../reports/run-charts.js';
import { renderRunReport } from '../../../reports/run-report.js';
import { renderSurfaceReport } from '../../../reports/surface-report.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';

const usage = `landscope report runs/<id> [--out runs/<id>/report.html] [--png]
landscope report surface.json [--out surface.html]

  Writes the run's report: one self-contained HTML file (chart.js and the data inlined; opens from
  disk, offline) with loss and accuracy, filter-normalized sharpness with its standard error and
  curvature, the Hessian's extremes and |λmin/λmax|, the trajectory's PCA and explained variance,
  weight norm and learning rate, what the budget skipped, errors, configuration and timings. A run
  with missing pieces (a crash, a measurement turned off) still renders and says what is missing.
  --png also writes the charts as PNG files (960×540) into runs/<id>/charts/, rendered in Node,
  for PR comments and CI artifacts.
  Given a JSON file of 'landscope surface', 'landscope merge' or 'landscope hessian --xrange …
  --yrange …' instead, writes the same kind of page for it (a 1-D slice, 2-D contours with their
  levels, or the |λmin/λmax| map), next to it by default.`;

const spec = { out: { type: 'string' }, png: { type: 'boolean' }, backend: { type: 'string' } } as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const [dir, ...extra] = flags.positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError('give exactly one run folder (or one surface JSON file)');
  const runDir = resolve(io.cwd, dir);
  if ((await stat(runDir).catch(() => null))?.isFile() === true) return surfaceReport(runDir, flags, io);
  const data = runReportData(await readRunFolder(runDir));
  const out = resolve(io.cwd, flags.outFile('out', io.cwd) ?? join(runDir, 'report.html'));
  const html = renderRunReport(data, chartJsSource());
  await writeAtomic(out, html);
  io.stdout(`report: ${data.epochs.length} measured epochs${data.missing.length > 0 ? ` (${data.missing.length} note(s) on missing pieces)` : ''}, ${(html.length / 1024).toFixed(0)} KiB -> ${out}\n`);
  if (flags.boolean('png')) {
    const { renderChartPng } = await import('../../../reports/chart-png.js');
    const charts = runCharts(data);
    const { RUN_SECTIONS } = await import('../../../reports/run-report.js');
    const title = (id: string) => `${data.title} — ${RUN_SECTIONS.find((s) => s.id === id)?.title ?? id}`;
    for (const chart of charts) await writeAtomic(join(runDir, 'charts', `${chart.id}.png`), renderChartPng(chart, undefined, title(chart.id)));
    io.stdout(`report: ${charts.length} PNG charts (${charts.map((c) => c.id).join(', ')}) -> ${join(runDir, 'charts')}\n`);
  }
  return ExitCode.Ok;
}

/** `landscope report surface.json`: the page of one grid file. */
async function surfaceReport(path: string, flags: Flags, io: CliIo): Promise<number> {
  if (flags.boolean('png')) throw new UsageError('--png is for run folders; a surface file gets its HTML page only');
  const text = new TextDecoder().decode(await readInputFile(path, 'report'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LandscopeError('BAD_ARTIFACT', `report: ${path} is neither a run folder nor valid JSON (${(e as Error).message})`);
  }
  const out = resolve(io.cwd, flags.outFile('out', io.cwd) ?? path.replace(/(\.json)?$/, '.html'));
  const { html, kind, points } = renderSurfaceReport(json, path, chartJsSource());
  await writeAtomic(out, html);
  io.stdout(`report: ${kind === 'ratio' ? 'ratio map' : kind === '2d' ? '2-D surface' : '1-D slice'}, ${points} points, ${(html.length / 1024).toFixed(0)} KiB -> ${out}\n`);
  return ExitCode.Ok;
}

/** The `report` command. */
export const reportCommand: Command = { name: 'report', summary: "a run folder's self-contained HTML report", usage, run };
