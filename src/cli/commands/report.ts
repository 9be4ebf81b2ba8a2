/** `landscope report`: a run folder's self-contained HTML report. */
import { join, resolve } from 'node:path';
import { readRunFolder } from '../../io/run-folder.js';
import { writeAtomic } from '../../io/write-atomic.js';
import { chartJsSource } from '../../../reports/chart-js-source.js';
import { runReportData } from '../../../reports/run-report-data.js';
import { runCharts } from '../../../reports/run-charts.js';
import { renderRunReport } from '../../../reports/run-report.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';

const usage = `landscope report runs/<id> [--out runs/<id>/report.html] [--png]

  Writes the run's report: one self-contained HTML file (chart.js and the data inlined; opens from
  disk, offline) with loss and accuracy, filter-normalized sharpness with its standard error and
  curvature, the Hessian's extremes and |λmin/λmax|, the trajectory's PCA and explained variance,
  weight norm and learning rate, what the budget skipped, errors, configuration and timings. A run
  with missing pieces (a crash, a measurement turned off) still renders and says what is missing.
  --png also writes the charts as PNG files (960×540) into runs/<id>/charts/, rendered in Node,
  for PR comments and CI artifacts.`;

const spec = { out: { type: 'string' }, png: { type: 'boolean' }, backend: { type: 'string' } } as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const [dir, ...extra] = flags.positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError('give exactly one run folder');
  const runDir = resolve(io.cwd, dir);
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

/** The `report` command. */
export const reportCommand: Command = { name: 'report', summary: "a run folder's self-contained HTML report", usage, run };
