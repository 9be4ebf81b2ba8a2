/**
 * `landscapeMonitor({ serve })`: the `landscope serve` dashboard started from a training script,
 * on the monitor's run folder root. One server per folder and port for the whole process (a script
 * that trains several runs shares it), its URL said once; it does not keep the process alive.
 */
import { resolve } from 'node:path';
import { startRunServer, type RunServer } from '../src/io/run-server.js';

/** The `serve` option: a port, or a port and an address. */
export type ServeSetting = number | { readonly port?: number; readonly host?: string };

/** The default port of `serve: true`. */
export const DEFAULT_SERVE_PORT = 6006;

const servers = new Map<string, Promise<RunServer>>();

/**
 * Checks a `serve` option.
 * @throws {TypeError|RangeError} naming the option, the value and what is allowed
 */
export function checkServeSetting(value: unknown, name: string): void {
  if (value === undefined || value === false || value === true) return;
  const port = typeof value === 'object' && value !== null ? (value as { port?: unknown }).port ?? DEFAULT_SERVE_PORT : value;
  const host = typeof value === 'object' && value !== null ? (value as { host?: unknown }).host ?? '127.0.0.1' : '127.0.0.1';
  if (typeof value !== 'number' && (typeof value !== 'object' || value === null)) throw new TypeError(`${name}: serve = ${JSON.stringify(value)} is not a port, { port, host }, true or false`);
  if (!(typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65535)) throw new RangeError(`${name}: serve port = ${JSON.stringify(port)} is not an integer from 0 to 65535 (0: any free port)`);
  if (!(typeof host === 'string' && host !== '')) throw new RangeError(`${name}: serve host = ${JSON.stringify(host)} is not an address`);
}

/**
 * Serves the runs under `dir` (started once per folder, port and address in this process).
 * @param setting the monitor's `serve` option (checked)
 * @returns the server, and whether this call started it (its URL is then to be said)
 * @throws {Error} when it cannot listen (e.g. the port is taken)
 */
export async function serveRuns(dir: string, setting: ServeSetting | true): Promise<{ server: RunServer; started: boolean }> {
  const port = setting === true ? DEFAULT_SERVE_PORT : typeof setting === 'number' ? setting : setting.port ?? DEFAULT_SERVE_PORT;
  const host = setting === true || typeof setting === 'number' ? '127.0.0.1' : setting.host ?? '127.0.0.1';
  const key = `${resolve(dir)}|${host}|${port}`;
  const had = servers.get(key);
  if (had !== undefined) return { server: await had, started: false };
  const starting = startRunServer({ dir: resolve(dir), port, host }).then((server) => {
    server.unref();
    return server;
  });
  servers.set(key, starting);
  try {
    return { server: await starting, started: true };
  } catch (e) {
    servers.delete(key);
    throw e;
  }
}
