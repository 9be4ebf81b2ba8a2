/**
 * `landscope serve`'s HTTP server (Node's own http): the run list, each run's report and
 * comparisons, live, from a folder of run folders (see src/io/run-index.ts). Read-only: it
 * answers GET and HEAD, on 127.0.0.1 unless told otherwise, and serves nothing but pages it
 * renders from the runs it found — a request names a run by its id, looked up among those, never
 * as a path — so `..`, encoded slashes and links out of the folder lead nowhere (404). A run whose
 * folder is half-written or corrupt gets a page saying what is wrong; the others are unaffected.
 *
 *   GET /                           the run list (its client polls /api/runs)
 *   GET /api/runs                   { runs: RunListEntry[] }
 *   GET /run?id=<id>                a run's live report (its client polls /api/run)
 *   GET /api/run?id=<id>&since=<v>  the report's parts (LivePayload), 204 when unchanged since v
 *   GET /compare?run=<id>&run=…     live comparison of two or more runs
 *   GET /api/compare?run=…&since=v  its parts
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chartJsSource } from '../../reports/chart-js-source.js';
import { escapeHtml } from '../../reports/escape.js';
import { compareReportParts } from '../../reports/compare-report.js';
import { livePayload, renderLiveComparePage, renderLivePage, renderProblemPage, renderRunList } from '../../reports/live-pages.js';
import type { PageParts } from '../../reports/run-report.js';
import { runReportData } from '../../reports/run-report-data.js';
import { runReportParts } from '../../reports/run-report.js';
import { RunIndex } from './run-index.js';

/** Options of `startRunServer`. */
export interface RunServerOptions {
  /** The folder whose runs it serves (it may not exist yet). */
  readonly dir: string;
  /** The port; 0 picks a free one. @default 6006 */
  readonly port?: number;
  /** The address to listen on. @default '127.0.0.1' (this machine only) */
  readonly host?: string;
  /** How often the pages ask for news, in ms. @default 1000 */
  readonly intervalMs?: number;
}

/** A running server. */
export interface RunServer {
  /** Its address, e.g. http://127.0.0.1:6006/ */
  readonly url: string;
  readonly port: number;
  /** Lets the process exit while the server runs (a training script's server must not hold it). */
  readonly unref: () => void;
  /** Stops listening and closes open connections. */
  readonly close: () => Promise<void>;
}

/**
 * Starts the server.
 * @returns once it listens
 * @throws {RangeError} for a port that is not an integer from 0 to 65535, a bad interval or an empty host
 * @throws {Error} when it cannot listen (the port is taken: code EADDRINUSE)
 * @example
 * const server = await startRunServer({ dir: 'runs' });
 * console.log(server.url); // http://127.0.0.1:6006/
 */
export async function startRunServer(options: RunServerOptions): Promise<RunServer> {
  const port = options.port ?? 6006;
  const host = options.host ?? '127.0.0.1';
  const intervalMs = options.intervalMs ?? 1000;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new RangeError(`startRunServer: port ${port} is not an integer from 0 to 65535`);
  if (!(typeof host === 'string' && host !== '')) throw new RangeError(`startRunServer: host ${JSON.stringify(host)} is not an address`);
  if (!(Number.isFinite(intervalMs) && intervalMs >= 100)) throw new RangeError(`startRunServer: intervalMs ${intervalMs} is not a number of milliseconds ≥ 100`);
  const index = new RunIndex(options.dir);
  const chartJs = chartJsSource();
  const server = createServer((req, res) => {
    handle(req, res, index, chartJs, intervalMs).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `landscope serve: ${(e as Error)?.message ?? String(e)}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/`,
    port: address.port,
    unref: () => void server.unref(),
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

const HTML = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: ServerResponse, status: number, type: string, body: string, head = false): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // The pages inline everything they load and ask only this server.
    'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'",
  });
  res.end(head ? undefined : body);
}

const notFound = (res: ServerResponse, head: boolean, what: string) => send(res, 404, HTML, renderProblemPage('not found', what, null), head);

