/**
 * The properties infra/ must keep, each as a function from a parsed configuration to the list of
 * violations it finds (empty when the property holds). Tests run them on infra/ and on broken
 * copies, which is how each is shown to catch what it is about.
 */
import type { FunctionContract } from '../../../functions/config/environment.ts';
import { type Block, block, expr, ref, resolve, resources, strings, type Terraform } from './terraform.ts';

const FUNCTION = 'google_cloudfunctions2_function';
const PUBLIC = /\b(allUsers|allAuthenticatedUsers)\b/;
const PRIMITIVE = /\broles\/(owner|editor|viewer)(?![\w.])/;
/** Roles that can make a signature with a key. */
const SIGNING_ROLES = new Set([
  'roles/cloudkms.signer',
  'roles/cloudkms.signerVerifier',
  'roles/cloudkms.cryptoOperator',
]);
const PUBSUB_EVENT = 'google.cloud.pubsub.topic.v1.messagePublished';

function serviceAccountOf(fn: Block): string | undefined {
  return ref(block(fn, 'service_config')?.['service_account_email'], 'google_service_account');
}

/** The Terraform name of the function whose entry point is `entryPoint`. */
export function functionWithEntryPoint(tf: Terraform, entryPoint: string): [string, Block] | undefined {
  return resources(tf, FUNCTION).find(([, fn]) => block(fn, 'build_config')?.['entry_point'] === entryPoint);
}

/** Each function runs as a service account of its own, declared here (never a default account). */
export function checkOwnServiceAccounts(tf: Terraform): string[] {
  const problems: string[] = [];
  const owner = new Map<string, string>();
  const callers = new Set<string>();
  for (const [, fn] of resources(tf, FUNCTION)) {
    const sa = ref(block(fn, 'event_trigger')?.['service_account_email'], 'google_service_account');
    if (sa) callers.add(sa);
  }
  for (const [, job] of resources(tf, 'google_cloud_scheduler_job')) {
    const sa = ref(
      block(block(job, 'http_target'), 'oidc_token')?.['service_account_email'],
      'google_service_account',
    );
    if (sa) callers.add(sa);
  }
  for (const [name, fn] of resources(tf, FUNCTION)) {
    const sa = serviceAccountOf(fn);
    if (!sa) {
      problems.push(
        `${name}: service_config.service_account_email is not a google_service_account of its own`,
      );
      continue;
    }
    if (!tf.resource['google_service_account']?.[sa])
      problems.push(`${name}: runs as undeclared account ${sa}`);
    if (owner.has(sa)) problems.push(`${name}: shares service account ${sa} with ${owner.get(sa)}`);
    if (callers.has(sa))
      problems.push(`${name}: its service account ${sa} is also a trigger or scheduler identity`);
    owner.set(sa, name);
  }
  return problems;
}

/** Roles named by an IAM resource (iam_member's role, iam_binding's role). */
function iamResources(tf: Terraform): [string, Block][] {
  return Object.entries(tf.resource)
    .filter(([type]) => /_iam_(member|binding|policy)$/.test(type))
    .flatMap(([type, byName]) =>
      Object.entries(byName).map(([name, body]) => [`${type}.${name}`, body] as [string, Block]),
    );
}

/**
 * The signer may sign with the key and nothing wider: its KMS role is a google_kms_crypto_key_iam_member
 * on the key; no KMS role is granted at project, folder, organisation or key-ring level; and no other
 * principal can sign.
 */
