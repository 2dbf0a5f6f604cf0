/**
 * A deployment without a transparency log (rekor_url = "none") gives monitorLog and monitorShard no
 * KMS role: they read the key only to recognise sigsentry's own entries in the log, and with no log
 * they never ask KMS (test/unit/monitor/no-log.test.ts). A key role held for nothing is one more
 * principal that can read the key's state for an attacker who takes the function over.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { rekorUrlFromEnv } from '../../../functions/config/rekor-url.ts';
import { evaluate, expr, loadTerraform, ref, resources, type Terraform } from './terraform.ts';

let infra: Terraform;
before(async () => {
  infra = await loadTerraform();
});

const KMS_GRANT = 'google_kms_crypto_key_iam_member';

/** Service account → the KMS roles it is granted on the key, with these variable values. */
function kmsRoles(tf: Terraform, vars: Record<string, unknown>): Record<string, string[]> {
  const held: Record<string, string[]> = {};
  for (const [name, body] of resources(tf, KMS_GRANT)) {
    assert.equal(body['for_each'], undefined, `${name}: for_each is not read here`);
    const count = body['count'] === undefined ? 1 : evaluate(tf, body['count'], vars);
    assert.equal(typeof count, 'number', `${name}: count ${String(body['count'])}`);
    if (count === 0) continue;
    const sa = ref(body['member'], 'google_service_account') ?? String(body['member']);
    held[sa] = [...(held[sa] ?? []), String(body['role'])];
  }
  for (const roles of Object.values(held)) roles.sort();
  return held;
}

const MONITOR_ROLES = ['roles/cloudkms.publicKeyViewer', 'roles/cloudkms.viewer'];

describe('infra: a deployment without a transparency log', () => {
  it('with rekor_url = "none", monitorLog and monitorShard hold no KMS role; signOnPush and reverifyImages keep theirs', () => {
    const roles = kmsRoles(infra, { rekor_url: 'none' });
    assert.equal(roles['monitor_log'], undefined, 'monitorLog');
    assert.equal(roles['monitor_shard'], undefined, 'monitorShard');
    assert.deepEqual(roles['sign_on_push'], ['roles/cloudkms.signerVerifier']);
    assert.deepEqual(roles['reverify_images'], MONITOR_ROLES);
  });

  it('with a log (the default rekor_url, or any other), they read the public key and the version state', () => {
    for (const vars of [{}, { rekor_url: 'https://rekor.example.com' }]) {
      const roles = kmsRoles(infra, vars);
      assert.deepEqual(roles['monitor_log'], MONITOR_ROLES, JSON.stringify(vars));
      assert.deepEqual(roles['monitor_shard'], MONITOR_ROLES, JSON.stringify(vars));
    }
  });

  it('with a sigsentry_config document, which replaces rekor_url and may name a log, they keep their roles', () => {
    const roles = kmsRoles(infra, { rekor_url: 'none', sigsentry_config: '{"log":{"kind":"rekor-v1"}}' });
    assert.deepEqual(roles['monitor_log'], MONITOR_ROLES);
    assert.deepEqual(roles['monitor_shard'], MONITOR_ROLES);
  });

  it('a function whose KMS grants come and go waits for them, so a log configured later finds its roles in place', () => {
    for (const [grant, body] of resources(infra, KMS_GRANT)) {
      if (body['count'] === undefined) continue;
      const account = ref(body['member'], 'google_service_account');
      assert.ok(account, grant);
      const functions = resources(infra, 'google_cloudfunctions2_function').filter(([, fn]) =>
        JSON.stringify(fn).includes(`google_service_account.${account}.email`),
      );
      assert.ok(functions.length > 0, `${grant}: no function runs as ${account}`);
      for (const [name, fn] of functions) {
        const awaited = (fn['depends_on'] as string[] | undefined) ?? [];
        assert.ok(awaited.includes(`\${${KMS_GRANT}.${grant}}`), `${name} does not wait for ${grant}`);
      }
    }
  });

  it('the evaluation reads count as Terraform does, and refuses an expression it cannot read', () => {
    assert.equal(evaluate(infra, expr('var.rekor_url == "none" ? 0 : 1'), { rekor_url: 'none' }), 0);
    assert.equal(evaluate(infra, expr('!(var.rekor_url != "none") && true ? 2 : 3'), {}), 3);
    assert.equal(evaluate(infra, 'literal'), 'literal');
    assert.throws(() => evaluate(infra, expr('length(var.watched_repositories)')), /cannot read/);
    assert.throws(() => evaluate(infra, expr('var.no_such_variable == ""')), /no variable/);
    assert.throws(() => evaluate(infra, expr(`"a${'$'}{var.project}" == ""`)), /cannot read/);
  });
});

describe('infra: rekor_url is validated as the functions read REKOR_URL', () => {
  it('the variable refuses at plan what every function would refuse at start-up, and accepts what they accept', () => {
    const validations = infra.variable['rekor_url']?.['validation'] as
      | Array<Record<string, unknown>>
      | undefined;
    const validation = validations?.[0];
    const condition = String(validation?.['condition']);
    // `var.rekor_url == "none" || can(regex("PATTERN", var.rekor_url))`, as hcl2json gives it.
    const match = /^\$\{var\.rekor_url == "none" \|\| can\(regex\("(.+)", var\.rekor_url\)\)\}$/.exec(
      condition,
    );
    assert.ok(match, condition);
    const pattern = new RegExp(JSON.parse(`"${match[1]}"`) as string);
    const accepted = (value: string) => value === 'none' || pattern.test(value);
    const functionsAccept = (value: string) => {
      try {
        return rekorUrlFromEnv({ REKOR_URL: value }) !== undefined;
      } catch {
        return false;
      }
    };
    for (const value of [
      'none',
      'https://rekor.sigstore.dev',
      'https://rekor.sigstore.dev/',
      'http://127.0.0.1:3000',
      'https://[::1]:3000',
      'https://log.example.com/rekor',
      'None',
      ' none',
      'https://u:p@rekor.example.com',
      'https://rekor.example.com/?shard=1',
      'https://rekor.example.com/#api',
      ' https://rekor.example.com',
      'ftp://rekor.example.com',
      'rekor.sigstore.dev',
    ]) {
      assert.equal(accepted(value), functionsAccept(value), JSON.stringify(value));
    }
  });
});
