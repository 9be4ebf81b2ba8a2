/** landscope's version, read from its package.json. */
import { readFileSync } from 'node:fs';

function findVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'landscope' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this level (source vs dist layout)
    }
  }
  return 'unknown';
}

/** The package version, e.g. `0.1.0`. */
export const LANDSCOPE_VERSION: string = findVersion();