export function checkSignerKeyScope(tf: Terraform, signerEntryPoint = 'signOnPush'): string[] {
  const problems: string[] = [];
  const signer = functionWithEntryPoint(tf, signerEntryPoint);
  const signerSa = signer && serviceAccountOf(signer[1]);
  if (!signerSa) return [`no function with entry point ${signerEntryPoint} and its own service account`];

  for (const [address, body] of iamResources(tf)) {
    const role = String(body['role'] ?? '');
    if (!role.startsWith('roles/cloudkms.')) continue;
    if (!address.startsWith('google_kms_crypto_key_iam_member.')) {
      problems.push(
        `${address}: grants ${role} above the key (only google_kms_crypto_key_iam_member may grant KMS roles)`,
      );
      continue;
    }
    const key = String(body['crypto_key_id'] ?? '');
    if (!/^\$\{(local\.crypto_key_id|google_kms_crypto_key\.[A-Za-z0-9_-]+(\[[^\]]*\])?\.id)\}$/.test(key)) {
      problems.push(`${address}: crypto_key_id ${key} is not the signing key`);
    }
    if (SIGNING_ROLES.has(role) && ref(body['member'], 'google_service_account') !== signerSa) {
      problems.push(`${address}: ${body['member']} can sign with the key, but only the signer may`);
    }
  }
  const granted = resources(tf, 'google_kms_crypto_key_iam_member').some(
    ([, b]) =>
      b['role'] === 'roles/cloudkms.signerVerifier' &&
      ref(b['member'], 'google_service_account') === signerSa,
  );
  if (!granted) problems.push(`the signer (${signerSa}) has no roles/cloudkms.signerVerifier on the key`);
  return problems;
}

/** No owner, editor or viewer anywhere, on any resource, in any form. */
export function checkNoPrimitiveRoles(tf: Terraform): string[] {
  const problems: string[] = [];
  for (const [at, value] of strings(tf.resource)) {
    if (PRIMITIVE.test(value)) problems.push(`${at}: primitive role in ${JSON.stringify(value)}`);
  }
  return problems;
}

/** Nothing grants an IAM role to allUsers or allAuthenticatedUsers. */
export function checkNothingPublic(tf: Terraform): string[] {
  const problems: string[] = [];
  for (const [address, body] of iamResources(tf)) {
    for (const [at, value] of strings(body)) {
      if (PUBLIC.test(value)) problems.push(`${address}.${at}: public principal ${value}`);
    }
  }
  return problems;
}

/**
 * Every scheduler job calls a function over HTTP with an OIDC token (audience set) of a declared
 * service account that holds run.invoker on that function; no function it calls is public; and each
 * of `scheduled` entry points has a job.
 */
export function checkSchedulerJobs(tf: Terraform, scheduled: string[]): string[] {
  const problems: string[] = [];
  const called = new Set<string>();
  for (const [name, job] of resources(tf, 'google_cloud_scheduler_job')) {
    const http = block(job, 'http_target');
    const oidc = block(http, 'oidc_token');
    if (!http || !oidc) {
      problems.push(`${name}: does not call with an http_target and an oidc_token`);
      continue;
    }
    const sa = ref(oidc['service_account_email'], 'google_service_account');
    if (!sa || !tf.resource['google_service_account']?.[sa])
      problems.push(`${name}: OIDC identity is not a declared service account`);
    if (!oidc['audience']) problems.push(`${name}: OIDC token has no audience`);
    const target = ref(http['uri'], FUNCTION);
    const fn = target ? tf.resource[FUNCTION]?.[target] : undefined;
    if (!target || !fn) {
      problems.push(`${name}: uri does not name a google_cloudfunctions2_function`);
      continue;
    }
    called.add(String(block(fn, 'build_config')?.['entry_point']));
    const invokers = resources(tf, 'google_cloud_run_v2_service_iam_member').filter(
      ([, b]) => ref(b['name'], FUNCTION) === target && b['role'] === 'roles/run.invoker',
    );
    if (!invokers.some(([, b]) => ref(b['member'], 'google_service_account') === sa)) {
      problems.push(`${name}: ${sa} has no run.invoker on ${target}`);
    }
    for (const [address, body] of iamResources(tf)) {
      const onTarget = Object.values(body).some((v) => ref(v, FUNCTION) === target);
      if (onTarget && [...strings(body)].some(([, v]) => PUBLIC.test(v))) {
        problems.push(`${name}: ${target} is publicly invocable through ${address}`);
      }
    }
  }
  for (const entryPoint of scheduled) {
    if (!called.has(entryPoint)) problems.push(`no scheduler job calls ${entryPoint}`);
  }
  return problems;
}

