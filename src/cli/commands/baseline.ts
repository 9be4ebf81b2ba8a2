/** `landscope baseline save`: a run's final numbers as a small JSON file to commit. */
import { resolve } from 'node:path';
import { readRunFolder } from '../../io/run-folder.js';
import { saveBaseline, summarizeRun } from '../../io/run-summary.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';

const usage = `landscope baseline save runs/<id> [--last 1] --out .landscope/baseline.json

  Writes the run's final metrics (averaged over the last --last measured epochs), the per-direction
  sharpness values, and the run's fingerprint (architecture, direction seed, sharpness settings) to
  a small JSON file that 'landscope gate --baseline' compares later runs with. The run must have
  finished.`;

const spec = { last: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' } } as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const [action, dir, ...extra] = flags.positionals;
  if (action !== 'save') throw new UsageError(`expected 'landscope baseline save runs/<id>', got '${action ?? ''}'`);
  if (dir === undefined || extra.length > 0) throw new UsageError('give exactly one run folder');
  const out = resolve(io.cwd, flags.required('out', 'where the baseline goes, e.g. .landscope/baseline.json'));
  const last = flags.integer('last', 1, 1) as number;
  const summary = summarizeRun(await readRunFolder(resolve(io.cwd, dir)), last);
  await saveBaseline(out, summary);
  const known = Object.entries(summary.metrics).filter(([, m]) => m.status === 'ok').map(([k]) => k);
  io.stdout(`baseline: run ${summary.run.id ?? dir}, epoch ${summary.epoch}${last > 1 ? ` (mean of the last ${last})` : ''}, ${known.length} metrics (${known.join(', ')}) -> ${out}\n`);
  return ExitCode.Ok;
}

/** The `baseline` command. */
export const baselineCommand: Command = { name: 'baseline', summary: "save a run's final numbers as the gate's baseline", usage, run, needsBackend: false };
