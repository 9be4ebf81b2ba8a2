/**
 * landscope benchmarks (tinybench), reported as ratios measured side by side in one run.
 *
 *   npm run bench                 # every section
 *   npm run bench -- --quick      # shorter runs
 *   npm run bench -- hessian      # one section: engine, surface, kernels, hessian, monitor, every-epoch (monitor's first table), workers
 *   BENCH_ONLY=cpu npm run bench -- every-epoch   # one workload of the every-epoch table: mlp, cnn or cpu
 */
import { benchEngine } from './engine.js';
import { benchHessian } from './hessian.js';
import { benchKernels } from './kernels.js';
import { benchEveryEpoch, benchMonitor } from './monitor.js';
import { benchSurface } from './surface.js';
import { benchWorkers } from './workers.js';

const quick = process.argv.includes('--quick');
const sections: Record<string, (quick: boolean) => Promise<void>> = { engine: benchEngine, surface: benchSurface, kernels: benchKernels, hessian: benchHessian, monitor: benchMonitor, 'every-epoch': benchEveryEpoch, workers: benchWorkers };
const chosen = process.argv.slice(2).filter((a) => !a.startsWith('--'));
for (const name of chosen.length > 0 ? chosen : Object.keys(sections)) {
  const run = sections[name];
  if (run === undefined) {
    console.error(`bench: unknown section '${name}'; sections: ${Object.keys(sections).join(', ')}`);
    process.exitCode = 2;
    break;
  }
  await run(quick);
}