/** The signing key is an ASYMMETRIC_SIGN key with the expected algorithm (after variable defaults). */
export function checkSigningKey(tf: Terraform, algorithm: string): string[] {
  const keys = resources(tf, 'google_kms_crypto_key');
  if (keys.length === 0) return ['no google_kms_crypto_key'];
  const problems: string[] = [];
  for (const [name, key] of keys) {
    if (key['purpose'] !== 'ASYMMETRIC_SIGN')
      problems.push(`${name}: purpose is ${key['purpose']}, not ASYMMETRIC_SIGN`);
    const actual = resolve(tf, block(key, 'version_template')?.['algorithm']);
    if (actual !== algorithm) problems.push(`${name}: algorithm is ${actual}, not ${algorithm}`);
    if ('rotation_period' in key)
      problems.push(`${name}: rotation_period is not supported for asymmetric keys`);
  }
  return problems;
}

/** The topic Artifact Registry publishes to: its name is fixed, so it is the one without name_prefix. */
export const ARTIFACT_REGISTRY_TOPIC = 'gcr';

/**
 * The name infra gives a topic the contract names by its base name: `${var.name_prefix}<topic>`, so
 * each installation in a project has its own, but `gcr`.
 */
export function deployedTopicName(topic: string): string {
  return topic === ARTIFACT_REGISTRY_TOPIC ? topic : `${expr('var.name_prefix')}${topic}`;
}

/** The function behind `entryPoint` is triggered by messages published on the topic named `topic`, with retries. */
export function checkPubsubTrigger(tf: Terraform, entryPoint: string, topic: string): string[] {
  const fn = functionWithEntryPoint(tf, entryPoint);
  const trigger = fn && block(fn[1], 'event_trigger');
  if (!trigger) return [`${entryPoint}: no event_trigger`];
  const problems: string[] = [];
  if (trigger['event_type'] !== PUBSUB_EVENT)
    problems.push(`${entryPoint}: event_type is ${trigger['event_type']}`);
  const topicRef = ref(trigger['pubsub_topic'], 'google_pubsub_topic');
  const name = topicRef ? tf.resource['google_pubsub_topic']?.[topicRef]?.['name'] : trigger['pubsub_topic'];
  if (name !== topic) problems.push(`${entryPoint}: trigger topic is ${name}, not ${topic}`);
  if (trigger['retry_policy'] !== 'RETRY_POLICY_RETRY')
    problems.push(`${entryPoint}: failures are not retried`);
  return problems;
}

/**
 * Every function's runtime is nodejs<major> for the Node major of package.json's engines.node: a
 * literal, or the local that derives it from package.json (whose regex is applied here as Terraform would).
 */
/**
 * Every dead-letter topic (the ones attach-dead-letter.sh sets on a trigger) has a subscription,
 * and an alert policy pages on the first message in it: a dead-lettered message is a signing or
 * a shard Pub/Sub gave up on, which nothing else reports.
 */
export function checkDeadLettersAlerted(tf: Terraform): string[] {
  const problems: string[] = [];
  const deadLetterTopics = resources(tf, 'terraform_data').flatMap(([, d]) => {
    const env = block(d['provisioner'], 'local-exec');
    const topic = ref(
      (env?.['environment'] as Block | undefined)?.['DEAD_LETTER_TOPIC'],
      'google_pubsub_topic',
    );
    return topic ? [topic] : [];
  });
  if (deadLetterTopics.length === 0) problems.push('no trigger has a dead-letter topic');
  const conditions = resources(tf, 'google_monitoring_alert_policy').flatMap(([, policy]) =>
    ((policy['conditions'] as Block[] | undefined) ?? []).map((c) => ({
      policy,
      threshold: block(c, 'condition_threshold'),
    })),
  );
  for (const topic of deadLetterTopics) {
    const subscriptions = resources(tf, 'google_pubsub_subscription')
      .filter(([, s]) => ref(s['topic'], 'google_pubsub_topic') === topic)
      .map(([name]) => name);
    if (subscriptions.length === 0) {
      problems.push(`dead-letter topic ${topic} has no subscription: its messages would be lost`);
      continue;
    }
    const watched = subscriptions.some((sub) =>
      conditions.some(
        ({ policy, threshold }) =>
          threshold !== undefined &&
          String(threshold['filter']).includes(expr(`google_pubsub_subscription.${sub}.name`)) &&
          String(threshold['filter']).includes(
            'pubsub.googleapis.com/subscription/num_undelivered_messages',
          ) &&
          threshold['comparison'] === 'COMPARISON_GT' &&
          Number(threshold['threshold_value']) === 0 &&
          policy['notification_channels'] === expr('var.notification_channels'),
      ),
    );
    if (!watched) problems.push(`no alert policy pages on a message in dead-letter topic ${topic}`);
  }
  return problems;
}

