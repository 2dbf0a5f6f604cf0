/**
 * The status page after the demo's story, run on the test stack (emulators/demo-scenario.ts: a push
 * signed and verified, a rogue signature, a tag moved to an unsigned digest, a split-view log), then
 * read in headless Chromium the way a security team would: the signed image, and every open alert
 * the story raised. A screenshot is saved to test-results/dashboard-after-demo.png.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { runDemoScenario, type ScenarioResult } from '../../../emulators/demo-scenario.ts';
import { freshRepository, type TestStack, testStack } from '../../helpers/stack.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.resolve('test-results', 'dashboard-after-demo.png');

describe('the status page after the demo scenario', () => {
  let stack: TestStack;
  let story: ScenarioResult;
  let repository: string;
  let page: Page;
  let close: () => Promise<void>;

  before(async () => {
    assert.ok(
      fs.existsSync(CHROMIUM),
      `Debian chromium is not installed at ${CHROMIUM} (.ci/run installs it)`,
    );
    stack = testStack();
    repository = freshRepository('demo');
    const printed: string[] = [];
    story = await runDemoScenario({
      stack: stack.env,
      stackEnvFile: process.env.SIGSENTRY_STACK_ENV ?? path.join(stack.dir, 'stack.env'),
      workDir: fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-demo-e2e-')),
      repository,
      step: (n, text) => printed.push(`[${n}] ${text}`),
      say: (text) => printed.push(text),
    });
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigsentry-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    close = async () => {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    };
    page = await context.newPage();
    const response = await page.goto(stack.env.DASHBOARD_URL!);
    assert.equal(response?.status(), 200);
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
  after(async () => {
    await close?.();
  });

  it('shows the image the demo pushed among the recent signings, attached', async () => {
    // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the rendered text a reader sees
    const text = await page.locator('body').innerText();
    assert.ok(text.includes(story.image.split('@')[1]!.slice(0, 16)), 'the signed digest is listed');
    assert.ok(text.includes(`${stack.env.REGISTRY}/${repository}`), 'its repository is listed');
  });

  it('shows every open alert the story raised, with its evidence', async () => {
    // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the rendered text a reader sees
    const text = await page.locator('body').innerText();
    for (const kind of ['rogue-signature', 'unsigned-image', 'tag-moved', 'log-inconsistent']) {
      assert.ok(text.includes(kind), `an open ${kind} alert is shown`);
    }
    assert.ok(text.includes(story.tag), 'the moved tag is named');
    assert.ok(
      text.includes(story.movedTo.slice(0, 16)),
      'the unsigned digest it moved to is in the evidence',
    );
    assert.ok(fs.statSync(SCREENSHOT).size > 10_000, 'a screenshot was saved');
  });
});
