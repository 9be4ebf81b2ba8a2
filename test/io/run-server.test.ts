import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRunServer, type RunServer } from '../../src/io/run-server.js';
import { useBackend } from '../helpers/backend.js';
import { runCli } from '../helpers/cli.js';
import { tmpPath } from '../helpers/fixture.js';
import { EVIL, fitRun } from '../helpers/monitored-run.js';

const root = tmpPath('serve', 'runs');
const outside = tmpPath('serve', 'outside');
const SECRET = 'outside-secret-7f3a';

/** A raw GET (fetch would normalize '..' and encoded slashes away before sending). */
function get(server: RunServer, path: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('landscope serve: the server', () => {
  let server: RunServer;
  beforeAll(async () => {
    await useBackend('cpu');
    await rm(tmpPath('serve'), { recursive: true, force: true });
    await fitRun(root, 'a', `first ${EVIL}`, 3, { worker: false, finalSurfaces: false, report: false });
    await fitRun(join(root, 'nested'), 'b', 'second', 2, { worker: false, finalSurfaces: false, report: false, seed: 2 });
    // A half-written run.json, and a run with a corrupt metrics line in the middle.
    mkdirSync(join(root, 'corrupt'));
    writeFileSync(join(root, 'corrupt', 'run.json'), '{"id": "corrupt", "status": "runn');
    cpSync(join(root, 'a'), join(root, 'badline'), { recursive: true });
    const lines = readFileSync(join(root, 'badline', 'metrics.jsonl'), 'utf8').trimEnd().split('\n');
    writeFileSync(join(root, 'badline', 'metrics.jsonl'), [lines[0], '{"epoch": 0, "logs": {"loss": 0.5', ...lines.slice(1)].join('\n') + '\n');
    // Outside the folder: a run reached by a link to its folder, and one whose run.json is a link.
    mkdirSync(join(outside, 'run'), { recursive: true });
    writeFileSync(join(outside, 'run', 'run.json'), JSON.stringify({ id: SECRET, name: SECRET, status: 'finished' }));
    writeFileSync(join(outside, 'secret.json'), JSON.stringify({ id: SECRET, status: 'finished' }));
    symlinkSync(join(outside, 'run'), join(root, 'linked-dir'));
    mkdirSync(join(root, 'linked-file'));
    symlinkSync(join(outside, 'secret.json'), join(root, 'linked-file', 'run.json'));
    server = await startRunServer({ dir: root, port: 0 });
  }, 120_000);
  afterAll(() => server?.close());

  it('listens on 127.0.0.1 unless told otherwise, and answers GET and HEAD only', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await get(server, '/api/runs', 'POST')).status).toBe(405);
    expect((await get(server, '/api/runs', 'HEAD')).status).toBe(200);
    await expect(startRunServer({ dir: root, port: 70000 })).rejects.toThrow(/port 70000 is not an integer from 0 to 65535/);
  });

  it('lists the runs under the folder, nested ones too, newest first; a corrupt one says what is wrong, the others show', async () => {
    const { status, body } = await get(server, '/api/runs');
    expect(status).toBe(200);
    const runs = JSON.parse(body).runs as { id: string; title: string; status: string; epochs: number; loss: number | null; sharpness: number | null; hessianMax: number | null; problem: string | null; start: string | null }[];
    expect(runs.map((r) => r.id).sort()).toEqual(['a', 'badline', 'corrupt', 'nested/b']);
    const byId = Object.fromEntries(runs.map((r) => [r.id, r]));
    expect(byId['a']).toMatchObject({ status: 'finished', epochs: 3, problem: null, title: `first ${EVIL} (a)` });
    for (const k of ['loss', 'sharpness', 'hessianMax'] as const) expect(byId['a']?.[k]).toBeGreaterThan(0);
    expect(byId['corrupt']?.status).toBe('unreadable');
    expect(byId['corrupt']?.problem).toMatch(/run\.json is not valid JSON/);
    expect(byId['badline']?.problem).toMatch(/1 line\(s\) of metrics\.jsonl could not be read/);
    expect(byId['badline']?.epochs).toBe(3);
    // Newest first: nested/b was trained after a.
    const started = runs.filter((r) => r.start !== null).map((r) => r.start as string);
    expect([...started].sort().reverse()).toEqual(started);
    expect(body).not.toContain(SECRET);
  });

  it('serves nothing outside the folder: traversal, encoded slashes and links get 404', async () => {
    const attempts = [
      '/run?id=linked-dir',
      '/run?id=linked-file',
      '/api/run?id=linked-dir',
      `/run?id=${encodeURIComponent('../outside/run')}`,
      '/run?id=..%2Foutside%2Frun',
      '/../outside/secret.json',
      '/..%2f..%2foutside%2fsecret.json',
      '/%2e%2e/%2e%2e/outside/secret.json',
      '/run%2Fa',
      '/runs/..\\..\\outside\\secret.json',
      '/a/run.json',
      '/run.json',
      '/compare?run=a&run=linked-dir',
    ];
    for (const path of attempts) {
      const r = await get(server, path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).not.toContain(SECRET);
    }
  });

  it("a run's live page and its endpoint: 204 until the folder changes, then the new parts; every string escaped", async () => {
    const page = await get(server, '/run?id=a');
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);
    expect(page.body).not.toContain(EVIL);
    expect(page.body).toContain('first &lt;script&gt;');
    expect(page.body).toContain('data-live="/api/run?id=a"');
    const version = /data-version="([^"]+)"/.exec(page.body)?.[1] as string;
    const same = await get(server, `/api/run?id=a&since=${encodeURIComponent(version)}`);
    expect(same.status).toBe(204);
    const before = JSON.parse((await get(server, '/api/run?id=a')).body);
    expect(before.charts.map((c: { id: string }) => c.id)).toContain('loss');
    const lossPoints = (p: { charts: { id: string; config: { data: { datasets: { data: unknown[] }[] } } }[] }) =>
      (p.charts.find((c) => c.id === 'loss')?.config.data.datasets[0]?.data ?? []).filter((v) => v !== null).length;
    // An epoch more, as a training process appends it.
    const lines = readFileSync(join(root, 'a', 'metrics.jsonl'), 'utf8').trimEnd().split('\n');
    const next = JSON.parse(lines.at(-1) as string);
    appendFileSync(join(root, 'a', 'metrics.jsonl'), JSON.stringify({ ...next, epoch: next.epoch + 1, logs: { ...next.logs, loss: 0.01 } }) + '\n');
    const changed = await get(server, `/api/run?id=a&since=${encodeURIComponent(version)}`);
    expect(changed.status).toBe(200);
    const after = JSON.parse(changed.body);
    expect(after.version).not.toBe(version);
    expect(lossPoints(after)).toBe(lossPoints(before) + 1);
    expect(changed.body).not.toContain(EVIL);
  });

  it('a corrupt run gets a page that says what is wrong; a corrupt metrics line is reported and skipped', async () => {
    const corrupt = await get(server, '/run?id=corrupt');
    expect(corrupt.status).toBe(200);
    expect(corrupt.body).toMatch(/cannot be read now: run: .*run\.json is not valid JSON/);
    const bad = JSON.parse((await get(server, '/api/run?id=badline')).body);
    expect(bad.header).toMatch(/1 line\(s\) of metrics\.jsonl were cut short/);
    expect(bad.charts.length).toBeGreaterThan(2);
  });

  it('compares runs live, with their settings side by side and a box to show only what differs', async () => {
    const r = await get(server, '/compare?run=a&run=nested%2Fb');
    expect(r.status).toBe(200);
    expect(r.body).toContain('show only what differs');
    // The seeds differ; the probe does not.
    const rows = [...r.body.matchAll(/<tr( class="same")?><td class="k">([^<]+)<\/td>/g)].map((m) => ({ same: m[1] !== undefined, key: m[2] }));
    expect(rows.find((x) => x.key === 'options.seed')?.same).toBe(false);
    expect(rows.some((x) => x.same)).toBe(true);
    expect((await get(server, '/compare?run=a')).status).toBe(400);
    expect((await get(server, '/compare?run=a&run=nope')).status).toBe(404);
  });

  it('serves 200 concurrent requests without an error', async () => {
    const paths = ['/', '/api/runs', '/run?id=a', '/api/run?id=nested%2Fb', '/compare?run=a&run=badline'];
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => get(server, paths[i % paths.length] as string)));
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
  }, 60_000);

  it('landscope serve as a process: prints its URL, serves the folder, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [resolve('dist/src/cli/bin.js'), 'serve', root, '--port', '0', '--interval', '500'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((done) => child.on('exit', done));
    const end = Date.now() + 20_000;
    while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1] as string;
    expect(out).toMatch(/^landscope serve: http:\/\/127\.0\.0\.1:\d+\/ \(runs under .*serve\/runs; Ctrl-C stops\)\n$/);
    const runs = (await (await fetch(`${url}api/runs`)).json()) as { runs: { id: string }[] };
    expect(runs.runs.map((r) => r.id)).toContain('a');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('landscope serve refuses a taken port and a bad flag with a clear message', async () => {
    const taken = await runCli(['serve', root, '--port', String(server.port)]);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(new RegExp(`--port: ${server.port} is in use on 127\\.0\\.0\\.1`));
    const bad = await runCli(['serve', root, '--port', 'http']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--port: 'http' is not an integer from 0 to 65535/);
  });
});
