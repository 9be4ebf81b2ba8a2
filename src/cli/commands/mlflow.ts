/** `landscope mlflow upload`: sends later what a training run could not send to MLflow. */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LandscopeError } from '../../errors.js';
import { readUnsent, replayUnsent, UNSENT_FILE } from '../../io/mlflow-replay.js';
import { writeAtomic } from '../../io/write-atomic.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';

const usage = `landscope mlflow upload runs/<id> [--tracking-uri URL] [--experiment NAME]

  Sends the calls kept in the run's ${UNSENT_FILE} (what the monitor could not send while
  training: the server was down, slow or refused) to the tracking server, in order: the run's
  creation if it never happened (looked up first by the run's create token, so it is never
  created twice), params, metrics, artifacts and the final status. Each call is removed from the
  file once sent, so running it again sends nothing twice; a call that fails stops the upload and
  stays, with what follows it, for the next try (exit 3).

  --tracking-uri   the server (default: MLFLOW_TRACKING_URI; credentials from
                   MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD)
  --experiment     for a run never created (default: MLFLOW_EXPERIMENT_NAME, else landscope)`;

const spec = { 'tracking-uri': { type: 'string' }, experiment: { type: 'string' }, backend: { type: 'string' } } as const;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const [action, folder, ...extra] = flags.positionals;
  if (action !== 'upload') throw new UsageError(`expected 'landscope mlflow upload runs/<id>', got '${action ?? ''}'`);
  if (folder === undefined || extra.length > 0) throw new UsageError('give exactly one run folder');
  const trackingUri = flags.string('tracking-uri') ?? io.env['MLFLOW_TRACKING_URI'];
  if (trackingUri === undefined || trackingUri === '') throw new UsageError('--tracking-uri is required (or set MLFLOW_TRACKING_URI)');
  if (!/^https?:\/\//.test(trackingUri)) throw new UsageError(`--tracking-uri: '${trackingUri}' is not an http(s) URL`);
  const dir = resolve(io.cwd, folder);
  const runText = await readFile(join(dir, 'run.json'), 'utf8').catch(() => {
    throw new LandscopeError('FILE_UNREADABLE', `${dir}: no run.json (is it a run folder?)`);
  });
  const runJson = JSON.parse(runText) as Record<string, unknown>;
  const mlflow = (runJson['mlflow'] ?? {}) as { runId?: string | null; experimentId?: string | null };
  const calls = await readUnsent(dir);
  if (calls.length === 0) {
    io.stdout(`mlflow upload: ${folder} has nothing left to send\n`);
    return ExitCode.Ok;
  }
  const report = await replayUnsent(
    dir,
    { trackingUri, token: io.env['MLFLOW_TRACKING_TOKEN'], username: io.env['MLFLOW_TRACKING_USERNAME'], password: io.env['MLFLOW_TRACKING_PASSWORD'] },
    {
      runId: mlflow.runId ?? null,
      experimentId: mlflow.experimentId ?? null,
      experimentName: flags.string('experiment') ?? io.env['MLFLOW_EXPERIMENT_NAME'] ?? 'landscope',
      runName: (runJson['name'] as string | null) ?? (runJson['id'] as string | null) ?? undefined,
    },
  );
  const { schemaVersion, ...rest } = runJson;
  void schemaVersion;
  await writeAtomic(join(dir, 'run.json'), `${JSON.stringify({ schemaVersion: runJson['schemaVersion'], ...rest, mlflow: { ...mlflow, runId: report.runId, experimentId: report.experimentId, unsent: report.left } }, null, 1)}\n`);
  io.stdout(`mlflow upload: ${report.sent} of ${calls.length} calls sent to run ${report.runId ?? '(none)'}${report.left > 0 ? `; ${report.left} left in ${UNSENT_FILE}` : ''}\n`);
  if (report.failed !== null) {
    io.stderr(`landscope mlflow: error: '${report.failed.what}' failed: ${report.failed.error}; run the upload again to send the rest\n`);
    return ExitCode.Failure;
  }
  return ExitCode.Ok;
}

/** The `mlflow` command. */
export const mlflowCommand: Command = { name: 'mlflow', summary: "send a run's unsent MLflow calls (mlflow-unsent.jsonl) later", usage, run, needsBackend: false };
