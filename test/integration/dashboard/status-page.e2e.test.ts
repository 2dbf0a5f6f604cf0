/**
 * End to end: an image pushed with skopeo is signed by the stack's signOnPush, an alert is raised
 * through the real alert pipeline, and the status page served by the stack's `dashboard` function
 * is opened in headless Chromium (Debian's, driven by playwright-core) and read the way an operator
 * would: the signed image with its log indexes, the open alert with its evidence, hostile evidence
 * shown as text. A screenshot is saved to test-results/dashboard.png.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { alertSinkFromEnv } from '../../../functions/alerts/from-env.ts';
import { logEntryOf } from '../../../functions/dashboard/data.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import { createKmsClient } from '../../../functions/signing/kms-client.ts';
import { KmsSigner } from '../../../functions/signing/kms-signer.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import { signingRecords, waitForState } from '../../helpers/signatures.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, type TestStack, testStack } from '../../helpers/stack.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.resolve('test-results', 'dashboard.png');
/** Evidence an attacker controls (an image name, a log entry's content): it must show as text. */
const HOSTILE = '<script>window.__pwned = true</script>';

/** What the reader sees: Playwright's rendered text, not the DOM's textContent (hidden text too). */
// biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText, not the DOM property
const shown = (locator: Locator): Promise<string> => locator.innerText();