/** Cloud Monitoring's longest metric-absence duration (23.5 h). */
const MAX_ABSENCE_SECONDS = 84_600;

/**
 * Each scheduled function that stops completing pages: a log-based metric counts its successful
 * requests (2xx in Cloud Run's request log) and a metric-absence condition on that metric, summed
 * per service so a new revision is not an absence, fires within Cloud Monitoring's limits.
 */
export function checkScheduledRunsWatched(tf: Terraform, allowances: Record<string, string>): string[] {
  const problems: string[] = [];
  const targets = resources(tf, 'google_cloud_scheduler_job').flatMap(([, job]) => {
    const target = ref(block(job, 'http_target')?.['uri'], FUNCTION);
    return target ? [target] : [];
  });
  const conditions = resources(tf, 'google_monitoring_alert_policy').flatMap(([, policy]) =>
    ((policy['conditions'] as Block[] | undefined) ?? []).flatMap((c) => {
      const absent = block(c, 'condition_absent');
      return absent ? [{ policy, absent }] : [];
    }),
  );
  for (const target of targets) {
    const service = expr(`${FUNCTION}.${target}.name`);
    const metrics = resources(tf, 'google_logging_metric')
      .filter(([, m]) => {
        const filter = String(m['filter']);
        return (
          filter.includes('run.googleapis.com/requests') &&
          filter.includes(service) &&
          filter.includes('httpRequest.status>=200') &&
          filter.includes('httpRequest.status<300')
        );
      })
      .map(([name]) => name);
    if (metrics.length === 0) {
      problems.push(`no log-based metric counts the successful runs of ${target}`);
      continue;
    }
    const watching = conditions.filter(
      ({ absent }) =>
        metrics.some((m) => String(absent['filter']).includes(expr(`google_logging_metric.${m}.name`))) &&
        String(absent['filter']).includes(service),
    );
    if (watching.length === 0) {
      problems.push(`no metric-absence condition pages when ${target} stops completing`);
      continue;
    }
    for (const { policy, absent } of watching) {
      // Each function's own allowance: swapped, monitorLog would go unwatched for half a day.
      const expected = allowances[target];
      if (expected !== undefined && absent['duration'] !== expr(`var.${expected}`)) {
        problems.push(`${target}: absence duration is ${absent['duration']}, not var.${expected}`);
      }
      const duration = String(resolve(tf, absent['duration']));
      const seconds = /^([0-9]+)s$/.exec(duration)?.[1];
      if (seconds === undefined || Number(seconds) < 120 || Number(seconds) > MAX_ABSENCE_SECONDS) {
        problems.push(`${target}: absence duration ${duration} is outside 120s..${MAX_ABSENCE_SECONDS}s`);
      }
      const aggregation = block(absent, 'aggregations');
      const groupBy = (aggregation?.['group_by_fields'] as string[] | undefined) ?? [];
      if (
        aggregation?.['cross_series_reducer'] !== 'REDUCE_SUM' ||
        groupBy.some((f) => f.includes('revision'))
      ) {
        problems.push(`${target}: absence is not summed across revisions (a new revision would page)`);
      }
      if (policy['notification_channels'] !== expr('var.notification_channels')) {
        problems.push(`${target}: the absence policy notifies no channel`);
      }
    }
  }
  if (targets.length === 0) problems.push('no scheduler job');
  return problems;
}

