/**
 * The run folders under one root, found and read safely for a server: a folder is a run when it
 * holds run.json; folders are searched a few levels deep (runs/<id>, runs/demo/<id>, …) without
 * following symbolic links, and a run whose files resolve outside the root (a link planted inside
 * the folder) is left out. Runs are known by their path relative to the root, '/'-separated: the
 * only names a server may look up, so nothing it is asked for can name another file.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { readRunFolder, type RunContents } from './run-folder.js';

/** How deep below the root run folders are looked for. */
export const RUN_SEARCH_DEPTH = 4;

/** The files of a run folder a reader uses; their sizes and times make its version. */
const RUN_FILES = ['run.json', 'metrics.jsonl', 'surfaces.json', 'density.json', join('snapshots', 'manifest.json')];

/** One line of a run list. */
export interface RunListEntry {
  /** The run's path relative to the root, '/'-separated. */
  readonly id: string;
  readonly title: string;
  readonly status: string;
  readonly start: string | null;
  /** Epochs recorded after training started. */
  readonly epochs: number;
  readonly loss: number | null;
  readonly sharpness: number | null;
  readonly hessianMax: number | null;
  /** What is wrong with the folder (it could not be read), or null. */
  readonly problem: string | null;
  /** Changes whenever one of the run's files does (see `RunIndex.version`). */
  readonly version: string;
}

/** The run folders under a root; see the file comment. */
export class RunIndex {
  private root: string | null = null;
  private readonly cache = new Map<string, { version: string; entry: RunListEntry }>();

  /** @param dir the folder to serve (it may not exist yet: it then holds no runs) */
  constructor(readonly dir: string) {}

  /** The ids of the runs under the root, in no particular order. */
  async ids(): Promise<string[]> {
    const root = await this.realRoot();
    if (root === null) return [];
    const found: string[] = [];
    const walk = async (dir: string, depth: number): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      if (entries.some((e) => e.name === 'run.json' && e.isFile())) {
        found.push(relative(root, dir).split(sep).join('/'));
        return;
      }
      if (depth === 0) return;
      // Symbolic links are not followed (isDirectory() is false for them).
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await walk(join(dir, e.name), depth - 1);
    };
    await walk(root, RUN_SEARCH_DEPTH);
    const safe: string[] = [];
    for (const id of found) if (id !== '' && (await this.inside(id))) safe.push(id);
    return safe;
  }

  /**
   * The run's folder on disk, or null when `id` is not one of `ids()` (whatever it says).
   * @param id a run id as a client sent it
   */
  async folder(id: string): Promise<string | null> {
    const ids = await this.ids();
    return ids.includes(id) ? join(await this.realRoot() as string, ...id.split('/')) : null;
  }

  /**
   * A version of the run's files: their sizes and modification times, so a reader can tell that
   * nothing changed without reading them.
   */
  async version(folder: string): Promise<string> {
    const parts = await Promise.all(RUN_FILES.map(async (f) => {
      const s = await stat(join(folder, f)).catch(() => null);
      return s === null ? '-' : `${s.size}.${Math.round(s.mtimeMs)}`;
    }));
    return parts.join(':');
  }

  /**
   * Reads a run folder, or says what is wrong with it.
   * @returns the contents, or the error's message
   */
  async read(folder: string): Promise<{ contents: RunContents } | { problem: string }> {
    try {
      return { contents: await readRunFolder(folder) };
    } catch (e) {
      return { problem: (e as Error)?.message ?? String(e) };
    }
  }

  /** Every run's list entry, newest first (by start time, then id); unchanged runs are not read again. */
  async list(): Promise<RunListEntry[]> {
    const root = await this.realRoot();
    if (root === null) return [];
    const ids = await this.ids();
    const entries = await Promise.all(ids.map(async (id) => {
      const folder = join(root, ...id.split('/'));
      const version = await this.version(folder);
      const cached = this.cache.get(id);
      if (cached !== undefined && cached.version === version) return cached.entry;
      const read = await this.read(folder);
      const entry = 'problem' in read ? unreadable(id, read.problem, version) : summarize(id, read.contents, version);
      this.cache.set(id, { version, entry });
      return entry;
    }));
    for (const id of [...this.cache.keys()]) if (!ids.includes(id)) this.cache.delete(id);
    return entries.sort((a, b) => (b.start ?? '').localeCompare(a.start ?? '') || a.id.localeCompare(b.id));
  }

  private async realRoot(): Promise<string | null> {
    this.root ??= await realpath(this.dir).catch(() => null);
    return this.root;
  }

  /** Whether every file of the run resolves inside the root (a file may be a link planted there). */
  private async inside(id: string): Promise<boolean> {
    const root = (await this.realRoot()) as string;
    const folder = join(root, ...id.split('/'));
    for (const f of RUN_FILES) {
      const path = join(folder, f);
      if ((await lstat(path).catch(() => null))?.isSymbolicLink() !== true) continue;
      const target = await realpath(path).catch(() => null);
      if (target === null || !target.startsWith(root + sep)) return false;
    }
    return true;
  }
}

const finite = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The list entry of a run that reads. */
function summarize(id: string, contents: RunContents, version: string): RunListEntry {
  const { run, metrics } = contents;
  const trained = metrics.filter((m) => typeof m['epoch'] === 'number' && (m['epoch'] as number) >= 0);
  const lastOf = (key: string): number | null => {
    for (let i = metrics.length - 1; i >= 0; i--) {
      const v = finite(((metrics[i] as Record<string, unknown>)['logs'] as Record<string, unknown> | undefined)?.[key]);
      if (v !== null) return v;
    }
    return null;
  };
  const name = typeof run['name'] === 'string' && run['name'] !== '' ? run['name'] : null;
  const runId = typeof run['id'] === 'string' ? run['id'] : id;
  const problems = [
    ...(typeof run['statusReason'] === 'string' ? [run['statusReason']] : []),
    ...(contents.truncatedLines > 0 ? [`${contents.truncatedLines} line(s) of metrics.jsonl could not be read and are left out`] : []),
  ];
  return {
    id,
    title: name === null ? runId : `${name} (${runId})`,
    status: typeof run['status'] === 'string' ? run['status'] : 'unknown',
    start: typeof run['start'] === 'string' ? run['start'] : null,
    epochs: trained.length,
    loss: lastOf('loss'),
    sharpness: lastOf('fn_sharpness'),
    hessianMax: lastOf('hessian_max'),
    problem: problems.length > 0 ? problems.join('; ') : null,
    version,
  };
}

/** The list entry of a folder that does not read. */
function unreadable(id: string, problem: string, version: string): RunListEntry {
  return { id, title: id, status: 'unreadable', start: null, epochs: 0, loss: null, sharpness: null, hessianMax: null, problem, version };
}
