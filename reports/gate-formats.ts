/**
 * The CI gate's verdicts as text: a terminal table, Markdown for GitHub's step summary, JUnit XML
 * (one test case per rule), and GitHub Actions `::error` annotations. Plain data in, strings out.
 */
import type { Verdict } from '../src/core/gate-rules.js';

const num = (v: number | null) => (v === null ? '—' : Number(v.toPrecision(5)).toString());
const signed = (v: Verdict, x: number) => (v.rule.kind === 'relative' ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%` : `${x >= 0 ? '+' : ''}${Number(x.toPrecision(4))}`);
const change = (v: Verdict) => (v.change === null ? '—' : signed(v, v.change));
/** The interval and what was paired: `-12.0%..+30.1% (epochs)`. */
const interval = (v: Verdict) => (v.interval === null ? '—' : `${signed(v, v.interval[0])}..${signed(v, v.interval[1])} (${v.pairedBy})`);
const verdictText = (v: Verdict) => (v.verdict === 'cannot judge' ? `cannot judge (${v.fails ? 'fails' : 'passes'})` : v.verdict);

function rows(verdicts: readonly Verdict[]): string[][] {
  return verdicts.map((v) => [v.rule.text, num(v.baseline), num(v.current), change(v), interval(v), verdictText(v)]);
}

const HEADER = ['rule', 'baseline', 'current', 'change', 'interval (90%)', 'verdict'];

/** A fixed-width table for the terminal, one rule a row, with each verdict's reason below. */
export function gateTable(verdicts: readonly Verdict[]): string {
  const all = [HEADER, ...rows(verdicts)];
  const widths = HEADER.map((_, c) => Math.max(...all.map((r) => (r[c] as string).length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c] as number)).join('  ').trimEnd();
  const out = [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows(verdicts).map(line)];
  for (const v of verdicts) if (v.verdict !== 'pass') out.push(`  ${v.rule.metric}: ${v.reason}`);
  return `${out.join('\n')}\n`;
}

function mdCell(s: string): string {
  return s.replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`);
}

/** A Markdown report for `$GITHUB_STEP_SUMMARY`. */
export function gateMarkdown(verdicts: readonly Verdict[], title: string): string {
  const failed = verdicts.filter((v) => v.fails).length;
  const head = `### ${mdCell(title)}: ${failed === 0 ? 'passed' : `${failed} rule${failed === 1 ? '' : 's'} failed`}\n\n`;
  const table = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`, ...rows(verdicts).map((r) => `| ${r.map(mdCell).join(' | ')} |`)].join('\n');
  const reasons = verdicts.filter((v) => v.verdict !== 'pass').map((v) => `- **${mdCell(v.rule.metric)}**: ${mdCell(v.reason)}`).join('\n');
  return `${head}${table}\n${reasons === '' ? '' : `\n${reasons}\n`}`;
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** JUnit XML: one test suite, one test case per rule; a failing rule is a failure, a passing "cannot judge" is skipped. */
export function gateJunit(verdicts: readonly Verdict[], suite: string): string {
  const failures = verdicts.filter((v) => v.fails).length;
  const skipped = verdicts.filter((v) => v.verdict === 'cannot judge' && !v.fails).length;
  const cases = verdicts.map((v) => {
    const name = xml(v.rule.text);
    const body = v.fails
      ? `<failure message="${xml(v.reason)}" type="${v.verdict === 'regression' ? 'regression' : 'cannot-judge'}">${xml(`baseline ${num(v.baseline)}, current ${num(v.current)}, change ${change(v)}`)}</failure>`
      : v.verdict === 'cannot judge'
        ? `<skipped message="${xml(v.reason)}"/>`
        : '';
    return `    <testcase classname="landscope.gate" name="${name}">${body}</testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="${xml(suite)}" tests="${verdicts.length}" failures="${failures}" skipped="${skipped}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}

/** GitHub Actions workflow commands, one `::error` per failing rule. */
export function githubAnnotations(verdicts: readonly Verdict[]): string {
  const escape = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return verdicts
    .filter((v) => v.fails)
    .map((v) => `::error title=${escape(`landscope gate: ${v.rule.metric}`).replace(/[:,]/g, (c) => (c === ':' ? '%3A' : '%2C'))}::${escape(`${v.rule.text}: ${v.reason}`)}\n`)
    .join('');
}
