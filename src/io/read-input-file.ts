/**
 * Reading a file the user named, with errors that say which argument it came from.
 */
import { readFile } from 'node:fs/promises';
import { LandscopeError } from '../errors.js';

/**
 * Reads a whole file.
 * @param path the file
 * @param what the argument it came from, e.g. `--x`
 * @throws {LandscopeError} `FILE_NOT_FOUND` when it does not exist, `FILE_UNREADABLE` otherwise
 */
export async function readInputFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new LandscopeError('FILE_NOT_FOUND', `${what}: no file at ${path}`);
    throw new LandscopeError('FILE_UNREADABLE', `${what}: cannot read ${path} (${code ?? String(e)})`);
  }
}
