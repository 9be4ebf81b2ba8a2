/** `landscope serve`: a local live dashboard of the runs in a folder. */
import { resolve } from 'node:path';
import { startRunServer } from '../../io/run-server.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';

const usage = `landscope serve [runs/] [--port 6006] [--host 127.0.0.1] [--interval 1000]

  Serves a live dashboard of the run folders under runs/ (default: ./runs), until Ctrl-C:
  the runs, newest first (status, start, epochs, last loss, sharpness, λmax), each run's report
  following its run folder as training writes it (its charts gain points in place; the
  end-of-training surfaces appear when written), and any runs ticked side by side (the compare
  report, live, with their settings and a box to show only those that differ). A folder that is
  half-written or corrupt says what is wrong; the others show.
  --port       the port (0: any free one)
  --host       the address to listen on; the default answers this machine only
  --interval   how often an open page asks for news, in ms (≥ 100)`;

const spec = { port: { type: 'string' }, host: { type: 'string' }, interval: { type: 'string' } } as const;

/** Serves until the process gets SIGINT or SIGTERM. */
async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const [folder, ...extra] = flags.positionals;
  if (extra.length > 0) throw new UsageError(`give at most one folder, got ${flags.positionals.length}`);
  const port = flags.integer('port', 6006, 0, 65535) as number;
  const intervalMs = flags.integer('interval', 1000, 100) as number;
  const host = flags.string('host') ?? '127.0.0.1';
  if (host === '') throw new UsageError("--host: '' is not an address");
  const dir = resolve(io.cwd, folder ?? 'runs');
  let server;
  try {
    server = await startRunServer({ dir, port, host, intervalMs });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`--port: ${port} is in use on ${host}; pick another (or --port 0 for any free one)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`--host: '${host}' is not an address of this machine`);
    throw e;
  }
  io.stdout(`landscope serve: ${server.url} (runs under ${dir}; Ctrl-C stops)\n`);
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') io.stderr(`landscope serve: listening on ${host}: other machines that reach it can read these runs\n`);
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  await server.close();
  return ExitCode.Ok;
}

/** The `serve` command. */
export const serveCommand: Command = { name: 'serve', summary: 'a live dashboard of the runs in a folder', usage, needsBackend: false, run };
