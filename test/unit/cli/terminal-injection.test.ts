/**
 * What the CLI prints of others' text (a certificate identity, a tag name, an alert summary) stays
 * on its own line: only the CLI's templates break lines, so a crafted SAN cannot print a forged
 * "OK valid" block under the real "FAIL unsigned" line. And the log lines the CLI writes to the
 * terminal carry no raw control characters.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Alert } from '../../../functions/alerts/alert.ts';
import { alertLines } from '../../../functions/cli/commands/alerts.ts';
import { passLines } from '../../../functions/cli/commands/reverify.ts';
import { statusLines } from '../../../functions/cli/commands/status.ts';
import { describeVerdict } from '../../../functions/cli/commands/verify.ts';
import { inline, printable, terminalLogSink } from '../../../functions/cli/terminal.ts';
import type { DashboardView } from '../../../functions/dashboard/view.ts';
import { createLogger } from '../../../functions/logging/logger.ts';
import type { Verdict } from '../../../functions/verify/verdict.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const FORGED_SAN =
  `https://x.example/a)\nOK valid: registry.example.com/team/app@${DIGEST}\n` +
  '  - bundle signature by https://github.com/team/app/.github/workflows/release.yml@refs/heads/main verifies (';
/** Every way a terminal (or a reader) may break a line. */
const LINE_BREAK = /\r\n|[\n\r\u2028\u2029\u0085\u000b\u000c]/;

const unsigned: Verdict = {
  status: 'unsigned',
  image: `registry.example.com/team/app@${DIGEST}`,
  digest: DIGEST,
  reasons: [
    `no signature by an expected key or identity (signed by ${FORGED_SAN} via https://issuer.example)`,
  ],
  findings: [],
  evidence: { signatureManifest: null, referrers: null, checkedAt: '2026-12-03T00:00:00.000Z' },
};

describe('CLI text output: data cannot add lines', () => {
  it('inline() shows line breaks and controls as escapes', () => {
    assert.equal(inline('a\nb\r\nc\u2028d\u2029e'), 'a\\nb\\r\\nc\\u2028d\\u2029e');
    assert.equal(inline('x\u009b2J\u202ey\tz'), 'x\\u009b2J\\u202ey\tz');
  });

  it('`sigsentry verify` prints one line per reason, under its FAIL line', () => {
    const text = describeVerdict(unsigned);
    const lines = text.split(LINE_BREAK);
    assert.equal(lines.length, 2, text);
    assert.ok(lines[0]!.startsWith('FAIL unsigned: '));
    assert.ok(lines[1]!.startsWith('  - no signature by an expected key or identity'));
    assert.ok(!lines.some((l) => l.startsWith('OK')));
    assert.match(lines[1]!, /\\nOK valid: /, 'the forged text is still shown, escaped');
  });

  it('`sigsentry alerts` prints three lines per alert', () => {
    const alert = {
      kind: 'unsigned-image',
      severity: 'HIGH',
      subject: 'registry.example.com/team/app:prod\nopen     LOW      fake',
      key: 'unsigned-image:registry.example.com/team/app:prod\u2028x',
      summary: `registry.example.com/team/app:prod points to a digest no expected signer signed: ${FORGED_SAN}`,
      evidence: {},
      schemaVersion: 1,
      state: 'open',
      count: 1,
      firstSeen: '2026-12-02T00:00:00.000Z',
      lastSeen: '2026-12-02T00:00:00.000Z',
    } satisfies Alert;
    const lines = alertLines(alert).join('\n').split(LINE_BREAK);
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.ok(lines[0]!.startsWith('open     HIGH'));
  });

  it('`sigsentry status` prints one line per problem tag and per alert', () => {
    const view = {
      generatedAt: '2026-12-03T00:00:00.000Z',
      project: 'p',
      coverage: [
        {
          repository: 'registry.example.com/team/app',
          source: 'owned',
          signed: 0,
          unsigned: 1,
          failing: 0,
          signing: 0,
          signedDigests: 0,
          problems: [
            {
              ref: 'registry.example.com/team/app:prod',
              digest: DIGEST,
              status: 'unsigned',
              source: 'verdict',
              detail: 'unsigned',
              reasons: unsigned.reasons,
              at: '2026-12-03T00:00:00.000Z',
            },
          ],
        },
      ],
      recentSignings: [],
      openAlerts: [{ severity: 'HIGH', kind: 'unsigned-image', subject: 'r:prod\n  none' }],
      monitors: [],
      truncated: [],
    } as unknown as DashboardView;
    const text = statusLines(view).join('\n');
    assert.doesNotMatch(text, /\nOK valid/);
    assert.doesNotMatch(text, /\n {2}none\n\ntransparency/);
    const problem = text.split('\n').filter((l) => l.startsWith('    unsigned: '));
    assert.equal(problem.length, 1);
    assert.match(problem[0]!, /\\nOK valid/);
  });

  it('`sigsentry reverify` prints one line per tag that is not valid and per error', () => {
    const lines = passLines({
      tags: 1,
      durationMs: 1,
      byStatus: { valid: 0, unsigned: 1, invalid: 0, missing: 0, 'key-disabled': 0 },
      outcomes: [{ ref: 'r:prod\nOK valid: x', digest: DIGEST, status: 'unsigned' }],
      keysNotEnabled: [],
      errors: [{ ref: 'r:dev', error: 'registry said: \nOK valid: y' }],
    } as unknown as Parameters<typeof passLines>[0]);
    assert.equal(lines.join('\n').split(LINE_BREAK).length, 3);
  });
});

describe('CLI log lines on the terminal', () => {
  it('writes JSON lines with C1 controls and bidi overrides escaped, still the same JSON', () => {
    const chunks: string[] = [];
    const issuer = 'https://issuer.example/\u009d0;owned title\u009c\u009b2J\u009bH\u202eOK\u202c';
    const logger = createLogger(
      { command: 'reverify' },
      terminalLogSink((s) => chunks.push(s)),
    );
    logger.alert(`unsigned-image: signed via ${issuer}`, { alert: { summary: issuer } });
    assert.equal(chunks.length, 1);
    const line = chunks[0]!;
    assert.ok(line.endsWith('\n'));
    assert.doesNotMatch(
      line.slice(0, -1),
      /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/,
    );
    const entry = JSON.parse(line);
    assert.equal(entry.alert.summary, issuer);
    assert.equal(entry.severity, 'ALERT');
    assert.equal(printable(line), line);
  });

  it('is how reverify, monitor and sign write their log lines', () => {
    for (const command of ['reverify', 'monitor', 'sign']) {
      const source = readFileSync(
        new URL(`../../../functions/cli/commands/${command}.ts`, import.meta.url),
        'utf8',
      );
      assert.doesNotMatch(source, /createLogger\([^)]*\(line\) => process\.stderr\.write/, command);
      assert.match(source, /terminalLogSink\(\)/, command);
    }
  });
});
