/** The shape of a CLI command. */
import type { CliIo } from './cli-io.js';

/** One `landscope <name>` command. */
export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full usage text, flags and defaults. */
  readonly usage: string;
  /** False for commands that only read and write files (no TF.js): no backend is loaded or announced. @default true */
  readonly needsBackend?: boolean;
  /**
   * Runs the command (the backend is already selected).
   * @returns the exit code
   */
  run(argv: readonly string[], io: CliIo, backend: string): Promise<number>;
}
