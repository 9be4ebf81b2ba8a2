/** `landscope sharpness`: filter-normalized and adaptive sharpness at a checkpoint, as the monitor measures them. */
import { modelAdaptiveSharpness, adaptiveDirections } from '../../landscape/adaptive-sharpness.js';
import { modelFilterSharpness, sharpnessDirections } from '../../landscape/filter-sharpness.js';
import type { ParamList } from '../../core/param-list.js';
import { ModelEvaluator } from '../../model/evaluator.js';
import { hvp } from '../../model/hvp.js';
import { LANDSCOPE_VERSION } from '../../version.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';
import { disposeInputs, loadModelInputs, MODEL_DATA_FLAGS } from '../inputs.js';
import { emitJson } from '../output.js';

const usage = `landscope sharpness --model M --x X.npy --y Y.npy [--directions 8] [--radius 0.1] [--seed 1]
    [--adaptive] [--adaptive-radius 0.5] [--adaptive-steps 3] [--adaptive-directions 8]
    [--batch-size 256] [--loss NAME] [--out sharpness.json]

  The monitor's sharpness numbers at a saved checkpoint, on the data given (with the monitor's seed
  and settings they reproduce its values for that epoch's snapshot):
  - filter-normalized sharpness (Li et al. 2018): the mean over --directions seeded Gaussian
    directions, normalized filter-wise (biases and batch-norm ignored), of
    (L(θ + r d) + L(θ − r d))/2 − L(θ) at --radius r, with its standard error and 2s/r²;
  - with --adaptive, adaptive sharpness (Kwon et al. 2021; Andriushchenko et al. 2023) over the
    ball ‖ε ⊘ |θ|‖₂ ≤ ρ (--adaptive-radius): the worst case by --adaptive-steps of normalized
    projected gradient ascent (exact gradients), and the average over --adaptive-directions seeded
    directions on the ball's sphere, each with its opposite.
  Output: { loss, sharpness: {radius, mean, stderr, values, curvature}, adaptiveSharpness?: {worst,
  average, averageStderr, values, ascent, …}, meta }.`;

const spec = {
  ...MODEL_DATA_FLAGS,
  directions: { type: 'string' },
  radius: { type: 'string' },
  seed: { type: 'string' },
  adaptive: { type: 'boolean' },
  'adaptive-radius': { type: 'string' },
  'adaptive-steps': { type: 'string' },
  'adaptive-directions': { type: 'string' },
} as const;


async function run(argv: readonly string[], io: CliIo, backend: string): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  flags.noPositionals();
  const out = flags.outFile('out', io.cwd);
  const count = flags.integer('directions', 8, 2, 999) as number;
  const radius = flags.positiveNumber('radius', 0.1);
  const seed = flags.integer('seed', 1, 0, 2 ** 31 - 2) as number;
  const adaptive = flags.boolean('adaptive');
  const adaptiveRadius = flags.positiveNumber('adaptive-radius', 0.5);
  const adaptiveSteps = flags.integer('adaptive-steps', 3, 0) as number;
  const adaptiveCount = flags.integer('adaptive-directions', 8, 2, 499) as number;
  if (!adaptive) for (const name of ['adaptive-radius', 'adaptive-steps', 'adaptive-directions']) if (flags.string(name) !== undefined) throw new UsageError(`--${name} goes with --adaptive`);
  const batchSize = flags.integer('batch-size', 256, 1) as number;
  const started = performance.now();
  const inputs = await loadModelInputs(flags);
  const { model, data } = inputs;
  const owned: { dispose(): void }[] = [];
  try {
    const evaluator = new ModelEvaluator(model, data, { loss: inputs.loss.fn, lossName: inputs.loss.name, batchSize });
    owned.push(evaluator);
    const raw: ParamList[] = sharpnessDirections(model, count, seed);
    owned.push(...raw);
    const fn = await modelFilterSharpness(model, evaluator, raw, [radius]);
    let adaptiveResult;
    if (adaptive) {
      const H = hvp(model, data, { params: 'all', batchSize, ...(inputs.lossOption !== undefined ? { loss: inputs.lossOption } : {}) });
      owned.push(H);
      const directions = adaptiveDirections(H, adaptiveCount, seed);
      owned.push(...directions);
      adaptiveResult = { ...(await modelAdaptiveSharpness(model, H, evaluator, { radius: adaptiveRadius, steps: adaptiveSteps, directions })), directions: adaptiveCount, steps: adaptiveSteps };
    }
    const s = fn.radii[0];
    const result = {
      loss: fn.center,
      sharpness: { ...s, directions: count, norm: 'filter', ignore: 'biasbn' },
      ...(adaptiveResult !== undefined ? { adaptiveSharpness: adaptiveResult } : {}),
      meta: {
        kind: 'sharpness',
        model: inputs.modelPath,
        data: { x: inputs.xPath, y: inputs.yPath, size: evaluator.size },
        loss: inputs.loss.label,
        seed,
        backend,
        seconds: (performance.now() - started) / 1000,
        landscopeVersion: LANDSCOPE_VERSION,
        createdAt: new Date().toISOString(),
      },
    };
    const line = `sharpness: fn_sharpness ${s?.mean.toPrecision(4)} ± ${s?.stderr.toPrecision(2)} (r = ${radius})${adaptiveResult !== undefined ? `, adaptive worst ${adaptiveResult.worst.toPrecision(4)}, average ${adaptiveResult.average.toPrecision(3)} (ρ = ${adaptiveRadius})` : ''}`;
    await emitJson(io, out, result, (where) => `${line} on ${backend} -> ${where}`);
    return ExitCode.Ok;
  } finally {
    for (const o of owned) o.dispose();
    disposeInputs(inputs);
  }
}

/** The `sharpness` command. */
export const sharpnessCommand: Command = { name: 'sharpness', summary: 'filter-normalized and adaptive sharpness at a checkpoint', usage, run };
