/**
 * The deployment contract: each function's name (its Functions Framework target and Cloud Run
 * entry point) and the environment variables its configuration loader reads. infra/ sets exactly
 * these, and a test checks the two agree. Change a loader, change this table.
 */
export interface EnvironmentVariable {
  name: string;
  required: boolean;
  /** Held in Secret Manager and mounted as an environment variable, never a plain value. */
  secret?: boolean;
  description: string;
}

export interface FunctionContract {
  entryPoint: string;
  trigger: 'pubsub' | 'http';
  /**
   * The topic a Pub/Sub-triggered function listens on, by its base name: infra names it
   * `${name_prefix}<topic>`, so two installations in one project have topics of their own, except
   * `gcr`, the name Artifact Registry publishes to (every installation subscribes to it and signs
   * only its own watched repositories).
   */
  topic?: string;
  /**
   * Memory of one instance (Cloud Run's limit, `available_memory`). The local stack runs each
   * function under the same limit, so the benchmarks' loads are measured inside it.
   */
  memoryMiB: number;
  /**
   * `NODE_OPTIONS` of its instances, where the function needs any; the local stack and the
   * benchmarks run it with the same.
   */
  nodeOptions?: string;
  env: EnvironmentVariable[];
}

/**
 * The monitor's heap limit, far above its instance's memory on purpose. V8 scales its heap growing
 * factor with the limit: under the 259 MB Node derives from 256 MiB it is at its minimum (1.3), and
 * with the Google client libraries' 40 MB held, V8 re-marks the whole heap almost as soon as a
 * scan promotes anything (134 major collections over 1,000,000 v2 entries, their background
 * marking most of what the monitor spent over its floor). At 1024 the scan makes 73-78, at a peak
 * RSS of 232-239 MiB (README, "Memory"). What bounds the monitor's memory is its read budget and
 * batches, not this limit.
 */
const MONITOR_NODE_OPTIONS = '--max-old-space-size=1024';

const local: EnvironmentVariable = {
  name: 'SIGSENTRY_LOCAL',
  required: false,
  description:
    'the local stack only: "1" turns off the in-code identity-token check of the HTTP functions; never set in a deployment',
};

const project: EnvironmentVariable = { name: 'GCP_PROJECT', required: true, description: 'the project id' };
/** Read by every Firestore client (config/firestore.ts), so by every function that keeps state. */
const firestoreDatabase: EnvironmentVariable = {
  name: 'FIRESTORE_DATABASE',
  required: false,
  description:
    'id of the Firestore database holding the state (unset: (default)); two installations in one project use different ones',
};
const alertTopic: EnvironmentVariable = {
  name: 'ALERT_TOPIC',
  required: false,
  description:
    'Pub/Sub topic alerts are published on (default signing-alerts; infra sets <name_prefix>signing-alerts)',
};
const alertWebhook: EnvironmentVariable = {
  name: 'ALERT_WEBHOOK_URL',
  required: false,
  secret: true,
  description: 'Slack-compatible webhook for alerts',
};
const rekorUrl: EnvironmentVariable = {
  name: 'REKOR_URL',
  required: false,
  description:
    'the transparency log (its http(s) base URL, Rekor v1 or v2), or "none" (exactly, in lower case) for none',
};
const rekorApi: EnvironmentVariable = {
  name: 'REKOR_API',
  required: false,
  description: 'v1 (default) or v2',
};
const rekorKey: EnvironmentVariable = {
  name: 'REKOR_PUBLIC_KEY',
  required: false,
  description:
    "the log's public key (PEM) that checkpoints and entries are verified against; unset: the key of a log in the embedded Sigstore public-good trusted root (https://rekor.sigstore.dev), required for any other log",
};
const rekorKeyFile: EnvironmentVariable = {
  name: 'REKOR_PUBLIC_KEY_FILE',
  required: false,
  description: "a file holding the log's public key, instead of REKOR_PUBLIC_KEY (the local stack)",
};
const watch: EnvironmentVariable = {
  name: 'SIGSENTRY_WATCH',
  required: false,
  description: 'comma-separated repository globs HOST/REPO/** (or use SIGSENTRY_CONFIG)',
};
const config: EnvironmentVariable = {
  name: 'SIGSENTRY_CONFIG',
  required: false,
  description: 'the whole configuration as one JSON document (overrides the plain variables)',
};
const kmsKey: EnvironmentVariable = {
  name: 'KMS_KEY',
  required: false,
  description: 'projects/…/cryptoKeyVersions/N that signs (signOnPush) or is expected (verifier, monitor)',
};

