/**
 * A training run's folder, schema version 1:
 *
 * ```
 * runs/<id>/
 *   run.json            id, name, status (running|finished|failed|killed), start/end, options,
 *                       backend, model summary, parameter count, seeds, package versions, the
 *                       writer's process (pid, host) and a heartbeat refreshed every 30 s;
 *                       rewritten atomically (temp + fsync + rename)
 *   metrics.jsonl       one JSON object per measured epoch, appended and flushed as it happens:
 *                       a process killed mid-training leaves every finished epoch readable
 *   surfaces.json       the end-of-training surfaces (1-D slice, 2-D surface, PCA plane, ratio map)
 *   density.json        the Hessian's eigenvalue spectral density at the end of training
 *   snapshots/
 *     manifest.json     dtype float32, the tensors (name, shape, offset), one entry per snapshot
 *     <label>.f32       the trainable weights, raw little-endian float32, concatenated in manifest order
 * ```
 */
import { appendFile, mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LandscopeError } from '../errors.js';
import { effectiveStatus } from './run-status.js';
import { writeAtomic } from './write-atomic.js';

/** The schema version written in run.json and snapshots/manifest.json. */
export const RUN_SCHEMA_VERSION = 1;

/** One tensor of a snapshot. */
export interface SnapshotTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** Offset in elements within the flat snapshot. */
  readonly offset: number;
}

/** One stored snapshot. */
export interface SnapshotEntry {
  /** `init` for the weights before training, else `epoch-<n>`. */
  readonly label: string;
  /** The epoch it was taken after (−1 for init). */
  readonly epoch: number;
  readonly file: string;
}

/** snapshots/manifest.json. */
export interface SnapshotManifest {
  readonly schemaVersion: number;
  readonly dtype: 'float32';
  readonly size: number;
  readonly tensors: readonly SnapshotTensor[];
  readonly snapshots: SnapshotEntry[];
}

/** A parsed run folder. */
export interface RunContents {
  readonly dir: string;
  readonly run: Record<string, unknown>;
  /** Every complete line of metrics.jsonl (a truncated last line is dropped and counted). */
  readonly metrics: Record<string, unknown>[];
  readonly truncatedLines: number;
  readonly snapshots: SnapshotManifest | null;
  /** surfaces.json (the monitor's end-of-training surfaces), when present. */
  readonly surfaces?: Record<string, unknown> | null;
  /** density.json (the Hessian's spectral density at the end of training), when present. */
  readonly density?: Record<string, unknown> | null;
}

