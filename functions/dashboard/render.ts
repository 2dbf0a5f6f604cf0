/**
 * The status page as one server-rendered HTML document: no script, one inline stylesheet (allowed
 * by its hash in the Content-Security-Policy), every value from the state escaped by `html`.
 */
import crypto from 'node:crypto';
import type { Alert } from '../alerts/alert.ts';
import { ALERTS_COLLECTION } from '../alerts/firestore-sink.ts';
import { type Html, html, trusted } from './html.ts';
import {
  type DashboardView,
  type LogEntryRef,
  type MonitorSummary,
  type RepositoryCoverage,
  type SigningSummary,
  type TagCoverage,
  watchingNoLog,
} from './view.ts';

const STYLE = `
:root { color-scheme: light; --fg:#1d2330; --muted:#5d6675; --line:#dde2ea; --bg:#f6f7f9;
  --ok:#1a7f37; --warn:#9a6700; --bad:#c62828; --crit:#7b1010; --info:#0b57d0; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 14px 32px; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 0; color: #c4cad4; }
header a { color: #9ec5ff; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 32px 48px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin-bottom: 20px; }
h2 { font-size: 17px; margin: 0 0 12px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; background: none; border: 0; padding: 0; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.tile .n { font-size: 26px; font-weight: 650; }
.tile .l { color: var(--muted); }
.tile.bad { border-left: 5px solid var(--bad); } .tile.ok { border-left: 5px solid var(--ok); } .tile.warn { border-left: 5px solid var(--warn); }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { overflow-wrap: anywhere; }
pre { background: #f3f4f7; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; margin: 4px 0;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 220px; overflow: auto; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; margin: 4px 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 650; color: #fff; background: var(--muted); white-space: nowrap; }
.b-signed, .b-attached, .b-valid { background: var(--ok); }
.b-unsigned, .b-signing, .b-claimed, .b-MEDIUM { background: var(--warn); }
.b-failing, .b-failed, .b-HIGH { background: var(--bad); }
.b-CRITICAL { background: var(--crit); } .b-LOW { background: var(--info); }
.n-bad { color: var(--bad); font-weight: 650; } .n-warn { color: var(--warn); font-weight: 650; }
.alert { border: 1px solid var(--line); border-left: 5px solid var(--bad); border-radius: 6px; padding: 10px 14px; margin-bottom: 12px; }
.alert.s-LOW { border-left-color: var(--info); } .alert.s-MEDIUM { border-left-color: var(--warn); } .alert.s-CRITICAL { border-left-color: var(--crit); }
.alert h3 { margin: 0 0 4px; font-size: 15px; display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
.alert p { margin: 2px 0 6px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0 0; }
dt { color: var(--muted); font-size: 13px; } dd { margin: 0; min-width: 0; }
ul.problems { margin: 4px 0 0; padding-left: 18px; }
.banner { background: #fff4d6; border: 1px solid #e9c46a; border-radius: 6px; padding: 8px 12px; margin-bottom: 16px; }
progress { width: 160px; height: 8px; accent-color: var(--ok); }
`;