export function checkRuntime(tf: Terraform, engines: string): string[] {
  const major = /[0-9]+/.exec(engines)?.[0];
  const expected = `nodejs${major}`;
  const problems: string[] = [];
  for (const [name, fn] of resources(tf, FUNCTION)) {
    let runtime = block(fn, 'build_config')?.['runtime'];
    const local = typeof runtime === 'string' ? /^\$\{local\.([A-Za-z0-9_]+)\}$/.exec(runtime) : null;
    if (local) {
      const expr = String(tf.locals[local[1]!] ?? '');
      const derived =
        /^nodejs\$\{regex\("((?:[^"\\]|\\.)+)", local\.([A-Za-z0-9_]+)\.engines\.node\)\}$/.exec(expr);
      if (derived) {
        const source = String(tf.locals[derived[2]!] ?? '');
        if (!/^\$\{jsondecode\(file\(".*\/package\.json"\)\)\}$/.test(source)) {
          problems.push(`${name}: local.${derived[2]} is not package.json`);
          continue;
        }
        runtime = `nodejs${new RegExp(derived[1]!.replace(/\\\\/g, '\\')).exec(engines)?.[0]}`;
      } else runtime = expr;
    }
    if (runtime !== expected)
      problems.push(
        `${name}: runtime ${runtime}, but package.json engines.node "${engines}" means ${expected}`,
      );
  }
  return problems;
}

/**
 * Environment variable names a function sets: plain (from a literal map or the local it filters)
 * and secret; and its NODE_OPTIONS, which is not among them: it is read by Node, not by the
 * function's loader, and is checked against the contract's nodeOptions.
 */
export function environmentOf(
  tf: Terraform,
  fn: Block,
): { plain: string[]; secret: string[]; nodeOptions: unknown } {
  const service = block(fn, 'service_config') ?? {};
  let map: Record<string, unknown> = {};
  const env = service['environment_variables'];
  if (env && typeof env === 'object') map = env as Record<string, unknown>;
  else if (typeof env === 'string') {
    const local = /local\.([A-Za-z0-9_]+)/.exec(env);
    const named = local ? tf.locals[local[1]!] : undefined;
    if (named && typeof named === 'object') map = named as Record<string, unknown>;
  }
  const plain = Object.keys(map).filter((n) => n !== 'NODE_OPTIONS');
  const secretBlocks = [
    ...((service['secret_environment_variables'] as Block[] | undefined) ?? []),
    ...(
      ((service['dynamic'] as Block | undefined)?.['secret_environment_variables'] as Block[] | undefined) ??
      []
    ).map((d) => block(d, 'content') ?? {}),
  ];
  return { plain, secret: secretBlocks.map((b) => String(b['key'])), nodeOptions: map['NODE_OPTIONS'] };
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Terraform deploys exactly the functions of the contract (functions/config/environment.ts): the
 * same entry points, names derived from them, the same trigger kind and topic, and exactly the
 * contract's environment variables, the secret ones from Secret Manager only.
 */
export function checkContract(tf: Terraform, contract: Record<string, FunctionContract>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [key, c] of Object.entries(contract)) {
    const found = resources(tf, FUNCTION).filter(
      ([, fn]) => block(fn, 'build_config')?.['entry_point'] === c.entryPoint,
    );
    if (found.length !== 1) {
      problems.push(`${key}: ${found.length} functions with entry point ${c.entryPoint}`);
      continue;
    }
    const [name, fn] = found[0]!;
    seen.add(name);
    const deployed = String(fn['name'] ?? '').replace(/^\$\{var\.name_prefix\}/, '');
    if (deployed !== kebab(key))
      problems.push(`${key}: deployed as ${fn['name']}, expected \${var.name_prefix}${kebab(key)}`);

    const { plain, secret, nodeOptions } = environmentOf(tf, fn);
    if ((nodeOptions ?? undefined) !== c.nodeOptions)
      problems.push(
        `${key}: NODE_OPTIONS is ${JSON.stringify(nodeOptions)}, the contract says ${JSON.stringify(c.nodeOptions)}`,
      );
    const names = [...plain, ...secret].sort();
    const wanted = c.env.map((e) => e.name).sort();
    for (const n of wanted.filter((n) => !names.includes(n))) problems.push(`${key}: does not set ${n}`);
    for (const n of names.filter((n) => !wanted.includes(n)))
      problems.push(`${key}: sets ${n}, which its loader does not read`);
    for (const e of c.env) {
      if (e.secret && plain.includes(e.name))
        problems.push(`${key}: ${e.name} is a secret but set as a plain value`);
      if (!e.secret && secret.includes(e.name))
        problems.push(`${key}: ${e.name} is not a secret but mounted as one`);
    }
    if (plain.length !== new Set(plain).size || secret.some((s) => plain.includes(s))) {
      problems.push(`${key}: an environment variable is set twice`);
    }

    const memory = block(fn, 'service_config')?.['available_memory'];
    if (memory !== `${c.memoryMiB}Mi`)
      problems.push(`${key}: available_memory is ${memory}, the contract says ${c.memoryMiB}Mi`);

    const trigger = block(fn, 'event_trigger');
    if (c.trigger === 'http' && trigger) problems.push(`${key}: an http function has an event trigger`);
    if (c.trigger === 'pubsub')
      problems.push(...checkPubsubTrigger(tf, c.entryPoint, deployedTopicName(c.topic ?? '')));
  }
  for (const [name] of resources(tf, FUNCTION)) {
    if (!seen.has(name)) problems.push(`${name}: deployed but not in the contract`);
  }
  return problems;
}

