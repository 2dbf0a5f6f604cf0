/**
 * Two installations in one project (name_prefix, firestore_database) share nothing but the topic
 * `gcr`, which Artifact Registry publishes to. Before, the topics `signing-alerts` and
 * `monitor-shards` had no prefix (the second apply failed, or both monitorShard functions took each
 * other's shards) and every function used the `(default)` Firestore database (both installations
 * shared signing records, monitor cursors and alerts).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { firestoreDatabaseFromEnv } from '../../../functions/config/firestore.ts';
import {
  checkFirestoreDatabaseScoped,
  checkNamesPrefixed,
  FIRESTORE_SCOPED,
  OWN_NAME_VARIABLES,
  PREFIXED_NAMES,
} from './checks.ts';
import { type Block, block, expr, loadTerraform, resources, type Terraform } from './terraform.ts';

let infra: Terraform;
before(async () => {
  infra = await loadTerraform();
});

function copy(): Terraform {
  return structuredClone(infra);
}

/** Every named resource's name as one installation gets it: `type:name` for these variable values. */
function namesOf(tf: Terraform, vars: Record<string, string>): Set<string> {
  const render = (value: unknown) =>
    String(value).replace(/\$\{var\.([A-Za-z0-9_]+)\}/g, (whole, name: string) =>
      name in vars ? vars[name]! : String(tf.variable[name]?.['default'] ?? whole),
    );
  const names = new Set<string>();
  const kinds = { ...PREFIXED_NAMES, ...FIRESTORE_SCOPED };
  for (const [type, attribute] of Object.entries(kinds)) {
    for (const [name, body] of resources(tf, type)) {
      // An index or field policy is named by its database and collection (and fields).
      const own = type === 'google_firestore_database' || type in PREFIXED_NAMES ? '' : `/${name}`;
      names.add(`${type}:${render(body[attribute])}${own}`);
    }
  }
  return names;
}

describe('infra: two installations in one project', () => {
  it('no topic, subscription, function, service account, scheduler job, metric or policy ignores name_prefix (but gcr)', () => {
    assert.deepEqual(checkNamesPrefixed(infra), []);
    assert.equal(infra.resource['google_pubsub_topic']!['gcr']!['name'], 'gcr');
  });

  it('the Firestore database, its indexes and TTL policy, the grants and every function are on firestore_database', () => {
    assert.deepEqual(checkFirestoreDatabaseScoped(infra), []);
  });

  it('two installations with their own prefixes and databases share the topic gcr and nothing else', () => {
    const first = namesOf(infra, {
      name_prefix: 'sigsentry-',
      firestore_database: '(default)',
      project: 'p',
    });
    const second = namesOf(infra, { name_prefix: 'sigb-', firestore_database: 'sigsentry-b', project: 'p' });
    assert.ok(first.size >= 25, [...first].join('\n'));
    assert.deepEqual(
      [...first].filter((n) => second.has(n)),
      ['google_pubsub_topic:gcr'],
    );
    assert.ok(first.has('google_pubsub_topic:sigsentry-signing-alerts'));
    assert.ok(second.has('google_pubsub_topic:sigb-monitor-shards'));
    assert.ok(second.has('google_firestore_database:sigsentry-b'));
  });

  it('catches an unprefixed topic, subscription, function, service account and scheduler job', () => {
    const cases: Array<[string, string, string, string]> = [
      ['google_pubsub_topic', 'alerts', 'name', 'signing-alerts'],
      ['google_pubsub_topic', 'monitor_shards', 'name', 'monitor-shards'],
      ['google_pubsub_subscription', 'alerts_archive', 'name', 'signing-alerts-archive'],
      ['google_cloudfunctions2_function', 'monitor_shard', 'name', 'monitor-shard'],
      ['google_service_account', 'trigger', 'account_id', 'sigsentry-trigger'],
      ['google_cloud_scheduler_job', 'monitor_log', 'name', 'monitor-log'],
      ['google_logging_metric', 'scheduled_runs_succeeded', 'name', 'scheduled-runs-succeeded'],
    ];
    for (const [type, name, attribute, value] of cases) {
      const broken = copy();
      broken.resource[type]![name]![attribute] = value;
      assert.deepEqual(
        checkNamesPrefixed(broken),
        [`${type}.${name}: ${attribute} "${value}" does not carry var.name_prefix`],
        `${type}.${name}`,
      );
    }
  });

  it('catches a key ring named otherwise than by key_ring_name, and a kind of resource nobody classified', () => {
    const ring = copy();
    ring.resource['google_kms_key_ring']!['signing']!['name'] = 'sigsentry';
    assert.match(checkNamesPrefixed(ring).join('\n'), /google_kms_key_ring.signing: name is "sigsentry"/);
    assert.deepEqual(Object.keys(OWN_NAME_VARIABLES).sort(), [
      'google_kms_crypto_key',
      'google_kms_key_ring',
    ]);

    const unknown = copy();
    unknown.resource['google_pubsub_schema'] = { alerts: { name: 'alert' } };
    assert.deepEqual(checkNamesPrefixed(unknown), [
      'google_pubsub_schema: a kind of resource not classified here; say whether its name carries var.name_prefix',
    ]);
  });

  it('catches a database, an index or a TTL policy on (default), a grant on every database, and a function without FIRESTORE_DATABASE', () => {
    const database = copy();
    database.resource['google_firestore_database']!['default']!['name'] = '(default)';
    assert.deepEqual(checkFirestoreDatabaseScoped(database), [
      'google_firestore_database.default: name is "(default)", not var.firestore_database',
    ]);

    const index = copy();
    index.resource['google_firestore_index']!['alerts_open_by_last_seen']!['database'] = '(default)';
    index.resource['google_firestore_field']!['attach_locks_expire_at']!['database'] = '(default)';
    assert.equal(checkFirestoreDatabaseScoped(index).length, 2);

    const grant = copy();
    delete grant.resource['google_project_iam_member']!['monitor_shard_firestore']!['condition'];
    assert.deepEqual(checkFirestoreDatabaseScoped(grant), [
      'google_project_iam_member.monitor_shard_firestore: grants roles/datastore.user beyond the database var.firestore_database names',
    ]);

    const local = copy();
    local.locals['firestore_database'] = `projects/${expr('var.project')}/databases/(default)`;
    assert.match(checkFirestoreDatabaseScoped(local).join('\n'), /local.firestore_database is/);

    const env = copy();
    delete (env.locals['dashboard_env'] as Block)['FIRESTORE_DATABASE'];
    (env.locals['monitor_log_env'] as Block)['FIRESTORE_DATABASE'] = '(default)';
    assert.deepEqual(checkFirestoreDatabaseScoped(env).sort(), [
      'dashboard: FIRESTORE_DATABASE is undefined, not var.firestore_database',
      'monitor_log: FIRESTORE_DATABASE is "(default)", not var.firestore_database',
      'monitor_shard: FIRESTORE_DATABASE is "(default)", not var.firestore_database',
    ]);
  });

  it('the grants hold a condition the check reads: the resource name of the database', () => {
    const grants = resources(infra, 'google_project_iam_member').filter(([, b]) =>
      String(b['role']).startsWith('roles/datastore.'),
    );
    assert.equal(grants.length, 5);
    for (const [name, body] of grants) {
      assert.equal(
        block(body, 'condition')?.['expression'],
        `resource.name == "${expr('local.firestore_database')}"`,
        name,
      );
    }
  });
});

