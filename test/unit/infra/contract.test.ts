/**
 * Terraform deploys exactly what functions/config/environment.ts (the deployment contract) says:
 * each function's entry point, its name, its trigger, and exactly the environment its loader reads.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { FUNCTIONS } from '../../../functions/config/environment.ts';
import { checkContract, environmentOf, functionWithEntryPoint } from './checks.ts';
import { block, expr, loadTerraform, type Terraform } from './terraform.ts';

let infra: Terraform;
before(async () => {
  infra = await loadTerraform();
});

describe('infra: the deployment contract', () => {
  it('names, entry points, triggers and environment variables match environment.ts', () => {
    assert.deepEqual(checkContract(infra, FUNCTIONS), []);
  });

  it('reads the environment the way the check assumes (each contract variable, secrets separately)', () => {
    for (const [key, c] of Object.entries(FUNCTIONS)) {
      const [, fn] = functionWithEntryPoint(infra, c.entryPoint)!;
      const { plain, secret } = environmentOf(infra, fn);
      assert.deepEqual([...plain, ...secret].sort(), c.env.map((e) => e.name).sort(), key);
      assert.deepEqual(
        secret,
        c.env.filter((e) => e.secret).map((e) => e.name),
        `${key} secrets`,
      );
    }
  });

  it('catches a variable the loader does not read, and one it reads that is not set', () => {
    const extra = structuredClone(infra);
    (extra.locals['monitor_log_env'] as Record<string, string>)['REKOR_URLS'] = 'x';
    assert.match(checkContract(extra, FUNCTIONS).join('\n'), /monitorLog: sets REKOR_URLS/);

    const missing = structuredClone(infra);
    delete (missing.locals['sign_on_push_env'] as Record<string, string>)['KMS_KEY'];
    assert.match(checkContract(missing, FUNCTIONS).join('\n'), /signOnPush: does not set KMS_KEY/);
  });

  it('catches an instance memory other than the one the local stack limits the function to', () => {
    const bigger = structuredClone(infra);
    block(bigger.resource['google_cloudfunctions2_function']!['monitor_log'], 'service_config')![
      'available_memory'
    ] = '512Mi';
    assert.match(
      checkContract(bigger, FUNCTIONS).join('\n'),
      /monitorLog: available_memory is 512Mi, the contract says 256Mi/,
    );
  });

  it("catches NODE_OPTIONS other than the contract's, and one the contract does not set", () => {
    const other = structuredClone(infra);
    (other.locals['monitor_log_env'] as Record<string, string>)['NODE_OPTIONS'] = '--max-old-space-size=200';
    const found = checkContract(other, FUNCTIONS).join('\n');
    assert.match(
      found,
      /monitorLog: NODE_OPTIONS is "--max-old-space-size=200", the contract says "--max-old-space-size=1024"/,
    );

    const unwanted = structuredClone(infra);
    (unwanted.locals['dashboard_env'] as Record<string, string>)['NODE_OPTIONS'] =
      '--max-old-space-size=1024';
    assert.match(
      checkContract(unwanted, FUNCTIONS).join('\n'),
      /dashboard: NODE_OPTIONS is "--max-old-space-size=1024", the contract says undefined/,
    );

    const missing = structuredClone(infra);
    delete (missing.locals['monitor_log_env'] as Record<string, string>)['NODE_OPTIONS'];
    assert.match(checkContract(missing, FUNCTIONS).join('\n'), /monitorShard: NODE_OPTIONS is undefined/);
  });

  it('catches a secret set as a plain value', () => {
    const plainSecret = structuredClone(infra);
    (plainSecret.locals['reverify_images_env'] as Record<string, string>)['ALERT_WEBHOOK_URL'] =
      'https://hooks';
    const service = block(
      plainSecret.resource['google_cloudfunctions2_function']!['reverify_images'],
      'service_config',
    )!;
    delete service['dynamic'];
    assert.match(
      checkContract(plainSecret, FUNCTIONS).join('\n'),
      /ALERT_WEBHOOK_URL is a secret but set as a plain value/,
    );
  });

  it('catches a renamed entry point, a renamed function, a missing function and a trigger of the wrong kind', () => {
    const entry = structuredClone(infra);
    block(entry.resource['google_cloudfunctions2_function']!['reverify_images'], 'build_config')![
      'entry_point'
    ] = 'reverify';
    const found = checkContract(entry, FUNCTIONS).join('\n');
    assert.match(found, /reverifyImages: 0 functions with entry point reverifyImages/);
    assert.match(found, /reverify_images: deployed but not in the contract/);

    const renamed = structuredClone(infra);
    renamed.resource['google_cloudfunctions2_function']!['monitor_log']!['name'] =
      expr('var.name_prefix') + 'monitor';
    assert.match(checkContract(renamed, FUNCTIONS).join('\n'), /monitorLog: deployed as/);

    const dropped = structuredClone(infra);
    delete dropped.resource['google_cloudfunctions2_function']!['dashboard'];
    assert.match(checkContract(dropped, FUNCTIONS).join('\n'), /dashboard: 0 functions/);

    const noTrigger = structuredClone(infra);
    delete noTrigger.resource['google_cloudfunctions2_function']!['sign_on_push']!['event_trigger'];
    assert.match(checkContract(noTrigger, FUNCTIONS).join('\n'), /signOnPush: no event_trigger/);

    const http = structuredClone(infra);
    http.resource['google_cloudfunctions2_function']!['monitor_log']!['event_trigger'] =
      infra.resource['google_cloudfunctions2_function']!['sign_on_push']!['event_trigger'];
    assert.match(
      checkContract(http, FUNCTIONS).join('\n'),
      /monitorLog: an http function has an event trigger/,
    );
  });

  it('names topics by their base name: infra prefixes each with name_prefix, but gcr (Artifact Registry publishes there)', () => {
    assert.equal(FUNCTIONS['monitorShard']!.topic, 'monitor-shards');
    assert.equal(FUNCTIONS['signOnPush']!.topic, 'gcr');

    const shared = structuredClone(infra);
    shared.resource['google_pubsub_topic']!['monitor_shards']!['name'] = 'monitor-shards';
    assert.match(
      checkContract(shared, FUNCTIONS).join('\n'),
      /monitorShard: trigger topic is monitor-shards, not \$\{var\.name_prefix\}monitor-shards/,
    );

    const prefixedGcr = structuredClone(infra);
    prefixedGcr.resource['google_pubsub_topic']!['gcr']!['name'] = `${expr('var.name_prefix')}gcr`;
    assert.match(
      checkContract(prefixedGcr, FUNCTIONS).join('\n'),
      /signOnPush: trigger topic is \$\{var\.name_prefix\}gcr, not gcr/,
    );
  });

  it('follows the contract when the contract changes', () => {
    const changed = structuredClone(FUNCTIONS);
    changed['signOnPush']!.env.push({ name: 'SIGSENTRY_NEW', required: false, description: 'new' });
    assert.match(checkContract(infra, changed).join('\n'), /signOnPush: does not set SIGSENTRY_NEW/);
  });
});
