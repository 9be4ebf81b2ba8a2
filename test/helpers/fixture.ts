/**
 * The reference case `test/fixtures/mlp-deep` (a copy of the team's `shared/fixtures`, kept in the
 * repository so a clone alone runs the tests), loaded for tests.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Absolute path of a file in the mlp-deep fixture. */
export function fixturePath(...parts: string[]): string {
  return resolve(here, '../fixtures/mlp-deep', ...parts);
}

/** The fixture's float64 reference values. */
export function expected(): any {
  return JSON.parse(readFileSync(fixturePath('expected.json'), 'utf8'));
}

/** A folder under the repo's ignored `.tmp/` for test outputs. */
export function tmpPath(...parts: string[]): string {
  return join(here, '../../.tmp', ...parts);
}
