/**
 * The landscope command line: `main(argv, io)` runs one command and returns its exit code
 * (0 ok, 2 usage error, 3 failure). Known errors print as one line without a stack.
 */
import { LandscopeError } from '../errors.js';
import { LANDSCOPE_VERSION } from '../version.js';
import { BACKEND_NAMES, selectBackend, type BackendName } from './backend.js';
import { ExitCode, UsageError, type CliIo } from './cli-io.js';
import type { Command } from './command.js';
import { baselineCommand } from './commands/baseline.js';
import { compareCommand } from './commands/compare.js';
import { directionsCommand } from './commands/directions.js';
import { gateCommand } from './commands/gate.js';
import { hessianCommand } from './commands/hessian.js';
import { interpolateCommand } from './commands/interpolate.js';
import { sharpnessCommand } from './commands/sharpness.js';
import { mergeCommand } from './commands/merge.js';
import { mlflowCommand } from './commands/mlflow.js';
import { reportCommand } from './commands/report.js';
import { serveCommand } from './commands/serve.js';
import { surfaceCommand } from './commands/surface.js';
import { trajectoryCommand } from './commands/trajectory.js';

/** Every command, by name. */
export const COMMANDS: readonly Command[] = [surfaceCommand, mergeCommand, interpolateCommand, directionsCommand, hessianCommand, sharpnessCommand, trajectoryCommand, reportCommand, compareCommand, serveCommand, baselineCommand, gateCommand, mlflowCommand];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `landscope ${LANDSCOPE_VERSION}: loss-landscape geometry for TensorFlow.js models`,
    '',
    'Usage: landscope <command> [flags]   (landscope <command> --help for its flags)',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Every command takes --backend ${BACKEND_NAMES.join('|')} (default: the first that loads, in that order).`,
    'Exit codes: 0 ok, 1 regression (gate), 2 usage error, 3 failure.',
    '',
  ].join('\n');
}

/** Finds `--backend X` / `--backend=X` without parsing the rest. */
function backendFlag(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--backend') return argv[i + 1] ?? '';
    if (a.startsWith('--backend=')) return a.slice('--backend='.length);
  }
  return undefined;
}

/**
 * Runs the CLI.
 * @param argv the arguments after the program name, e.g. `['surface', '--model', …]`
 * @param io the process to use
 * @returns the exit code
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(overview());
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${LANDSCOPE_VERSION}\n`);
    return ExitCode.Ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.stderr(`landscope: unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(', ')}\n`);
    return ExitCode.Usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${command.usage}\n`);
    return ExitCode.Ok;
  }
  try {
    const requested = backendFlag(rest);
    if (requested !== undefined && !(BACKEND_NAMES as readonly string[]).includes(requested)) {
      throw new UsageError(`--backend: '${requested}' is not one of ${BACKEND_NAMES.join(', ')}`);
    }
    if (command.needsBackend === false) return await command.run(rest, io, '');
    const backend = await selectBackend(requested as BackendName | undefined);
    io.stderr(`landscope ${command.name}: backend ${backend}\n`);
    return await command.run(rest, io, backend);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`landscope ${command.name}: ${e.message}\nsee \`landscope ${command.name} --help\`\n`);
      return ExitCode.Usage;
    }
    if (e instanceof LandscopeError) {
      io.stderr(`landscope ${command.name}: error: ${e.message}\n`);
      return ExitCode.Failure;
    }
    io.stderr(`landscope ${command.name}: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return ExitCode.Failure;
  }
}
