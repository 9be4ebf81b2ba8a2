import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { effectiveStatus, HEARTBEAT_STALE_SECONDS, processAlive } from '../../src/io/run-status.js';

describe('effectiveStatus', () => {
  const now = new Date('2026-12-03T12:00:00Z');
  const beat = (secondsAgo: number) => new Date(now.getTime() - secondsAgo * 1000).toISOString();

  it('a running run whose process on this host is gone is killed', () => {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const dead = Number(child.stdout.toString());
    expect(processAlive(dead)).toBe(false);
    expect(processAlive(process.pid)).toBe(true);
    const run = { status: 'running', process: { pid: dead, host: hostname() }, heartbeat: beat(1) };
    expect(effectiveStatus(run, now)).toEqual({ status: 'killed', reason: `run.json says running, but its process ${dead} on ${hostname()} is gone` });
    expect(effectiveStatus({ ...run, process: { pid: process.pid, host: hostname() } }, now)).toEqual({ status: 'running' });
  });

  it('a running run of another host is killed when its heartbeat is stale, and running while it is fresh', () => {
    const other = { status: 'running', process: { pid: 1, host: 'elsewhere' } };
    expect(effectiveStatus({ ...other, heartbeat: beat(60) }, now)).toEqual({ status: 'running' });
    expect(effectiveStatus({ ...other, heartbeat: beat(HEARTBEAT_STALE_SECONDS + 1) }, now).status).toBe('killed');
    // Old run folders without a heartbeat fall back to the start time.
    expect(effectiveStatus({ status: 'running', start: beat(3600) }, now).reason).toMatch(/last heartbeat was at .* \(over 5 minutes ago\)/);
  });

  it('closed runs keep their status', () => {
    for (const status of ['finished', 'failed', 'killed']) expect(effectiveStatus({ status, heartbeat: beat(1e6) }, now)).toEqual({ status });
  });
});
