/** `landscope compare`: several runs in one report. */
import { join, resolve } from 'node:path';
import { readRunFolder } from '../../io/run-folder.js';
import { writeAtomic } from '../../io/write-atomic.js';
import { chartJsSource } from '../../../reports/chart-js-source.js';
import { compareCharts, renderCompareReport } from '../../../reports/compare-report.js';
import { runReportData } from '../../../reports/run-report-data.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';

const usage = `landscope compare runs/a runs/b [...] [--out compare.html] [--png DIR]

  One self-contained HTML report with the runs overlaid: loss, sharpness, λmax, |λmin/λmax| and
  weight norm per epoch, and final sharpness against the generalization gap (validation minus
  training loss) across runs; a table of final values. --png DIR also writes the charts as PNGs.`;

const spec = { out: { type: 'string' }, png: { type: 'string' }, backend: { type: 'string' } } as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const dirs = flags.positionals;
  if (dirs.length < 2) throw new UsageError(`give at least two run folders, got ${dirs.length}`);
  const runs: ReturnType<typeof runReportData>[] = [];
  for (const dir of dirs) runs.push(runReportData(await readRunFolder(resolve(io.cwd, dir))));
  const out = resolve(io.cwd, flags.outFile('out', io.cwd) ?? 'compare.html');
  await writeAtomic(out, renderCompareReport(runs, chartJsSource()));
  io.stdout(`compare: ${runs.length} runs -> ${out}\n`);
  const png = flags.string('png');
  if (png !== undefined) {
    const { renderChartPng } = await import('../../../reports/chart-png.js');
    const charts = compareCharts(runs);
    const { COMPARE_SECTIONS } = await import('../../../reports/compare-report.js');
    const title = (id: string) => `${runs.map((r) => r.title).join(' vs ')} — ${COMPARE_SECTIONS.find((s) => s.id === id)?.title ?? id}`;
    for (const chart of charts) await writeAtomic(join(resolve(io.cwd, png), `${chart.id}.png`), renderChartPng(chart, undefined, title(chart.id)));
    io.stdout(`compare: ${charts.length} PNG charts -> ${resolve(io.cwd, png)}\n`);
  }
  return ExitCode.Ok;
}

/** The `compare` command. */
export const compareCommand: Command = { name: 'compare', summary: 'several runs overlaid in one report', usage, run };
