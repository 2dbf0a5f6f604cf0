/**
 * infra/ keeps its security and wiring properties (test/unit/infra/checks.ts). Each property is
 * checked on the real configuration, and on a copy broken in exactly that respect to show the
 * check catches it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { MAX_DELIVERY_ATTEMPTS } from '../../../emulators/stack/stack.ts';
import { ATTACH_LOCKS } from '../../../functions/attach/firestore-subject-lock.ts';
import { DEFAULT_MAX_ATTEMPTS } from '../../../functions/config/sign-config.ts';
import {
  checkDeadLettersAlerted,
  checkNoPrimitiveRoles,
  checkNothingPublic,
  checkOwnServiceAccounts,
  checkPubsubTrigger,
  checkRuntime,
  checkScheduledRunsWatched,
  checkSchedulerJobs,
  checkSecretGrantsAwaited,
  checkSignerKeyScope,
  checkSigningKey,
  checkTtlPolicy,
  checkWatchedRepositoriesStandard,
} from './checks.ts';
import {
  type Block,
  block,
  expr,
  INFRA_DIR,
  loadTerraform,
  parseTerraform,
  ref,
  resolve,
  resources,
  type Terraform,
} from './terraform.ts';

const ROOT = path.resolve(INFRA_DIR, '..');
const packageJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const engines: string = packageJson.engines.node;

let infra: Terraform;
before(async () => {
  infra = await loadTerraform();
});

/** A deep copy to break. */
function copy(): Terraform {
  return structuredClone(infra);
}

function fn(tf: Terraform, name: string): Block {
  return tf.resource['google_cloudfunctions2_function']![name]!;
}

describe('infra: identities', () => {
  it('every function runs as a service account of its own', () => {
    assert.deepEqual(checkOwnServiceAccounts(infra), []);
    assert.equal(Object.keys(infra.resource['google_cloudfunctions2_function']!).length, 5);
  });

  it('catches two functions sharing an account, or one on the default account', () => {
    const shared = copy();
    block(fn(shared, 'monitor_log'), 'service_config')!['service_account_email'] = expr(
      'google_service_account.reverify_images.email',
    );
    assert.match(checkOwnServiceAccounts(shared).join('\n'), /shares service account reverify_images/);

    const defaulted = copy();
    delete block(fn(defaulted, 'sign_on_push'), 'service_config')!['service_account_email'];
    assert.match(
      checkOwnServiceAccounts(defaulted).join('\n'),
      /sign_on_push: .* not a google_service_account/,
    );

    const asCaller = copy();
    block(fn(asCaller, 'dashboard'), 'service_config')!['service_account_email'] = expr(
      'google_service_account.scheduler.email',
    );
    assert.match(checkOwnServiceAccounts(asCaller).join('\n'), /also a trigger or scheduler identity/);
  });
});

