/**
 * Grid jobs on disk: what identifies a job (hashes of the model, the data, the directions, the grid
 * and the settings), and partial results as append-only JSON lines — a header, then one line per
 * point, flushed as it is computed — so an interrupted run resumes where it stopped and shards
 * from other processes or machines merge into the full result.
 *
 * ```
 * {"kind":"landscope-grid-part","job":"<sha256>","components":{...},"shard":{"index":0,"count":3},"total":121,"x":[…],"y":[…],"meta":{…}}
 * {"k":0,"loss":1.23,"accuracy":0.5}
 * …
 * ```
 */
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { LandscopeError } from '../errors.js';
import type { PointValue } from '../core/sample-grid.js';
import type { Shard } from '../core/shard.js';

/** What a job is made of, each part hashed so a mismatch can be explained. */
export type JobComponents = Readonly<Record<string, string>>;

/** A part file's header. */
export interface PartHeader {
  readonly kind: 'landscope-grid-part';
  readonly job: string;
  readonly components: JobComponents;
  readonly shard: Shard;
  readonly total: number;
  readonly x: number[];
  readonly y?: number[];
  readonly meta: Record<string, unknown>;
}

/** sha256 of bytes or text, hex. */
export function sha256(content: Uint8Array | string): string {
  return createHash('sha256').update(content).digest('hex');
}

/** The job's identity: the hash of its components' hashes. */
export function jobId(components: JobComponents): string {
  return sha256(JSON.stringify(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))));
}

/** Components short enough to quote in full: a mismatch says `batchSize 64 → 32`. */
const QUOTED = 80;

/** Which components differ between two jobs, as a sentence (`from → to` for short values). */
export function jobDifference(a: JobComponents, b: JobComponents): string {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]);
  const quoted = (k: string) => {
    const [x, y] = [a[k], b[k]];
    const plain = (v: string | undefined) => v !== undefined && v.length <= QUOTED && !/^[0-9a-f]{64}/.test(v);
    return plain(x) && plain(y) ? `${k} ${x} → ${y}` : k;
  };
  return keys.length === 0 ? 'nothing' : keys.map(quoted).join(', ');
}

/** A part file's contents: its header and the points computed so far. */
export interface Part {
  readonly header: PartHeader;
  readonly points: Map<number, PointValue>;
}

/**
 * Reads a part file; a last line cut short by a crash is ignored.
 * @returns null when the file does not exist
 * @throws {LandscopeError} `BAD_ARTIFACT` when it is not a part file
 */
export async function readPart(path: string): Promise<Part | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  let header: PartHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as PartHeader;
  } catch {
    throw new LandscopeError('BAD_ARTIFACT', `${path}: not a landscope grid part (no JSON header line)`);
  }
  if (header === null || typeof header !== 'object' || header.kind !== 'landscope-grid-part') throw new LandscopeError('BAD_ARTIFACT', `${path}: not a landscope grid part`);
  const { total, shard } = header;
  if (!(Number.isInteger(total) && total >= 1 && Number.isInteger(shard?.index) && Number.isInteger(shard?.count) && shard.index >= 0 && shard.index < shard.count)) {
    throw new LandscopeError('BAD_ARTIFACT', `${path}: the part header's total (${JSON.stringify(total)}) or shard (${JSON.stringify(shard)}) is not valid`);
  }
  const points = new Map<number, PointValue>();
  for (const [i, line] of lines.slice(1).entries()) {
    let parsed: { k: unknown } & Record<string, number | null>;
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      continue; // the line a crash cut short: that point is computed again
    }
    const { k, ...values } = parsed ?? { k: undefined };
    // A point this shard does not own, or one written twice with other values, is not a crash's trace: refuse the file.
    if (!(typeof k === 'number' && Number.isInteger(k) && k >= 0 && k < total && k % shard.count === shard.index)) {
      throw new LandscopeError('BAD_ARTIFACT', `${path}, line ${i + 2}: point index ${JSON.stringify(k)} is not one of shard ${shard.index}/${shard.count}'s points of 0..${total - 1}`);
    }
    const before = points.get(k);
    if (before !== undefined && JSON.stringify(before) !== JSON.stringify(values)) {
      throw new LandscopeError('BAD_ARTIFACT', `${path}, line ${i + 2}: point ${k} was already written with other values (${JSON.stringify(before)} vs ${JSON.stringify(values)})`);
    }
    points.set(k, values);
  }
  return { header, points };
}

/**
 * Appends points to a part file, one line each, flushed to disk at most every 200 ms and on close:
 * a crash loses at most the last fraction of a second of work, which resuming computes again.
 */
export class PartWriter {
  private lastSync = performance.now();

  private constructor(private readonly handle: Awaited<ReturnType<typeof open>>) {}

  /** Opens a part file for appending, writing the header when the file is new. */
  static async open(path: string, header: PartHeader, existing: boolean): Promise<PartWriter> {
    const handle = await open(path, 'a');
    if (!existing) {
      await handle.appendFile(`${JSON.stringify(header)}\n`);
      await handle.sync();
    }
    return new PartWriter(handle);
  }

  /** Appends one point (flushed within 200 ms). */
  async append(k: number, value: PointValue): Promise<void> {
    await this.handle.appendFile(`${JSON.stringify({ k, ...value })}\n`);
    if (performance.now() - this.lastSync > 200) {
      await this.handle.sync();
      this.lastSync = performance.now();
    }
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    await this.handle.sync();
    await this.handle.close();
  }
}

/**
 * Merges parts of one job.
 * @returns the header of the first part, every point, and the indices still missing
 * @throws {LandscopeError} `BASELINE_MISMATCH` when the parts belong to different jobs or shard counts
 */
export function mergeParts(parts: readonly { path: string; part: Part }[]): { header: PartHeader; points: Map<number, PointValue>; missing: number[] } {
  const first = parts[0];
  if (first === undefined) throw new LandscopeError('FILE_NOT_FOUND', 'merge: no part files');
  const points = new Map<number, PointValue>();
  for (const { path, part } of parts) {
    if (part.header.job !== first.part.header.job) {
      throw new LandscopeError('BASELINE_MISMATCH', `merge: ${path} belongs to another job than ${first.path} (they differ in: ${jobDifference(first.part.header.components, part.header.components)})`);
    }
    if (part.header.shard.count !== first.part.header.shard.count) {
      throw new LandscopeError('BASELINE_MISMATCH', `merge: ${path} is shard ${part.header.shard.index}/${part.header.shard.count}, ${first.path} one of ${first.part.header.shard.count}`);
    }
    for (const [k, v] of part.points) points.set(k, v);
  }
  const missing = Array.from({ length: first.part.header.total }, (_, k) => k).filter((k) => !points.has(k));
  return { header: first.part.header, points, missing };
}
