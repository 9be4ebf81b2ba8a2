import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writeAtomic } from '../../src/io/write-atomic.js';
import { tmpPath } from '../helpers/fixture.js';

const hasStrace = spawnSync('strace', ['-V']).status === 0;

describe('writeAtomic', () => {
  it('replaces the file whole and leaves no temporary file', async () => {
    const dir = tmpPath('write-atomic');
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/run.json`, 'old');
    await writeAtomic(`${dir}/run.json`, '{"status":"finished"}\n');
    await writeAtomic(`${dir}/deep/a.bin`, new Uint8Array([1, 2, 3]));
    expect(readFileSync(`${dir}/run.json`, 'utf8')).toBe('{"status":"finished"}\n');
    expect([...readFileSync(`${dir}/deep/a.bin`)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  // The system calls, as the kernel sees them: the data is fsynced before the rename, and the
  // folder after it. (strace is installed by .ci/run.)
  it.runIf(hasStrace || process.env['CI'] === 'true')('fsyncs the data before the rename and the folder after it (strace)', () => {
    const dir = tmpPath('write-atomic-strace');
    mkdirSync(dir, { recursive: true });
    const module = new URL('../../dist/src/io/write-atomic.js', import.meta.url).href;
    const script = `import(${JSON.stringify(module)}).then((m) => m.writeAtomic(${JSON.stringify(`${dir}/run.json`)}, 'x'.repeat(1000)))`;
    const trace = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', process.execPath, '-e', script], { encoding: 'utf8' }).stderr;
    const calls = trace.split('\n').map((l) => /(fsync|fdatasync|rename\w*)\(/.exec(l)?.[1]).filter((c): c is string => c !== undefined);
    const rename = calls.findIndex((c) => c.startsWith('rename'));
    expect(rename, trace).toBeGreaterThan(0);
    expect(calls.slice(0, rename).some((c) => c === 'fsync' || c === 'fdatasync'), trace).toBe(true);
    expect(calls.slice(rename + 1).some((c) => c === 'fsync' || c === 'fdatasync'), trace).toBe(true);
  });
});
