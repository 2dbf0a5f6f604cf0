variable "project" {
  description = "Project that holds the watched Artifact Registry repositories, the functions, the key and the state."
  type        = string
}

variable "region" {
  description = "Region of the functions, the scheduler jobs and the key ring (use the repositories' region)."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix of every named resource (topics but gcr, subscriptions, functions, service accounts, scheduler jobs, metrics, alert policies, the image repository and source bucket). Two installations in one project need different prefixes and different firestore_database values, and each its own key_ring_name (or one shares the other's key through existing_crypto_key); the topic gcr is shared, and each signs only its own watched repositories."
  type        = string
  default     = "sigsentry-"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,11}$", var.name_prefix))
    error_message = "name_prefix must be at most 12 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "watched_repositories" {
  description = <<-EOT
    Docker repositories in Artifact Registry whose pushes are signed. Each must be in var.project
    (Artifact Registry publishes to the topic `gcr` of the repository's own project). The signer gets
    write access to exactly these repositories, the verifier read access.
  EOT
  type = list(object({
    location      = string
    repository_id = string
  }))

  validation {
    condition     = length(var.watched_repositories) > 0
    error_message = "Watch at least one repository."
  }
}

variable "key_ring_name" {
  description = "Key ring created for the signing key (ignored when existing_crypto_key is set)."
  type        = string
  default     = "sigsentry"
}

variable "key_name" {
  description = "Signing key created on that key ring (ignored when existing_crypto_key is set)."
  type        = string
  default     = "image-signing"
}

variable "key_algorithm" {
  description = "Algorithm of new versions of the signing key: one signOnPush signs with (functions/signing/algorithms.ts SIGNING_ALGORITHMS), ECDSA P-256 or RSA PKCS#1 v1.5 with SHA-256. Signatures of P-384, RSA SHA-512, RSA-PSS and Ed25519 keys cannot be logged and verified in both the cosign layout and the Sigstore bundle, and the signer refuses such a key version."
  type        = string
  default     = "EC_SIGN_P256_SHA256"

  validation {
    condition = contains([
      "EC_SIGN_P256_SHA256",
      "RSA_SIGN_PKCS1_2048_SHA256", "RSA_SIGN_PKCS1_3072_SHA256", "RSA_SIGN_PKCS1_4096_SHA256",
    ], var.key_algorithm)
    error_message = "key_algorithm must be EC_SIGN_P256_SHA256, RSA_SIGN_PKCS1_2048_SHA256, RSA_SIGN_PKCS1_3072_SHA256 or RSA_SIGN_PKCS1_4096_SHA256: the algorithms whose signatures both formats can log and cosign and sigstore-js verify."
  }
}

variable "key_protection_level" {
  description = "SOFTWARE or HSM."
  type        = string
  default     = "SOFTWARE"

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.key_protection_level)
    error_message = "key_protection_level must be SOFTWARE or HSM."
  }
}

variable "existing_crypto_key" {
  description = <<-EOT
    Use an existing ASYMMETRIC_SIGN key instead of creating one:
    projects/P/locations/L/keyRings/R/cryptoKeys/K. Empty creates the key ring and key.
  EOT
  type        = string
  default     = ""

  validation {
    condition     = var.existing_crypto_key == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.existing_crypto_key))
    error_message = "existing_crypto_key must be a full cryptoKeys resource name."
  }
}

variable "key_version" {
  description = <<-EOT
    The key version that signs (KMS_KEY = <key>/cryptoKeyVersions/<key_version>). Asymmetric keys do not
    rotate by themselves: to rotate, create a version, then change this and apply (see README).
  EOT
  type        = number
  default     = 1
}

variable "rekor_url" {
  description = "Transparency log base URL (Rekor v1 or v2), or \"none\" (exactly, lower case) to sign without a log; monitorLog and monitorShard then hold no KMS role."
  type        = string
  default     = "https://rekor.sigstore.dev"

  # What every function accepts at start-up (functions/config/rekor-url.ts): refused here, not by
  # each function on every run after the apply.
  validation {
    condition     = var.rekor_url == "none" || can(regex("^https?://[^\\s/?#@]+(/[^\\s?#]*)?$", var.rekor_url))
    error_message = "rekor_url must be the log's http(s) base URL (no credentials, query, fragment or white space), or none in lower case."
  }
}

variable "rekor_api" {
  description = "The log's API: v1. Given to signOnPush, reverifyImages and monitorLog alike."
  type        = string
  default     = "v1"

  # signOnPush and reverifyImages refuse a Rekor v2 log at start-up (README, Limitations), so "v2"
  # here would deploy two functions that never start. A v2 log is monitored through
  # sigsentry_config: the whole configuration as one document (watch, log, monitor.logs with the
  # v2 log, kind "rekor-v2"), which then replaces these variables for every function.
  validation {
    condition     = var.rekor_api == "v1"
    error_message = "rekor_api must be v1: signOnPush and reverifyImages refuse a Rekor v2 log at start-up. To monitor a v2 log, give the whole configuration in sigsentry_config (watch, log, and monitor.logs with the v2 log, kind rekor-v2)."
  }
}