/** The page allows its own stylesheet and nothing else: no script, no frame, no outside request. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${crypto.createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function time(iso: string | undefined): Html {
  if (!iso) return html`<span class="muted">never</span>`;
  const shown = iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
  return html`<time datetime="${iso}">${shown}</time>`;
}

function shortDigest(digest: string): Html {
  const [algorithm, hex = ''] = digest.split(':');
  return html`<code title="${digest}">${algorithm}:${hex.slice(0, 12)}…</code>`;
}

function badge(label: string): Html {
  return html`<span class="badge b-${label}">${label}</span>`;
}

function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${trusted(STYLE)}</style>
</head>
<body>
${body}
</body>
</html>
`.value;
}

function tiles(view: DashboardView): Html {
  const total = view.coverage.reduce(
    (t, r) => ({
      tags: t.tags + r.signed + r.unsigned + r.failing + r.signing,
      signed: t.signed + r.signed,
      problems: t.problems + r.unsigned + r.failing,
    }),
    { tags: 0, signed: 0, problems: 0 },
  );
  const partial = view.truncated.includes(ALERTS_COLLECTION);
  const alerts = view.openAlerts.length;
  const behind = view.monitors.reduce((n, m) => n + Math.max(0, m.treeSize - m.cursor), 0);
  const monitorTile = watchingNoLog(view)
    ? html`<div class="tile"><div class="n">—</div><div class="l">no transparency log watched</div></div>`
    : html`<div class="tile ${view.monitors.length === 0 ? 'warn' : 'ok'}"><div class="n">${view.monitors.length === 0 ? '—' : behind}</div><div class="l">${view.monitors.length === 0 ? 'log monitor has not run' : 'log entries not yet scanned'}</div></div>`;
  return html`<section class="tiles" aria-label="summary">
  <div class="tile ${alerts > 0 ? 'bad' : 'ok'}"><div class="n">${alerts}${partial ? '+' : ''}</div><div class="l">open alerts</div></div>
  <div class="tile ${total.problems > 0 ? 'bad' : 'ok'}"><div class="n">${total.signed} / ${total.tags}</div><div class="l">tags signed (${total.problems} unsigned or failing)</div></div>
  <div class="tile"><div class="n">${view.coverage.length}</div><div class="l">repositories</div></div>
  ${monitorTile}
</section>`;
}

function evidenceValue(value: unknown): Html {
  if (value === null || value === undefined) return html`<span class="muted">—</span>`;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return html`${value.map((v) => html`<pre>${v}</pre>`)}`;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  if (text.includes('\n') || text.length > 120) return html`<pre>${text}</pre>`;
  return html`<code>${text}</code>`;
}

function alertCard(alert: Alert): Html {
  const evidence = Object.entries(alert.evidence ?? {}).filter(([, v]) => v !== undefined);
  return html`<article class="alert s-${alert.severity}">
  <h3>${badge(alert.severity)} <span>${alert.kind}</span> <code>${alert.subject}</code></h3>
  <p>${alert.summary}</p>
  <div class="muted">seen ${alert.count} time${alert.count === 1 ? '' : 's'} · first ${time(alert.firstSeen)} · last ${time(alert.lastSeen)}</div>
  ${
    evidence.length === 0
      ? html`<p class="empty">No evidence recorded.</p>`
      : html`<dl>${evidence.map(([k, v]) => html`<dt>${k}</dt><dd>${evidenceValue(v)}</dd>`)}</dl>`
  }
</article>`;
}

function alertsSection(alerts: readonly Alert[], scoped: boolean, partial: boolean): Html {
  return html`<section id="alerts">
<h2>Open alerts (${alerts.length}${partial ? '+' : ''})</h2>
${partial ? html`<p class="muted">More alerts are open than one page shows: the most severe are shown first; <code>sigsentry alerts --open</code> lists them all.</p>` : ''}
${scoped ? html`<p class="muted">Alerts are listed for every repository, key and log.</p>` : ''}
${alerts.length === 0 ? html`<p class="empty">No open alerts.</p>` : alerts.map(alertCard)}
</section>`;
}

function problem(tag: TagCoverage): Html {
  return html`<li>${badge(tag.status)} <code>${tag.ref}</code> → ${shortDigest(tag.digest)}
  <span class="muted">(${tag.source === 'verdict' ? 'verified' : 'signing'}: ${tag.detail}, ${time(tag.at)})</span>${
    tag.reasons.length > 0 ? html`<br><span class="muted">${tag.reasons.join('; ')}</span>` : ''
  }</li>`;
}

function coverageRow(r: RepositoryCoverage): Html {
  const total = r.signed + r.unsigned + r.failing + r.signing;
  const percent = total === 0 ? 100 : Math.round((100 * r.signed) / total);
  return html`<tr>
  <td><code>${r.repository}</code>${r.source === 'watchlist' ? html` <span class="muted">(watchlist)</span>` : ''}
    <br><progress max="100" value="${percent}" title="${percent}% of tags signed">${percent}%</progress>${
      r.problems.length > 0 ? html`<ul class="problems">${r.problems.map(problem)}</ul>` : ''
    }</td>
  <td class="num">${r.signed}</td>
  <td class="num${r.unsigned > 0 ? ' n-warn' : ''}">${r.unsigned}</td>
  <td class="num${r.failing > 0 ? ' n-bad' : ''}">${r.failing}</td>
  <td class="num">${r.signing}</td>
  <td class="num">${r.signedDigests}</td>
  <td>${time(r.lastVerifiedAt)}</td>
</tr>`;
}

function coverageSection(coverage: readonly RepositoryCoverage[]): Html {
  return html`<section id="coverage">
<h2>Signing coverage by repository</h2>
${
  coverage.length === 0
    ? html`<p class="empty">No repository has been signed or verified yet.</p>`
    : html`<table>
<thead><tr><th>Repository</th><th class="num">Signed tags</th><th class="num">Unsigned</th><th class="num">Failing</th><th class="num">In progress</th><th class="num">Signed digests</th><th>Last verified</th></tr></thead>
<tbody>${coverage.map(coverageRow)}</tbody>
</table>`
}
</section>`;
}

function logEntry(e: LogEntryRef): Html {
  return html`<div>${e.format}: ${
    e.logIndex === undefined
      ? html`<span class="muted">not logged yet</span>`
      : html`<strong>log index ${e.logIndex}</strong>${e.kind ? html` <span class="muted">(${e.kind})</span>` : ''}`
  }</div>`;
}

/** keyRings/R/cryptoKeys/K/cryptoKeyVersions/N: the project and location are the same on every row. */
function keyName(keyVersion: string): Html {
  const short = keyVersion.startsWith('projects/') ? keyVersion.split('/').slice(4).join('/') : keyVersion;
  return html`<code title="${keyVersion}">${short}</code>`;
}