/** Documents that are left behind by design (a crashed holder's lease) expire by a TTL policy. */
export function checkTtlPolicy(tf: Terraform, collection: string, field: string): string[] {
  const policy = resources(tf, 'google_firestore_field').find(
    ([, f]) => f['collection'] === collection && f['field'] === field,
  );
  if (policy === undefined)
    return [`${collection}.${field} has no TTL policy: its stale documents stay forever`];
  return block(policy[1], 'ttl_config') === undefined
    ? [
        `google_firestore_field.${policy[0]} has no ttl_config: ${collection}.${field} never expires documents`,
      ]
    : [];
}

/**
 * Each function that mounts the webhook secret waits for its own grant on it (depends_on), so a
 * first apply cannot create a revision that fails to read the secret: the grant is a secret IAM
 * member whose service account is the function's.
 */
export function checkSecretGrantsAwaited(tf: Terraform): string[] {
  const grants = resources(tf, 'google_secret_manager_secret_iam_member');
  const problems: string[] = [];
  for (const [name, fn] of resources(tf, 'google_cloudfunctions2_function')) {
    const config = JSON.stringify(block(fn, 'service_config') ?? {});
    if (!config.includes('secret_environment_variables')) continue;
    const account = /service_account_email":"\$\{(google_service_account\.[\w-]+)\.email\}/.exec(config)?.[1];
    const awaited = new Set((fn['depends_on'] as string[] | undefined) ?? []);
    const own = grants.filter(([, g]) => account !== undefined && String(g['member']).includes(account));
    if (!own.some(([grant]) => awaited.has(`\${google_secret_manager_secret_iam_member.${grant}}`))) {
      problems.push(`${name} mounts a secret but does not wait for its service account's grant on it`);
    }
  }
  return problems;
}

const NAME_PREFIX = expr('var.name_prefix');
const FIRESTORE_DATABASE = expr('var.firestore_database');

/**
 * The attribute naming each kind of resource whose name is unique in the project (a bucket's, in
 * the world): it must carry var.name_prefix, or a second installation in the project collides with
 * the first (its apply fails) or, worse, shares it (a topic, whose messages both would take).
 */
export const PREFIXED_NAMES: Readonly<Record<string, string>> = {
  google_pubsub_topic: 'name',
  google_pubsub_subscription: 'name',
  google_cloudfunctions2_function: 'name',
  google_service_account: 'account_id',
  google_cloud_scheduler_job: 'name',
  google_logging_metric: 'name',
  google_monitoring_alert_policy: 'display_name',
  google_artifact_registry_repository: 'repository_id',
  google_storage_bucket: 'name',
};