variable "rekor_public_key" {
  description = "PEM public key of a private log; empty uses the public-good instance's trusted root."
  type        = string
  default     = ""
}

variable "signature_formats" {
  description = "What signOnPush attaches: bundle (Sigstore bundle referrer), cosign (.sig tag), or both."
  type        = list(string)
  default     = ["bundle", "cosign"]

  validation {
    condition     = length(var.signature_formats) > 0 && alltrue([for f in var.signature_formats : contains(["bundle", "cosign"], f)])
    error_message = "signature_formats holds bundle and/or cosign."
  }
}

variable "sigsentry_config" {
  description = "Optional whole configuration as one JSON document (SIGSENTRY_CONFIG); overrides the plain variables."
  type        = string
  default     = ""
}

variable "watchlist" {
  description = "Optional JSON list of third-party images and the identity that must sign them (SIGSENTRY_WATCHLIST)."
  type        = string
  default     = ""
}

variable "registry_redirect_hosts" {
  description = "Hosts watchlisted registries may redirect blob reads to or name as token realm, e.g. [\"auth.docker.io\", \"production.cloudflare.docker.com\"] for Docker Hub (SIGSENTRY_REGISTRY_REDIRECT_HOSTS)."
  type        = list(string)
  default     = []
}

variable "sigstore_tuf_url" {
  description = "TUF repository reverifyImages refreshes the watchlist's Sigstore public-good trusted root from on every pass (SIGSTORE_TUF_URL); empty: https://tuf-repo-cdn.sigstore.dev; \"none\": the root embedded in @sigstore/tuf, never refreshed."
  type        = string
  default     = ""
}

variable "sigstore_tuf_root" {
  description = "The root.json a TUF repository other than the public-good one is first trusted with (SIGSTORE_TUF_ROOT); empty for the public-good one."
  type        = string
  default     = ""
}

variable "identities" {
  description = "Optional JSON list of owned keys and identities monitorLog looks for (SIGSENTRY_IDENTITIES)."
  type        = string
  default     = ""
}

variable "monitor_start_index" {
  description = "Log index monitorLog's first run starts from; null starts at the log's size at that run."
  type        = number
  default     = null
}

variable "monitor_max_entries" {
  description = "Entries one monitorLog run scans at most per log (the next run goes on); null for the default."
  type        = number
  default     = null
}

variable "monitor_stalled_after_hours" {
  description = "Hours the log may go without growing before monitorLog raises log-stalled (1 to 2160), or false (\"false\") for never; null: the code's default, 24. Read with the plain variables only: with sigsentry_config, give stalledAfterHours in its monitor.logs."
  type        = string
  default     = null

  validation {
    condition     = var.monitor_stalled_after_hours == null ? true : (var.monitor_stalled_after_hours == "false" || (can(regex("^[0-9]+([.][0-9]+)?$", var.monitor_stalled_after_hours)) ? tonumber(var.monitor_stalled_after_hours) >= 1 && tonumber(var.monitor_stalled_after_hours) <= 2160 : false))
    error_message = "monitor_stalled_after_hours is a number of hours from 1 to 2160 (90 days), or false."
  }
}

variable "monitor_shard_instances" {
  description = "Instances that scan fan-out shards of a log backlog in parallel (monitorShard)."
  type        = number
  default     = 20
}

variable "alert_webhook_secret" {
  description = <<-EOT
    Secret Manager secret id (in var.project) holding the Slack / Google Chat webhook URL, or empty for
    no webhook. Create it yourself (see README) so the URL never enters the Terraform state.
  EOT
  type        = string
  default     = ""
}

variable "alert_webhook_secret_version" {
  description = "Version of that secret to mount; pin a number to roll a new URL out deliberately."
  type        = string
  default     = "latest"
}

variable "notification_channels" {
  description = <<-EOT
    Cloud Monitoring notification channels (projects/PROJECT/notificationChannels/ID) that every
    alert policy in alerting.tf notifies: sigsentry's severity-ALERT log lines, a message in either
    dead-letter subscription and a scheduled function that stops completing. The last two are
    raised nowhere else (not in Firestore, the alert topic or the webhook), so at least one is
    required.
  EOT
  type        = list(string)

  validation {
    condition     = length(var.notification_channels) > 0
    error_message = "Set notification_channels to at least one Cloud Monitoring notification channel (projects/PROJECT/notificationChannels/ID; gcloud beta monitoring channels list). Without one, a push dead-lettered before it could be signed (its only signal is the dead-letter alert policy), a failing monitor shard and a scheduled function that stops completing open incidents that notify nobody."
  }

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each notification_channels entry must be a channel's resource name, projects/PROJECT/notificationChannels/ID (gcloud beta monitoring channels list --format='value(name)')."
  }
}

