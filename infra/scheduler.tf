# reverifyImages and monitorLog run on a schedule. Each job calls its function's URL with an OIDC
# token of the scheduler identity, the only principal with run.invoker on those functions (iam.tf).

resource "google_cloud_scheduler_job" "reverify_images" {
  name             = "${var.name_prefix}reverify-images"
  region           = var.region
  description      = "Runs sigsentry reverifyImages"
  schedule         = var.reverify_schedule
  time_zone        = var.schedule_time_zone
  attempt_deadline = "1800s"

  retry_config {
    retry_count          = 2
    min_backoff_duration = "60s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.reverify_images.service_config[0].uri
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.reverify_images.service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_reverify_images]
}

resource "google_cloud_scheduler_job" "monitor_log" {
  name             = "${var.name_prefix}monitor-log"
  region           = var.region
  description      = "Runs sigsentry monitorLog"
  schedule         = var.monitor_schedule
  time_zone        = var.schedule_time_zone
  attempt_deadline = "900s"

  retry_config {
    retry_count          = 1
    min_backoff_duration = "60s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.monitor_log.service_config[0].uri
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.monitor_log.service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_v2_service_iam_member.scheduler_invokes_monitor_log]
}
