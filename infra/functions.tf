# The five Cloud Run functions (2nd gen) named in functions/config/environment.ts. Their source is
# the compiled functions with production dependencies only: run ./package-source.sh before apply.

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/${var.source_dir}"
  output_path = "${path.module}/.build/source.zip"
}

resource "google_storage_bucket" "source" {
  name                        = "${local.bucket_project}-${var.name_prefix}source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  # Content-addressed: a changed build is a new object, which redeploys the functions.
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# Where Cloud Build puts the function images (so the build identity writes here and nowhere else).
resource "google_artifact_registry_repository" "function_images" {
  location      = var.region
  repository_id = "${var.name_prefix}functions"
  format        = "DOCKER"
  description   = "sigsentry function images (built by Cloud Functions)"

  depends_on = [google_project_service.apis]
}

# ---- signOnPush: a gcr message in, a signed and logged image out ----

resource "google_cloudfunctions2_function" "sign_on_push" {
  name        = "${var.name_prefix}sign-on-push"
  location    = var.region
  description = "Signs each image pushed to a watched repository with the KMS key and logs it in Rekor."

  build_config {
    runtime           = local.node_runtime
    entry_point       = "signOnPush"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.function_images.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.sign_on_push.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = "256Mi"
    available_cpu                    = "1"
    timeout_seconds                  = 300
    max_instance_count               = 10
    max_instance_request_concurrency = 8
    environment_variables            = { for name, value in local.sign_on_push_env : name => value if value != "" }

    dynamic "secret_environment_variables" {
      for_each = local.alert_webhook
      content {
        key        = "ALERT_WEBHOOK_URL"
        project_id = var.project
        secret     = secret_environment_variables.value
        version    = var.alert_webhook_secret_version
      }
    }
  }

  # Eventarc creates a push subscription on `gcr` for this trigger. Failures are retried with
  # backoff (RETRY_POLICY_RETRY); after max_delivery_attempts the message goes to the dead-letter
  # topic, which dead-letter.tf attaches to that Eventarc-created subscription.
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.gcr.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  depends_on = [
    google_project_iam_member.build_builder,
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_source,
    google_service_account_iam_member.pubsub_mints_trigger_tokens,
    google_secret_manager_secret_iam_member.webhook_sign_on_push,
  ]
}

# ---- reverifyImages: every watched tag still carries a valid signature (scheduler.tf) ----

resource "google_cloudfunctions2_function" "reverify_images" {
  name        = "${var.name_prefix}reverify-images"
  location    = var.region
  description = "Re-verifies the signature and log inclusion of every watched image and the watchlist."

  build_config {
    runtime           = local.node_runtime
    entry_point       = "reverifyImages"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.function_images.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.reverify_images.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = "256Mi"
    available_cpu                    = "1"
    timeout_seconds                  = 1800
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    environment_variables            = { for name, value in local.reverify_images_env : name => value if value != "" }

    dynamic "secret_environment_variables" {
      for_each = local.alert_webhook
      content {
        key        = "ALERT_WEBHOOK_URL"
        project_id = var.project
        secret     = secret_environment_variables.value
        version    = var.alert_webhook_secret_version
      }
    }
  }

  depends_on = [
    google_project_iam_member.build_builder,
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_source,
    google_secret_manager_secret_iam_member.webhook_reverify_images,
  ]
}

# ---- monitorLog: the log is consistent, and nobody else signs with our keys (scheduler.tf) ----

resource "google_cloudfunctions2_function" "monitor_log" {
  name        = "${var.name_prefix}monitor-log"
  location    = var.region
  description = "Verifies the transparency log's checkpoints and scans new entries for unexplained signatures."

  build_config {
    runtime           = local.node_runtime
    entry_point       = "monitorLog"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.function_images.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.monitor_log.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = "256Mi"
    available_cpu                    = "1"
    timeout_seconds                  = 900
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    environment_variables            = { for name, value in local.monitor_log_env : name => value if value != "" }

    dynamic "secret_environment_variables" {
      for_each = local.alert_webhook
      content {
        key        = "ALERT_WEBHOOK_URL"
        project_id = var.project
        secret     = secret_environment_variables.value
        version    = var.alert_webhook_secret_version
      }
    }
  }

  depends_on = [
    google_project_iam_member.build_builder,
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_source,
    google_secret_manager_secret_iam_member.webhook_monitor_log,
    # Its key roles exist before its environment names a log (rekor_url from none to a URL).
    google_kms_crypto_key_iam_member.monitor_log_public_key,
    google_kms_crypto_key_iam_member.monitor_log_key_viewer,
  ]
}

# ---- monitorShard: one shard of a backlog monitorLog fanned out (functions/monitor-log/fan-out.ts) ----

resource "google_cloudfunctions2_function" "monitor_shard" {
  name        = "${var.name_prefix}monitor-shard"
  location    = var.region
  description = "Scans one shard of a transparency-log backlog for unexplained signatures."

  build_config {
    runtime           = local.node_runtime
    entry_point       = "monitorShard"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.function_images.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.monitor_shard.email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = "256Mi"
    available_cpu                    = "1"
    timeout_seconds                  = 540
    max_instance_count               = var.monitor_shard_instances
    max_instance_request_concurrency = 1
    environment_variables            = { for name, value in local.monitor_log_env : name => value if value != "" }

    dynamic "secret_environment_variables" {
      for_each = local.alert_webhook
      content {
        key        = "ALERT_WEBHOOK_URL"
        project_id = var.project
        secret     = secret_environment_variables.value
        version    = var.alert_webhook_secret_version
      }
    }
  }

  # A shard that failed on a dependency is redelivered with backoff; dead-letter.tf attaches
  # the dead-letter topic to the Eventarc-created subscription, as for signOnPush.
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.monitor_shards.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  depends_on = [
    google_project_iam_member.build_builder,
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_source,
    google_service_account_iam_member.pubsub_mints_trigger_tokens,
    google_secret_manager_secret_iam_member.webhook_monitor_shard,
    google_kms_crypto_key_iam_member.monitor_shard_public_key,
    google_kms_crypto_key_iam_member.monitor_shard_key_viewer,
  ]
}

# ---- dashboard: read-only view of the state, for var.dashboard_viewers only ----

resource "google_cloudfunctions2_function" "dashboard" {
  name        = "${var.name_prefix}dashboard"
  location    = var.region
  description = "Read-only view of signing records, verdicts and alerts."

  build_config {
    runtime           = local.node_runtime
    entry_point       = "dashboard"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.function_images.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.dashboard.email
    # Reached from browsers through `gcloud run services proxy` or IAP, so not internal-only; every
    # request still needs run.invoker, which only var.dashboard_viewers hold.
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    available_memory                 = "256Mi"
    timeout_seconds                  = 60
    max_instance_count               = 2
    max_instance_request_concurrency = 20
    available_cpu                    = "1"
    environment_variables            = { for name, value in local.dashboard_env : name => value if value != "" }
  }

  depends_on = [
    google_project_iam_member.build_builder,
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_source,
  ]
}
