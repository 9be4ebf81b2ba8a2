/**
 * Command-line flags: `node:util` parseArgs with every value checked, so that each bad value
 * becomes a UsageError naming the flag, the value and what is allowed.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { assertGridSize, parseRange, type AxisRange } from '../core/grid.js';
import { UsageError } from './cli-io.js';

/** A flag's declaration: a string value (the default) or a boolean switch. */
export type FlagSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/** Parsed flags: values by flag name, positionals in order. */
export interface ParsedFlags {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
}

/**
 * Parses `argv` against the declared flags.
 * @throws {UsageError} for an unknown flag, a missing value, or a value that looks like a flag
 */
export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: spec, allowPositionals: true, strict: true });
    return { values: values as ParsedFlags['values'], positionals };
  } catch (e) {
    const code = (e as { code?: string }).code;
    const unknown = /Unknown option '(--?[^']+)'/.exec((e as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== undefined) {
      const name = unknown.replace(/^-+/, '');
      const near = Object.keys(spec).filter((k) => k.length > 1 && editDistance(k, name) <= Math.max(2, Math.floor(k.length / 3))).sort((a, b) => editDistance(a, name) - editDistance(b, name));
      throw new UsageError(`unknown flag ${unknown}${near.length > 0 ? `; did you mean --${near[0]}?` : `; flags: ${Object.keys(spec).map((k) => `--${k}`).join(', ')}`}`);
    }
    const ambiguous = /Option '--([^' ]+)[^']*' argument is ambiguous/.exec((e as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && ambiguous !== undefined) {
      const i = argv.indexOf(`--${ambiguous}`);
      const value = i >= 0 ? argv[i + 1] : undefined;
      throw new UsageError(`--${ambiguous}: a value starting with '-' must be written with '=': --${ambiguous}=${value ?? '-…'}`);
    }
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] as number;
}

/** Reads flags with checks; every getter throws a UsageError naming the flag. */
export class Flags {
  constructor(private readonly parsed: ParsedFlags) {}

  /** The positional arguments. */
  get positionals(): string[] {
    return this.parsed.positionals;
  }

  /**
   * For commands that take flags only: a stray argument (a value whose flag was mistyped or
   * dropped) is refused instead of ignored.
   * @throws {UsageError} naming the first one
   */
  noPositionals(): void {
    const stray = this.parsed.positionals[0];
    if (stray !== undefined) throw new UsageError(`unexpected argument '${stray}' (this command takes flags only; a value needs its --flag)`);
  }

  /** A string flag, or undefined when absent. */
  string(name: string): string | undefined {
    const v = this.parsed.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** A string flag that must be present. */
  required(name: string, hint = ''): string {
    const v = this.string(name);
    if (v === undefined || v === '') throw new UsageError(`--${name} is required${hint ? ` (${hint})` : ''}`);
    return v;
  }

  /** A repeatable string flag's values (empty when absent). */
  strings(name: string): string[] {
    const v = this.parsed.values[name];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  }

  /** A boolean switch. */
  boolean(name: string): boolean {
    return this.parsed.values[name] === true;
  }

  /** One of a fixed set of values. */
  choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.string(name) ?? fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      throw new UsageError(`--${name}: '${v}' is not one of ${allowed.join(', ')}`);
    }
    return v as T;
  }

  /** An integer in [min, max]. */
  integer(name: string, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const v = Number(text);
    if (!(text.trim() !== '' && Number.isInteger(v) && v >= min && v <= max)) {
      throw new UsageError(`--${name}: '${text}' is not an integer from ${min} to ${max}`);
    }
    return v;
  }

  /** A positive finite number. */
  positiveNumber(name: string, fallback: number): number {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const v = Number(text);
    if (!(text.trim() !== '' && v > 0 && Number.isFinite(v))) throw new UsageError(`--${name}: '${text}' is not a positive number`);
    return v;
  }

  /**
   * Checks the grid the given range flags span (absent ones are skipped) against `MAX_GRID_POINTS`.
   * @throws {UsageError} naming the flags and the point count
   */
  checkGrid(...names: string[]): void {
    const ranges = names.flatMap((name) => {
      const range = this.range(name);
      return range === undefined ? [] : [{ range, what: `--${name}` }];
    });
    try {
      assertGridSize(ranges);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }

  /**
   * A file path to write, checked before any work: an existing folder there is refused.
   * @throws {UsageError} when the path is a folder
   */
  outFile(name: string, cwd: string): string | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    if (statSync(resolve(cwd, text), { throwIfNoEntry: false })?.isDirectory() === true) {
      throw new UsageError(`--${name}: ${text} is a folder; give the path of a file to write, e.g. ${join(text, 'out.json')}`);
    }
    return text;
  }

  /** A grid command's `--out`: the file to write, or with `--shard`/`--shard-count` the folder of part files (checked by the grid runner). */
  gridOut(cwd: string): string | undefined {
    return this.string('shard') === undefined && this.string('shard-count') === undefined ? this.outFile('out', cwd) : this.string('out');
  }

  /** A `min:max:num` range. */
  range(name: string): AxisRange | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    try {
      return parseRange(text, `--${name}`);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
}
