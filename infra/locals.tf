locals {
  # The runtime follows package.json's engines.node (">=24 <25" → nodejs24), the same Node major
  # the code is developed and tested on; a unit test checks the two agree.
  package_json = jsondecode(file("${path.module}/../package.json"))
  node_runtime = "nodejs${regex("[0-9]+", local.package_json.engines.node)}"

  project_number = data.google_project.this.number

  # one(): the created key, or null when an existing key is used (indexing [0] of an empty list fails).
  crypto_key_id = var.existing_crypto_key != "" ? var.existing_crypto_key : one(google_kms_crypto_key.signing[*].id)
  # What signs, and what the verifier and the monitor expect: one key version, chosen explicitly.
  kms_key_version = "${local.crypto_key_id}/cryptoKeyVersions/${var.key_version}"

  # The project as registry paths write it: a domain-scoped project `example.com:my-project` is
  # `example.com/my-project` there (Artifact Registry, "Repository and image names", Domain-scoped
  # projects), while API resource names (projects/example.com:my-project/…) keep the colon.
  registry_project = replace(var.project, ":", "/")
  # The project in bucket names, which allow neither a colon nor (without verifying the domain) a
  # dot: example-com-my-project. A project id without a domain has neither and is kept as it is.
  bucket_project = replace(var.project, "/[:.]/", "-")

  # HOST/PROJECT/REPO/** for each watched Docker repository.
  watch_globs = [
    for r in var.watched_repositories : "${r.location}-docker.pkg.dev/${local.registry_project}/${r.repository_id}/**"
  ]
  watched = { for r in var.watched_repositories : "${r.location}/${r.repository_id}" => r }

  # The database every function keeps its state in (FIRESTORE_DATABASE), and the resource the
  # Firestore grants' IAM conditions name.
  firestore_database = "projects/${var.project}/databases/${var.firestore_database}"
  # The title of those conditions: sigsentry-default-database for (default), as before named
  # databases existed (a changed condition replaces the grant), sigsentry-<id>-database otherwise.
  firestore_condition_title = "sigsentry-${replace(var.firestore_database, "/[()]/", "")}-database"

  # monitorLog and monitorShard read the key only to recognise sigsentry's own entries in the log.
  # With rekor_url = "none" they watch no log (REKOR_URL=none) and hold no KMS role. A
  # sigsentry_config document replaces the plain variables and may name a log, so with one they
  # keep their roles.
  monitor_watches_log = !(var.rekor_url == "none" && var.sigsentry_config == "")

  # Each function's environment, mirroring functions/config/environment.ts (the deployment contract).
  # Empty values are dropped, so the loader's defaults apply. A unit test checks the names.
  sign_on_push_env = {
    GCP_PROJECT        = var.project
    FIRESTORE_DATABASE = var.firestore_database
    SIGSENTRY_WATCH    = join(",", local.watch_globs)
    KMS_KEY            = local.kms_key_version
    REKOR_URL          = var.rekor_url
    REKOR_API          = var.rekor_api
    # The log's answer to each signing is verified against its key before it is stored.
    REKOR_PUBLIC_KEY  = var.rekor_public_key
    SIGSENTRY_CONFIG  = var.sigsentry_config
    SIGSENTRY_FORMATS = join(",", var.signature_formats)
    ALERT_TOPIC       = google_pubsub_topic.alerts.name
    # The local stack's way of passing the log key; a deployment passes REKOR_PUBLIC_KEY.
    REKOR_PUBLIC_KEY_FILE = ""
  }
  reverify_images_env = {
    GCP_PROJECT         = var.project
    FIRESTORE_DATABASE  = var.firestore_database
    SIGSENTRY_WATCH     = join(",", local.watch_globs)
    KMS_KEY             = local.kms_key_version
    REKOR_URL           = var.rekor_url
    REKOR_API           = var.rekor_api
    REKOR_PUBLIC_KEY    = var.rekor_public_key
    SIGSENTRY_CONFIG    = var.sigsentry_config
    SIGSENTRY_WATCHLIST = var.watchlist
    ALERT_TOPIC         = google_pubsub_topic.alerts.name
    # Extra PEM keys accepted besides KMS_KEY, and the pass's concurrency (empty: the code's default).
    SIGSENTRY_PUBLIC_KEYS          = var.extra_public_keys
    SIGSENTRY_REVERIFY_CONCURRENCY = var.reverify_concurrency == null ? "" : tostring(var.reverify_concurrency)
    # How long something may go without a verdict before verification-stale (empty: 24 h).
    SIGSENTRY_REVERIFY_STALE_AFTER_HOURS = var.reverify_stale_after_hours == null ? "" : tostring(var.reverify_stale_after_hours)
    # Blob-storage and token-realm hosts of watchlisted third-party registries (Docker Hub, ghcr.io).
    SIGSENTRY_REGISTRY_REDIRECT_HOSTS = join(",", var.registry_redirect_hosts)
    # The TUF repository the watchlist's trusted root is refreshed from (empty: the public-good one).
    SIGSTORE_TUF_URL  = var.sigstore_tuf_url
    SIGSTORE_TUF_ROOT = var.sigstore_tuf_root
    # The local stack's way of passing the log key; a deployment passes REKOR_PUBLIC_KEY.
    REKOR_PUBLIC_KEY_FILE = ""
    SIGSENTRY_LOCAL       = ""
  }
  # monitorLog and monitorShard (the shards of a backlog monitorLog fans out) read one configuration.
  monitor_log_env = {
    GCP_PROJECT        = var.project
    FIRESTORE_DATABASE = var.firestore_database
    REKOR_URL          = var.rekor_url
    REKOR_API          = var.rekor_api
    REKOR_PUBLIC_KEY   = var.rekor_public_key
    # The local stack's way of passing the log key; a deployment passes REKOR_PUBLIC_KEY.
    REKOR_PUBLIC_KEY_FILE = ""
    SIGSENTRY_CONFIG      = var.sigsentry_config
    SIGSENTRY_IDENTITIES  = var.identities
    KMS_KEY               = local.kms_key_version
    MONITOR_START_INDEX   = var.monitor_start_index == null ? "" : tostring(var.monitor_start_index)
    MONITOR_MAX_ENTRIES   = var.monitor_max_entries == null ? "" : tostring(var.monitor_max_entries)
    # How long the log may go without growing before log-stalled (empty: 24 h); "false": never.
    MONITOR_STALLED_AFTER_HOURS = var.monitor_stalled_after_hours == null ? "" : var.monitor_stalled_after_hours
    ALERT_TOPIC                 = google_pubsub_topic.alerts.name
    MONITOR_SHARD_TOPIC         = google_pubsub_topic.monitor_shards.name
    SIGSENTRY_LOCAL             = ""
    # The contract's nodeOptions (functions/config/environment.ts says why; a unit test checks
    # they agree): a heap limit above the instance's memory, so V8 collects the scan's garbage
    # less often. Read by Node, not by the loader.
    NODE_OPTIONS = "--max-old-space-size=1024"
  }
  dashboard_env = {
    GCP_PROJECT        = var.project
    FIRESTORE_DATABASE = var.firestore_database
    # The local stack's switch that turns the dashboard's in-code token check off: always empty
    # (dropped) in a deployment, where Cloud Run IAM and that check both apply.
    SIGSENTRY_LOCAL = ""
  }

  # Secret-backed variables: mounted from Secret Manager, never plain values.
  alert_webhook = var.alert_webhook_secret == "" ? {} : { ALERT_WEBHOOK_URL = var.alert_webhook_secret }
}

data "google_project" "this" {
  project_id = var.project
}