async function handle(req: IncomingMessage, res: ServerResponse, index: RunIndex, chartJs: string, intervalMs: number): Promise<void> {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'landscope serve answers GET and HEAD only\n');
  }
  const raw = req.url ?? '/';
  // Nothing is served by path (a run is named by its id, in the query, and looked up among the
  // runs found), but say no early to a path only a traversal attempt sends: encoded slashes or
  // backslashes, or a '..' segment, however encoded.
  const path = raw.split('?')[0] as string;
  let decodedPath: string;
  try {
    decodedPath = decodeURIComponent(path);
  } catch {
    return notFound(res, head, 'No such page.');
  }
  if (/%2f|%5c/i.test(path) || decodedPath.includes('\\') || decodedPath.split('/').includes('..')) return notFound(res, head, 'No such page.');
  const url = new URL(raw, 'http://localhost');
  const since = url.searchParams.get('since');
  switch (url.pathname) {
    case '/': {
      const runs = await index.list();
      return send(res, 200, HTML, renderRunList(runs, index.dir, intervalMs), head);
    }
    case '/api/runs':
      return send(res, 200, JSON_TYPE, JSON.stringify({ runs: await index.list() }), head);
    case '/run':
    case '/api/run': {
      const id = url.searchParams.get('id') ?? '';
      const folder = await index.folder(id);
      if (folder === null) return url.pathname === '/run' ? notFound(res, head, `No run '${id}' in this folder.`) : send(res, 404, JSON_TYPE, JSON.stringify({ error: `no run '${id}'` }), head);
      const version = await index.version(folder);
      if (url.pathname === '/api/run' && since === version) return send(res, 204, JSON_TYPE, '', true);
      const read = await index.read(folder);
      if ('problem' in read) {
        // Half-written or corrupt: said, and asked again (it may be complete in a moment).
        return url.pathname === '/run'
          ? send(res, 200, HTML, renderProblemPage(`run ${id}`, `This run folder cannot be read now: ${read.problem}`, intervalMs * 2), head)
          : send(res, 200, JSON_TYPE, JSON.stringify(problemPayload(id, read.problem, version)), head);
      }
      const parts = runReportParts(runReportData(read.contents));
      const endpoint = `/api/run?id=${encodeURIComponent(id)}`;
      return url.pathname === '/run'
        ? send(res, 200, HTML, renderLivePage(parts, version, endpoint, intervalMs, chartJs), head)
        : send(res, 200, JSON_TYPE, JSON.stringify(livePayload(parts, version)), head);
    }
    case '/compare':
    case '/api/compare': {
      const ids = url.searchParams.getAll('run');
      if (ids.length < 2) return url.pathname === '/compare' ? send(res, 400, HTML, renderProblemPage('compare', `Compare needs two or more runs (?run=a&run=b); got ${ids.length}.`, null), head) : send(res, 400, JSON_TYPE, JSON.stringify({ error: 'two or more runs' }), head);
      const folders = await Promise.all(ids.map((id) => index.folder(id)));
      const missing = ids.filter((_, i) => folders[i] === null);
      if (missing.length > 0) return url.pathname === '/compare' ? notFound(res, head, `No run ${missing.map((m) => `'${m}'`).join(', ')} in this folder.`) : send(res, 404, JSON_TYPE, JSON.stringify({ error: `no run ${missing.join(', ')}` }), head);
      const version = (await Promise.all((folders as string[]).map((f) => index.version(f)))).join('|');
      if (url.pathname === '/api/compare' && since === version) return send(res, 204, JSON_TYPE, '', true);
      const reads = await Promise.all((folders as string[]).map((f) => index.read(f)));
      const problems = reads.flatMap((r, i) => ('problem' in r ? [`${ids[i]}: ${r.problem}`] : []));
      const data = reads.flatMap((r) => ('contents' in r ? [runReportData(r.contents)] : []));
      const parts = comparisonParts(data, problems);
      const endpoint = `/api/compare?${ids.map((id) => `run=${encodeURIComponent(id)}`).join('&')}`;
      return url.pathname === '/compare'
        ? send(res, 200, HTML, renderLiveComparePage(parts, version, endpoint, intervalMs, chartJs), head)
        : send(res, 200, JSON_TYPE, JSON.stringify(livePayload(parts, version)), head);
    }
    default:
      return notFound(res, head, 'No such page.');
  }
}

/** The comparison's parts, with a note for each run that does not read now. */
function comparisonParts(data: ReturnType<typeof runReportData>[], problems: readonly string[]): PageParts {
  const notes = problems.map((p) => `<p class="missing">${escapeHtml(`Left out for now (it does not read): ${p}`)}</p>`).join('\n');
  if (data.length === 0) return { title: 'comparison', header: notes, main: '', charts: [] };
  const parts = compareReportParts(data);
  return { ...parts, header: `${parts.header}${notes}` };
}

/** What a live page's client gets for a run that does not read now. */
function problemPayload(id: string, problem: string, version: string) {
  return { version, header: `<h1>${escapeHtml(`run ${id}`)}</h1><p class="missing">${escapeHtml(`This run folder cannot be read now: ${problem}`)}</p><p class="meta" id="live-status"></p>`, main: '', charts: [] };
}
