import { appendFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { readRunFolder } from '../../src/io/run-folder.js';
import { runReportData } from '../../reports/run-report-data.js';
import { renderRunReport } from '../../reports/run-report.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';
import { fitRun } from '../helpers/monitored-run.js';

describe('a damaged run folder', () => {
  beforeAll(() => useBackend('cpu'));

  it('a corrupt snapshot manifest and a metrics line that is not a record do not crash the reader, the report or the gate baseline', async () => {
    const root = tmpPath('run-corrupt');
    await rm(root, { recursive: true, force: true });
    await fitRun(root, 'r', 'damaged', 3, { finalSurfaces: false, hessian: false });
    writeFileSync(`${root}/r/snapshots/manifest.json`, '{"snapshots": [ {"label": "init"');
    appendFileSync(`${root}/r/metrics.jsonl`, 'null\n');
    const contents = await readRunFolder(`${root}/r`);
    expect(contents.snapshots).toBeNull();
    expect(contents.truncatedLines).toBe(1);
    expect(renderRunReport(runReportData(contents), '')).toContain('<!doctype html>');
    const report = await runCli(['report', `${root}/r`, '--out', `${root}/r.html`]);
    expect(report.code, report.stderr).toBe(0);
    const baseline = await runCli(['baseline', 'save', `${root}/r`, '--out', `${root}/b.json`]);
    expect(baseline.code).toBe(3); // a truncated metrics file is refused as a baseline, with a one-line error
    expect(baseline.stderr).toMatch(/error: run .* metrics\.jsonl has 1 truncated line/);
  });
});
