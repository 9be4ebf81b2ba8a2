import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { describe, expect, it, vi } from 'vitest';
import { COMMANDS } from '../src/cli/main.js';
import { useBackend } from './helpers/backend.js';
import { tmpPath } from './helpers/fixture.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('README starts with the two commands: the main job on real data and the tests', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toMatch(/^npm ci && npm run demo/m);
    expect(firstBlock).toMatch(/^npm ci && npm test/m);
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(pkg.scripts.demo).toMatch(/paper-demo/);
    expect(readFileSync(new URL('../.ci/run', import.meta.url), 'utf8')).toMatch(/^npm test$/m);
  });

  it("the README's Slurm array is scripts/slurm-surface.sbatch, the file the Slurm test submits (no drift), and .ci/run runs that test", () => {
    const shown = /A Slurm array — `scripts\/slurm-surface\.sbatch`[^\n]*\n\n```bash\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(shown).toBe(readFileSync(new URL('../scripts/slurm-surface.sbatch', import.meta.url), 'utf8'));
    expect(readFileSync(new URL('../scripts/slurm-test.sh', import.meta.url), 'utf8')).toMatch(/sbatch --parsable --array=0-3 "\$ROOT\/scripts\/slurm-surface\.sbatch"/);
    expect(readFileSync(new URL('../.ci/run', import.meta.url), 'utf8')).toMatch(/npm test\n[\s\S]*npm run test:slurm/);
  });

  it('the README library example runs as written', async () => {
    await useBackend('cpu');
    const code = /```ts readme-example\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    const index = new URL('../src/index.ts', import.meta.url).pathname;
    await mkdir(tmpPath(), { recursive: true });
    const file = tmpPath('readme-example.ts');
    await writeFile(file, (code as string).replace("from 'landscope'", `from '${index}'`));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    await import(file);
    const row = log.mock.calls[0]?.[0] as number[];
    log.mockRestore();
    expect(row).toHaveLength(11);
    for (const v of row) expect(Number.isFinite(v)).toBe(true);
  });

  it('every landscope command line in the README uses a command and flags that exist', () => {
    const lines = readme.split('\n').filter((l) => /^landscope \w/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(5);
    // Join continuation lines of the first example.
    const text = readme.replace(/\\\n\s+/g, ' ');
    for (const line of text.split('\n').filter((l) => /^landscope \w/.test(l))) {
      const [, name] = line.split(' ');
      const command = COMMANDS.find((c) => c.name === name);
      expect(command, line).toBeDefined();
      for (const flag of line.match(/--[a-z0-9-]+/g) ?? []) expect(command?.usage, `${flag} in: ${line}`).toContain(flag);
    }
  });
});

describe('the examples a user copies', () => {
  it('import landscope only through its package entry (src/index.ts), as a package user can', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    for (const file of readdirSync('examples').filter((f) => f.endsWith('.ts'))) {
      const imports = [...readFileSync(`examples/${file}`, 'utf8').matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1] as string);
      const internal = imports.filter((p) => p.startsWith('../') && p !== '../src/index.js');
      expect(internal, file).toEqual([]);
    }
  });
});