describe('infra: the signer and the key', () => {
  it('the signer signs with the one key, bound on the key resource; nobody else can sign', () => {
    assert.deepEqual(checkSignerKeyScope(infra), []);
  });

  it('catches a project-level KMS grant', async () => {
    const tf = await parseTerraform({
      'extra.tf': `
resource "google_project_iam_member" "signer_everywhere" {
  project = var.project
  role    = "roles/cloudkms.signerVerifier"
  member  = "serviceAccount:\${google_service_account.sign_on_push.email}"
}`,
    });
    const broken = copy();
    Object.assign(broken.resource['google_project_iam_member']!, tf.resource['google_project_iam_member']);
    assert.match(
      checkSignerKeyScope(broken).join('\n'),
      /signer_everywhere: grants roles\/cloudkms.signerVerifier above the key/,
    );
  });

  it('catches a key-ring grant, a verifier that can sign, and a signer without the role', () => {
    const ring = copy();
    ring.resource['google_kms_key_ring_iam_member'] = {
      ring: {
        key_ring_id: expr('google_kms_key_ring.signing[0].id'),
        role: 'roles/cloudkms.signer',
        member: 'x',
      },
    };
    assert.match(checkSignerKeyScope(ring).join('\n'), /google_kms_key_ring_iam_member.ring: grants/);

    const verifierSigns = copy();
    verifierSigns.resource['google_kms_crypto_key_iam_member']!['reverify_images_public_key']!['role'] =
      'roles/cloudkms.signerVerifier';
    assert.match(checkSignerKeyScope(verifierSigns).join('\n'), /reverify_images.* can sign with the key/);

    const noRole = copy();
    delete noRole.resource['google_kms_crypto_key_iam_member']!['sign_on_push_signer'];
    assert.match(checkSignerKeyScope(noRole).join('\n'), /has no roles\/cloudkms.signerVerifier/);

    const otherKey = copy();
    otherKey.resource['google_kms_crypto_key_iam_member']!['sign_on_push_signer']!['crypto_key_id'] =
      'projects/p/locations/l/keyRings/r/cryptoKeys/someone-elses';
    assert.match(checkSignerKeyScope(otherKey).join('\n'), /is not the signing key/);
  });

  it('the key is ASYMMETRIC_SIGN with EC_SIGN_P256_SHA256 by default', () => {
    assert.deepEqual(checkSigningKey(infra, 'EC_SIGN_P256_SHA256'), []);
  });

  it('catches another purpose, another default algorithm, or a rotation period', () => {
    const purpose = copy();
    purpose.resource['google_kms_crypto_key']!['signing']!['purpose'] = 'ENCRYPT_DECRYPT';
    assert.match(checkSigningKey(purpose, 'EC_SIGN_P256_SHA256').join('\n'), /purpose is ENCRYPT_DECRYPT/);

    const algorithm = copy();
    algorithm.variable['key_algorithm']!['default'] = 'RSA_SIGN_PKCS1_2048_SHA256';
    assert.match(
      checkSigningKey(algorithm, 'EC_SIGN_P256_SHA256').join('\n'),
      /algorithm is RSA_SIGN_PKCS1_2048_SHA256/,
    );

    const rotating = copy();
    rotating.resource['google_kms_crypto_key']!['signing']!['rotation_period'] = '7776000s';
    assert.match(checkSigningKey(rotating, 'EC_SIGN_P256_SHA256').join('\n'), /rotation_period/);
  });
});

describe('infra: only standard repositories are watched', () => {
  it('each watched repository is read at plan time, and a remote (pull-through) or virtual one fails the plan', () => {
    assert.deepEqual(checkWatchedRepositoriesStandard(infra), []);
  });

  it('catches no read of the repositories, no postcondition, and a condition that lets a remote or virtual one through', () => {
    const gone = copy();
    delete gone.data['google_artifact_registry_repository'];
    assert.match(
      checkWatchedRepositoriesStandard(gone).join('\n'),
      /no data google_artifact_registry_repository/,
    );

    const unchecked = copy();
    delete unchecked.data['google_artifact_registry_repository']!['watched']!['lifecycle'];
    assert.match(checkWatchedRepositoriesStandard(unchecked).join('\n'), /no postcondition/);

    const loose = copy();
    const postcondition = (
      loose.data['google_artifact_registry_repository']!['watched']!['lifecycle'] as Block[]
    )[0]!['postcondition'] as Block[];
    postcondition[0]!['condition'] = expr('self.mode != "VIRTUAL_REPOSITORY"');
    assert.deepEqual(checkWatchedRepositoriesStandard(loose), [
      'data.google_artifact_registry_repository.watched: a REMOTE_REPOSITORY is accepted',
    ]);
    postcondition[0]!['condition'] = expr(
      'coalesce(self.mode, "STANDARD_REPOSITORY") == "STANDARD_REPOSITORY"',
    );
    assert.deepEqual(checkWatchedRepositoriesStandard(loose), [
      'data.google_artifact_registry_repository.watched: a MODE_UNSPECIFIED is refused',
    ]);
  });
});

