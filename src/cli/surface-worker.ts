/**
 * A worker thread of `landscope surface --workers N` (run by piscina): it selects the job's
 * backend, opens the job once, and evaluates the batches of grid points it is handed.
 */
import { selectBackend, type BackendName } from './backend.js';
import { Flags } from './flags.js';
import { loadModelInputs } from './inputs.js';
import { openSurfaceJob, type OpenSurfaceJob, type SurfaceJobSpec } from './surface-job.js';

let opened: { key: string; job: OpenSurfaceJob } | undefined;

/** Evaluates `indices` of the job; returns `[index, value]` pairs. */
export default async function evaluatePoints(task: { spec: SurfaceJobSpec; indices: number[] }): Promise<[number, Record<string, number | null>][]> {
  const key = JSON.stringify(task.spec);
  if (opened?.key !== key) {
    opened?.job.dispose();
    await selectBackend(task.spec.backend as BackendName);
    const flags = new Flags({
      values: { model: task.spec.modelPath, x: task.spec.xPath, y: task.spec.yPath, ...(task.spec.loss !== undefined ? { loss: task.spec.loss } : {}) },
      positionals: [],
    });
    opened = { key, job: await openSurfaceJob(await loadModelInputs(flags), task.spec) };
  }
  const values = await opened.job.evaluate(task.indices);
  return [...values.entries()].map(([k, v]) => [k, { ...v }]);
}
