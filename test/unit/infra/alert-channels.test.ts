/**
 * A message dead-lettered before signOnPush could claim its image (the registry or Firestore down
 * for the whole retry window), a monitor shard that keeps failing and a scheduled function that
 * stops completing raise nothing through sigsentry's own sinks: their only signal is a Cloud
 * Monitoring policy (alerting.tf), which notifies `var.notification_channels`. That variable is
 * therefore required, with at least one channel, and refused at plan when empty or not a channel's
 * resource name; it defaulted to `[]` until 2026-12-03, so in a default deployment those incidents
 * reached nobody (found by review).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { type Block, expr, INFRA_DIR, loadTerraform, resources, type Terraform } from './terraform.ts';

const { parse } = createRequire(import.meta.url)('@cdktf/hcl2json') as {
  parse(filename: string, contents: string): Promise<Record<string, unknown>>;
};

let infra: Terraform;
let example: Record<string, unknown>;
before(async () => {
  infra = await loadTerraform();
  const file = path.join(INFRA_DIR, 'terraform.tfvars.example');
  example = await parse(file, fs.readFileSync(file, 'utf8'));
});

/**
 * The values the variable's validations accept, read from their conditions as hcl2json gives them:
 * `length(var.notification_channels) > 0` and
 * `alltrue([for c in var.notification_channels : can(regex("PATTERN", c))])`.
 */
function validationsOf(tf: Terraform): { accepts(channels: string[]): boolean; messages: string[] } {
  const validations = (tf.variable['notification_channels']?.['validation'] as Block[] | undefined) ?? [];
  const tests: Array<(channels: string[]) => boolean> = [];
  for (const v of validations) {
    const condition = String(v['condition']);
    if (condition === expr('length(var.notification_channels) > 0')) {
      tests.push((channels) => channels.length > 0);
      continue;
    }
    const each =
      /^\$\{alltrue\(\[for (\w+) in var\.notification_channels : can\(regex\("(.+)", (\w+)\)\)\]\)\}$/.exec(
        condition,
      );
    assert.ok(each && each[1] === each[3], `a validation this test cannot read: ${condition}`);
    const pattern = new RegExp(JSON.parse(`"${each[2]}"`) as string);
    tests.push((channels) => channels.every((c) => pattern.test(c)));
  }
  return {
    accepts: (channels) => tests.every((t) => t(channels)),
    messages: validations.map((v) => String(v['error_message'])),
  };
}

describe('infra: the incidents only Cloud Monitoring raises reach someone', () => {
  it('notification_channels is required: no default to deploy with', () => {
    const variable = infra.variable['notification_channels'];
    assert.ok(variable);
    assert.equal('default' in variable, false, `default ${JSON.stringify(variable['default'])}`);
  });

  it('an empty list is refused at plan, with a message saying what would go unheard', () => {
    const { accepts, messages } = validationsOf(infra);
    assert.equal(accepts([]), false);
    const message = messages.find((m) => /at least one/i.test(m));
    assert.ok(message, JSON.stringify(messages));
    assert.match(message, /dead-letter/);
    assert.match(message, /notification_channels/);
  });

  it("each entry must be a channel's resource name, as the alert policies take it", () => {
    const { accepts } = validationsOf(infra);
    for (const ok of [
      ['projects/my-project/notificationChannels/1234567890'],
      ['projects/example.com:my-project/notificationChannels/1', 'projects/p/notificationChannels/2'],
    ]) {
      assert.equal(accepts(ok), true, JSON.stringify(ok));
    }
    for (const bad of [
      ['1234567890'],
      ['projects/p/notificationChannels/1', ''],
      ['projects/p/notificationChannels/'],
      ['projects/p/notificationChannels/1/extra'],
      ['projects/p/alertPolicies/1'],
      [' projects/p/notificationChannels/1'],
    ]) {
      assert.equal(accepts(bad), false, JSON.stringify(bad));
    }
  });

  it('terraform.tfvars.example supplies a channel the validation accepts', () => {
    const channels = example['notification_channels'];
    assert.ok(Array.isArray(channels), 'notification_channels is set in the example');
    assert.equal(validationsOf(infra).accepts(channels as string[]), true, JSON.stringify(channels));
  });

  it('every alert policy, the dead-letter one included, notifies those channels', () => {
    const policies = resources(infra, 'google_monitoring_alert_policy');
    assert.ok(policies.some(([name]) => name === 'dead_letters'));
    for (const [name, policy] of policies) {
      assert.equal(policy['notification_channels'], expr('var.notification_channels'), name);
    }
  });

  it('the reading catches a configuration that lets an empty list through', () => {
    const broken = structuredClone(infra);
    const variable = broken.variable['notification_channels']!;
    variable['validation'] = ((variable['validation'] as Block[] | undefined) ?? []).filter(
      (v) => v['condition'] !== expr('length(var.notification_channels) > 0'),
    );
    assert.equal(validationsOf(broken).accepts([]), true);
  });
});