describe('infra: no broad or public access', () => {
  it('no primitive role anywhere and no public principal', () => {
    assert.deepEqual(checkNoPrimitiveRoles(infra), []);
    assert.deepEqual(checkNothingPublic(infra), []);
  });

  it('catches roles/editor, roles/owner and roles/viewer, but not roles/cloudkms.viewer', () => {
    for (const role of ['roles/editor', 'roles/owner', 'roles/viewer']) {
      const broken = copy();
      broken.resource['google_project_iam_member']!['build_logs']!['role'] = role;
      assert.match(checkNoPrimitiveRoles(broken).join('\n'), new RegExp(role.replace('/', '\\/')));
    }
    assert.ok(JSON.stringify(infra.resource).includes('roles/cloudkms.viewer'));
  });

  it('project-wide roles/browser only for reverifyImages: Artifact Registry lists its catalog only to a caller with resourcemanager.projects.get', () => {
    // Without it, /v2/_catalog answers reverifyImages an empty list (each watch rule is then a
    // listing failure). Not verifiable offline: this checks the grant is there, and nobody else's.
    const browsers = resources(infra, 'google_project_iam_member')
      .filter(([, b]) => b['role'] === 'roles/browser')
      .map(([name, b]) => [name, ref(b['member'], 'google_service_account'), b['condition']]);
    assert.deepEqual(browsers, [['reverify_images_browser', 'reverify_images', undefined]]);
  });

  it('catches an allUsers grant', () => {
    const broken = copy();
    broken.resource['google_cloud_run_v2_service_iam_member']!['dashboard_viewers']!['member'] = 'allUsers';
    assert.match(checkNothingPublic(broken).join('\n'), /public principal allUsers/);
  });
});

describe('infra: scheduler', () => {
  it('every job calls a non-public function with an OIDC token of an identity that may invoke it', () => {
    assert.deepEqual(checkSchedulerJobs(infra, ['reverifyImages', 'monitorLog']), []);
  });

  it('catches a job without OIDC, a job whose identity cannot invoke, a public target and a missing job', () => {
    const noOidc = copy();
    delete block(noOidc.resource['google_cloud_scheduler_job']!['monitor_log'], 'http_target')!['oidc_token'];
    assert.match(checkSchedulerJobs(noOidc, []).join('\n'), /monitor_log: does not call with .* oidc_token/);

    const noInvoker = copy();
    delete noInvoker.resource['google_cloud_run_v2_service_iam_member']!['scheduler_invokes_reverify_images'];
    assert.match(
      checkSchedulerJobs(noInvoker, []).join('\n'),
      /scheduler has no run.invoker on reverify_images/,
    );

    const publicTarget = copy();
    publicTarget.resource['google_cloud_run_v2_service_iam_member']!['everyone'] = {
      location: expr('var.region'),
      name: expr('google_cloudfunctions2_function.monitor_log.name'),
      role: 'roles/run.invoker',
      member: 'allAuthenticatedUsers',
    };
    assert.match(checkSchedulerJobs(publicTarget, []).join('\n'), /monitor_log is publicly invocable/);

    const missing = copy();
    delete missing.resource['google_cloud_scheduler_job']!['reverify_images'];
    assert.match(
      checkSchedulerJobs(missing, ['reverifyImages']).join('\n'),
      /no scheduler job calls reverifyImages/,
    );
  });
});

describe('infra: dead letters', () => {
  it('a message on either dead-letter topic pages: an alert policy watches each dead-letter subscription', () => {
    assert.deepEqual(checkDeadLettersAlerted(infra), []);
  });

  it("the local stack dead-letters after infra's max_delivery_attempts, above signOnPush's own attempt limit", () => {
    assert.equal(resolve(infra, expr('var.max_delivery_attempts')), MAX_DELIVERY_ATTEMPTS);
    assert.ok(MAX_DELIVERY_ATTEMPTS > DEFAULT_MAX_ATTEMPTS);
  });

  it('catches a dead-letter subscription nobody watches, a topic without one, and a policy that never fires', () => {
    const unwatched = copy();
    delete unwatched.resource['google_monitoring_alert_policy']!['dead_letters'];
    assert.match(checkDeadLettersAlerted(unwatched).join('\n'), /no alert policy pages .* gcr_dead_letter/);

    const noSubscription = copy();
    delete noSubscription.resource['google_pubsub_subscription']!['monitor_shards_dead_letter'];
    assert.match(
      checkDeadLettersAlerted(noSubscription).join('\n'),
      /monitor_shards_dead_letter has no subscription/,
    );

    const never = copy();
    const policy = never.resource['google_monitoring_alert_policy']!['dead_letters']!;
    for (const c of policy['conditions'] as Block[]) block(c, 'condition_threshold')!['threshold_value'] = 10;
    assert.equal(checkDeadLettersAlerted(never).length, 2);
  });
});

