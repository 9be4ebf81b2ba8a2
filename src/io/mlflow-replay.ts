/**
 * Sends, later, what a training run could not send to MLflow: the calls kept in the run folder's
 * `mlflow-unsent.jsonl` (`{ what, payload }` lines, in order), against the run recorded in
 * run.json — or a run created now, looked up first by its `landscope.create_token` tag so that a
 * creation that did happen is not repeated. After every call that succeeds the file is rewritten
 * without it (atomically), so a second upload sends nothing twice; a call that fails stops the
 * upload and stays in the file with everything after it.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LandscopeError } from '../errors.js';
import { MlflowClient, type MlflowConnection, type MlflowKeyValue, type MlflowMetric } from './mlflow-client.js';
import { CREATE_TOKEN_TAG } from './mlflow-sink.js';
import { writeAtomic } from './write-atomic.js';

/** One kept call. */
export interface UnsentCall {
  readonly what: string;
  readonly payload: unknown;
}

/** What an upload did. */
export interface ReplayReport {
  readonly sent: number;
  /** The call that failed (the upload stopped there), if any. */
  readonly failed: { what: string; error: string } | null;
  /** Calls still kept in the file. */
  readonly left: number;
  readonly runId: string | null;
  readonly experimentId: string | null;
}

/** The file the monitor keeps unsent calls in. */
export const UNSENT_FILE = 'mlflow-unsent.jsonl';

/**
 * Reads a run folder's unsent calls.
 * @returns the calls, in order (none when the file is absent)
 * @throws {LandscopeError} `BAD_ARTIFACT` naming the line that is not a call
 */
export async function readUnsent(dir: string): Promise<UnsentCall[]> {
  const text = await readFile(join(dir, UNSENT_FILE), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      let call: UnsentCall;
      try {
        call = JSON.parse(line) as UnsentCall;
      } catch {
        throw new LandscopeError('BAD_ARTIFACT', `${join(dir, UNSENT_FILE)}: line ${i + 1} is not JSON`);
      }
      if (typeof call?.what !== 'string') throw new LandscopeError('BAD_ARTIFACT', `${join(dir, UNSENT_FILE)}: line ${i + 1} has no 'what'`);
      return call;
    });
}

/**
 * Sends a run folder's unsent calls; see the file comment.
 * @param dir the run folder
 * @param connection the tracking server
 * @param run what run.json knows: the MLflow run (null when its creation was never sent), the experiment name and the run's name
 */
export async function replayUnsent(
  dir: string,
  connection: MlflowConnection,
  run: { runId: string | null; experimentId: string | null; experimentName: string; runName: string | undefined },
): Promise<ReplayReport> {
  const calls = await readUnsent(dir);
  const client = new MlflowClient(connection);
  let runId = run.runId;
  let experimentId = run.experimentId;
  let artifactUri: string | null = null;
  let sent = 0;
  const ensureRun = async (tags: readonly MlflowKeyValue[], startTime: number) => {
    experimentId ??= await client.getOrCreateExperiment(run.experimentName);
    const token = tags.find((t) => t.key === CREATE_TOKEN_TAG)?.value;
    const found = token === undefined ? null : await client.findRunByTag(experimentId, CREATE_TOKEN_TAG, token);
    const r = found ?? (await client.createRun(experimentId, run.runName, tags, startTime));
    runId = r.runId;
    artifactUri = r.artifactUri;
  };
  const needRun = () => {
    if (runId === null) throw new LandscopeError('BAD_ARTIFACT', `${join(dir, UNSENT_FILE)}: the MLflow run was never created and no 'create run' call is kept`);
    return runId;
  };
  const uri = async () => {
    if (artifactUri !== null) return artifactUri;
    const r = await client.getRun(needRun());
    artifactUri = r.artifactUri;
    return artifactUri;
  };
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i] as UnsentCall;
    const payload = (call.payload ?? {}) as Record<string, unknown>;
    try {
      if (call.what === 'create run') await ensureRun((payload['tags'] ?? []) as MlflowKeyValue[], (payload['startTime'] as number | undefined) ?? Date.now());
      else if (call.what === 'log params' || call.what.startsWith('log metrics')) {
        await client.logBatch(needRun(), { metrics: (payload['metrics'] ?? []) as MlflowMetric[], params: (payload['params'] ?? []) as MlflowKeyValue[], tags: (payload['tags'] ?? []) as MlflowKeyValue[] });
      } else if (call.what.startsWith('upload ')) {
        const path = payload['path'] as string;
        await client.uploadArtifact(await uri(), path, new Uint8Array(await readFile(join(dir, path))));
      } else if (call.what.startsWith('set status ')) {
        await client.updateRun(needRun(), payload['status'] as 'FINISHED', (payload['endTime'] as number | undefined) ?? Date.now());
      } else {
        throw new LandscopeError('BAD_ARTIFACT', `${join(dir, UNSENT_FILE)}: call ${i + 1} is '${call.what}', which landscope does not know how to send`);
      }
    } catch (e) {
      if (e instanceof LandscopeError) throw e;
      return { sent, failed: { what: call.what, error: (e as Error)?.message ?? String(e) }, left: calls.length - i, runId, experimentId };
    }
    sent++;
    const rest = calls.slice(i + 1);
    if (rest.length === 0) await rm(join(dir, UNSENT_FILE), { force: true });
    else await writeAtomic(join(dir, UNSENT_FILE), rest.map((c) => JSON.stringify(c)).join('\n') + '\n');
  }
  return { sent, failed: null, left: 0, runId, experimentId };
}