describe('the status page in a browser, on the local stack', () => {
  let stack: TestStack;
  let records: ReturnType<typeof signingRecords>;
  let pubsub: PubSub;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;
  let repository: string;
  let image: string;
  let logIndexes: number[];
  let rogueIndex: number;
  let monitorName: string;

  before(async () => {
    // CI installs it (.ci/run); a machine without it fails here, it does not skip.
    assert.ok(
      fs.existsSync(CHROMIUM),
      `Debian chromium is not installed at ${CHROMIUM}: apt-get install chromium (.ci/run installs it)`,
    );
    stack = testStack();
    assert.ok(
      stack.env.DASHBOARD_URL,
      'stack.env has no DASHBOARD_URL: the stack does not serve the dashboard',
    );
    records = signingRecords(stack);
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });

    // 1. A push, signed by signOnPush with no other step.
    repository = `${stack.env.REGISTRY}/${freshRepository('status')}`;
    const pushed = makeOciImage({ tag: 'v1' });
    await skopeoCopy(pushed.source, `docker://${repository}:v1`);
    image = `${repository}@${pushed.digest}`;
    const record = await waitForState(records, image, 'attached');
    logIndexes = Object.entries(record.formats)
      .map(([format, progress]) => logEntryOf(format, progress.bundle).logIndex)
      .filter((i): i is number => i !== undefined)
      .sort((a, b) => a - b);
    assert.equal(logIndexes.length, 2, 'both formats were logged');

    // 2. A signature made directly with the signing key, outside sigsentry, found by one run of the
    // real monitor (a fresh log name, scanning from the image's entries): a rogue-signature alert
    // with the monitor's evidence, and the monitor's cursor and verified checkpoint.
    const kms = createKmsClient({ endpoint: stack.env.KMS_ENDPOINT! });
    try {
      const rogue = await new MessageSignatureBundleBuilder({
        signer: new KmsSigner({ client: kms, keyVersion: stack.env.KMS_KEY! }),
        witnesses: [new RekorWitness({ rekorBaseURL: stack.env.REKOR_URL!, fetchOnConflict: true })],
      }).create({ data: Buffer.from(`not made by sigsentry ${crypto.randomUUID()}`) });
      rogueIndex = Number(rogue.verificationMaterial.tlogEntries[0]!.logIndex);
    } finally {
      await kms.close();
    }
    const env = {
      ...process.env,
      ...stack.env,
      REKOR_PUBLIC_KEY: fs.readFileSync(stack.env.REKOR_PUBLIC_KEY_FILE!, 'utf8'),
    };
    const deps = await monitorDepsFromEnv(env, {
      logger: createMemoryLogger(),
      firestore: records.db,
      pubsub,
    });
    monitorName = `dashboard-e2e-${crypto.randomBytes(4).toString('hex')}`;
    deps.logs[0]!.name = monitorName;
    deps.logs[0]!.startIndex = logIndexes[0]!;
    const run = await runMonitor(deps);
    assert.equal(run.ok, true, JSON.stringify(run.logs));

    // 3. Another open alert, raised directly through the real pipeline (Firestore record, Pub/Sub,
    // log line), whose evidence carries text an attacker controls.
    const sink = alertSinkFromEnv(
      { GCP_PROJECT: stack.env.GCP_PROJECT },
      { firestore: records.db, pubsub, logger: createMemoryLogger() },
    );
    await sink.raise({
      kind: 'signature-invalid',
      severity: 'HIGH',
      subject: `${repository}:v1`,
      summary: 'a signature under the tag does not verify',
      evidence: { tag: `${repository}:v1`, verifierOutput: `entry body names ${HOSTILE}` },
    });

    // 4. A fresh browser profile; the page at a laptop's size.
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    // Narrowed to this test's repository, so other tests' pushes cannot crowd it out of the recent
    // signings; the alerts and the monitor are listed whole either way.
    const res = await page.goto(`${stack.env.DASHBOARD_URL}?repository=${encodeURIComponent(repository)}`);
    assert.equal(res?.status(), 200);
  });

  after(async () => {
    await context?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    await pubsub?.close();
    await records?.db.terminate();
  });

  it('shows the signed image with its transparency-log indexes', async () => {
    const row = page.locator('#signings tbody tr', { hasText: repository });
    assert.equal(await row.count(), 1, 'one row for the pushed image');
    const text = await shown(row);
    assert.match(text, /attached/);
    assert.match(text, /\bv1\b/, 'its tag');
    assert.ok(text.includes(image.slice(image.indexOf('@') + 1, image.indexOf('@') + 20)), 'its digest');
    for (const index of logIndexes)
      assert.ok(text.includes(`log index ${index}`), `log index ${index} in ${text}`);
    assert.equal(
      await row.locator('code[title]').first().getAttribute('title'),
      image.slice(image.indexOf('@') + 1),
      'the full digest on hover',
    );
  });

  it('counts the pushed tag as signed in the coverage of its repository', async () => {
    const row = page.locator('#coverage tbody tr', { hasText: repository });
    assert.equal(await row.count(), 1);
    const cells = await row.locator('td.num').allInnerTexts();
    // signed, unsigned, failing, in progress, signed digests
    assert.deepEqual(cells, ['1', '0', '0', '0', '1']);
  });

  it("shows the monitor's rogue-signature alert with its evidence", async () => {
    // The rogue entry's card: its evidence names the entry's log index.
    const cards = page.locator('#alerts article', { hasText: 'rogue-signature' }).filter({
      has: page.locator('dd', { hasText: new RegExp(`^${rogueIndex}$`) }),
    });
    assert.equal(await cards.count(), 1, 'the alert is listed');
    const card = cards.first();
    assert.match(await shown(card), /CRITICAL|HIGH/);
    const evidence = Object.fromEntries(
      await card
        .locator('dt')
        .evaluateAll((dts) =>
          dts.map((dt) => [
            dt.textContent,
            (dt as unknown as { nextElementSibling: { textContent: string } }).nextElementSibling.textContent,
          ]),
        ),
    );
    assert.equal(evidence.logIndex, String(rogueIndex), 'the rogue entry log index');
    assert.equal(evidence.keyVersion, stack.env.KMS_KEY, 'the key it was made with');
    assert.match(String(evidence.entryBodyDigest), /^sha256:[0-9a-f]{64}$/);
  });

  it('shows evidence an attacker wrote as text, and never runs it', async () => {
    const card = page.locator('#alerts article', { hasText: 'signature-invalid' }).filter({
      hasText: `${repository}:v1`,
    });
    assert.equal(await card.count(), 1);
    assert.ok((await shown(card)).includes(HOSTILE), 'the hostile evidence is shown, as text');
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { __pwned?: boolean }).__pwned),
      undefined,
      'the hostile script did not run',
    );
    assert.equal(await page.locator('script').count(), 0, 'no script element in the page');
    assert.match(await shown(page.locator('#alerts h2')), /^Open alerts \(\d+\)$/);
  });

  it("shows the monitor's cursor and its last verified checkpoint", async () => {
    const block = page.locator('#monitor article', { hasText: monitorName });
    assert.equal(await block.count(), 1);
    const text = await shown(block);
    assert.ok(
      rogueIndex + 1 <= Number(/cursor\s+(\d+)/.exec(text)?.[1]),
      `the cursor is past the rogue entry: ${text}`,
    );
    const checkpoint = await shown(block.locator('pre'));
    const [origin, size] = checkpoint.split('\n');
    assert.ok(origin && Number(size) > rogueIndex, `a signed note: ${checkpoint}`);
    assert.match(checkpoint, /\n\n\u2014 /, 'with its signature line');
  });

  it('reads well at a laptop size: no horizontal scrolling; a screenshot is saved', async () => {
    const overflow = await page.evaluate(() => {
      const w = globalThis as unknown as {
        innerWidth: number;
        document: { documentElement: { scrollWidth: number } };
      };
      return w.document.documentElement.scrollWidth - w.innerWidth;
    });
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window`);
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.ok(fs.statSync(SCREENSHOT).size > 10_000, 'a real screenshot was written');
  });
});
