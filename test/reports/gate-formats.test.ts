import { describe, expect, it } from 'vitest';
import { judgeRule, parseRule } from '../../src/core/gate-rules.js';
import { gateJunit, gateMarkdown, gateTable, githubAnnotations } from '../../reports/gate-formats.js';

const rule = parseRule('hessian_max <= +15%', ['hessian_max', 'loss']);
const verdicts = [
  judgeRule(rule, { value: 2, status: 'ok' }, { value: 3, status: 'ok' }),
  judgeRule(parseRule('loss <= +0.5 unknown=pass', ['loss']), { value: 1, status: 'ok' }, { value: null, status: 'skipped' }),
];

describe('gate formats', () => {
  it('gateTable lines up the columns and explains every non-passing rule', () => {
    const t = gateTable(verdicts);
    expect(t.split('\n')[0]).toMatch(/^rule\s+baseline\s+current\s+change\s+interval \(90%\)\s+verdict$/);
    expect(t).toMatch(/hessian_max <= \+15%\s+2\s+3\s+\+50\.0%\s+—\s+regression/);
    expect(t).toMatch(/loss <= \+0\.5 unknown=pass\s+1\s+—\s+—\s+—\s+cannot judge \(passes\)/);
    expect(t).toMatch(/ {2}loss: the current run's loss is skipped/);
  });

  it('gateJunit writes one test case per rule, escapes XML, and marks a lenient cannot-judge as skipped', () => {
    const xml = gateJunit(verdicts, 'run <script>alert(1)</script> & "x"');
    expect(xml).toContain('<testsuite name="run &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;" tests="2" failures="1" skipped="1">');
    expect(xml).toContain('<testcase classname="landscope.gate" name="hessian_max &lt;= +15%"><failure message="change +50.0% beyond &lt;= +15.0%" type="regression">');
    expect(xml).toContain('<skipped message="the current run&apos;s loss is skipped"/>');
    expect(xml).not.toContain('<script>');
  });

  it('gateMarkdown escapes table cells and githubAnnotations emits one ::error per failing rule', () => {
    const md = gateMarkdown(verdicts, 'gate | <b>run</b>');
    expect(md.split('\n')[0]).toBe('### gate \\| \\<b\\>run\\</b\\>: 1 rule failed');
    expect(md).toContain('| hessian\\_max \\<= +15% | 2 | 3 | +50.0% | — | regression |');
    expect(githubAnnotations(verdicts)).toBe('::error title=landscope gate%3A hessian_max::hessian_max <= +15%25: change +50.0%25 beyond <= +15.0%25\n');
  });
});
