/**
 * The status page of a deployment without a transparency log (REKOR_URL=none): its monitor runs
 * and records each run (`monitorRuns/no-log`), and the page says that no log is watched and when
 * the monitor last ran. "The log monitor has not run yet" is what a broken monitor that never ran
 * looks like; a security team must be able to tell the two apart. A log configured since shows
 * as any log does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderDashboard } from '../../../functions/dashboard/render.ts';
import type { DashboardView } from '../../../functions/dashboard/view.ts';
import { emptyView, fullView, SCRIPT } from './fixtures.ts';

const NOTE =
  'no transparency log is configured (REKOR_URL=none, or SIGSENTRY_CONFIG names none), so no log was watched';

function withNoLogRun(view: DashboardView, latest: boolean): DashboardView {
  return { ...view, noLogRun: { lastRunAt: '2025-05-01T09:58:00.000Z', note: NOTE, latest } };
}

/** The monitor section and the monitor tile, as text. */
function monitorParts(page: string): { section: string; tile: string } {
  const section = /<section id="monitor">[\s\S]*?<\/section>/.exec(page)?.[0] ?? '';
  const tiles = /<section class="tiles"[\s\S]*?<\/section>/.exec(page)?.[0] ?? '';
  const tile = tiles.split('<div class="tile').at(-1) ?? '';
  return { section, tile };
}

describe('render: a deployment without a transparency log', () => {
  it('says the deployment watches no log, with the time of the last run, not that the monitor has not run', () => {
    const page = renderDashboard(withNoLogRun(emptyView(), true));
    const { section, tile } = monitorParts(page);
    assert.match(section, /This deployment watches no transparency log: none is configured\./);
    assert.match(
      section,
      /The log monitor last ran <time datetime="2025-05-01T09:58:00.000Z">2025-05-01 09:58:00 UTC<\/time>, with no log to watch\./,
    );
    assert.doesNotMatch(page, /has not run/);
    assert.match(tile, /no transparency log watched/);
    assert.doesNotMatch(tile, /warn/, 'nothing to warn about');
  });

  it('a monitor that never ran still says so, and warns', () => {
    const { section, tile } = monitorParts(renderDashboard(emptyView()));
    assert.match(section, /The log monitor has not run yet\./);
    assert.match(tile, /warn.*log monitor has not run/s);
    assert.doesNotMatch(section, /watches no transparency log/);
  });

  it('a log configured after the runs without one shows as any log, with nothing of those runs', () => {
    const page = renderDashboard(withNoLogRun(fullView(), false));
    const { section, tile } = monitorParts(page);
    assert.doesNotMatch(page, /watches no transparency log|no transparency log watched/);
    assert.match(section, /<strong>15<\/strong>.*4 verified entries not yet scanned/s);
    assert.match(tile, /log entries not yet scanned/);
  });

  it('a log dropped since: says no log is watched now, and shows the older log states as from earlier runs', () => {
    const { section } = monitorParts(renderDashboard(withNoLogRun(fullView(), true)));
    assert.match(section, /This deployment watches no transparency log/);
    assert.match(section, /The log states below are from earlier runs, when a log was configured\./);
    assert.match(section, /<strong>15<\/strong>/, 'the old state is still shown');
  });

  it('the last run time is data: escaped like the rest', () => {
    const page = renderDashboard({
      ...emptyView(),
      noLogRun: { lastRunAt: SCRIPT, note: SCRIPT, latest: true },
    });
    assert.ok(!page.includes(SCRIPT));
  });
});
