import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONTENT_SECURITY_POLICY,
  renderDashboard,
  renderMessage,
} from '../../../functions/dashboard/render.ts';
import { emptyView, fullView, SCRIPT } from './fixtures.ts';

const ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;';

describe('render: the status page', () => {
  it('shows image names, tags, reasons, alert evidence and checkpoints as text, never as markup', () => {
    const page = renderDashboard(fullView());
    assert.ok(!page.includes(SCRIPT), 'no raw <script> from data');
    assert.doesNotMatch(page, /<script/i, 'the page has no script element at all');
    // Each place hostile text was put is still shown, escaped: repository, tag, reason, alert
    // subject, summary, evidence (short, multi-line, list, nested object) and the checkpoint.
    const shown = page.split(ESCAPED).length - 1;
    assert.ok(shown >= 9, `escaped text shown ${shown} times`);
    assert.match(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt;:evil/);
    assert.match(page, /\{\n {2}&quot;nested&quot;: &quot;&lt;script&gt;/);
  });

  it('shows the alert with its evidence and the signing with its log indexes', () => {
    const page = renderDashboard(fullView());
    assert.match(page, /Open alerts \(1\)/);
    assert.match(page, /rogue-signature/);
    assert.match(page, /<dt>logIndex<\/dt><dd><code>4242<\/code><\/dd>/);
    assert.match(page, /seen 3 times/);
    assert.match(page, /bundle: <strong>log index 17<\/strong>/);
    assert.match(page, /cosign: <strong>log index 18<\/strong>/);
    assert.match(page, /<strong>15<\/strong>.*4 verified entries not yet scanned/s);
    assert.match(page, />keyRings\/r\/cryptoKeys\/k\/cryptoKeyVersions\/1</);
  });

  it('says so when there is nothing to show, in every section', () => {
    const page = renderDashboard(emptyView());
    assert.match(page, /No open alerts\./);
    assert.match(page, /No repository has been signed or verified yet\./);
    assert.match(page, /No image has been signed yet\./);
    assert.match(page, /The log monitor has not run yet\./);
    assert.doesNotMatch(page, /<table/);
    assert.doesNotMatch(page, /Counts are partial/);
  });

  it('names the repository a narrowed page shows, escaped, with a way back to all', () => {
    const page = renderDashboard({ ...fullView(), repository: `registry.example/${SCRIPT}` });
    assert.ok(
      page.includes(`repository <code>registry.example/${ESCAPED}</code> (<a href="?">all repositories</a>)`),
    );
    assert.match(page, /Alerts are listed for every repository/);
    assert.doesNotMatch(renderDashboard(fullView()), /all repositories/);
  });

  it('warns when the counts are partial', () => {
    const page = renderDashboard({ ...emptyView(), truncated: ['tags'] });
    assert.match(page, /Counts are partial: tags held more documents/);
  });

  it('allows only its own stylesheet: the CSP hash matches the inline style', async () => {
    const page = renderDashboard(emptyView());
    const style = /<style>([\s\S]*?)<\/style>/.exec(page)![1]!;
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256').update(style).digest('base64');
    assert.ok(CONTENT_SECURITY_POLICY.includes(`'sha256-${hash}'`));
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
    assert.doesNotMatch(page, / style="/, 'no style attribute, which the CSP would block');
  });

  it('renders a message page with the message escaped', () => {
    const page = renderMessage('State unavailable', `firestore said ${SCRIPT}`);
    assert.ok(page.includes(`firestore said ${ESCAPED}`));
    assert.ok(!page.includes(SCRIPT));
  });
});
