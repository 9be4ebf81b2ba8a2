/**
 * Atomic file replacement: write a temporary sibling, then rename it over the target, so a reader
 * (or a process killed mid-write) never sees a half-written file.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let counter = 0;

/**
 * Writes `content` to `path` atomically, creating the folder if needed.
 * @param path the file to write
 * @param content its new content
 */
export async function writeAtomic(path: string, content: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`);
  await writeFile(tmp, content);
  await rename(tmp, path);
}
