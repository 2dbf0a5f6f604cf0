# Least privilege. Every grant is on the narrowest resource that supports it: the key, a
# repository, a topic, a service, a secret. The only project-level grants are Firestore (scoped by
# an IAM condition to the var.firestore_database database, so an installation reads and writes its
# own state only), log writing for builds, and the build role.
# No primitive role (owner, editor, viewer) appears anywhere; test/unit/infra checks it.

# ---- signOnPush: sign with this one key, write the watched repositories, write its records ----

resource "google_kms_crypto_key_iam_member" "sign_on_push_signer" {
  crypto_key_id = local.crypto_key_id
  role          = "roles/cloudkms.signerVerifier"
  member        = "serviceAccount:${google_service_account.sign_on_push.email}"
}

# No viewer role: the signer never reads the version's state (keyVersionState is reverifyImages' and
# `sigsentry verify`'s). A version that is not ENABLED is refused by GetPublicKey and AsymmetricSign
# with FAILED_PRECONDITION naming its state (signing/kms-signer.ts kmsError: retried for
# PENDING_GENERATION / PENDING_IMPORT, given up with an alert otherwise); signerVerifier holds
# viewPublicKey and useToSign, all signOnPush calls.

# Writes the `.sig` tag and the bundle referrer next to each image, in the watched repositories only.
resource "google_artifact_registry_repository_iam_member" "sign_on_push_writer" {
  for_each = local.watched

  location   = each.value.location
  repository = each.value.repository_id
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.sign_on_push.email}"
}

resource "google_project_iam_member" "sign_on_push_firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.sign_on_push.email}"
  condition {
    title      = local.firestore_condition_title
    expression = "resource.name == \"${local.firestore_database}\""
  }
}

resource "google_pubsub_topic_iam_member" "sign_on_push_alerts" {
  topic  = google_pubsub_topic.alerts.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.sign_on_push.email}"
}

# ---- reverifyImages: read the public key and the repositories; record verdicts; raise alerts ----

resource "google_kms_crypto_key_iam_member" "reverify_images_public_key" {
  crypto_key_id = local.crypto_key_id
  role          = "roles/cloudkms.publicKeyViewer"
  member        = "serviceAccount:${google_service_account.reverify_images.email}"
}

# cryptoKeyVersions.get/list: tells a disabled or destroyed version from a bad signature.
resource "google_kms_crypto_key_iam_member" "reverify_images_key_viewer" {
  crypto_key_id = local.crypto_key_id
  role          = "roles/cloudkms.viewer"
  member        = "serviceAccount:${google_service_account.reverify_images.email}"
}

resource "google_artifact_registry_repository_iam_member" "reverify_images_reader" {
  for_each = local.watched

  location   = each.value.location
  repository = each.value.repository_id
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${google_service_account.reverify_images.email}"
}

# resourcemanager.projects.get (roles/browser: no data access, only the project's metadata and
# hierarchy): Artifact Registry's /v2/_catalog lists only what the caller may see at project level,
# and answers an empty list to a caller holding artifactregistry.reader on the repositories alone.
# reverifyImages finds every tag through the catalog, so without this it would find nothing to verify
# (each watch rule is then a listing failure, and verification-stale a day on). Reported, not
# verifiable offline.
resource "google_project_iam_member" "reverify_images_browser" {
  project = var.project
  role    = "roles/browser"
  member  = "serviceAccount:${google_service_account.reverify_images.email}"
}

resource "google_project_iam_member" "reverify_images_firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.reverify_images.email}"
  condition {
    title      = local.firestore_condition_title
    expression = "resource.name == \"${local.firestore_database}\""
  }
}

resource "google_pubsub_topic_iam_member" "reverify_images_alerts" {
  topic  = google_pubsub_topic.alerts.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.reverify_images.email}"
}

# ---- monitorLog: read the public key (to recognise its own entries); record cursors; alert ----
# It reads the transparency log only, so it has no registry access at all. Without a log
# (rekor_url = "none") there are no entries to recognise: no KMS role (locals.tf).

resource "google_kms_crypto_key_iam_member" "monitor_log_public_key" {
  count = local.monitor_watches_log ? 1 : 0

  crypto_key_id = local.crypto_key_id
  role          = "roles/cloudkms.publicKeyViewer"
  member        = "serviceAccount:${google_service_account.monitor_log.email}"
}

resource "google_kms_crypto_key_iam_member" "monitor_log_key_viewer" {
  count = local.monitor_watches_log ? 1 : 0

  crypto_key_id = local.crypto_key_id
  role          = "roles/cloudkms.viewer"
  member        = "serviceAccount:${google_service_account.monitor_log.email}"
}

resource "google_project_iam_member" "monitor_log_firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.monitor_log.email}"
  condition {
    title      = local.firestore_condition_title
    expression = "resource.name == \"${local.firestore_database}\""
  }
}

resource "google_pubsub_topic_iam_member" "monitor_log_alerts" {
  topic  = google_pubsub_topic.alerts.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.monitor_log.email}"
}

# monitorLog publishes the shards of a backlog it fans out.
resource "google_pubsub_topic_iam_member" "monitor_log_shards" {
  topic  = google_pubsub_topic.monitor_shards.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.monitor_log.email}"
}

# ---- monitorShard: what monitorLog may do, for one shard (and it republishes a shard cut short) ----
# Its KMS roles too are granted only when there is a log to watch.