/** The attribute naming the database each Firestore resource is, or is in: var.firestore_database. */
export const FIRESTORE_SCOPED: Readonly<Record<string, string>> = {
  google_firestore_database: 'name',
  google_firestore_index: 'database',
  google_firestore_field: 'database',
};

/**
 * Named by a variable of their own: a key ring cannot be deleted or renamed, so prefixing it would
 * make an existing installation create a new key. A second installation sets key_ring_name (or
 * shares the key through existing_crypto_key); the key is named within its ring.
 */
export const OWN_NAME_VARIABLES: Readonly<Record<string, [attribute: string, variable: string]>> = {
  google_kms_key_ring: ['name', 'key_ring_name'],
  google_kms_crypto_key: ['name', 'key_name'],
};

/** Resources that name nothing of their own: grants, enabled APIs, an object inside the bucket, scripts. */
function namesNothing(type: string): boolean {
  return (
    /_iam_(member|binding|policy)$/.test(type) ||
    [
      'google_project_service',
      'google_project_service_identity',
      'google_storage_bucket_object',
      'terraform_data',
    ].includes(type)
  );
}

/**
 * Every named resource carries var.name_prefix (the topic gcr alone excepted: Artifact Registry
 * publishes to exactly that name), KMS resources are named by their own variables, and a resource
 * of a kind not classified here is reported, so a new kind is classified when it is added.
 */
export function checkNamesPrefixed(tf: Terraform): string[] {
  const problems: string[] = [];
  for (const [type, byName] of Object.entries(tf.resource)) {
    if (namesNothing(type) || type in FIRESTORE_SCOPED) continue;
    const attribute = PREFIXED_NAMES[type];
    const own = OWN_NAME_VARIABLES[type];
    if (attribute === undefined && own === undefined) {
      problems.push(
        `${type}: a kind of resource not classified here; say whether its name carries var.name_prefix`,
      );
      continue;
    }
    for (const [name, body] of Object.entries(byName)) {
      if (own !== undefined) {
        if (body[own[0]] !== expr(`var.${own[1]}`))
          problems.push(`${type}.${name}: ${own[0]} is ${JSON.stringify(body[own[0]])}, not var.${own[1]}`);
        continue;
      }
      const value = body[attribute!];
      if (type === 'google_pubsub_topic' && value === ARTIFACT_REGISTRY_TOPIC) continue;
      if (typeof value !== 'string' || !value.includes(NAME_PREFIX))
        problems.push(
          `${type}.${name}: ${attribute} ${JSON.stringify(value)} does not carry var.name_prefix`,
        );
    }
  }
  return problems;
}

/** A function's plain environment as written: the literal map, or the local map it filters. */
function plainEnvironment(tf: Terraform, fn: Block): Record<string, unknown> {
  const env = block(fn, 'service_config')?.['environment_variables'];
  if (env && typeof env === 'object') return env as Record<string, unknown>;
  const local = typeof env === 'string' ? /local\.([A-Za-z0-9_]+)/.exec(env) : null;
  const map = local ? tf.locals[local[1]!] : undefined;
  return map && typeof map === 'object' ? (map as Record<string, unknown>) : {};
}

/**
 * Everything about sigsentry's state is in the database var.firestore_database names: the database
 * itself, every index and field policy, every function's FIRESTORE_DATABASE, and the condition of
 * every Firestore grant (so an installation's functions cannot touch another installation's state).
 */