describe('infra: firestore_database is validated as the functions read FIRESTORE_DATABASE', () => {
  it('defaults to (default), the database earlier versions used', () => {
    assert.equal(infra.variable['firestore_database']?.['default'], '(default)');
  });

  it('the variable refuses at plan what every function would refuse at start-up, and accepts what they accept', () => {
    const validations = infra.variable['firestore_database']?.['validation'] as Block[] | undefined;
    const condition = String(validations?.[0]?.['condition']);
    // `var.firestore_database == "(default)" || (can(regex("ID", var.firestore_database)) &&
    // !can(regex("UUID", var.firestore_database)))`, as hcl2json gives it.
    const match =
      /^\$\{var\.firestore_database == "\(default\)" \|\| \(can\(regex\("(.+)", var\.firestore_database\)\) && !can\(regex\("(.+)", var\.firestore_database\)\)\)\}$/.exec(
        condition,
      );
    assert.ok(match, condition);
    const [id, uuid] = [match[1]!, match[2]!].map((p) => new RegExp(JSON.parse(`"${p}"`) as string));
    const accepted = (value: string) => value === '(default)' || (id!.test(value) && !uuid!.test(value));
    const functionsAccept = (value: string) => {
      try {
        firestoreDatabaseFromEnv({ FIRESTORE_DATABASE: value });
        return true;
      } catch {
        return false;
      }
    };
    for (const value of [
      '(default)',
      'sigsentry-b',
      'abcd',
      'a1-2',
      `a${'b'.repeat(62)}`,
      `a${'b'.repeat(63)}`,
      'abc',
      'Sigsentry',
      'sigsentry-',
      ' sigsentry',
      'sigsentry\n',
      '1abc',
      'sig_sentry',
      '(DEFAULT)',
      'abcdef12-3456-7890-abcd-ef1234567890',
      'abcdef12-3456-7890-abcd-ef1234567890x',
    ]) {
      assert.equal(accepted(value), functionsAccept(value), JSON.stringify(value));
    }
  });
});