resource "google_kms_crypto_key_iam_member" "monitor_shard_public_key" {
  count = local.monitor_watches_log ? 1 : 0

  crypto_key_id = local.crypto_key_id
  role          = "roles/cloudkms.publicKeyViewer"
  member        = "serviceAccount:${google_service_account.monitor_shard.email}"
}

resource "google_kms_crypto_key_iam_member" "monitor_shard_key_viewer" {
  count = local.monitor_watches_log ? 1 : 0

  crypto_key_id = local.crypto_key_id
  role          = "roles/cloudkms.viewer"
  member        = "serviceAccount:${google_service_account.monitor_shard.email}"
}

resource "google_project_iam_member" "monitor_shard_firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.monitor_shard.email}"
  condition {
    title      = local.firestore_condition_title
    expression = "resource.name == \"${local.firestore_database}\""
  }
}

resource "google_pubsub_topic_iam_member" "monitor_shard_alerts" {
  topic  = google_pubsub_topic.alerts.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.monitor_shard.email}"
}

resource "google_pubsub_topic_iam_member" "monitor_shard_shards" {
  topic  = google_pubsub_topic.monitor_shards.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.monitor_shard.email}"
}

# ---- the alert webhook secret: readable by the functions that send alerts, nobody else ----

resource "google_secret_manager_secret_iam_member" "webhook_sign_on_push" {
  count = var.alert_webhook_secret == "" ? 0 : 1

  secret_id = "projects/${var.project}/secrets/${var.alert_webhook_secret}"
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.sign_on_push.email}"
}

resource "google_secret_manager_secret_iam_member" "webhook_reverify_images" {
  count = var.alert_webhook_secret == "" ? 0 : 1

  secret_id = "projects/${var.project}/secrets/${var.alert_webhook_secret}"
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.reverify_images.email}"
}

resource "google_secret_manager_secret_iam_member" "webhook_monitor_log" {
  count = var.alert_webhook_secret == "" ? 0 : 1

  secret_id = "projects/${var.project}/secrets/${var.alert_webhook_secret}"
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.monitor_log.email}"
}

resource "google_secret_manager_secret_iam_member" "webhook_monitor_shard" {
  count = var.alert_webhook_secret == "" ? 0 : 1

  secret_id = "projects/${var.project}/secrets/${var.alert_webhook_secret}"
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.monitor_shard.email}"
}

# ---- dashboard: read-only state ----

resource "google_project_iam_member" "dashboard_firestore" {
  project = var.project
  role    = "roles/datastore.viewer"
  member  = "serviceAccount:${google_service_account.dashboard.email}"
  condition {
    title      = local.firestore_condition_title
    expression = "resource.name == \"${local.firestore_database}\""
  }
}

# ---- who may invoke what (functions are never public) ----

# Eventarc delivers gcr events to signOnPush as the trigger identity.
resource "google_cloud_run_v2_service_iam_member" "trigger_invokes_sign_on_push" {
  location = var.region
  # A 2nd gen function runs as the Cloud Run service of the same name.
  name   = google_cloudfunctions2_function.sign_on_push.name
  role   = "roles/run.invoker"
  member = "serviceAccount:${google_service_account.trigger.email}"
}

# Eventarc delivers shard messages to monitorShard as the same trigger identity.
resource "google_cloud_run_v2_service_iam_member" "trigger_invokes_monitor_shard" {
  location = var.region
  name     = google_cloudfunctions2_function.monitor_shard.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_reverify_images" {
  location = var.region
  name     = google_cloudfunctions2_function.reverify_images.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_monitor_log" {
  location = var.region
  name     = google_cloudfunctions2_function.monitor_log.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_run_v2_service_iam_member" "dashboard_viewers" {
  for_each = toset(var.dashboard_viewers)

  location = var.region
  name     = google_cloudfunctions2_function.dashboard.name
  role     = "roles/run.invoker"
  member   = each.value
}

# ---- service agents: exactly what the trigger and the dead-letter policy need ----

resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project
  service = "pubsub.googleapis.com"
}

# Pub/Sub mints the OIDC token of each authenticated push as the trigger identity; only that one.
resource "google_service_account_iam_member" "pubsub_mints_trigger_tokens" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# Pub/Sub forwards undeliverable gcr messages to the dead-letter topic. (It also needs
# roles/pubsub.subscriber on the Eventarc-created subscription: granted on that subscription alone by
# attach-dead-letter.sh, because its name is only known after the trigger exists; see dead-letter.tf.)
resource "google_pubsub_topic_iam_member" "pubsub_publishes_dead_letters" {
  topic  = google_pubsub_topic.gcr_dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_topic_iam_member" "pubsub_publishes_shard_dead_letters" {
  topic  = google_pubsub_topic.monitor_shards_dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# ---- the build identity ----

resource "google_project_iam_member" "build_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

# Pushes the function images to sigsentry's own image repository only.
resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  location   = google_artifact_registry_repository.function_images.location
  repository = google_artifact_registry_repository.function_images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

# Reads the uploaded source archive, in sigsentry's source bucket only.
resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

# Cloud Functions copies the source into a staging bucket it creates itself at the first deploy
# (gcf-v2-sources-<number>-<region>), so a bucket-scoped grant cannot precede it. Builder is the
# role Google documents for a function build account; it is used only while sigsentry deploys.
resource "google_project_iam_member" "build_builder" {
  project = var.project
  role    = "roles/cloudbuild.builds.builder"
  member  = "serviceAccount:${google_service_account.build.email}"
}
