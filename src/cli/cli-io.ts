/**
 * What a CLI command may touch of its process: arguments, working folder, environment and the two
 * output streams. Tests pass a fake one; `bin.ts` passes the real process.
 */

/** The process a command runs in. */
export interface CliIo {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether stderr is a terminal (progress bars) or not (progress lines). */
  readonly isTTY: boolean;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Exit codes, one meaning each. */
export const ExitCode = {
  /** The command did what was asked. */
  Ok: 0,
  /** `landscope gate` found a regression. */
  Regression: 1,
  /** The command line was wrong: unknown command or flag, a missing or malformed value. */
  Usage: 2,
  /** The command could not finish: unreadable or mismatched inputs (a run, a baseline), or a crash. */
  Failure: 3,
} as const;

/** A mistake in the command line; the CLI prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
