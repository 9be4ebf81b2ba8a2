/**
 * Atomic, durable file replacement: write a temporary sibling, fsync it, rename it over the target,
 * then fsync the folder, so a reader (or a process killed mid-write) never sees a half-written file
 * and a power loss after the call returns leaves the new content (not an empty file: without the
 * fsyncs a journaling file system may commit the rename before the data).
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let counter = 0;

/**
 * Writes `content` to `path` atomically and durably, creating the folder if needed.
 * @param path the file to write
 * @param content its new content
 */
export async function writeAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true });
  const tmp = join(folder, `.${basename(path)}.${process.pid}.${counter++}.tmp`);
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(content);
    await file.sync();
  } catch (e) {
    await file.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await file.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }); // e.g. a folder at `path`: no temp file left behind
    throw e;
  }
  await syncFolder(folder);
}

/** fsyncs a folder, so a rename in it is on disk (a no-op where folders cannot be opened). */
async function syncFolder(folder: string): Promise<void> {
  let handle;
  try {
    handle = await open(folder, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch {
    // some file systems refuse fsync on a folder; the rename is still atomic
  } finally {
    await handle.close();
  }
}