variable "reverify_schedule" {
  description = "Cron schedule of reverifyImages."
  type        = string
  default     = "0 */6 * * *"
}

variable "monitor_schedule" {
  description = "Cron schedule of monitorLog."
  type        = string
  default     = "*/15 * * * *"
}

variable "schedule_time_zone" {
  description = "Time zone of the schedules."
  type        = string
  default     = "Etc/UTC"
}

variable "max_delivery_attempts" {
  description = <<-EOT
    Deliveries of one gcr message before Pub/Sub moves it to the dead-letter topic (11-100). Above
    signOnPush's own per-digest attempt limit (10), so the function records the failure and alerts first.
  EOT
  type        = number
  default     = 15

  validation {
    condition     = var.max_delivery_attempts >= 11 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 11 and 100: above signOnPush's 10 attempts per digest, so the function alerts first."
  }
}

variable "create_firestore_database" {
  description = "Create the Firestore database named by firestore_database (Native mode; by default the project's (default) database). Set false when the project already has that database."
  type        = bool
  default     = true
}

variable "firestore_database" {
  description = "Id of the Firestore database that holds sigsentry's state (FIRESTORE_DATABASE of every function): (default), or a named database, e.g. \"sigsentry-b\" for a second installation in the project. Changing it later starts on an empty database: the signing records, inventory, monitor cursors and alerts stay in the old one."
  type        = string
  default     = "(default)"

  # Firestore's rule for a database id, as the functions read FIRESTORE_DATABASE
  # (functions/config/firestore.ts): refused here, not by every function at start-up after the apply.
  validation {
    condition     = var.firestore_database == "(default)" || (can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database)) && !can(regex("^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$", var.firestore_database)))
    error_message = "firestore_database is (default), or 4 to 63 lower-case letters, digits or hyphens, starting with a letter, not ending with a hyphen, and not a UUID."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region or a multi-region such as nam5); fixed once created."
  type        = string
  default     = "nam5"
}

variable "dashboard_viewers" {
  description = "Principals allowed to open the dashboard (user:…, group:…). Never allUsers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.dashboard_viewers : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "The dashboard is not public: list users or groups, not allUsers or allAuthenticatedUsers."
  }
}

variable "source_dir" {
  description = "Directory package-source.sh writes the deployable source to."
  type        = string
  default     = ".build/source"
}

variable "extra_public_keys" {
  description = "PEM public keys (comma-separated) accepted on watched repositories besides the KMS key, e.g. a previous key during rotation."
  type        = string
  default     = ""
}

variable "reverify_concurrency" {
  description = "Tags reverifyImages verifies at once (null: the code's default, 32)."
  type        = number
  default     = null
}

variable "reverify_stale_after_hours" {
  description = "Hours a tag, repository or registry may fail pass after pass before reverifyImages raises verification-stale (null: the code's default, 24; keep it above the reverify_schedule interval)."
  type        = number
  default     = null
}

variable "reverify_stopped_after" {
  description = "How long reverifyImages may go without a successful pass before an incident opens (a duration in seconds, \"NNNs\", 120s to 84600s, Cloud Monitoring's limit). The default, 13 h, is two missed passes of the default 6-hourly schedule and an hour's allowance."
  type        = string
  default     = "46800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.reverify_stopped_after)) && tonumber(trimsuffix(var.reverify_stopped_after, "s")) >= 120 && tonumber(trimsuffix(var.reverify_stopped_after, "s")) <= 84600 && tonumber(trimsuffix(var.reverify_stopped_after, "s")) % 60 == 0
    error_message = "reverify_stopped_after is a whole number of minutes in seconds, \"NNNs\", from 120s to 84600s."
  }
}

variable "monitor_stopped_after" {
  description = "How long monitorLog may go without a successful run before an incident opens (\"NNNs\", 120s to 84600s). The default, 1 h, is four missed runs of the default 15-minute schedule."
  type        = string
  default     = "3600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.monitor_stopped_after)) && tonumber(trimsuffix(var.monitor_stopped_after, "s")) >= 120 && tonumber(trimsuffix(var.monitor_stopped_after, "s")) <= 84600 && tonumber(trimsuffix(var.monitor_stopped_after, "s")) % 60 == 0
    error_message = "monitor_stopped_after is a whole number of minutes in seconds, \"NNNs\", from 120s to 84600s."
  }
}
