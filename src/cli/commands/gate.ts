/** `landscope gate`: fail CI when a run lands in sharper minima than the baseline. */
import { appendFile, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { judgeRule, parseRule, RuleSyntaxError, type Rule } from '../../core/gate-rules.js';
import { LandscopeError } from '../../errors.js';
import { readRunFolder } from '../../io/run-folder.js';
import { fingerprintMismatch, GATE_METRICS, loadBaseline, summarizeRun } from '../../io/run-summary.js';
import { writeAtomic } from '../../io/write-atomic.js';
import { gateJunit, gateMarkdown, gateTable, githubAnnotations } from '../../../reports/gate-formats.js';
import { ExitCode, UsageError, type CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { Flags, parseFlags } from '../flags.js';

/** The rules used when neither --rule nor a config file gives any. */
export const DEFAULT_RULES: readonly string[] = ['fn_sharpness <= +10%', 'hessian_max <= +15%'];

const usage = `landscope gate --baseline .landscope/baseline.json --run runs/<id>
    [--rule "fn_sharpness <= +10%" ...] [--config landscope.config.json] [--last K]
    [--json] [--junit gate.xml] [--summary "$GITHUB_STEP_SUMMARY"]

  Compares the run's final metrics (mean of the last K measured epochs, K from the baseline by
  default) with the baseline's. Rules: '<metric> <= +10%' (relative change), '<= +0.05' (absolute
  change), '<= 0.1' (absolute bound), '>=' likewise, optionally followed by 'unknown=pass' (a value
  that was not measured, errored, skipped or did not converge then passes; by default it fails).
  Changes are judged paired: by the last K epochs of both runs when K >= 2 (any metric), else
  sharpness by seeded direction and λmax/λmin by probe shard; a regression needs the one-sided
  95% bound of the change beyond the threshold (Fieller's interval; t for absolute changes). Default rules: ${DEFAULT_RULES.join('; ')}.
  Config file: { "gate": { "rules": [...], "last": K } }. Metrics: ${GATE_METRICS.join(', ')}.
  Exit codes: 0 pass, 1 regression, 2 usage or config error, 3 unreadable or mismatched run or baseline.`;

const spec = {
  baseline: { type: 'string' },
  run: { type: 'string' },
  rule: { type: 'string', multiple: true },
  config: { type: 'string' },
  last: { type: 'string' },
  json: { type: 'boolean' },
  junit: { type: 'string' },
  summary: { type: 'string' },
  backend: { type: 'string' },
} as const;

function rulesFrom(texts: readonly string[], where: string): Rule[] {
  return texts.map((text) => {
    try {
      return parseRule(text, GATE_METRICS);
    } catch (e) {
      if (e instanceof RuleSyntaxError) throw new UsageError(`${where}: ${e.message}`);
      throw e;
    }
  });
}

async function readConfig(path: string): Promise<{ rules?: string[]; last?: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`--config: no file at ${path}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--config: ${path} is not valid JSON (${(e as Error).message})`);
  }
  // A misspelled key would silently fall back to the default rules: every key must be known.
  const known = (value: unknown, where: string, keys: readonly string[]) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--config: ${where} in ${path} is ${JSON.stringify(value)}; expected an object with ${keys.join(', ')}`);
    const unknown = Object.keys(value).find((k) => !keys.includes(k));
    if (unknown !== undefined) throw new UsageError(`--config: ${path} has an unknown key '${unknown}' in ${where}; allowed: ${keys.join(', ')}`);
  };
  known(parsed, 'the file', ['gate']);
  const gate = (parsed as { gate?: unknown }).gate;
  if (gate === undefined) throw new UsageError(`--config: ${path} has no 'gate' section ({ "gate": { "rules": [...], "last": K } })`);
  known(gate, 'gate', ['rules', 'last']);
  const rules = (gate as { rules?: unknown }).rules;
  if (rules !== undefined && !(Array.isArray(rules) && rules.every((r) => typeof r === 'string'))) throw new UsageError(`--config: gate.rules in ${path} must be an array of rule strings`);
  const last = (gate as { last?: unknown }).last;
  if (last !== undefined && !(Number.isInteger(last) && (last as number) >= 1)) throw new UsageError(`--config: gate.last in ${path} is ${JSON.stringify(last)}, not a positive integer`);
  return { ...(rules !== undefined ? { rules: rules as string[] } : {}), ...(last !== undefined ? { last: last as number } : {}) };
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const flags = new Flags(parseFlags(argv, spec));
  const baselinePath = resolve(io.cwd, flags.required('baseline', 'a file written by landscope baseline save'));
  const runDir = resolve(io.cwd, flags.required('run', 'the run folder to judge'));
  const config = flags.string('config') === undefined ? {} : await readConfig(resolve(io.cwd, flags.string('config') as string));
  const given = flags.strings('rule');
  const rules = given.length > 0 ? rulesFrom(given, '--rule') : config.rules !== undefined ? rulesFrom(config.rules, '--config') : rulesFrom(DEFAULT_RULES, 'default rules');
  const baseline = await loadBaseline(baselinePath);
  const last = flags.integer('last', config.last ?? baseline.last, 1) as number;
  const current = summarizeRun(await readRunFolder(runDir), last);
  const mismatch = fingerprintMismatch(baseline.fingerprint, current.fingerprint);
  if (mismatch !== null) throw new LandscopeError('BASELINE_MISMATCH', `refusing to compare ${runDir} with ${baselinePath}: ${mismatch}`);
  const verdicts = rules.map((rule) => judgeRule(rule, baseline.metrics[rule.metric], current.metrics[rule.metric]));
  const failed = verdicts.some((v) => v.fails);
  const title = `landscope gate: ${current.run.id ?? runDir} vs baseline ${baseline.run.id ?? baselinePath}`;
  if (flags.boolean('json')) {
    io.stdout(`${JSON.stringify({ passed: !failed, baseline: baseline.run, run: current.run, last, verdicts }, null, 1)}\n`);
  } else {
    io.stdout(`${title}\n\n${gateTable(verdicts)}\n${failed ? 'FAILED' : 'passed'}\n`);
  }
  const junit = flags.string('junit');
  if (junit !== undefined) await writeAtomic(resolve(io.cwd, junit), gateJunit(verdicts, title));
  const summary = flags.string('summary');
  if (summary !== undefined && summary !== '') await appendFile(resolve(io.cwd, summary), gateMarkdown(verdicts, title));
  if (io.env['GITHUB_ACTIONS'] === 'true') io.stdout(githubAnnotations(verdicts));
  return failed ? ExitCode.Regression : ExitCode.Ok;
}

/** The `gate` command. */
export const gateCommand: Command = { name: 'gate', summary: 'fail CI when a run is sharper than the baseline', usage, run, needsBackend: false };
