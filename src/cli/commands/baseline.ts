/** `landscope baseline save`: a run's final numbers as a small JSON file to commit. */
import { resolve } from 'node:path';
import { readRunFolder } from '../../io/run-folder.js';
import { DEFAULT_LAST, saveBaseline, summarizeRuns } from '../../io/run-summary.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';

const usage = `landscope baseline save runs/<id> [runs/<id2> ...] [--last ${DEFAULT_LAST}] --out .landscope/baseline.json

  Writes the run's final metrics (the mean of the last --last measured epochs, ${DEFAULT_LAST} by default or
  as many as the run has, with each epoch's value), the per-direction sharpness and per-shard
  Hessian values, and the run's fingerprint (architecture, direction seed, sharpness settings) to
  a small JSON file that 'landscope gate --baseline' compares later runs with. The gate pairs the
  runs' last epochs, so their epoch-to-epoch spread tells noise from change; --last 1 compares
  final values only. Several runs of the same script (replicates: unseeded, or with other shuffle
  seeds) make a baseline that knows the noise between reruns: each metric keeps every run's value,
  and the gate widens its thresholds by their spread. The runs must have finished.`;

const spec = { last: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' } } as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const [action, ...dirs] = flags.positionals;
  if (action !== 'save') throw new UsageError(`expected 'landscope baseline save runs/<id>', got '${action ?? ''}'`);
  if (dirs.length === 0) throw new UsageError('give the run folder (or several replicate runs of one script)');
  flags.required('out', 'where the baseline goes, e.g. .landscope/baseline.json');
  const out = resolve(io.cwd, flags.outFile('out', io.cwd) as string);
  const runs = await Promise.all(dirs.map((dir) => readRunFolder(resolve(io.cwd, dir))));
  const summary = summarizeRuns(runs, flags.integer('last', undefined, 1));
  const last = summary.last;
  const dir = dirs.length === 1 ? dirs[0] : `${dirs.length} replicate runs (${(summary.replicates ?? []).map((r) => r.id ?? r.dir).join(', ')})`;
  await saveBaseline(out, summary);
  const known = Object.entries(summary.metrics).filter(([, m]) => m.status === 'ok').map(([k]) => k);
  // Epochs are numbered from 1 for people, as in the report and the progress lines (records keep Keras' 0-based index).
  io.stdout(`baseline: ${dirs.length === 1 ? `run ${summary.run.id ?? dir}` : dir}, epoch ${summary.epoch + 1}${last > 1 ? ` (mean of the last ${last})` : ''}, ${known.length} metrics (${known.join(', ')}) -> ${out}\n`);
  return ExitCode.Ok;
}

/** The `baseline` command. */
export const baselineCommand: Command = { name: 'baseline', summary: "save a run's final numbers as the gate's baseline", usage, run, needsBackend: false };