const shardTopic: EnvironmentVariable = {
  name: 'MONITOR_SHARD_TOPIC',
  required: false,
  description:
    'Pub/Sub topic of the fan-out shards of a large backlog (monitorShard; infra sets <name_prefix>monitor-shards); unset: no fan-out',
};

/** monitorLog and monitorShard read one configuration (monitor-log/config.ts). */
const monitorEnv: EnvironmentVariable[] = [
  project,
  firestoreDatabase,
  rekorUrl,
  rekorApi,
  rekorKey,
  rekorKeyFile,
  config,
  {
    name: 'SIGSENTRY_IDENTITIES',
    required: false,
    description: 'JSON list of owned keys and identities',
  },
  kmsKey,
  {
    name: 'MONITOR_START_INDEX',
    required: false,
    description: 'log index the first run starts from (default: the tree size at the first run)',
  },
  {
    name: 'MONITOR_MAX_ENTRIES',
    required: false,
    description: 'entries one run scans at most per log; the next run goes on from there',
  },
  {
    name: 'MONITOR_STALLED_AFTER_HOURS',
    required: false,
    description:
      'hours the log may go without growing before a log-stalled alert (default 24; 1 to 2160), or "false": never',
  },
  shardTopic,
  alertTopic,
  alertWebhook,
  local,
];

export const FUNCTIONS: Record<string, FunctionContract> = {
  signOnPush: {
    entryPoint: 'signOnPush',
    trigger: 'pubsub',
    topic: 'gcr',
    memoryMiB: 256,
    env: [
      project,
      firestoreDatabase,
      watch,
      kmsKey,
      rekorUrl,
      rekorApi,
      // The log's answer to each signing is verified against its key before it is stored.
      rekorKey,
      rekorKeyFile,
      config,
      { name: 'SIGSENTRY_FORMATS', required: false, description: 'bundle, cosign (default both)' },
      alertTopic,
      alertWebhook,
    ],
  },
  reverifyImages: {
    entryPoint: 'reverifyImages',
    trigger: 'http',
    memoryMiB: 256,
    env: [
      project,
      firestoreDatabase,
      watch,
      kmsKey,
      rekorUrl,
      rekorApi,
      rekorKey,
      config,
      rekorKeyFile,
      {
        name: 'SIGSENTRY_PUBLIC_KEYS',
        required: false,
        description:
          'PEM public keys accepted on watched repositories besides KMS_KEY (comma-separated KMS_KEY also works)',
      },
      {
        name: 'SIGSENTRY_WATCHLIST',
        required: false,
        description:
          'JSON list of third-party images and the identity that must sign them: [{"image","identity","issuer"}]',
      },
      {
        name: 'SIGSENTRY_REVERIFY_CONCURRENCY',
        required: false,
        description: 'tags verified at once in a pass (default 32)',
      },
      {
        name: 'SIGSENTRY_REVERIFY_STALE_AFTER_HOURS',
        required: false,
        description:
          'hours a tag, repository or registry may go without a verdict, pass after pass, before a verification-stale alert (default 24)',
      },
      {
        name: 'SIGSENTRY_REGISTRY_REDIRECT_HOSTS',
        required: false,
        description:
          'comma-separated hosts the registries may redirect blob reads to or name as token realm (Docker Hub: auth.docker.io,production.cloudflare.docker.com)',
      },
      {
        name: 'SIGSTORE_TUF_URL',
        required: false,
        description:
          'TUF repository the public-good trusted root of the watchlist is refreshed from on every pass (default https://tuf-repo-cdn.sigstore.dev), or "none" (exactly) for the root embedded in @sigstore/tuf, no network; read with SIGSENTRY_CONFIG too',
      },
      {
        name: 'SIGSTORE_TUF_ROOT',
        required: false,
        description:
          'the root.json (the document) a TUF repository other than the public-good one is first trusted with; unset for the public-good one, whose root @sigstore/tuf carries',
      },
      alertTopic,
      alertWebhook,
      local,
    ],
  },
  monitorLog: {
    entryPoint: 'monitorLog',
    trigger: 'http',
    memoryMiB: 256,
    nodeOptions: MONITOR_NODE_OPTIONS,
    env: monitorEnv,
  },
  // The shards of a backlog monitorLog fans out: the same configuration, one shard per message.
  monitorShard: {
    entryPoint: 'monitorShard',
    trigger: 'pubsub',
    topic: 'monitor-shards',
    memoryMiB: 256,
    nodeOptions: MONITOR_NODE_OPTIONS,
    env: monitorEnv,
  },
  dashboard: {
    entryPoint: 'dashboard',
    trigger: 'http',
    memoryMiB: 256,
    env: [project, firestoreDatabase, local],
  },
};
