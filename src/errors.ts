/**
 * The one error class the library throws for problems a user must fix in their inputs (files,
 * data, directions). The CLI prints these without a stack trace; `code` says which kind it is.
 */
export type LandscopeErrorCode =
  | 'FILE_NOT_FOUND'
  | 'FILE_UNREADABLE'
  | 'BAD_ARTIFACT'
  | 'BAD_NPY'
  | 'DIRECTION_MISMATCH'
  | 'DATA_SHAPE'
  | 'LABEL_SHAPE'
  | 'EMPTY_DATA'
  | 'UNSUPPORTED_MODEL'
  | 'BACKEND'
  | 'BASELINE_MISMATCH';

/** An error about the user's inputs, with a machine-readable `code`. */
export class LandscopeError extends Error {
  /** Which kind of problem this is. */
  readonly code: LandscopeErrorCode;

  /**
   * @param code which kind of problem this is
   * @param message a sentence naming the argument, the value received and what is allowed
   */
  constructor(code: LandscopeErrorCode, message: string) {
    super(message);
    this.name = 'LandscopeError';
    this.code = code;
  }
}
