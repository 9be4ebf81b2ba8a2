/**
 * A worker thread of `--workers N` grid runs (run by piscina): it selects the job's backend, opens
 * the job once (a surface or a ratio map), and evaluates the batches of grid points it is handed.
 */
import { selectBackend, type BackendName } from './backend.js';
import { Flags } from './flags.js';
import { loadModelInputs } from './inputs.js';
import { openHessianJob, openSurfaceJob, type HessianJobSpec, type OpenSurfaceJob, type SurfaceJobSpec } from './surface-job.js';

/** One batch of points of a job. */
export interface WorkerTask {
  readonly spec: ({ kind: 'surface' } & SurfaceJobSpec) | ({ kind: 'hessian' } & HessianJobSpec);
  readonly indices: number[];
}

let opened: { key: string; job: OpenSurfaceJob } | undefined;

/** Evaluates `indices` of the job; returns `[index, value]` pairs. */
export default async function evaluatePoints(task: WorkerTask): Promise<[number, Record<string, number | null>][]> {
  const key = JSON.stringify(task.spec);
  if (opened?.key !== key) {
    opened?.job.dispose();
    const spec = task.spec;
    await selectBackend(spec.backend as BackendName);
    const flags = new Flags({ values: { model: spec.modelPath, x: spec.xPath, y: spec.yPath, ...(spec.loss !== undefined ? { loss: spec.loss } : {}) }, positionals: [] });
    const inputs = await loadModelInputs(flags);
    opened = { key, job: spec.kind === 'hessian' ? await openHessianJob(inputs, spec) : await openSurfaceJob(inputs, spec) };
  }
  const values = await opened.job.evaluate(task.indices);
  return [...values.entries()].map(([k, v]) => [k, { ...v }]);
}
