/** The chart.js UMD bundle's source, read once from the installed package, to inline in reports. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/** chart.js's minified UMD bundle (it defines the global `Chart`). */
export function chartJsSource(): string {
  if (cached === undefined) {
    const main = createRequire(import.meta.url).resolve('chart.js');
    cached = readFileSync(join(dirname(main), 'chart.umd.min.js'), 'utf8');
  }
  return cached;
}