/** The variable that bounds each scheduled function's absence. */
const ALLOWANCES = { reverify_images: 'reverify_stopped_after', monitor_log: 'monitor_stopped_after' };

describe('infra: scheduled functions that stop', () => {
  it('reverifyImages or monitorLog completing no run for longer than its allowance pages', () => {
    assert.deepEqual(checkScheduledRunsWatched(infra, ALLOWANCES), []);
    assert.equal(resolve(infra, expr('var.reverify_stopped_after')), '46800s');
    assert.equal(resolve(infra, expr('var.monitor_stopped_after')), '3600s');
  });

  it('catches a missing policy, a metric that counts failures too, a duration past the limit and a per-revision absence', () => {
    const unwatched = copy();
    delete unwatched.resource['google_monitoring_alert_policy']!['scheduled_runs_stopped'];
    assert.deepEqual(checkScheduledRunsWatched(unwatched, ALLOWANCES).sort(), [
      'no metric-absence condition pages when monitor_log stops completing',
      'no metric-absence condition pages when reverify_images stops completing',
    ]);

    const anyStatus = copy();
    const metric = anyStatus.resource['google_logging_metric']!['scheduled_runs_succeeded']!;
    metric['filter'] = String(metric['filter']).replace(/\s*"httpRequest\.status[^\n]*\n/g, '');
    assert.match(
      checkScheduledRunsWatched(anyStatus, ALLOWANCES).join('\n'),
      /no log-based metric counts the successful runs of monitor_log/,
    );

    const tooLong = copy();
    tooLong.variable['monitor_stopped_after']!['default'] = '86400s';
    assert.deepEqual(checkScheduledRunsWatched(tooLong, ALLOWANCES), [
      'monitor_log: absence duration 86400s is outside 120s..84600s',
    ]);

    const swapped = copy();
    for (const c of swapped.resource['google_monitoring_alert_policy']!['scheduled_runs_stopped']![
      'conditions'
    ] as Block[]) {
      const absent = block(c, 'condition_absent')!;
      absent['duration'] =
        absent['duration'] === expr('var.monitor_stopped_after')
          ? expr('var.reverify_stopped_after')
          : expr('var.monitor_stopped_after');
    }
    assert.deepEqual(checkScheduledRunsWatched(swapped, ALLOWANCES).sort(), [
      `monitor_log: absence duration is ${expr('var.reverify_stopped_after')}, not var.monitor_stopped_after`,
      `reverify_images: absence duration is ${expr('var.monitor_stopped_after')}, not var.reverify_stopped_after`,
    ]);

    const perRevision = copy();
    const policy = perRevision.resource['google_monitoring_alert_policy']!['scheduled_runs_stopped']!;
    for (const c of policy['conditions'] as Block[]) {
      block(block(c, 'condition_absent'), 'aggregations')!['group_by_fields'] = [
        'resource.label.revision_name',
      ];
    }
    assert.equal(checkScheduledRunsWatched(perRevision, ALLOWANCES).length, 2);
  });
});

describe('infra: trigger and runtime', () => {
  it('signOnPush is triggered by messages on `gcr`, with retries', () => {
    assert.deepEqual(checkPubsubTrigger(infra, 'signOnPush', 'gcr'), []);
    assert.equal(infra.resource['google_pubsub_topic']!['gcr']!['name'], 'gcr');
  });

  it('monitorShard is triggered by messages on `<name_prefix>monitor-shards`, with retries', () => {
    assert.deepEqual(
      checkPubsubTrigger(infra, 'monitorShard', `${expr('var.name_prefix')}monitor-shards`),
      [],
    );
    assert.match(checkPubsubTrigger(infra, 'monitorShard', 'gcr').join('\n'), /monitor-shards/);
    // The topic of another installation in the project is not this one's.
    assert.match(
      checkPubsubTrigger(infra, 'monitorShard', 'monitor-shards').join('\n'),
      /trigger topic is \$\{var\.name_prefix\}monitor-shards, not monitor-shards/,
    );
  });

  it('catches another topic, another event type, or no retries', () => {
    const topic = copy();
    block(fn(topic, 'sign_on_push'), 'event_trigger')!['pubsub_topic'] = expr(
      'google_pubsub_topic.alerts.id',
    );
    assert.match(
      checkPubsubTrigger(topic, 'signOnPush', 'gcr').join('\n'),
      /trigger topic is \$\{var\.name_prefix\}signing-alerts/,
    );

    const renamed = copy();
    renamed.resource['google_pubsub_topic']!['gcr']!['name'] = 'gcr-notifications';
    assert.match(checkPubsubTrigger(renamed, 'signOnPush', 'gcr').join('\n'), /gcr-notifications, not gcr/);

    const noRetry = copy();
    block(fn(noRetry, 'sign_on_push'), 'event_trigger')!['retry_policy'] = 'RETRY_POLICY_DO_NOT_RETRY';
    assert.match(checkPubsubTrigger(noRetry, 'signOnPush', 'gcr').join('\n'), /not retried/);
  });

  it("the runtime is derived from package.json's engines major (nodejs24, as firebase.json says)", () => {
    assert.deepEqual(checkRuntime(infra, engines), []);
    const firebase = JSON.parse(fs.readFileSync(path.join(ROOT, 'firebase.json'), 'utf8'));
    assert.equal(firebase.functions[0].runtime, `nodejs${/[0-9]+/.exec(engines)![0]}`);
  });

  it('catches a hard-coded other runtime, a broken derivation, and an engines change', () => {
    const literal = copy();
    block(fn(literal, 'monitor_log'), 'build_config')!['runtime'] = 'nodejs22';
    assert.match(checkRuntime(literal, engines).join('\n'), /monitor_log: runtime nodejs22/);

    const badRegex = copy();
    badRegex.locals['node_runtime'] = 'nodejs' + expr('regex("[0-9]", local.package_json.engines.node)');
    assert.match(checkRuntime(badRegex, engines).join('\n'), /runtime nodejs2,/);

    assert.deepEqual(checkRuntime(infra, '>=26 <27'), [], 'derived, so it follows engines');
    const pinned = copy();
    for (const f of Object.values(pinned.resource['google_cloudfunctions2_function']!)) {
      block(f, 'build_config')!['runtime'] = 'nodejs24';
    }
    assert.equal(checkRuntime(pinned, '>=26 <27').length, 5, 'a pinned runtime does not');
  });
});

describe('infra: secrets', () => {
  it('each function mounting the webhook secret waits for its own grant on it', () => {
    assert.deepEqual(checkSecretGrantsAwaited(infra), []);
  });

  it('catches a function that does not wait for its grant', () => {
    const broken = copy();
    const signOnPush = fn(broken, 'sign_on_push');
    signOnPush['depends_on'] = (signOnPush['depends_on'] as string[]).filter((d) => !d.includes('webhook'));
    assert.match(checkSecretGrantsAwaited(broken).join('\n'), /sign_on_push mounts a secret/);
  });
});

describe('infra: Firestore', () => {
  it("a crashed holder's attach lease expires by a TTL policy on attach-locks.expireAt", () => {
    assert.deepEqual(checkTtlPolicy(infra, ATTACH_LOCKS, 'expireAt'), []);
  });

  it('catches a missing policy, a policy on another field, and a field without ttl_config', () => {
    const missing = copy();
    delete missing.resource['google_firestore_field'];
    assert.match(checkTtlPolicy(missing, ATTACH_LOCKS, 'expireAt').join('\n'), /no TTL policy/);
    const otherField = copy();
    otherField.resource['google_firestore_field']!['attach_locks_expire_at']!['field'] = 'until';
    assert.match(checkTtlPolicy(otherField, ATTACH_LOCKS, 'expireAt').join('\n'), /no TTL policy/);
    const noTtl = copy();
    delete noTtl.resource['google_firestore_field']!['attach_locks_expire_at']!['ttl_config'];
    assert.match(checkTtlPolicy(noTtl, ATTACH_LOCKS, 'expireAt').join('\n'), /no ttl_config/);
  });
});