function signingRow(s: SigningSummary): Html {
  const tags = s.tags.map((t) => t.slice(s.repository.length + 1));
  return html`<tr>
  <td><code>${s.repository}</code><br>${shortDigest(s.digest)}${
    tags.length > 0
      ? html` <span class="muted">tags:</span> ${tags.map((t, i) => html`${i ? ', ' : ''}<code>${t}</code>`)}`
      : ''
  }${s.lastError ? html`<br><span class="n-bad">${s.lastError}</span>` : ''}</td>
  <td>${badge(s.state)}${s.attempts > 1 ? html` <span class="muted">${s.attempts} attempts</span>` : ''}${
    s.failedFormats?.length ? html`<br><span class="n-bad">gave up: ${s.failedFormats.join(', ')}</span>` : ''
  }${s.addingFormats?.length ? html`<br><span class="n-warn">adding: ${s.addingFormats.join(', ')}</span>` : ''}</td>
  <td>${s.entries.length === 0 ? html`<span class="muted">—</span>` : s.entries.map(logEntry)}</td>
  <td>${keyName(s.keyVersion)}</td>
  <td>${time(s.updatedAt)}</td>
</tr>`;
}

function signingsSection(signings: readonly SigningSummary[]): Html {
  return html`<section id="signings">
<h2>Recent signings</h2>
${
  signings.length === 0
    ? html`<p class="empty">No image has been signed yet.</p>`
    : html`<table>
<thead><tr><th>Image</th><th>State</th><th>Transparency log</th><th>Key</th><th>Updated</th></tr></thead>
<tbody>${signings.map(signingRow)}</tbody>
</table>`
}
</section>`;
}

function monitorBlock(m: MonitorSummary): Html {
  const behind = Math.max(0, m.treeSize - m.cursor);
  return html`<article>
<dl>
  <dt>log</dt><dd><code>${m.log}</code> <span class="muted">${m.url}</span></dd>
  <dt>origin</dt><dd><code>${m.origin}</code></dd>
  <dt>cursor</dt><dd><strong>${m.cursor}</strong> <span class="muted">(next index to scan${behind > 0 ? `; ${behind} verified entries not yet scanned` : ''})</span></dd>
  <dt>verified tree size</dt><dd><strong>${m.treeSize}</strong></dd>
  <dt>updated</dt><dd>${time(m.updatedAt)}</dd>
  <dt>last verified checkpoint</dt><dd><pre>${m.checkpoint}</pre></dd>
</dl>
</article>`;
}

/**
 * A deployment without a log says so, with its last run: not "has not run yet", which is what a
 * broken monitor looks like. Log states are shown whatever it says (older ones as from earlier runs).
 */
function monitorSection(view: DashboardView): Html {
  const { monitors } = view;
  const noLog = watchingNoLog(view);
  const lead = noLog
    ? html`<p>This deployment watches no transparency log: none is configured. The log monitor last ran ${time(noLog.lastRunAt)}, with no log to watch.${
        monitors.length > 0
          ? html` <span class="muted">The log states below are from earlier runs, when a log was configured.</span>`
          : ''
      }</p>`
    : monitors.length === 0
      ? html`<p class="empty">The log monitor has not run yet.</p>`
      : '';
  return html`<section id="monitor">
<h2>Transparency log monitor</h2>
${lead}${monitors.map(monitorBlock)}
</section>`;
}

export function renderDashboard(view: DashboardView): string {
  return page(
    'sigsentry status',
    html`<header><h1>sigsentry status</h1><p>project <code>${view.project}</code>${
      view.repository
        ? html` · repository <code>${view.repository}</code> (<a href="?">all repositories</a>)`
        : ''
    } · generated ${time(view.generatedAt)}</p></header>
<main>
${
  view.truncated.length > 0
    ? html`<div class="banner">Counts are partial: ${view.truncated.join(', ')} held more documents than one page reads.</div>`
    : ''
}
${tiles(view)}
${alertsSection(view.openAlerts, view.repository !== undefined, view.truncated.includes(ALERTS_COLLECTION))}
${coverageSection(view.coverage)}
${signingsSection(view.recentSignings)}
${monitorSection(view)}
</main>`,
  );
}

/** A page for an answer that is not the dashboard (401, 503). */
export function renderMessage(title: string, message: string): string {
  return page(
    title,
    html`<header><h1>sigsentry status</h1></header><main><section><h2>${title}</h2><p>${message}</p></section></main>`,
  );
}
