import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, Html, html, trusted } from '../../../functions/dashboard/html.ts';

describe('html: the escaping template', () => {
  it('escapes every interpolated string, in text and in attributes', () => {
    const name = `<script>alert("x")</script>' onload='y`;
    assert.equal(
      html`<p title="${name}">${name}</p>`.value,
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;y">' +
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;y</p>',
    );
  });

  it('shows bidirectional and zero-width characters as escapes, so one identity cannot read as another', () => {
    assert.equal(
      html`<td title="${'a\u202eb'}">${'release@vendor\u200b.com \u2066x\u2069\ufeff'}</td>`.value,
      '<td title="a\\u202eb">release@vendor\\u200b.com \\u2066x\\u2069\\ufeff</td>',
    );
  });

  it('escapes & first-class, so an entity in data is shown, not decoded', () => {
    assert.equal(escapeHtml('&lt;b&gt;'), '&amp;lt;b&amp;gt;');
  });

  it('nests templates without escaping them twice, and joins arrays item by item', () => {
    const items = ['a<b', 'c&d'].map((s) => html`<li>${s}</li>`);
    assert.equal(html`<ul>${items}</ul>`.value, '<ul><li>a&lt;b</li><li>c&amp;d</li></ul>');
    assert.equal(html`${['<x>', html`<y>`]}`.value, '&lt;x&gt;<y>');
  });

  it('renders null, undefined and false as nothing, numbers and true as text', () => {
    assert.equal(html`[${null}${undefined}${false}|${0}|${true}]`.value, '[|0|true]');
  });

  it('inserts only Html values unescaped: a string that looks like markup is still escaped', () => {
    assert.ok(trusted('<b>') instanceof Html);
    assert.equal(html`${trusted('<b>')}${'<b>'}`.value, '<b>&lt;b&gt;');
  });
});