/** Makes a run id: `YYYYMMDD-HHMMSS-<name>-<4 hex>`. */
export function makeRunId(name?: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const slug = (name ?? '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
  const suffix = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
  return [stamp, slug, suffix].filter((p) => p !== '').join('-');
}

/** Writes one run's folder. */
export class RunFolder {
  /** The manifest as written so far (null before the first snapshot). */
  private manifest: SnapshotManifest | null = null;

  private constructor(
    /** The run's folder. */
    readonly dir: string,
    /** The run id (the folder's name). */
    readonly id: string,
  ) {}

  /**
   * Creates `root/<id>/` and `snapshots/`.
   * @throws {LandscopeError} `FILE_UNREADABLE` when the folder cannot be created or already holds a run
   */
  static async create(root: string, id: string): Promise<RunFolder> {
    const dir = join(root, id);
    try {
      await mkdir(join(dir, 'snapshots'), { recursive: true });
      const existing = await readdir(dir);
      if (existing.includes('run.json')) throw new LandscopeError('FILE_UNREADABLE', `runDir: ${dir} already holds a run (run.json); choose another runId`);
    } catch (e) {
      if (e instanceof LandscopeError) throw e;
      throw new LandscopeError('FILE_UNREADABLE', `runDir: cannot create ${dir} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    return new RunFolder(dir, id);
  }

  /**
   * An existing run folder, to read its snapshots and write its end-of-training files from another
   * thread (the measurement worker); it does not write snapshots (their manifest stays with the
   * folder's creator).
   */
  static reopen(dir: string): RunFolder {
    return new RunFolder(dir, basename(dir));
  }

  /** Rewrites run.json atomically. */
  async writeRun(run: Record<string, unknown>): Promise<void> {
    await writeAtomic(join(this.dir, 'run.json'), `${JSON.stringify({ schemaVersion: RUN_SCHEMA_VERSION, ...run }, null, 1)}\n`);
  }

  /** Appends one line to metrics.jsonl and flushes it to disk. */
  async appendMetrics(record: Record<string, unknown>): Promise<void> {
    const handle = await open(join(this.dir, 'metrics.jsonl'), 'a');
    try {
      await handle.appendFile(`${JSON.stringify(record)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Appends text to a file of the run (e.g. an unsent-metrics log). */
  async appendText(file: string, text: string): Promise<void> {
    await appendFile(join(this.dir, file), text);
  }

  /**
   * Stores a snapshot of the trainable weights and updates the manifest (both atomically).
   * @param label `init` or `epoch-<n>`
   * @param epoch the epoch it follows (−1 for init)
   * @param tensors the layout (checked against earlier snapshots)
   * @param data the flat float32 values
   */
  async writeSnapshot(label: string, epoch: number, tensors: readonly SnapshotTensor[], data: Float32Array): Promise<void> {
    const size = data.length;
    if (this.manifest === null) this.manifest = { schemaVersion: RUN_SCHEMA_VERSION, dtype: 'float32', size, tensors, snapshots: [] };
    else if (this.manifest.size !== size) throw new RangeError(`writeSnapshot: ${size} values, earlier snapshots have ${this.manifest.size}`);
    const file = `${label}.f32`;
    await writeAtomic(join(this.dir, 'snapshots', file), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.manifest.snapshots.push({ label, epoch, file });
    await writeAtomic(join(this.dir, 'snapshots', 'manifest.json'), `${JSON.stringify(this.manifest, null, 1)}\n`);
  }

  /** Reads a stored snapshot. */
  async readSnapshot(label: string): Promise<Float32Array> {
    return readSnapshotFile(join(this.dir, 'snapshots', `${label}.f32`));
  }

  /**
   * Deletes the files of snapshots other than the first, the last `keepLast` and `keep`.
   * @returns the labels deleted
   */
  async pruneSnapshots(keepLast: number, keep: ReadonlySet<string> = new Set()): Promise<string[]> {
    const manifest = this.manifest;
    if (manifest === null) return [];
    const all = manifest.snapshots;
    const victims = all.filter((s, i) => i > 0 && i < all.length - keepLast && !keep.has(s.label));
    for (const s of victims) await rm(join(this.dir, 'snapshots', s.file), { force: true });
    manifest.snapshots.splice(0, all.length, ...all.filter((s) => !victims.includes(s)));
    await writeAtomic(join(this.dir, 'snapshots', 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
    return victims.map((s) => s.label);
  }
}

/** Reads a raw float32 snapshot file. */
export async function readSnapshotFile(path: string): Promise<Float32Array> {
  const bytes = await readFile(path);
  return new Float32Array(new Uint8Array(bytes).buffer);
}

/**
 * Reads a run folder, tolerating a crash: a truncated last metrics line is dropped and counted.
 * @throws {LandscopeError} `FILE_NOT_FOUND` without run.json, `BAD_ARTIFACT` when it is not JSON
 */
export async function readRunFolder(dir: string): Promise<RunContents> {
  let runText: string;
  try {
    runText = await readFile(join(dir, 'run.json'), 'utf8');
  } catch {
    throw new LandscopeError('FILE_NOT_FOUND', `run: no run.json in ${dir}`);
  }
  let run: Record<string, unknown>;
  try {
    run = JSON.parse(runText) as Record<string, unknown>;
  } catch (e) {
    throw new LandscopeError('BAD_ARTIFACT', `run: ${join(dir, 'run.json')} is not valid JSON (${(e as Error).message})`);
  }
  if (run === null || typeof run !== 'object' || Array.isArray(run)) {
    throw new LandscopeError('BAD_ARTIFACT', `run: ${join(dir, 'run.json')} holds ${run === null ? 'null' : Array.isArray(run) ? 'an array' : typeof run}, not a run description`);
  }
  // A run whose process died without closing it: said so, not left 'running'.
  const status = effectiveStatus(run);
  if (status.reason !== undefined) run = { ...run, status: status.status, statusReason: status.reason };
  const lines = (await readFile(join(dir, 'metrics.jsonl'), 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '');
  const metrics: Record<string, unknown>[] = [];
  let truncatedLines = 0;
  for (const line of lines) {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      record = undefined;
    }
    if (record !== null && typeof record === 'object' && !Array.isArray(record)) metrics.push(record as Record<string, unknown>);
    else truncatedLines++; // cut short by a crash, or not a record at all
  }
  const manifestText = await readFile(join(dir, 'snapshots', 'manifest.json'), 'utf8').catch(() => null);
  // A half-written file from a crash reads as absent: the report says the part is missing.
  const surfaces = await readJsonObject(join(dir, 'surfaces.json'));
  const density = await readJsonObject(join(dir, 'density.json'));
  // A corrupt manifest means no usable snapshots; everything else in the folder still reads.
  let snapshots: SnapshotManifest | null = null;
  try {
    const parsed = manifestText === null ? null : (JSON.parse(manifestText) as SnapshotManifest | null);
    snapshots = parsed !== null && typeof parsed === 'object' && Array.isArray(parsed.snapshots) ? parsed : null;
  } catch {
    snapshots = null;
  }
  return { dir, run, metrics, truncatedLines, snapshots, surfaces, density };
}

/** A JSON object file, or null when it is absent, corrupt or not an object. */
async function readJsonObject(path: string): Promise<Record<string, unknown> | null> {
  const text = await readFile(path, 'utf8').catch(() => null);
  try {
    const parsed: unknown = text === null ? null : JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
