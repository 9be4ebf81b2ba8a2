/**
 * A run's status as a reader should believe it. run.json says `running` until the monitor closes
 * the run; a process that was killed (SIGKILL, out of memory, a power cut) never does. So a
 * reader calls a `running` run `killed` when its writer's process is gone (same host, pid not
 * alive) or its heartbeat — refreshed every 30 s while training — is older than
 * `HEARTBEAT_STALE_SECONDS`.
 */
import { hostname } from 'node:os';

/** A heartbeat older than this (seconds) means the writing process is gone. */
export const HEARTBEAT_STALE_SECONDS = 300;

/** What a reader should take a run's status to be, and why when it differs from run.json. */
export interface EffectiveStatus {
  readonly status: string;
  readonly reason?: string;
}

/** Whether a process of this host is alive. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The status of a run from its run.json.
 * @param run the parsed run.json
 * @param now the current time
 * @param alive whether a pid of this host is alive
 */
export function effectiveStatus(run: Readonly<Record<string, unknown>>, now: Date = new Date(), alive: (pid: number) => boolean = processAlive): EffectiveStatus {
  const status = typeof run['status'] === 'string' ? run['status'] : 'unknown';
  if (status !== 'running') return { status };
  const proc = run['process'] as { pid?: unknown; host?: unknown } | undefined;
  if (proc !== undefined && proc !== null && typeof proc.pid === 'number' && proc.host === hostname() && !alive(proc.pid)) {
    return { status: 'killed', reason: `run.json says running, but its process ${proc.pid} on ${proc.host} is gone` };
  }
  const beat = Date.parse(String(run['heartbeat'] ?? run['start'] ?? ''));
  if (Number.isFinite(beat) && (now.getTime() - beat) / 1000 > HEARTBEAT_STALE_SECONDS) {
    return { status: 'killed', reason: `run.json says running, but its last heartbeat was at ${new Date(beat).toISOString()} (over ${HEARTBEAT_STALE_SECONDS / 60} minutes ago)` };
  }
  return { status };
}
