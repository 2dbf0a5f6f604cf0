import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { printable } from '../../../functions/cli/terminal.ts';

describe('printable', () => {
  it('leaves text, tabs, newlines and non-ASCII letters as they are', () => {
    const text =
      'FAIL unsigned: registry.example/team/app@sha256:00\n  - signed by josé@例え.jp\tvia https://accounts.google.com';
    assert.equal(printable(text), text);
  });

  it('shows escape sequences, carriage returns, DEL and C1 controls as \\u escapes', () => {
    assert.equal(printable('a\u001b]0;title\u0007b'), 'a\\u001b]0;title\\u0007b');
    assert.equal(printable('ok\rFAIL'), 'ok\\u000dFAIL');
    assert.equal(printable('\u0000\u007f\u0085\u009b31m'), '\\u0000\\u007f\\u0085\\u009b31m');
  });

  it('shows the bidirectional controls that reorder what a terminal displays', () => {
    assert.equal(printable('evil\u202egnp.exe'), 'evil\\u202egnp.exe');
    assert.equal(printable('\u2066x\u2069\u061c\u200e\u200f'), '\\u2066x\\u2069\\u061c\\u200e\\u200f');
  });

  it('keeps JSON valid and equal in value', () => {
    const value = { reason: 'x\u009by\u202ez\u001b' };
    const shown = printable(JSON.stringify(value));
    assert.doesNotMatch(shown, /[\u0000-\u001f\u007f-\u009f\u202e]/);
    assert.deepEqual(JSON.parse(shown), value);
  });
});