export function checkFirestoreDatabaseScoped(tf: Terraform): string[] {
  const problems: string[] = [];
  for (const [type, attribute] of Object.entries(FIRESTORE_SCOPED)) {
    for (const [name, body] of resources(tf, type)) {
      if (body[attribute] !== FIRESTORE_DATABASE)
        problems.push(
          `${type}.${name}: ${attribute} is ${JSON.stringify(body[attribute])}, not var.firestore_database`,
        );
    }
  }
  const database = `projects/${expr('var.project')}/databases/${FIRESTORE_DATABASE}`;
  if (tf.locals['firestore_database'] !== database)
    problems.push(
      `local.firestore_database is ${JSON.stringify(tf.locals['firestore_database'])}, not ${database}`,
    );
  for (const [address, body] of iamResources(tf)) {
    if (!String(body['role'] ?? '').startsWith('roles/datastore.')) continue;
    const condition = String(block(body, 'condition')?.['expression'] ?? '');
    if (!condition.includes(expr('local.firestore_database')))
      problems.push(`${address}: grants ${body['role']} beyond the database var.firestore_database names`);
  }
  for (const [name, fn] of resources(tf, FUNCTION)) {
    const value = plainEnvironment(tf, fn)['FIRESTORE_DATABASE'];
    if (value !== FIRESTORE_DATABASE)
      problems.push(`${name}: FIRESTORE_DATABASE is ${JSON.stringify(value)}, not var.firestore_database`);
  }
  return problems;
}

/** Artifact Registry's repository modes, and whether sigsentry may sign what a push there holds. */
const REPOSITORY_MODES: Array<[string | null, boolean]> = [
  ['STANDARD_REPOSITORY', true],
  ['MODE_UNSPECIFIED', true], // a repository created before modes: a standard one
  [null, true],
  ['', true], // as the provider may store an unset mode
  ['REMOTE_REPOSITORY', false], // a pull-through cache of images built elsewhere
  ['VIRTUAL_REPOSITORY', false], // its upstreams' images
];

/**
 * A postcondition's `condition` for a repository of `mode`, evaluated as Terraform would: only
 * `self.mode`, `contains`, `coalesce`, string literals and lists are understood.
 */
function postconditionHolds(condition: string, mode: string | null): boolean {
  const source = /^\$\{([\s\S]*)\}$/.exec(condition)?.[1] ?? '';
  const js = source.replace(/\bself\.mode\b/g, JSON.stringify(mode));
  const identifiers = js.replace(/"(?:[^"\\]|\\.)*"/g, '').match(/[A-Za-z_][\w.]*/g) ?? [];
  const unknown = identifiers.filter((id) => !['contains', 'coalesce', 'null'].includes(id));
  if (unknown.length > 0) throw new Error(`cannot evaluate ${unknown.join(', ')} in ${condition}`);
  const contains = (list: unknown[], value: unknown) => list.includes(value);
  const coalesce = (...values: unknown[]) => values.find((v) => v !== null && v !== '') ?? null;
  return Boolean(new Function('contains', 'coalesce', `return (${js});`)(contains, coalesce));
}

/**
 * Every watched repository is read at plan time (data google_artifact_registry_repository over
 * local.watched) with a postcondition that holds for a standard repository and fails for a remote
 * (pull-through) or virtual one, whose images were built elsewhere: signing them would have the
 * organisation's key vouch for them.
 */
export function checkWatchedRepositoriesStandard(tf: Terraform): string[] {
  const reads = Object.entries(tf.data['google_artifact_registry_repository'] ?? {}).filter(
    ([, body]) => body['for_each'] === expr('local.watched'),
  );
  if (reads.length === 0) {
    return [
      'no data google_artifact_registry_repository reads each of local.watched to refuse a remote or virtual one',
    ];
  }
  const problems: string[] = [];
  for (const [name, body] of reads) {
    const condition = block(block(body, 'lifecycle'), 'postcondition')?.['condition'];
    if (typeof condition !== 'string') {
      problems.push(
        `data.google_artifact_registry_repository.${name}: no postcondition on the repository's mode`,
      );
      continue;
    }
    for (const [mode, signable] of REPOSITORY_MODES) {
      if (postconditionHolds(condition, mode) !== signable) {
        problems.push(
          `data.google_artifact_registry_repository.${name}: a ${mode ?? 'repository of no stated mode'} is ${signable ? 'refused' : 'accepted'}`,
        );
      }
    }
  }
  return problems;
}
