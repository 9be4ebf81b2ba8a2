/** `landscope merge`: join the parts of a sharded surface into the full result. */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LandscopeError } from '../../errors.js';
import { mergeParts, readPart, type Part } from '../../io/grid-job.js';
import { LANDSCOPE_VERSION } from '../../version.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { gridColumn } from '../grid-runner.js';
import { emitJson } from '../output.js';

const usage = `landscope merge PARTS_DIR [--out surface.json]

  Joins the part files (part-i-of-n.jsonl) that 'landscope surface --shard i/n --out PARTS_DIR'
  (or 'landscope hessian --xrange … --yrange … --shard i/n') wrote — on this machine or copied from others — into the full surface, in the same format as an
  unsharded run. Parts of different jobs (another model, data, direction, grid or setting) are
  refused, naming what differs; missing points are reported (exit 3) rather than written as gaps.`;

const spec = { out: { type: 'string' }, backend: { type: 'string' } } as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const [dir, ...extra] = flags.positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError('give exactly one folder of part files');
  const out = flags.outFile('out', io.cwd);
  const folder = resolve(io.cwd, dir);
  const names = (await readdir(folder).catch(() => [] as string[])).filter((n) => /^part-\d+-of-\d+\.jsonl$/.test(n)).sort();
  if (names.length === 0) throw new LandscopeError('FILE_NOT_FOUND', `merge: no part-i-of-n.jsonl files in ${folder}`);
  const parts: { path: string; part: Part }[] = [];
  for (const name of names) parts.push({ path: join(folder, name), part: (await readPart(join(folder, name))) as Part });
  const { header, points, missing } = mergeParts(parts);
  if (missing.length > 0) {
    const ny = header.y?.length ?? 1;
    const where = missing.slice(0, 8).map((k) => (header.y === undefined ? `x[${k}]` : `(x[${Math.floor(k / ny)}], y[${k % ny}])`));
    throw new LandscopeError('FILE_NOT_FOUND', `merge: ${missing.length} of ${header.total} points are missing (${where.join(', ')}${missing.length > 8 ? ', …' : ''}); ${names.length} of ${header.shard.count} shards present — run the missing shards, or resume the interrupted ones`);
  }
  const shape = header.y === undefined ? [header.x.length] : [header.x.length, header.y.length];
  const column = (name: string) => gridColumn(points, shape, name);
  // Every value the parts hold: loss and accuracy for surfaces, λmax, λmin, ratio, … for ratio maps.
  const columns = [...new Set([...points.values()].flatMap((v) => Object.keys(v)))];
  const isSurface = columns.includes('loss');
  const result = {
    x: header.x,
    ...(header.y !== undefined ? { y: header.y } : {}),
    ...Object.fromEntries(columns.map((n) => [n, column(n)])),
    ...(isSurface && !columns.includes('accuracy') ? { accuracy: null } : {}),
    meta: { ...header.meta, points: header.total, merged: { job: header.job, parts: names.length, shards: header.shard.count }, landscopeVersion: LANDSCOPE_VERSION, createdAt: new Date().toISOString() },
  };
  await emitJson(io, out, result, (where) => `merge: ${names.length} parts, ${header.total} points -> ${where}`);
  return ExitCode.Ok;
}

/** The `merge` command. */
export const mergeCommand: Command = { name: 'merge', summary: 'join the parts of a sharded surface', usage, run, needsBackend: false };
