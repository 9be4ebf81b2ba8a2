/** Where a command's JSON result goes: the --out file, or stdout (with the summary on stderr). */
import { resolve } from 'node:path';
import { writeAtomic } from '../io/write-atomic.js';
import type { CliIo } from './cli-io.js';

/**
 * Writes `result` as JSON to `out` (atomically) and the summary line to stdout; without `out`,
 * the JSON goes to stdout and the summary to stderr, so the output can be piped.
 * @param summary one line, told where the JSON went
 */
export async function emitJson(io: CliIo, out: string | undefined, result: unknown, summary: (where: string) => string): Promise<void> {
  if (out === undefined) {
    io.stdout(`${JSON.stringify(result)}\n`);
    io.stderr(`${summary('stdout')}\n`);
    return;
  }
  const path = resolve(io.cwd, out);
  await writeAtomic(path, JSON.stringify(result));
  io.stdout(`${summary(path)}\n`);
}
